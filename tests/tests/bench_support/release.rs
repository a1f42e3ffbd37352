//! The release `postern-server` the benchmarks run as a process of its own, and the two ways
//! they talk to it: its admin CLI and an HTTPS client. Shared by the `bench_ssh` and
//! `bench_rdp` targets, which include this file by path (it needs their `Children`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use tests::process::workspace_binary;
use tests::server::trusting;
use tokio::process::Command;

use crate::children::{Children, read_line_until};

/// How long the server may take to start.
const START_LIMIT: Duration = Duration::from_secs(60);

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
