//! The system under test, each part in its own process: the FreeRDP shadow server (NLA) on a
//! virtual display with a coloured root window and an `xterm`, xrdp (TLS, Xorg backend) whose
//! sessions the moving-window measurements open one at a time, the release `postern-server` on
//! a fresh data directory (the first admin through its printed setup link, the Connector and
//! the RDP App through its admin CLI, the person through the admin API), the release
//! `postern connector run`, and a signed-in local user.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, ensure};
use protocol::api::{
    ConnectorSummary, CreateLocalUserRequest, LocalSignInRequest, Role, SetupRequest,
};
use reqwest::header::ORIGIN;
use tests::process::workspace_binary;
use tests::rdp::{Shadow, Xrdp};
use tests::server::session_token;
use tests::terminal::Upgrade;
use tokio::process::Command;

use crate::children::{Children, wait_for};
use crate::desktop::Screen;
use crate::exchange::HA_CONNECTIONS;
use crate::release::{admin_cli, http_client, start_server};

/// The RDP App on the shadow server.
pub const APP: &str = "desk";
/// The RDP App on xrdp.
pub const XRDP_APP: &str = "xrdp";
/// The local account that signs in.
pub const USERNAME: &str = "bench";
/// Its display name, which the web app shows once signed in.
pub const DISPLAY_NAME: &str = "Bench Person";
/// Its password.
pub const PASSWORD: &str = "a long bench password";
const ADMIN: &str = "root";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const CONNECTOR: &str = "bench";
/// How long a start may take before it counts as failed.
const START_LIMIT: Duration = Duration::from_secs(60);

/// Everything running.
pub struct Stage {
    /// `https://localhost:{port}` of the running server.
    pub origin: String,
    /// The server's self-signed certificate (PEM).
    pub cert: PathBuf,
    /// The person's Session token, sent as the cookie.
    pub session: String,
    /// The person's client (Session cookie kept).
    pub user: reqwest::Client,
    /// The RDP origin of the first-frame and idle measurements.
    pub shadow: Shadow,
    /// The RDP origin of the moving-window measurements, or why it did not start (those
    /// measurements then fail, the others still run).
    pub xrdp: Result<Xrdp, String>,
    /// postern-server.
    pub server_pid: u32,
    /// The connector.
    pub connector_pid: u32,
    /// Scratch: the data directory and every log.
    pub dir: PathBuf,
    /// Every process started here, for helpers that start more (stopped with the stage).
    pub children: Children,
}

impl Stage {
    /// Starts and provisions everything; returns once the connector's links are attached and
    /// the xterm is on the screen.
    pub async fn start() -> anyhow::Result<Stage> {
        let dir = std::env::temp_dir().join(format!("postern-bench-rdp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let data_dir = dir.join("data");
        let mut children = Children::default();
        let shadow = Shadow::start_nla().await?;
        start_xterm(&mut children, &dir, shadow.display()).await?;
        let xrdp = Xrdp::start().await.map_err(|error| {
            crate::progress(&format!("xrdp did not start: {error:#}"));
            format!("xrdp did not start: {error:#}")
        });
        let (server_pid, origin, setup_token) = start_server(&mut children, &dir, 1).await?;
        let setup_token = setup_token.context("the fresh server printed no setup link")?;
        let cert = data_dir.join("tls/cert.pem");
        let admin = http_client(&cert)?;
        let response = admin
            .post(format!("{origin}/api/setup"))
            .header(ORIGIN, &origin)
            .json(&SetupRequest {
                token: setup_token,
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

        let created = admin_cli(&data_dir, &["connector", "create", CONNECTOR]).await?;
        let connector_token = created
            .pointer("/token")
            .and_then(serde_json::Value::as_str)
            .context("no token in `connector create`'s answer")?
            .to_owned();
        let mut destinations = vec![(APP, format!("127.0.0.1:{}", shadow.port))];
        if let Ok(xrdp) = &xrdp {
            destinations.push((XRDP_APP, format!("127.0.0.1:{}", xrdp.port)));
        }
        for (app, destination) in &destinations {
            admin_cli(
                &data_dir,
                &[
                    "app",
                    "create",
                    app,
                    "--kind",
                    "rdp",
                    "--connector",
                    CONNECTOR,
                    "--url",
                    &format!("rdp://{destination}"),
                    "--allow-domain",
                    "example.test",
                ],
            )
            .await?;
        }
        let allowed: Vec<&str> = destinations
            .iter()
            .map(|(_, destination)| destination.as_str())
            .collect();
        let response = admin
            .post(format!("{origin}/api/admin/users"))
            .header(ORIGIN, &origin)
            .json(&CreateLocalUserRequest {
                username: USERNAME.to_owned(),
                name: DISPLAY_NAME.to_owned(),
                email: Some("bench@example.test".to_owned()),
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
        let user = http_client(&cert)?;
        let response = user
            .post(format!("{origin}/api/auth/local"))
            .header(ORIGIN, &origin)
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

        let connector_pid = start_connector(
            &mut children,
            &dir,
            &origin,
            &cert,
            &connector_token,
            &allowed.join(","),
        )
        .await?;
        let connected = wait_for("the connector's links", START_LIMIT, || async {
            let connectors: Vec<ConnectorSummary> = admin
                .get(format!("{origin}/api/admin/connectors"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let links: u32 = connectors
                .iter()
                .flat_map(|connector| &connector.replicas)
                .map(|replica| replica.connections)
                .sum();
            (links as usize >= HA_CONNECTIONS).then_some(())
        })
        .await;
        connected.with_context(|| format!("see the connector's log in {}", dir.display()))?;
        Ok(Stage {
            origin,
            cert,
            session,
            user,
            shadow,
            xrdp,
            server_pid,
            connector_pid,
            dir,
            children,
        })
    }

    /// xrdp, or why it is not there.
    pub fn xrdp(&self) -> anyhow::Result<&Xrdp> {
        self.xrdp
            .as_ref()
            .map_err(|error| anyhow::anyhow!("{error}"))
    }

    /// The upgrade a browser on the server's page makes.
    pub fn upgrade(&self) -> Upgrade {
        Upgrade {
            session: Some(self.session.clone()),
            origin: Some(self.origin.clone()),
            ..Upgrade::default()
        }
    }

    /// Stops every process it started; returns the scratch directory, removed unless `keep`.
    pub async fn stop(mut self, keep: bool) -> PathBuf {
        self.children.stop_all().await;
        self.shadow.stop().await;
        if let Ok(xrdp) = self.xrdp {
            if keep {
                let _ = std::fs::write(self.dir.join("xrdp.log"), xrdp.log_text());
            }
            xrdp.stop().await;
        }
        if !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        self.dir
    }
}

/// Paints the root window (so the first frame is not black) and opens an xterm at the top
/// left; returns once it is mapped.
async fn start_xterm(children: &mut Children, dir: &Path, display: &str) -> anyhow::Result<()> {
    let screen = Screen {
        display: display.to_owned(),
        xauthority: None,
        width: u64::from(crate::native::WIDTH),
        height: u64::from(crate::native::HEIGHT),
    };
    let painted = screen
        .command("xsetroot")
        .args(["-solid", "steelblue"])
        .status()
        .await
        .context("run xsetroot (is x11-xserver-utils installed?)")?;
    ensure!(painted.success(), "xsetroot failed");
    crate::desktop::start_xterm(children, &screen, &dir.join("xterm.log")).await?;
    Ok(())
}

async fn start_connector(
    children: &mut Children,
    dir: &Path,
    origin: &str,
    cert: &Path,
    token: &str,
    allowed: &str,
) -> anyhow::Result<u32> {
    let mut command = Command::new(workspace_binary("postern")?);
    command
        .args(["connector", "run", "--server", origin, "--ca"])
        .arg(cert)
        .args(["--allow", allowed])
        .args(["--ha-connections", &HA_CONNECTIONS.to_string()])
        // Stopping at the end should not wait out the default drain.
        .args(["--grace", "2s"])
        .env("POSTERN_CONNECTOR_TOKEN", token)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let (pid, _) = children.spawn(
        "postern connector",
        &mut command,
        Some(&dir.join("connector.log")),
    )?;
    Ok(pid)
}
