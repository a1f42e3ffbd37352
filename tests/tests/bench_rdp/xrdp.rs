//! The xrdp session a client has just opened, made to move: its X display (from xrdp's log),
//! its X server ready for clients, an `xterm` on it and the mover that drags it across the
//! screen. xrdp's Xorg backend sends what changed on its own screen, so a moving window is a
//! stream of real updates, unlike the shadow server, which on Xvfb sees (almost) none.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ::tests::rdp::{RDP_USER, Xrdp};
use anyhow::Context;

use crate::children::{Children, wait_for};
use crate::desktop::{Mover, Screen, start_xterm};
use crate::stage::Stage;

/// What xrdp logs once sesman has started (or found) the session; the display number follows.
const LOGIN: &str = "login successful for user";
const ON_DISPLAY: &str = " on display ";
/// How long the session's login and X server may take.
const SESSION_LIMIT: Duration = Duration::from_secs(30);

/// Successful logins in xrdp's log so far: take it before connecting, and
/// [`MovingSession::open`] waits for the next one.
pub fn logins(xrdp: &Xrdp) -> usize {
    xrdp.log_text().matches(LOGIN).count()
}

/// The display number of the newest login, once there are more than `before`.
fn new_display(log: &str, before: usize) -> Option<u32> {
    let lines: Vec<&str> = log.lines().filter(|line| line.contains(LOGIN)).collect();
    if lines.len() <= before {
        return None;
    }
    let (_, number) = lines.last()?.rsplit_once(ON_DISPLAY)?;
    number.trim().parse().ok()
}

/// The `dimensions:    1024x768 pixels …` line of `xdpyinfo`.
fn dimensions(xdpyinfo: &str) -> Option<(u64, u64)> {
    let line = xdpyinfo
        .lines()
        .find_map(|line| line.trim().strip_prefix("dimensions:"))?;
    let size = line.split_whitespace().next()?;
    let (width, height) = size.split_once('x')?;
    Some((width.parse().ok()?, height.parse().ok()?))
}

/// A session with an xterm on it, moving. xrdp may hand a client the session the previous one
/// left (same display), so the xterm is opened and closed per client.
pub struct MovingSession {
    /// Its X display.
    pub screen: Screen,
    xterm: u32,
    mover: Mover,
}

impl MovingSession {
    /// Waits for the login after the `before`-th, for its X server to answer, then opens an
    /// xterm there and starts moving it for at most `seconds`.
    pub async fn open(stage: &mut Stage, before: usize, seconds: u64) -> anyhow::Result<Self> {
        let xrdp = stage.xrdp()?;
        let number = wait_for("xrdp's login", SESSION_LIMIT, || async {
            new_display(&xrdp.log_text(), before)
        })
        .await
        .with_context(|| format!("xrdp's log:\n{}", xrdp.log_text()))?;
        let mut screen = Screen {
            display: format!(":{number}"),
            xauthority: Some(PathBuf::from(format!("/home/{RDP_USER}/.Xauthority"))),
            width: 0,
            height: 0,
        };
        let probe = screen.clone();
        let (width, height) = wait_for("the session's X server", SESSION_LIMIT, || {
            let probe = probe.clone();
            async move {
                let output = probe
                    .command("xdpyinfo")
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .output()
                    .await
                    .ok()?;
                if !output.status.success() {
                    return None;
                }
                dimensions(&String::from_utf8_lossy(&output.stdout))
            }
        })
        .await?;
        screen.width = width;
        screen.height = height;
        crate::progress(&format!(
            "xrdp session on {} ({width}×{height})",
            screen.display
        ));
        let dir = stage.dir.clone();
        let xterm = start_xterm(&mut stage.children, &screen, &dir.join("xrdp-xterm.log")).await?;
        let mover = Mover::start(
            &mut stage.children,
            &screen,
            seconds,
            &dir.join("xrdp-xdotool.log"),
        )
        .await;
        let mover = match mover {
            Ok(mover) => mover,
            Err(error) => {
                stage.children.stop(xterm).await;
                return Err(error);
            }
        };
        Ok(MovingSession {
            screen,
            xterm,
            mover,
        })
    }

    /// The session's screen, `W×H`.
    pub fn size(&self) -> String {
        format!("{}×{}", self.screen.width, self.screen.height)
    }

    /// Stops the mover and closes the xterm (the session ends with its client).
    pub async fn close(self, children: &mut Children) {
        self.mover.stop(children).await;
        children.stop(self.xterm).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_login_names_the_display() {
        let log = "[20250101-10:00:00] [INFO ] login successful for user posterntest on display 10\n\
                   [20250101-10:00:05] [INFO ] something else\n\
                   [20250101-10:00:09] [INFO ] login successful for user posterntest on display 11\n";
        assert_eq!(new_display(log, 0), Some(11));
        assert_eq!(new_display(log, 1), Some(11));
        assert_eq!(new_display(log, 2), None);
        assert_eq!(new_display("", 0), None);
    }

    #[test]
    fn xdpyinfo_dimensions() {
        let text = "screen #0:\n  dimensions:    1280x900 pixels (338x238 millimeters)\n";
        assert_eq!(dimensions(text), Some((1280, 900)));
        assert_eq!(dimensions("nothing"), None);
    }
}
