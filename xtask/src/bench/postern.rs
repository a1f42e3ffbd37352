//! The postern path, all release builds: `postern-server` on port 0 with a fresh data dir,
//! provisioned with its admin CLI (a Connector, one TCP App per origin, a Service token), one
//! `postern connector run` with four HA connections, and one `postern access tcp` per App.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::children::{Children, read_line_until, wait_for};
use super::origins::{FIRST_BYTE, Origins};

/// HA connections of the connector, as the issue specifies.
pub const HA_CONNECTIONS: usize = 4;
/// The Connector's name.
const CONNECTOR: &str = "bench";

/// The running postern processes.
pub struct Postern {
    /// `postern access tcp` to the echo App: (local port, pid).
    pub echo: (u16, u32),
    /// … to the sink App.
    pub sink: (u16, u32),
    /// … to the first-byte App.
    pub first_byte: (u16, u32),
    /// postern-server.
    pub server_pid: u32,
    /// The connector.
    pub connector_pid: u32,
    /// How many connector links the server logged attaching.
    pub attached: usize,
}

/// The release binaries and the directories they use.
pub struct Layout {
    /// `target/release`.
    pub bin: PathBuf,
    /// The workspace root (the server's working directory, for `--web-root dist`).
    pub root: PathBuf,
    /// Scratch directory: the data dir and the logs go here.
    pub dir: PathBuf,
}

impl Layout {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("postern-data")
    }

    fn cert(&self) -> PathBuf {
        self.data_dir().join("tls/cert.pem")
    }

    /// `postern-server admin --data-dir D --json ARGS`, parsed.
    async fn admin(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let output = Command::new(self.bin.join("postern-server"))
            .arg("admin")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--json")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .context("run postern-server admin")?;
        if !output.status.success() {
            bail!(
                "postern-server admin {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        serde_json::from_slice(&output.stdout)
            .with_context(|| format!("parse the JSON of postern-server admin {}", args.join(" ")))
    }
}

fn string_at<'a>(value: &'a serde_json::Value, pointer: &str) -> anyhow::Result<&'a str> {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .with_context(|| format!("no {pointer} in the admin CLI's answer"))
}

/// Starts and provisions everything; returns once a stream reaches every origin.
pub async fn start(
    children: &mut Children,
    layout: &Layout,
    origins: &Origins,
) -> anyhow::Result<Postern> {
    let server_log = layout.dir.join("postern-server.log");
    let mut command = Command::new(layout.bin.join("postern-server"));
    command
        .arg("--data-dir")
        .arg(layout.data_dir())
        .args(["--listen", "127.0.0.1:0", "--web-root", "dist"])
        .current_dir(&layout.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let (server_pid, stdout) = children.spawn("postern-server", &mut command, Some(&server_log))?;
    let port: u16 = read_line_until(
        stdout.context("server stdout")?,
        Duration::from_secs(60),
        |line| {
            line.trim()
                .strip_prefix("(bound to 127.0.0.1:")?
                .strip_suffix(')')?
                .parse()
                .ok()
        },
    )
    .await
    .with_context(|| format!("start postern-server (log: {})", server_log.display()))?;
    let url = format!("https://localhost:{port}");

    let created = layout.admin(&["connector", "create", CONNECTOR]).await?;
    let connector_token = string_at(&created, "/token")?.to_owned();
    let apps = [
        ("echo", origins.echo),
        ("sink", origins.sink),
        ("first-byte", origins.first_byte),
    ];
    for (app, origin) in apps {
        layout
            .admin(&[
                "app",
                "create",
                app,
                "--kind",
                "tcp",
                "--connector",
                CONNECTOR,
                "--url",
                &format!("tcp://127.0.0.1:{origin}"),
            ])
            .await?;
    }
    let token = layout
        .admin(&[
            "service-token",
            "create",
            "bench",
            "--app",
            "echo",
            "--app",
            "sink",
            "--app",
            "first-byte",
        ])
        .await?;
    let token_id = string_at(&token, "/token/id")?.to_owned();
    let token_secret = string_at(&token, "/secret")?.to_owned();

    let allow = apps
        .iter()
        .map(|(_, origin)| format!("127.0.0.1:{origin}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut command = Command::new(layout.bin.join("postern"));
    command
        .args(["connector", "run", "--server", &url, "--ca"])
        .arg(layout.cert())
        .args(["--allow", &allow])
        .args(["--ha-connections", &HA_CONNECTIONS.to_string()])
        // Stopping at the end should not wait out the default 30 s drain.
        .args(["--grace", "2s"])
        .env("POSTERN_CONNECTOR_TOKEN", &connector_token)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let (connector_pid, _) = children.spawn(
        "postern connector",
        &mut command,
        Some(&layout.dir.join("postern-connector.log")),
    )?;

    let mut access = Vec::new();
    for (app, _) in apps {
        let mut command = Command::new(layout.bin.join("postern"));
        command
            .args(["access", "tcp", "--server", &url, "--ca"])
            .arg(layout.cert())
            .args(["--app", app, "--listen", "127.0.0.1:0"])
            // The `=` form: a secret may start with `-`.
            .arg(format!("--service-token-id={token_id}"))
            .arg(format!("--service-token-secret={token_secret}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let log = layout.dir.join(format!("postern-access-{app}.log"));
        let (pid, stdout) =
            children.spawn(&format!("postern access {app}"), &mut command, Some(&log))?;
        let port: u16 = read_line_until(
            stdout.context("access stdout")?,
            Duration::from_secs(20),
            |line| {
                line.strip_prefix("listening on 127.0.0.1:")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            },
        )
        .await
        .with_context(|| {
            format!(
                "start postern access tcp --app {app} (log: {})",
                log.display()
            )
        })?;
        access.push((port, pid));
    }
    let [echo, sink, first_byte] = access[..] else {
        bail!("expected three access processes");
    };

    // The connector attaches in the background; a stream that reaches the origin proves it.
    wait_for(
        "a stream through postern to reach the origin",
        Duration::from_secs(60),
        || first_byte_through(first_byte.0),
    )
    .await
    .with_context(|| format!("see the logs in {}", layout.dir.display()))?;
    // All four links, not just the first, so streams spread as in production. The admin CLI
    // does not show live links; the server logs each attach.
    let attached = wait_for(
        "all connector links to attach",
        Duration::from_secs(20),
        || async {
            let count = attached_links(&server_log);
            (count >= HA_CONNECTIONS).then_some(count)
        },
    )
    .await
    .unwrap_or_else(|_| attached_links(&server_log));
    Ok(Postern {
        echo,
        sink,
        first_byte,
        server_pid,
        connector_pid,
        attached,
    })
}

async fn first_byte_through(port: u16) -> Option<()> {
    let attempt = tokio::time::timeout(Duration::from_secs(2), async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await?;
        std::io::Result::Ok(byte[0])
    })
    .await;
    matches!(attempt, Ok(Ok(FIRST_BYTE))).then_some(())
}

fn attached_links(server_log: &Path) -> usize {
    std::fs::read_to_string(server_log)
        .map(|log| log.matches("connector attached").count())
        .unwrap_or(0)
}
