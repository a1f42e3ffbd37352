//! The `postern-server` binary itself: flags with no config file, the startup banner,
//! configuration errors, and a clean exit on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::process::Command;

use tests::process::{read_line_until, stop};

fn server_binary() -> std::path::PathBuf {
    tests::process::workspace_binary("postern-server").unwrap()
}

#[tokio::test]
async fn runs_with_flags_only_prints_the_setup_link_and_stops_on_sigterm() {
    tests::init_logging();
    let data_dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(server_binary())
        .args(["--data-dir"])
        .arg(data_dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let bound: std::net::SocketAddr =
        read_line_until(&mut stdout, Duration::from_secs(30), |line| {
            line.trim()
                .strip_prefix("(bound to ")?
                .strip_suffix(')')?
                .parse()
                .ok()
        })
        .await
        .unwrap();
    let fingerprint = read_line_until(&mut stdout, Duration::from_secs(5), |line| {
        line.trim()
            .strip_prefix("SHA-256 fingerprint: ")
            .map(str::to_owned)
    })
    .await
    .unwrap();
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");
    let setup_url = read_line_until(&mut stdout, Duration::from_secs(5), |line| {
        line.trim()
            .contains("/setup#token=")
            .then(|| line.trim().to_owned())
    })
    .await
    .unwrap();
    assert!(
        setup_url.starts_with(&format!("https://localhost:{}/setup#token=", bound.port())),
        "{setup_url}"
    );
    // The certificate is kept in the data directory for clients to trust.
    let cert = data_dir.path().join("tls/cert.pem");
    assert!(cert.exists());
    assert!(data_dir.path().join("postern.db").exists());

    let tls = tests::server::trusting(&cert).unwrap();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve("localhost", bound)
        .build()
        .unwrap();
    let health = client
        .get(format!("https://localhost:{}/healthz", bound.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    // The setup link never reaches the log.
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    let token = setup_url.split("#token=").nth(1).unwrap();
    assert!(!stderr.contains(token), "the setup token was logged");
    assert!(stderr.contains("shutting down"), "{stderr}");
}

#[tokio::test]
async fn configuration_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("postern.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[session]\nidle_timout = \"5m\"\n",
    )
    .unwrap();
    let output = Command::new(server_binary())
        .arg("--config")
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("postern.toml")
            && message.contains("line 3")
            && message.contains("idle_timout"),
        "{message}"
    );

    let output = Command::new(server_binary())
        .arg("--check-config")
        .env("POSTERN_SESSION__IDLE_TIMEOUT", "forever")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));

    // The scrape token's file is read too: a short token is refused before the server starts.
    let token_file = dir.path().join("metrics-token");
    std::fs::write(&token_file, "too short").unwrap();
    let output = Command::new(server_binary())
        .arg("--check-config")
        .env("POSTERN_METRICS__TOKEN_FILE", &token_file)
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("at least 32 characters"), "{message}");

    std::fs::write(&token_file, "a-scrape-token-long-enough-for-the-rule-0123").unwrap();
    std::fs::write(
        &file,
        format!(
            "[session]\nidle_timeout = \"5m\"\n[metrics]\ntoken_file = {:?}\n",
            token_file.display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(server_binary())
        .arg("--config")
        .arg(&file)
        .arg("--check-config")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().await.unwrap();
    assert!(status.success());
    stop(&mut child, Duration::from_secs(1)).await;
}
