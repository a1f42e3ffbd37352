//! Child processes owned by a test, and waiting with a deadline instead of sleeping.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout};

/// Polls `probe` every 25 ms until it returns `Some`, or fails after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Reads `stdout` line by line until `pick` accepts one, within `limit`; the lines it skipped
/// are returned in the error so a failed start explains itself.
pub async fn read_line_until<T>(
    stdout: &mut BufReader<ChildStdout>,
    limit: Duration,
    mut pick: impl FnMut(&str) -> Option<T>,
) -> anyhow::Result<T> {
    let mut seen = String::new();
    let read = async {
        loop {
            let mut line = String::new();
            if stdout
                .read_line(&mut line)
                .await
                .context("read child stdout")?
                == 0
            {
                bail!("child exited before it was ready; its output:\n{seen}");
            }
            if let Some(value) = pick(line.trim_end()) {
                return Ok(value);
            }
            seen.push_str(&line);
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .context("timed out waiting for the child")?
}

/// A free TCP port on 127.0.0.1, for peers that cannot be told to use port 0. The port is
/// released before returning, so callers retry if another process takes it first.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind port 0")?;
    Ok(listener.local_addr()?.port())
}

/// Stops a child: SIGTERM, then SIGKILL if it is still there after `grace`.
pub async fn stop(child: &mut Child, grace: Duration) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

/// A binary of this workspace, built next to the test binary (`cargo xtask ci` builds them
/// first).
pub fn workspace_binary(name: &str) -> anyhow::Result<std::path::PathBuf> {
    // The test binary lives in target/{profile}/deps; workspace binaries one level up.
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .context("test binary location")?;
    let path = dir.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: build it first (`cargo build --bins`; `cargo xtask ci` does)",
        path.display()
    );
    Ok(path)
}
