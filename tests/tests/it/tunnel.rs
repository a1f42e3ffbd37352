//! Streams end to end: client → server → connector → origin, with the real `postern` binary
//! on both ends, real OpenSSH, and the refusals that must forward nothing.

use std::time::Duration;

use protocol::api::{
    AllowList, AppKind, AppRequest, AuditEvent, ConnectorToken, CreateConnectorRequest,
    CreateServiceTokenRequest, ServiceTokenCreated,
};
use sha2::{Digest, Sha256};
use tests::postern::{self, Postern};
use tests::process::wait_for;
use tests::server::{TestClient, TestServer};
use tests::sshd::Sshd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "correct horse battery staple";

/// A server with a first admin, a connector `office`, and its token.
async fn provisioned() -> (TestServer, TestClient, String) {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    let created: ConnectorToken = admin
        .post_json(
            "/api/admin/connectors",
            &CreateConnectorRequest {
                name: "office".into(),
            },
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (server, admin, created.token)
}

async fn create_app(admin: &TestClient, name: &str, kind: AppKind, url: &str) {
    let request = AppRequest {
        name: name.into(),
        kind,
        connector: "office".into(),
        service_url: url.into(),
        session_duration_seconds: None,
        allow: AllowList {
            emails: vec!["someone@example.test".into()],
            ..AllowList::default()
        },
        ssh: None,
    };
    let response = admin.post_json("/api/admin/apps", &request).await.unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

async fn service_token(admin: &TestClient, name: &str, apps: &[&str]) -> ServiceTokenCreated {
    let request = CreateServiceTokenRequest {
        name: name.into(),
        apps: apps.iter().map(|a| (*a).to_owned()).collect(),
        expires_in_seconds: Some(3600),
    };
    admin
        .post_json("/api/admin/service-tokens", &request)
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until `count` connections of `office` are attached.
async fn wait_attached(admin: &TestClient, count: u32) {
    admin.wait_for_connector_links(count).await.unwrap();
}

fn sha256_file(path: &std::path::Path) -> String {
    hex(&Sha256::digest(std::fs::read(path).unwrap()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    // xorshift: cheap, reproducible, incompressible enough for a transport test.
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

async fn run(command: &str, args: &[String]) -> std::process::Output {
    tokio::process::Command::new(command)
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn openssh_through_postern_runs_commands_and_copies_50_mb_both_ways() {
    let (server, admin, token) = provisioned().await;
    let sshd = Sshd::start().await.unwrap();
    create_app(
        &admin,
        "shell",
        AppKind::Ssh,
        &format!("ssh://127.0.0.1:{}", sshd.port),
    )
    .await;
    let service = service_token(&admin, "ci", &["shell"]).await;
    let connector =
        postern::connector(&server, &token, &format!("127.0.0.1:{}", sshd.port), 2).unwrap();
    wait_attached(&admin, 2).await;

    let proxy =
        postern::ssh_proxy_command(&server, "shell", &service.token.id, &service.secret).unwrap();
    let mut args = sshd.client_options(&proxy);
    args.extend([
        format!("{}@shell", sshd.user),
        "echo hello-$((6*7))".to_owned(),
    ]);
    let output = run("ssh", &args).await;
    assert!(
        output.status.success(),
        "ssh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "hello-42");

    let upload = sshd.dir().join("upload.bin");
    std::fs::write(&upload, random_bytes(50 * 1024 * 1024, 7)).unwrap();
    let remote = sshd.dir().join("remote.bin");
    let back = sshd.dir().join("back.bin");
    let mut up = sshd.client_options(&proxy);
    up.extend([
        "-q".to_owned(),
        upload.display().to_string(),
        format!("{}@shell:{}", sshd.user, remote.display()),
    ]);
    let output = run("scp", &up).await;
    assert!(
        output.status.success(),
        "scp up failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut down = sshd.client_options(&proxy);
    down.extend([
        "-q".to_owned(),
        format!("{}@shell:{}", sshd.user, remote.display()),
        back.display().to_string(),
    ]);
    let output = run("scp", &down).await;
    assert!(
        output.status.success(),
        "scp down failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let original = sha256_file(&upload);
    assert_eq!(sha256_file(&remote), original);
    assert_eq!(sha256_file(&back), original);

    let audit: Vec<AuditEvent> = admin
        .get("/api/admin/audit?limit=20")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "stream.open"
        && e.decision == Some(protocol::api::Decision::Allow)
        && e.app.as_deref() == Some("shell")));
    connector.stop().await;
    sshd.stop().await;
}

/// An origin that echoes every byte back until its client half-closes.
async fn echo_origin() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut reader, mut writer) = stream.into_split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
                let _ = writer.shutdown().await;
            });
        }
    });
    port
}

/// An echo origin behind a TCP App `echo` (for the allow-listed email); returns its port.
async fn echo_app(admin: &TestClient) -> u16 {
    let origin = echo_origin().await;
    create_app(
        admin,
        "echo",
        AppKind::Tcp,
        &format!("tcp://127.0.0.1:{origin}"),
    )
    .await;
    origin
}

/// Sends `payload` through a local `postern access tcp` port and returns what came back.
async fn round_trip(port: u16, payload: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut reader, mut writer) = stream.into_split();
    let send = tokio::spawn(async move {
        writer.write_all(&payload).await?;
        writer.shutdown().await
    });
    let mut received = Vec::new();
    reader.read_to_end(&mut received).await?;
    send.await??;
    Ok(received)
}

#[tokio::test]
async fn two_hundred_concurrent_streams_round_trip_intact() {
    let (server, admin, token) = provisioned().await;
    let origin = echo_app(&admin).await;
    let service = service_token(&admin, "load", &["echo"]).await;
    let connector = postern::connector(&server, &token, &format!("127.0.0.1:{origin}"), 4).unwrap();
    wait_attached(&admin, 4).await;
    let (access, port) = postern::access_tcp(&server, "echo", &service.token.id, &service.secret)
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for index in 0..200u64 {
        let size = 1024 * 1024 + usize::try_from(index * 7919 % (9 * 1024 * 1024)).unwrap();
        tasks.push(tokio::spawn(async move {
            let payload = random_bytes(size, index + 1);
            let expected = Sha256::digest(&payload);
            let received =
                tokio::time::timeout(Duration::from_secs(240), round_trip(port, payload)).await;
            let received = received
                .map_err(|_| format!("stream {index} hung"))?
                .map_err(|e| format!("stream {index}: {e}"))?;
            if received.len() != size || Sha256::digest(&received) != expected {
                return Err(format!(
                    "stream {index}: {} of {size} bytes, checksum differs",
                    received.len()
                ));
            }
            Ok::<(), String>(())
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(error) = task.await.unwrap() {
            failures.push(error);
        }
    }
    assert!(
        failures.is_empty(),
        "{} streams failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    access.kill().await;
    connector.stop().await;
}

/// An open connection through `postern access tcp` that has echoed once.
async fn open_echoing(port: u16) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(b"still there?").await.unwrap();
    let mut echoed = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut echoed))
        .await
        .expect("no echo")
        .unwrap();
    assert_eq!(&echoed, b"still there?");
    stream
}

/// Waits until the server cuts `stream`: its reads end or fail, with nothing echoed.
async fn wait_cut(stream: &mut tokio::net::TcpStream, within: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    let mut buffer = [0u8; 64];
    loop {
        let _ = stream.write_all(b"x").await;
        let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buffer)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the stream is still open"
        );
    }
}

#[tokio::test]
async fn revoking_a_service_token_cuts_its_open_streams_only() {
    let (server, admin, token) = provisioned().await;
    let origin = echo_app(&admin).await;
    let doomed = service_token(&admin, "doomed", &["echo"]).await;
    let kept = service_token(&admin, "kept", &["echo"]).await;
    let connector = postern::connector(&server, &token, &format!("127.0.0.1:{origin}"), 1).unwrap();
    wait_attached(&admin, 1).await;
    let (doomed_access, doomed_port) =
        postern::access_tcp(&server, "echo", &doomed.token.id, &doomed.secret)
            .await
            .unwrap();
    let (kept_access, kept_port) =
        postern::access_tcp(&server, "echo", &kept.token.id, &kept.secret)
            .await
            .unwrap();
    let mut cut = open_echoing(doomed_port).await;
    let mut also_cut = open_echoing(doomed_port).await;
    let mut spared = open_echoing(kept_port).await;

    let response = admin
        .delete(&format!("/api/admin/service-tokens/{}", doomed.token.id))
        .await
        .unwrap();
    assert!(response.status().is_success());
    wait_cut(&mut cut, Duration::from_secs(10)).await.unwrap();
    wait_cut(&mut also_cut, Duration::from_secs(10))
        .await
        .unwrap();
    // The person at the laptop is told why, once per connection.
    let said = "the server ended this connection: the service token was revoked";
    doomed_access
        .wait_for_stderr(|stderr| stderr.matches(said).count() == 2)
        .await
        .unwrap();
    assert!(!kept_access.stderr().contains("ended this connection"));

    // The other token's stream carries on.
    spared.write_all(b"and you?").await.unwrap();
    let mut echoed = [0u8; 8];
    tokio::time::timeout(Duration::from_secs(10), spared.read_exact(&mut echoed))
        .await
        .expect("the other stream stopped echoing")
        .unwrap();
    assert_eq!(&echoed, b"and you?");

    let audit: Vec<AuditEvent> = admin.get_json("/api/admin/audit?limit=50").await.unwrap();
    assert!(
        audit.iter().any(|e| e.action == "stream.cut"
            && e.decision == Some(protocol::api::Decision::Deny)
            && e.reason == "2 open stream(s) ended: the service token was revoked"),
        "{audit:#?}"
    );
    doomed_access.kill().await;
    kept_access.kill().await;
    connector.stop().await;
}

#[tokio::test]
async fn removing_the_app_cuts_its_open_streams() {
    let (server, admin, token) = provisioned().await;
    let origin = echo_app(&admin).await;
    let robot = service_token(&admin, "robot", &["echo"]).await;
    let connector = postern::connector(&server, &token, &format!("127.0.0.1:{origin}"), 1).unwrap();
    wait_attached(&admin, 1).await;
    let (access, port) = postern::access_tcp(&server, "echo", &robot.token.id, &robot.secret)
        .await
        .unwrap();
    let mut open = open_echoing(port).await;

    let response = admin.delete("/api/admin/apps/echo").await.unwrap();
    assert!(response.status().is_success());
    wait_cut(&mut open, Duration::from_secs(10)).await.unwrap();
    let said = "the server ended this connection: access was withdrawn: app echo was removed";
    access
        .wait_for_stderr(|stderr| stderr.contains(said))
        .await
        .unwrap();

    let audit: Vec<AuditEvent> = admin.get_json("/api/admin/audit?limit=50").await.unwrap();
    assert!(
        audit.iter().any(|e| e.action == "stream.cut"
            && e.app.as_deref() == Some("echo")
            && e.reason == "1 open stream(s) ended: access was withdrawn: app echo was removed"),
        "{audit:#?}"
    );
    access.kill().await;
    connector.stop().await;
}

#[tokio::test]
async fn refusals_forward_nothing_and_are_audited() {
    let (server, admin, token) = provisioned().await;
    let origin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = origin_listener.local_addr().unwrap().port();
    let outside = echo_origin().await;
    create_app(
        &admin,
        "db",
        AppKind::Tcp,
        &format!("tcp://127.0.0.1:{origin}"),
    )
    .await;
    create_app(
        &admin,
        "outside",
        AppKind::Tcp,
        &format!("tcp://127.0.0.1:{outside}"),
    )
    .await;
    let granted = service_token(&admin, "granted", &["db", "outside"]).await;
    let other_app = service_token(&admin, "other", &["outside"]).await;
    let revoked = service_token(&admin, "revoked", &["db"]).await;
    admin
        .delete(&format!("/api/admin/service-tokens/{}", revoked.token.id))
        .await
        .unwrap();
    // The connector may dial only the `db` origin.
    let connector = postern::connector(&server, &token, &format!("127.0.0.1:{origin}"), 1).unwrap();
    wait_attached(&admin, 1).await;

    let access_cases: Vec<(&str, &ServiceTokenCreated, &str, &str)> = vec![
        (
            "wrong app for the token",
            &other_app,
            "db",
            "not granted app db",
        ),
        ("revoked token", &revoked, "db", "revoked"),
        (
            "destination outside the connector's allow-list",
            &granted,
            "outside",
            "allow-list",
        ),
    ];
    for (name, token, app, words) in access_cases {
        let proxy =
            postern::ssh_proxy_command(&server, app, &token.token.id, &token.secret).unwrap();
        let output = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&proxy)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(words), "{name}: {stderr}");
    }
    // Nothing reached the origin.
    let accepted = tokio::time::timeout(Duration::from_millis(200), origin_listener.accept()).await;
    assert!(accepted.is_err(), "a refused stream reached the origin");

    // A revoked connector is cut off and cannot come back.
    assert_eq!(
        admin
            .delete("/api/admin/connectors/office")
            .await
            .unwrap()
            .status(),
        204
    );
    wait_attached(&admin, 0).await;
    let status = tokio::time::timeout(Duration::from_secs(20), connector.child_wait())
        .await
        .expect("connector did not exit after revocation");
    assert!(!status.success());
    let proxy =
        postern::ssh_proxy_command(&server, "db", &granted.token.id, &granted.secret).unwrap();
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&proxy)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("offline"));

    let audit: Vec<AuditEvent> = admin
        .get("/api/admin/audit?limit=100")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for reason in [
        "not granted app db",
        "revoked",
        "allow-list",
        "connector token revoked",
        "offline",
    ] {
        assert!(
            audit.iter().any(|e| e.reason.contains(reason)),
            "no audit row about {reason:?}: {audit:#?}"
        );
    }
}

trait ChildWait {
    async fn child_wait(self) -> std::process::ExitStatus;
}

impl ChildWait for Postern {
    async fn child_wait(mut self) -> std::process::ExitStatus {
        self.child.wait().await.unwrap()
    }
}

#[tokio::test]
async fn streams_fail_over_between_replicas_and_survive_a_server_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let on_data_dir =
        |config: &mut server::config::Config| config.data_dir = data_dir.path().to_owned();
    let reserved = tests::server::Reserved::bind().unwrap();
    let port = reserved.port;
    let server = TestServer::start_with(reserved, on_data_dir).await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    let created: ConnectorToken = admin
        .post_json(
            "/api/admin/connectors",
            &CreateConnectorRequest {
                name: "office".into(),
            },
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let origin = echo_app(&admin).await;
    let service = service_token(&admin, "ha", &["echo"]).await;
    let allow = format!("127.0.0.1:{origin}");
    let first = postern::connector(&server, &created.token, &allow, 2).unwrap();
    let second = postern::connector(&server, &created.token, &allow, 2).unwrap();
    wait_attached(&admin, 4).await;
    let (access, local) = postern::access_tcp(&server, "echo", &service.token.id, &service.secret)
        .await
        .unwrap();
    for index in 0..8u64 {
        let payload = random_bytes(4096, index + 1);
        assert_eq!(round_trip(local, payload.clone()).await.unwrap(), payload);
    }

    // A replica dies without a goodbye: new Streams keep succeeding on the other one.
    first.kill().await;
    for index in 0..30u64 {
        let payload = random_bytes(64 * 1024, index + 100);
        let echoed = round_trip(local, payload.clone()).await.unwrap();
        assert_eq!(echoed, payload, "stream {index} after the kill");
    }
    wait_attached(&admin, 2).await;

    // The server restarts on the same address: the surviving replica is back within 2 s and
    // the running `postern access` reconnects by itself.
    server.stop().await.unwrap();
    let server = TestServer::start_with(
        tests::server::Reserved::bind_port(port).unwrap(),
        on_data_dir,
    )
    .await
    .unwrap();
    let restarted = std::time::Instant::now();
    let admin = server.client().unwrap();
    assert_eq!(
        admin
            .sign_in_local("root", PASSWORD)
            .await
            .unwrap()
            .status(),
        200
    );
    wait_attached(&admin, 2).await;
    let back_after = restarted.elapsed();
    assert!(
        back_after < Duration::from_secs(2),
        "connector took {back_after:?} to come back"
    );
    let payload = random_bytes(256 * 1024, 999);
    assert_eq!(round_trip(local, payload.clone()).await.unwrap(), payload);
    access.kill().await;
    second.stop().await;
}

#[tokio::test]
async fn login_through_the_browser_then_access_holds_the_first_connection_while_signing_in() {
    let (server, admin, token) = provisioned().await;
    let origin = echo_origin().await;
    let request = AppRequest {
        name: "echo".into(),
        kind: AppKind::Tcp,
        connector: "office".into(),
        service_url: format!("tcp://127.0.0.1:{origin}"),
        session_duration_seconds: None,
        allow: AllowList {
            email_domains: vec!["example.test".into()],
            ..AllowList::default()
        },
        ssh: None,
    };
    assert_eq!(
        admin
            .post_json("/api/admin/apps", &request)
            .await
            .unwrap()
            .status(),
        201
    );
    let user = protocol::api::CreateLocalUserRequest {
        username: "ada".into(),
        name: "Ada".into(),
        email: Some("ada@example.test".into()),
        password: PASSWORD.into(),
        role: protocol::api::Role::User,
    };
    assert_eq!(
        admin
            .post_json("/api/admin/users", &user)
            .await
            .unwrap()
            .status(),
        201
    );
    let browser = server.client().unwrap();
    assert_eq!(
        browser
            .sign_in_local("ada", PASSWORD)
            .await
            .unwrap()
            .status(),
        200
    );
    let connector = postern::connector(&server, &token, &format!("127.0.0.1:{origin}"), 1).unwrap();
    wait_attached(&admin, 1).await;

    // The "browser" the CLI opens is a script that records the link; the test then does what a
    // person does: approve while signed in, and let the browser follow the redirect.
    let home = tempfile::tempdir().unwrap();
    let link_file = home.path().join("link");
    let browser_script = home.path().join("browser.sh");
    std::fs::write(
        &browser_script,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > {}\n", link_file.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser_script,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let config_dir = home.path().join("config");
    let approve = || async {
        let link = wait_for(
            "the CLI to open the browser",
            Duration::from_secs(20),
            || async {
                std::fs::read_to_string(&link_file)
                    .ok()
                    .filter(|link| !link.is_empty())
            },
        )
        .await
        .unwrap();
        std::fs::remove_file(&link_file).unwrap();
        let link = url::Url::parse(&link).unwrap();
        assert_eq!(link.path(), protocol::routes::CLI_AUTHORIZE);
        let query: std::collections::HashMap<String, String> =
            link.query_pairs().into_owned().collect();
        let approval: protocol::api::CliApproval = browser
            .post_json(
                "/api/cli/approve",
                &protocol::api::CliApproveRequest {
                    challenge: query["challenge"].clone(),
                    state: query["state"].clone(),
                    callback: Some(query["callback"].clone()),
                    hostname: query.get("hostname").cloned(),
                },
            )
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let landed = reqwest::get(approval.redirect.unwrap()).await.unwrap();
        assert_eq!(landed.status(), 200);
        assert!(landed.text().await.unwrap().contains("Signed in"));
    };

    // `postern login`.
    let cli = tests::process::workspace_binary("postern").unwrap();
    let login = tokio::process::Command::new(&cli)
        .args(["login", "--server", &server.origin, "--ca"])
        .arg(&server.report.cert_path)
        .env("BROWSER", &browser_script)
        .env("POSTERN_CONFIG_DIR", &config_dir)
        .stdin(std::process::Stdio::null())
        .output();
    let (output, ()) = tokio::join!(login, approve());
    let output = output.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let credentials = config_dir.join("credentials.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&credentials).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    assert_eq!(cached[&server.origin]["username"], "ada");

    // With the cached token, access works with no browser.
    let mut command = tokio::process::Command::new(&cli);
    command
        .env("POSTERN_CONFIG_DIR", &config_dir)
        .env("BROWSER", "/bin/false");
    let (access, local) = postern::access_tcp_with(&server, "echo", command)
        .await
        .unwrap();
    assert_eq!(
        round_trip(local, b"cached".to_vec()).await.unwrap(),
        b"cached"
    );
    let mut held = open_echoing(local).await;

    // `postern logout` revokes the token on the server, which cuts the connection still open;
    // the next `access` holds its first connection open while the person signs in again, then
    // carries it.
    let output = tokio::process::Command::new(&cli)
        .args(["logout", "--server", &server.origin, "--ca"])
        .arg(&server.report.cert_path)
        .env("POSTERN_CONFIG_DIR", &config_dir)
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    wait_cut(&mut held, Duration::from_secs(10)).await.unwrap();
    access
        .wait_for_stderr(|stderr| {
            stderr.contains("the server ended this connection: the session was")
        })
        .await
        .unwrap();
    access.kill().await;
    let mut command = tokio::process::Command::new(&cli);
    command
        .env("POSTERN_CONFIG_DIR", &config_dir)
        .env("BROWSER", &browser_script);
    let (access, local) = postern::access_tcp_with(&server, "echo", command)
        .await
        .unwrap();
    let payload = random_bytes(100_000, 5);
    let (echoed, ()) = tokio::join!(round_trip(local, payload.clone()), approve());
    assert_eq!(echoed.unwrap(), payload);
    access.kill().await;
    connector.stop().await;
}
