//! The system under test, each part in its own process: the FreeRDP shadow server (NLA) on a
//! virtual display with a coloured root window and an `xterm`, xrdp (TLS, Xorg backend) whose
//! sessions the moving-window measurements open one at a time, the release `postern-server` on
//! a fresh data directory (the first admin through its printed setup link, the Connector and
//! the RDP App through its admin CLI, the person through the admin API), the release
//! `postern connector run`, and a signed-in local user.

use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use tests::rdp::{Shadow, Xrdp};
use tests::terminal::Upgrade;

use crate::children::Children;
use crate::desktop::Screen;
use crate::exchange::HA_CONNECTIONS;
use crate::release::{
    CONNECTOR, admin_cli, create_connector, set_up_admin, sign_in_person, start_connector,
    start_server,
};
pub use crate::release::{DISPLAY_NAME, PASSWORD, USERNAME};

/// The RDP App on the shadow server.
pub const APP: &str = "desk";
/// The RDP App on xrdp.
pub const XRDP_APP: &str = "xrdp";

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
        let cert = data_dir.join("tls/cert.pem");
        let admin = set_up_admin(&origin, &cert, setup_token).await?;
        let connector_token = create_connector(&data_dir).await?;
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
        let (user, session) =
            sign_in_person(&admin, &origin, &cert, "bench@example.test".to_owned()).await?;
        let connector_pid = start_connector(
            &mut children,
            &admin,
            (&origin, &cert),
            (&connector_token, &allowed.join(","), HA_CONNECTIONS),
            &dir.join("connector.log"),
        )
        .await?;
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
