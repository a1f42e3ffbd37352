//! The `postern` binary as tests run it: a connector replica on an origin, and `access`
//! listeners on a laptop.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::process::{read_line_until, stop, wait_for, workspace_binary};
use crate::server::TestServer;

/// A running `postern` process.
pub struct Postern {
    /// The child.
    pub child: Child,
    /// What it wrote to stderr so far, when that is captured (it is also passed on).
    stderr: Arc<Mutex<String>>,
}

impl Postern {
    /// What the process wrote to stderr so far (`access` processes only).
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits up to 10 s until what the process wrote to stderr satisfies `done`; the error
    /// carries the stderr it saw.
    pub async fn wait_for_stderr(&self, done: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        wait_for(
            "what the CLI says on stderr",
            Duration::from_secs(10),
            || {
                let stderr = self.stderr();
                let finished = done(&stderr);
                async move { finished.then_some(()) }
            },
        )
        .await
        .with_context(|| format!("stderr so far: {}", self.stderr()))
    }

    /// Sends SIGKILL (a crash, not a drain).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn stop(mut self) -> Option<std::process::ExitStatus> {
        stop(&mut self.child, Duration::from_secs(40)).await;
        self.child.try_wait().ok().flatten()
    }
}

/// `postern connector run` against `server` with `token` and an allow-list.
pub fn connector(
    server: &TestServer,
    token: &str,
    allow: &str,
    ha_connections: u32,
) -> anyhow::Result<Postern> {
    let child = Command::new(workspace_binary("postern")?)
        .args([
            "connector",
            "run",
            "--server",
            &server.origin,
            "--allow",
            allow,
        ])
        .args(["--ha-connections", &ha_connections.to_string()])
        .arg("--ca")
        .arg(&server.report.cert_path)
        .env("POSTERN_CONNECTOR_TOKEN", token)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("start postern connector run")?;
    Ok(Postern {
        child,
        stderr: Arc::default(),
    })
}

/// `postern access tcp` for `app` on a free local port with a Service token; returns the
/// process and the port it listens on.
pub async fn access_tcp(
    server: &TestServer,
    app: &str,
    token_id: &str,
    token_secret: &str,
) -> anyhow::Result<(Postern, u16)> {
    let mut command = Command::new(workspace_binary("postern")?);
    command
        .env("POSTERN_SERVICE_TOKEN_ID", token_id)
        .env("POSTERN_SERVICE_TOKEN_SECRET", token_secret);
    access_tcp_with(server, app, command).await
}

/// `postern access tcp` for `app` with whatever environment `command` carries (for example a
/// config directory and a `BROWSER` for sign-in).
pub async fn access_tcp_with(
    server: &TestServer,
    app: &str,
    command: Command,
) -> anyhow::Result<(Postern, u16)> {
    access_with(server, "tcp", app, command).await
}

/// `postern access rdp|tcp` for `app` on a free local port with `command`'s environment.
pub async fn access_with(
    server: &TestServer,
    kind: &str,
    app: &str,
    mut command: Command,
) -> anyhow::Result<(Postern, u16)> {
    let mut child = command
        .args(["access", kind, "--server", &server.origin, "--app", app])
        .args(["--listen", "127.0.0.1:0"])
        .arg("--ca")
        .arg(&server.report.cert_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("start postern access tcp")?;
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
    let captured = Arc::clone(&stderr);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{line}");
            let mut text = captured
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            text.push_str(&line);
            text.push('\n');
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
    let port = read_line_until(&mut stdout, Duration::from_secs(20), |line| {
        line.strip_prefix("listening on 127.0.0.1:")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
    .await?;
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
    });
    Ok((Postern { child, stderr }, port))
}

/// The `ProxyCommand` that carries ssh through `postern access ssh` with a Service token.
pub fn ssh_proxy_command(
    server: &TestServer,
    app: &str,
    token_id: &str,
    token_secret: &str,
) -> anyhow::Result<String> {
    Ok(format!(
        "{} access ssh --server {} --ca {} --app {app} --service-token-id={token_id} --service-token-secret={token_secret}",
        workspace_binary("postern")?.display(),
        server.origin,
        server.report.cert_path.display(),
    ))
}
