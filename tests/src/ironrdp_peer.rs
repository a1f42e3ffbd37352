//! The `ironrdp-server` test peer (`tests/peers/ironrdp-peer`): NLA (CredSSP/NTLM) for one
//! account, a solid-colour desktop, and every input event logged to stderr, one line each
//! (`key 0x1e down`, `mouse move 10 20`, `mouse left up`, …).
//!
//! It is its own Cargo workspace (its IronRDP set cannot share this lockfile), built into
//! `ironrdp-peer/` under the target directory: `cargo xtask ci` builds it before the tests, and
//! the first test that needs it builds it again, a no-op when that is fresh.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::BufReader;
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::OnceCell;

use crate::process::{read_line_until, stop};

/// The desktop's colour (0xRRGGBB) unless `--color` says otherwise. Clients decode it lossily:
/// compare with a tolerance of a few units per channel.
pub const COLOR: u32 = 0x2E86DE;
/// The desktop's default size.
pub const WIDTH: u16 = 1024;
/// The desktop's default size.
pub const HEIGHT: u16 = 768;
/// The side of the bottom-right square that flips between the colour and its complement every
/// second, so that a client keeps receiving graphics.
pub const HEARTBEAT_SIDE: u16 = 16;

/// A running peer on 127.0.0.1.
pub struct IronRdpPeer {
    /// Its port.
    pub port: u16,
    child: Child,
    // Held open so the peer never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl IronRdpPeer {
    /// Builds the peer (once per test process) and starts it, accepting `user` and `password`
    /// with NLA.
    pub async fn start(user: &str, password: &str) -> anyhow::Result<IronRdpPeer> {
        IronRdpPeer::start_with(user, password, &[]).await
    }

    /// [`IronRdpPeer::start`] with more options: `--width N`, `--height N`, `--color RRGGBB`.
    pub async fn start_with(
        user: &str,
        password: &str,
        options: &[&str],
    ) -> anyhow::Result<IronRdpPeer> {
        let binary = binary().await?;
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("ironrdp-peer.log");
        let mut child = Command::new(binary)
            .args(["--user", user, "--password", password])
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .context("start ironrdp-peer")?;
        let mut stdout = BufReader::new(child.stdout.take().context("ironrdp-peer stdout")?);
        let port = read_line_until(&mut stdout, Duration::from_secs(30), |line| {
            line.strip_prefix("listening on 127.0.0.1:")?.parse().ok()
        })
        .await
        .with_context(|| {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            format!("ironrdp-peer did not start; its stderr:\n{output}")
        })?;
        Ok(IronRdpPeer {
            port,
            child,
            _stdout: stdout,
            log,
            _dir: dir,
        })
    }

    /// What it wrote to stderr so far: input events, and a line per connection
    /// (`connection from ADDR`, then `… ended` or `… failed: REASON`).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it.
    pub async fn stop(mut self) {
        stop(&mut self.child, Duration::from_secs(2)).await;
    }
}

/// The built binary, built by the first caller in this process.
async fn binary() -> anyhow::Result<PathBuf> {
    static BUILT: OnceCell<PathBuf> = OnceCell::const_new();
    BUILT.get_or_try_init(build).await.cloned()
}

/// `cargo build` in the peer's workspace, into `ironrdp-peer/` under this build's target
/// directory (its own lock, so it does not wait for a running `cargo test`).
async fn build() -> anyhow::Result<PathBuf> {
    let target = target_dir()?.join("ironrdp-peer");
    let manifest = crate::workspace_root().join("tests/peers/ironrdp-peer/Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--locked")
        .arg("--target-dir")
        .arg(&target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .context("run cargo build for ironrdp-peer")?;
    anyhow::ensure!(
        output.status.success(),
        "building ironrdp-peer failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(target.join("debug").join("ironrdp-peer"))
}

/// The main workspace's target directory: `CARGO_TARGET_DIR` (relative to the workspace root,
/// where `cargo xtask` runs) or, without it, the one holding this test binary
/// (`target/debug/deps/…`).
fn target_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(crate::workspace_root().join(dir));
    }
    let exe = std::env::current_exe()?;
    exe.ancestors()
        .nth(3)
        .map(PathBuf::from)
        .context("test binary location")
}
