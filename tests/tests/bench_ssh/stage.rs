//! The system under test, each part in its own process: the release `postern-server` on a
//! fresh data directory (the first admin through its printed setup link, the Connector and
//! the SSH App through its admin CLI, the person through the admin API), an sshd that trusts
//! only the server's SSH CA, the release `postern connector run`, and a signed-in local user
//! whose email makes the Unix account the principal.

use std::path::PathBuf;

use anyhow::Context;
use tests::sshd::{Sshd, ensure_unix_user};

use crate::children::Children;
use crate::exchange::HA_CONNECTIONS;
use crate::release::{
    CONNECTOR, admin_cli, create_connector, set_up_admin, sign_in_person, start_connector,
    start_server,
};
pub use crate::release::{DISPLAY_NAME, PASSWORD, USERNAME};

/// The SSH App.
pub const APP: &str = "box";
/// The Unix account on the origin, and so the principal.
pub const UNIX_USER: &str = "pt-bench";

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
        let cert = data_dir.join("tls/cert.pem");
        let admin = set_up_admin(&origin, &cert, setup_token).await?;
        let connector_token = create_connector(&data_dir).await?;
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
        let (_, session) =
            sign_in_person(&admin, &origin, &cert, format!("{UNIX_USER}@example.test")).await?;

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
        self.connector_pid = start_connector(
            &mut self.children,
            &self.admin,
            (&self.origin, &self.cert),
            (
                &self.connector_token,
                &format!("127.0.0.1:{}", self.sshd.port),
                HA_CONNECTIONS,
            ),
            &self.dir.join(format!("connector-{}.log", self.starts)),
        )
        .await?;
        Ok(())
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
