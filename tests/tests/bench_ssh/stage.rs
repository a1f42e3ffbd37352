//! The system under test, each part in its own process: the release `postern-server` on a
//! fresh data directory (the first admin through its printed setup link, the Connector and
//! the SSH App through its admin CLI, the person through the admin API), an sshd that trusts
//! only the server's SSH CA, the release `postern connector run`, and a signed-in local user
//! whose email makes the Unix account the principal.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, ensure};
use protocol::api::{
    ConnectorSummary, CreateLocalUserRequest, LocalSignInRequest, Role, SetupRequest,
};
use reqwest::header::ORIGIN;
use tests::process::workspace_binary;
use tests::server::session_token;
use tests::sshd::{Sshd, ensure_unix_user};
use tokio::process::Command;

use crate::children::{Children, wait_for};
use crate::exchange::HA_CONNECTIONS;
use crate::release::{admin_cli, http_client, start_server};

/// The SSH App.
pub const APP: &str = "box";
/// The Unix account on the origin, and so the principal.
pub const UNIX_USER: &str = "pt-bench";
/// The local account that signs in, and its display name.
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
    /// The origin's sshd.
    pub sshd: Sshd,
    /// postern-server.
    pub server_pid: u32,
    /// The connector.
    pub connector_pid: u32,
    /// Scratch: the data directory and every log.
    pub dir: PathBuf,
    children: Children,
    admin: reqwest::Client,
    connector_token: String,
    starts: usize,
}

impl Stage {
    /// Starts and provisions everything; returns once the connector's links are attached.
    pub async fn start() -> anyhow::Result<Stage> {
        let dir = std::env::temp_dir().join(format!("postern-bench-ssh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let data_dir = dir.join("data");
        let mut children = Children::default();
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
        ensure_unix_user(UNIX_USER)?;
        let ca = std::fs::read_to_string(data_dir.join("ssh/ca_ed25519.pub"))
            .context("read the server's SSH CA")?;
        let sshd = Sshd::start_with_ca(&ca, UNIX_USER).await?;
        admin_cli(
            &data_dir,
            &[
                "app",
                "create",
                APP,
                "--kind",
                "ssh",
                "--connector",
                CONNECTOR,
                "--url",
                &format!("ssh://127.0.0.1:{}", sshd.port),
                "--allow-domain",
                "example.test",
            ],
        )
        .await?;
        let response = admin
            .post(format!("{origin}/api/admin/users"))
            .header(ORIGIN, &origin)
            .json(&CreateLocalUserRequest {
                username: USERNAME.to_owned(),
                name: DISPLAY_NAME.to_owned(),
                email: Some(format!("{UNIX_USER}@example.test")),
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
        let response = http_client(&cert)?
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

        let mut stage = Stage {
            origin,
            cert,
            session,
            sshd,
            server_pid,
            connector_pid: 0,
            dir,
            children,
            admin,
            connector_token,
            starts: 1,
        };
        stage.start_connector().await?;
        Ok(stage)
    }

    /// A fresh server process on the same data directory (so the same App, user and
    /// Session), on a new port, with a fresh connector: each measurement of the server's
    /// memory starts from a process that has held nothing else.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.children.stop(self.connector_pid).await;
        self.children.stop(self.server_pid).await;
        self.starts += 1;
        let (pid, origin, _) = start_server(&mut self.children, &self.dir, self.starts).await?;
        self.server_pid = pid;
        self.origin = origin;
        self.start_connector().await
    }

    async fn start_connector(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(workspace_binary("postern")?);
        command
            .args(["connector", "run", "--server", &self.origin, "--ca"])
            .arg(&self.cert)
            .args(["--allow", &format!("127.0.0.1:{}", self.sshd.port)])
            .args(["--ha-connections", &HA_CONNECTIONS.to_string()])
            // Stopping between phases should not wait out the default drain.
            .args(["--grace", "2s"])
            .env("POSTERN_CONNECTOR_TOKEN", &self.connector_token)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let log = self.dir.join(format!("connector-{}.log", self.starts));
        let (pid, _) = self
            .children
            .spawn("postern connector", &mut command, Some(&log))?;
        self.connector_pid = pid;
        let url = format!("{}/api/admin/connectors", self.origin);
        let admin = &self.admin;
        wait_for("the connector's links", START_LIMIT, || async {
            let connectors: Vec<ConnectorSummary> =
                admin.get(&url).send().await.ok()?.json().await.ok()?;
            let links: u32 = connectors
                .iter()
                .flat_map(|connector| &connector.replicas)
                .map(|replica| replica.connections)
                .sum();
            (links as usize >= HA_CONNECTIONS).then_some(())
        })
        .await
        .with_context(|| format!("see {}", log.display()))
    }

    /// Stops every process it started; returns the scratch directory, removed unless `keep`.
    pub async fn stop(mut self, keep: bool) -> PathBuf {
        self.children.stop_all().await;
        self.sshd.stop().await;
        if !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        self.dir
    }
}
