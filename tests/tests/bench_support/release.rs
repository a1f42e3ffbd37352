//! The release `postern-server` the benchmarks run as a process of its own, the two ways they
//! talk to it (its admin CLI and an HTTPS client), the provisioning both do (first admin,
//! Connector, the signed-in person) and the release `postern connector run`. Shared by the
//! `bench_ssh` and `bench_rdp` targets, which include this file by path (it needs their
//! `Children`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use protocol::api::{
    ConnectorSummary, CreateLocalUserRequest, LocalSignInRequest, Role, SetupRequest,
};
use reqwest::header::ORIGIN;
use tests::process::workspace_binary;
use tests::server::{session_token, trusting};
use tokio::process::Command;

use crate::children::{Children, read_line_until, wait_for};

/// How long the server, or the connector's links, may take to start.
const START_LIMIT: Duration = Duration::from_secs(60);
/// The local account that signs in.
pub const USERNAME: &str = "bench";
/// Its display name, which the web app shows once signed in.
pub const DISPLAY_NAME: &str = "Bench Person";
/// Its password.
pub const PASSWORD: &str = "a long bench password";
/// The Connector's name.
pub const CONNECTOR: &str = "bench";
const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Creates the first admin with the fresh server's `setup_token`; returns the admin's client.
pub async fn set_up_admin(
    origin: &str,
    cert: &Path,
    setup_token: Option<String>,
) -> anyhow::Result<reqwest::Client> {
    let token = setup_token.context("the fresh server printed no setup link")?;
    let admin = http_client(cert)?;
    let response = admin
        .post(format!("{origin}/api/setup"))
        .header(ORIGIN, origin)
        .json(&SetupRequest {
            token,
            username: ADMIN.to_owned(),
            name: "Bench admin".to_owned(),
            email: None,
            password: ADMIN_PASSWORD.to_owned(),
        })
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "setup: {}",
        response.text().await?
    );
    Ok(admin)
}

/// Creates the Connector [`CONNECTOR`] with the admin CLI; returns its token.
pub async fn create_connector(data_dir: &Path) -> anyhow::Result<String> {
    let created = admin_cli(data_dir, &["connector", "create", CONNECTOR]).await?;
    Ok(created
        .pointer("/token")
        .and_then(serde_json::Value::as_str)
        .context("no token in `connector create`'s answer")?
        .to_owned())
}

/// Creates the person [`USERNAME`] with `email` through the admin API and signs them in;
/// returns their client (Session cookie kept) and Session token.
pub async fn sign_in_person(
    admin: &reqwest::Client,
    origin: &str,
    cert: &Path,
    email: String,
) -> anyhow::Result<(reqwest::Client, String)> {
    let response = admin
        .post(format!("{origin}/api/admin/users"))
        .header(ORIGIN, origin)
        .json(&CreateLocalUserRequest {
            username: USERNAME.to_owned(),
            name: DISPLAY_NAME.to_owned(),
            email: Some(email),
            password: PASSWORD.to_owned(),
            role: Role::User,
        })
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "create the user: {}",
        response.text().await?
    );
    let user = http_client(cert)?;
    let response = user
        .post(format!("{origin}/api/auth/local"))
        .header(ORIGIN, origin)
        .json(&LocalSignInRequest {
            username: USERNAME.to_owned(),
            password: PASSWORD.to_owned(),
        })
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "sign in: {}",
        response.status()
    );
    let session = session_token(&response)?;
    Ok((user, session))
}

/// Starts `postern connector run` with `ha_connections` links that may dial `allowed`, logging
/// to `log`; returns its pid once the admin API shows every link attached.
pub async fn start_connector(
    children: &mut Children,
    admin: &reqwest::Client,
    (origin, cert): (&str, &Path),
    (token, allowed, ha_connections): (&str, &str, usize),
    log: &Path,
) -> anyhow::Result<u32> {
    let mut command = Command::new(workspace_binary("postern")?);
    command
        .args(["connector", "run", "--server", origin, "--ca"])
        .arg(cert)
        .args(["--allow", allowed])
        .args(["--ha-connections", &ha_connections.to_string()])
        // Stopping at the end or between phases should not wait out the default drain.
        .args(["--grace", "2s"])
        .env("POSTERN_CONNECTOR_TOKEN", token)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let (pid, _) = children.spawn("postern connector", &mut command, Some(log))?;
    let url = format!("{origin}/api/admin/connectors");
    wait_for("the connector's links", START_LIMIT, || async {
        let connectors: Vec<ConnectorSummary> =
            admin.get(&url).send().await.ok()?.json().await.ok()?;
        let links: u32 = connectors
            .iter()
            .flat_map(|connector| &connector.replicas)
            .map(|replica| replica.connections)
            .sum();
        (links as usize >= ha_connections).then_some(())
    })
    .await
    .with_context(|| format!("see {}", log.display()))?;
    Ok(pid)
}

/// A client that trusts the server's certificate and keeps cookies (the admin's).
pub fn http_client(cert: &Path) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(trusting(cert)?)
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()?)
}

/// `postern-server admin --data-dir D --json ARGS`, parsed.
pub async fn admin_cli(data_dir: &Path, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let output = Command::new(workspace_binary("postern-server")?)
        .arg("admin")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .context("run postern-server admin")?;
    ensure!(
        output.status.success(),
        "postern-server admin {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("parse the JSON of postern-server admin {}", args.join(" ")))
}

/// Starts `postern-server` on port 0 with `dir/data`; returns its pid, its origin and the
/// setup token when it printed a setup link (first start only).
pub async fn start_server(
    children: &mut Children,
    dir: &Path,
    start: usize,
) -> anyhow::Result<(u32, String, Option<String>)> {
    let log = dir.join(format!("server-{start}.log"));
    let mut command = Command::new(workspace_binary("postern-server")?);
    command
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--listen", "127.0.0.1:0", "--web-root"])
        .arg(tests::workspace_root().join("dist"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let (pid, stdout) = children.spawn("postern-server", &mut command, Some(&log))?;
    let mut origin = None;
    // The banner names the origin first and ends with the setup link or the sign-in hint.
    let (origin, token) = read_line_until(
        stdout.context("the server's stdout")?,
        START_LIMIT,
        |line| {
            let line = line.trim();
            if let Some(url) = line.strip_prefix("Postern is listening on ") {
                origin = Some(url.to_owned());
            } else if let Some((_, token)) = line.split_once("/setup#token=") {
                return Some((origin.clone(), Some(token.to_owned())));
            } else if line.starts_with("Sign in at ") {
                return Some((origin.clone(), None));
            }
            None
        },
    )
    .await
    .with_context(|| format!("start postern-server (log: {})", log.display()))?;
    let Some(origin) = origin else {
        bail!("postern-server printed no origin (log: {})", log.display());
    };
    Ok((pid, origin, token))
}
