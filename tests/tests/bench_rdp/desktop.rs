//! The remote screen's activity: an X display to draw on, the xterm on it, and one `xdotool`
//! process that moves the xterm around continuously (moves chained in one process, so the
//! mover itself costs next to nothing).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, ensure};
use tokio::process::Command;

use crate::children::Children;
use crate::exchange::MOVE_PAUSE_MILLIS;

/// How long the xterm may take to appear.
const WINDOW_LIMIT: Duration = Duration::from_secs(20);
/// An 80×24 xterm is about 490×320 pixels; the mover keeps it this far from the right and
/// bottom edges so it stays whole on the screen.
const XTERM_SIZE: (u64, u64) = (500, 330);

/// An X display and what a client needs to talk to it.
#[derive(Debug, Clone)]
pub struct Screen {
    /// `:N`.
    pub display: String,
    /// The cookie file, when the X server wants one (xrdp's sessions do).
    pub xauthority: Option<PathBuf>,
    /// Its size in pixels.
    pub width: u64,
    /// …
    pub height: u64,
}

impl Screen {
    /// `program` set up to talk to this display.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("DISPLAY", &self.display);
        if let Some(cookie) = &self.xauthority {
            command.env("XAUTHORITY", cookie);
        }
        command.stdin(Stdio::null());
        command
    }
}

/// Paints the root window (so a moving window uncovers a colour) and opens an xterm at the top
/// left; returns its pid once its window is mapped.
pub async fn start_xterm(
    children: &mut Children,
    screen: &Screen,
    log: &Path,
) -> anyhow::Result<u32> {
    let mut command = screen.command("xterm");
    command
        .args(["-geometry", "80x24+0+0", "-bg", "white", "-fg", "black"])
        .stdout(Stdio::null());
    let (pid, _) = children.spawn("xterm", &mut command, Some(log))?;
    xterm_window(screen).await?;
    Ok(pid)
}

/// The xterm's window id on `screen`, once it is mapped.
pub async fn xterm_window(screen: &Screen) -> anyhow::Result<String> {
    let search = screen
        .command("xdotool")
        .args(["search", "--sync", "--onlyvisible", "--class", "xterm"])
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(WINDOW_LIMIT, search)
        .await
        .context("no xterm window appeared")?
        .context("run xdotool (is it installed?)")?;
    ensure!(output.status.success(), "xdotool search failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .map(str::to_owned)
        .context("xdotool found no xterm window")
}

/// Position `step` of a triangle wave between 0 and `span`.
fn bounce(step: u64, span: u64) -> u64 {
    let span = span.max(1);
    let phase = step % (2 * span);
    if phase < span {
        phase
    } else {
        2 * span - phase
    }
}

/// A running mover.
pub struct Mover {
    pid: u32,
}

impl Mover {
    /// Starts moving the xterm across the whole of `screen`, for at most `seconds`.
    pub async fn start(
        children: &mut Children,
        screen: &Screen,
        seconds: u64,
        log: &Path,
    ) -> anyhow::Result<Mover> {
        let window = xterm_window(screen).await?;
        let moves = seconds * 1000 / MOVE_PAUSE_MILLIS;
        let pause = format!("{:.3}", MOVE_PAUSE_MILLIS as f64 / 1000.0);
        let span_x = screen.width.saturating_sub(XTERM_SIZE.0);
        let span_y = screen.height.saturating_sub(XTERM_SIZE.1);
        let mut command = screen.command("xdotool");
        for step in 0..moves {
            let x = bounce(step * 9, span_x);
            let y = bounce(step * 7, span_y);
            // `--sync` waits until the X server has moved the window; without it xdotool
            // flushes nothing before `sleep`, so every move would reach the X server at once
            // when the process ends, and the screen would sit still meanwhile.
            command
                .args(["windowmove", "--sync", &window])
                .args([&x.to_string(), &y.to_string()])
                .args(["sleep", &pause]);
        }
        command.stdout(Stdio::null());
        let (pid, _) = children.spawn("xdotool", &mut command, Some(log))?;
        Ok(Mover { pid })
    }

    /// Stops it.
    pub async fn stop(self, children: &mut Children) {
        children.stop(self.pid).await;
    }
}
