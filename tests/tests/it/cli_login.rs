//! The CLI sign-in exchange at the HTTP level: approval in a browser Session, a one-time code
//! bound to the CLI's challenge, and the refusals around it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use protocol::api::{CliApproval, CliApproveRequest, CliToken, CliTokenRequest, error_code};
use sha2::{Digest, Sha256};
use tests::server::{TestServer, error_code as code_of};

const PASSWORD: &str = "correct horse battery staple";
const VERIFIER: &str = "a-verifier-only-the-cli-knows-0123456789abcdefgh";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn approve_request(callback: Option<&str>) -> CliApproveRequest {
    CliApproveRequest {
        challenge: challenge(VERIFIER),
        state: "state123".into(),
        callback: callback.map(str::to_owned),
        hostname: Some("laptop".into()),
    }
}

#[tokio::test]
async fn approved_code_buys_one_cli_session() {
    let server = TestServer::start().await.unwrap();
    let browser = server.first_admin("root", PASSWORD).await.unwrap();
    let cli = server.client().unwrap();

    let approval: CliApproval = browser
        .post_json(
            "/api/cli/approve",
            &approve_request(Some("http://127.0.0.1:4567/callback")),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let redirect = url::Url::parse(approval.redirect.as_deref().unwrap()).unwrap();
    assert_eq!(
        (redirect.host_str(), redirect.port(), redirect.path()),
        (Some("127.0.0.1"), Some(4567), "/callback")
    );
    let pairs: std::collections::HashMap<_, _> = redirect.query_pairs().into_owned().collect();
    assert_eq!(pairs["state"], "state123");
    assert_eq!(pairs["code"], approval.code);

    // The CLI posts without Origin or cookies, as a CLI does.
    let exchange = |code: &str, verifier: &str| {
        cli.http
            .post(cli.url("/api/cli/token"))
            .json(&CliTokenRequest {
                code: code.into(),
                verifier: verifier.into(),
            })
            .send()
    };
    let response = exchange(&approval.code, VERIFIER).await.unwrap();
    assert_eq!(response.status(), 200);
    let token: CliToken = response.json().await.unwrap();
    assert_eq!(token.username, "root");
    // The token is a Session: it shows in the admin list as the CLI on that host.
    let sessions: Vec<protocol::api::SessionSummary> =
        browser.get_json("/api/admin/sessions").await.unwrap();
    assert!(
        sessions
            .iter()
            .any(|s| s.source == "cli" && s.user_agent.as_deref() == Some("postern CLI on laptop"))
    );

    // Replayed code: refused, and no new Session.
    let before = server.live_sessions().await.unwrap();
    let response = exchange(&approval.code, VERIFIER).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        code_of(response).await.unwrap(),
        error_code::INVALID_CLI_CODE
    );

    // A stolen code without the verifier is useless, and burns the code.
    let approval: CliApproval = browser
        .post_json("/api/cli/approve", &approve_request(None))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(approval.redirect.is_none());
    assert_eq!(
        exchange(&approval.code, "wrong-verifier")
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        exchange(&approval.code, VERIFIER).await.unwrap().status(),
        400
    );
    for (code, verifier) in [
        ("short", VERIFIER),
        (&"x".repeat(43), VERIFIER),
        (&approval.code, &"v".repeat(500)),
    ] {
        assert_eq!(
            exchange(code, verifier).await.unwrap().status(),
            400,
            "{code}"
        );
    }
    assert_eq!(server.live_sessions().await.unwrap(), before);
}

#[tokio::test]
async fn approval_needs_a_session_a_loopback_callback_and_a_well_formed_link() {
    let server = TestServer::start().await.unwrap();
    let browser = server.first_admin("root", PASSWORD).await.unwrap();
    let anonymous = server.client().unwrap();
    let response = anonymous
        .post_json("/api/cli/approve", &approve_request(None))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let cases = [
        approve_request(Some("https://evil.example/callback")),
        approve_request(Some("http://evil.example:80/callback")),
        approve_request(Some("http://127.0.0.1/callback")),
        CliApproveRequest {
            challenge: "short".into(),
            ..approve_request(None)
        },
        CliApproveRequest {
            state: String::new(),
            ..approve_request(None)
        },
        CliApproveRequest {
            state: "has spaces".into(),
            ..approve_request(None)
        },
    ];
    for request in cases {
        let response = browser
            .post_json("/api/cli/approve", &request)
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{request:?}");
    }
    // Cross-site approval attempts are refused by the Origin check.
    let response = browser
        .http
        .post(browser.url("/api/cli/approve"))
        .header("origin", "https://evil.example")
        .json(&approve_request(None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

/// Runs `postern login --no-browser` and returns it with the link it printed.
async fn login_without_browser(
    server: &TestServer,
    config: &std::path::Path,
) -> (tokio::process::Child, url::Url) {
    use tokio::io::AsyncBufReadExt;
    let mut child =
        tokio::process::Command::new(tests::process::workspace_binary("postern").unwrap())
            .args(["login", "--no-browser", "--server", &server.origin, "--ca"])
            .arg(&server.report.cert_path)
            .env("POSTERN_CONFIG_DIR", config)
            .env_remove("BROWSER")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
    let mut stderr = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let link = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if let Some(start) = line.find("https://") {
                return url::Url::parse(line[start..].trim()).unwrap();
            }
        }
        panic!("postern login exited without printing a link");
    })
    .await
    .unwrap();
    // Keep reading so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    (child, link)
}

#[tokio::test]
async fn postern_login_without_a_browser_takes_the_pasted_code() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start().await.unwrap();
    let browser = server.first_admin("root", PASSWORD).await.unwrap();
    let config = tempfile::tempdir().unwrap();

    let (mut child, link) = login_without_browser(&server, config.path()).await;
    assert_eq!(link.path(), protocol::routes::CLI_AUTHORIZE);
    let pairs: std::collections::HashMap<_, _> = link.query_pairs().into_owned().collect();
    assert!(
        !pairs.contains_key("callback"),
        "no loopback callback without a browser"
    );
    // The person opens the link somewhere else, approves, and is shown a code to paste.
    let approval: CliApproval = browser
        .post_json(
            "/api/cli/approve",
            &CliApproveRequest {
                challenge: pairs["challenge"].clone(),
                state: pairs["state"].clone(),
                callback: None,
                hostname: pairs.get("hostname").cloned(),
            },
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(approval.redirect.is_none());
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", approval.code).as_bytes())
        .await
        .unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    let cache = config.path().join("credentials.json");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cache).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&cache)
            .unwrap()
            .contains(&server.origin)
    );
    assert_eq!(
        server.live_sessions().await.unwrap(),
        2,
        "the browser's and the CLI's"
    );

    // A wrong code fails with a message, caches nothing and makes no Session.
    let other = tempfile::tempdir().unwrap();
    let (mut child, _) = login_without_browser(&server, other.path()).await;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"not-the-code\n").await.unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
    assert!(!other.path().join("credentials.json").exists());
    assert_eq!(server.live_sessions().await.unwrap(), 2);
}
