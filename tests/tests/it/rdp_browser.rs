//! Browser RDP as a person uses it: sign in through the identity provider, open the RDP App
//! from the launcher, type the remote account's password, and see, type into and click on the
//! remote desktop in the canvas. The FreeRDP shadow server (NLA) shares an Xvfb display the
//! test paints and reads back; xrdp (TLS) runs a painted session; both xrdp and `ironrdp-server`
//! (NLA) change their desktop size when the browser window changes.

use std::time::Duration;

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use tests::browser::Browser;
use tests::idp::{ADA, Idp};
use tests::ironrdp_peer::{self, IronRdpPeer};
use tests::postern::Postern;
use tests::process::wait_for;
use tests::rdp::{RDP_PASSWORD, RDP_USER, SESSION_COLOR, Shadow, Xrdp};
use tests::server::TestServer;

const LIMIT: Duration = Duration::from_secs(30);
/// The colour the shadowed display's root window is painted.
const ROOT_COLOR: u32 = 0x2E86DE;

/// IdP, server, a connector and an RDP App `desk` in front of `port`, and a browser.
struct Stage {
    idp: Idp,
    server: TestServer,
    connector: Postern,
    browser: Browser,
}

impl Stage {
    async fn start(port: u16) -> Stage {
        tests::init_logging();
        let (idp, server) = tests::idp::server_with_idp(&[ADA]).await.unwrap();
        let connector = tests::app_fixture::publish_for_group(
            &server,
            "desk",
            protocol::api::AppKind::Rdp,
            &format!("rdp://127.0.0.1:{port}"),
            port,
            "engineering",
        )
        .await
        .unwrap();
        let browser = Browser::start().await.unwrap();
        Stage {
            idp,
            server,
            connector,
            browser,
        }
    }

    /// Signs in through the IdP, opens the desktop from the launcher and connects.
    async fn connect(&self, password: &str) -> anyhow::Result<()> {
        let browser = &self.browser;
        browser.sign_in_through_idp(&self.server, &ADA).await?;
        browser
            .click(
                "[data-testid=\"app-card\"][data-app=\"desk\"] [data-testid=\"app-open-desktop\"]",
            )
            .await?;
        browser
            .fill("[data-testid=\"rdp-username\"]", RDP_USER)
            .await?;
        browser
            .fill("[data-testid=\"rdp-password\"]", password)
            .await?;
        browser.click("[data-testid=\"rdp-connect\"]").await?;
        Ok(())
    }

    /// Waits until the desktop is connected and has painted a frame.
    async fn wait_connected(&self) -> anyhow::Result<()> {
        self.browser
            .find("[data-testid=\"rdp-screen\"][data-state=\"connected\"]")
            .await?;
        wait_for("the first frame", LIMIT, || async {
            (self.attribute("data-frames").await.unwrap_or(0) > 0).then_some(())
        })
        .await
    }

    /// A numeric attribute of the screen container.
    async fn attribute(&self, name: &str) -> anyhow::Result<u64> {
        let value = self
            .browser
            .client
            .execute(
                "return document.querySelector('[data-testid=\"rdp-screen\"]').getAttribute(arguments[0]);",
                vec![serde_json::json!(name)],
            )
            .await?;
        Ok(value.as_str().and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// The canvas pixel at desktop coordinates (`x`, `y`) as RGB.
    async fn pixel(&self, x: u32, y: u32) -> anyhow::Result<[u8; 3]> {
        let value = self
            .browser
            .client
            .execute(
                "const c = document.querySelector('[data-testid=\"rdp-canvas\"]'); \
                 const d = c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data; \
                 return [d[0], d[1], d[2]];",
                vec![serde_json::json!(x), serde_json::json!(y)],
            )
            .await?;
        let rgb: Vec<u8> = serde_json::from_value(value)?;
        anyhow::ensure!(rgb.len() == 3, "no pixel");
        Ok([rgb[0], rgb[1], rgb[2]])
    }

    /// Waits until the pixel at (`x`, `y`) is `color` (the codecs are lossy: a few units either
    /// way).
    async fn wait_for_color(&self, x: u32, y: u32, color: u32) -> anyhow::Result<()> {
        let [_, r, g, b] = color.to_be_bytes();
        let result = wait_for(&format!("#{color:06x} at {x},{y}"), LIMIT, || async {
            let pixel = self.pixel(x, y).await.ok()?;
            pixel
                .iter()
                .zip([r, g, b])
                .all(|(&got, want)| got.abs_diff(want) <= 8)
                .then_some(())
        })
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(error) => {
                let seen = self.pixel(x, y).await.ok();
                Err(error.context(format!("the pixel is {seen:?}")))
            }
        }
    }

    /// Clicks the canvas at desktop coordinates (`x`, `y`) with real pointer events.
    async fn click_at(&self, x: f64, y: f64) -> anyhow::Result<()> {
        let rect = self
            .browser
            .client
            .execute(
                "const c = document.querySelector('[data-testid=\"rdp-canvas\"]'); \
                 const r = c.getBoundingClientRect(); \
                 return [r.left, r.top, r.width / c.width, r.height / c.height];",
                vec![],
            )
            .await?;
        let [left, top, scale_x, scale_y]: [f64; 4] = serde_json::from_value(rect)?;
        let actions = MouseActions::new("mouse".to_owned())
            .then(PointerAction::MoveTo {
                duration: None,
                x: (left + (x + 0.5) * scale_x).floor(),
                y: (top + (y + 0.5) * scale_y).floor(),
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        self.browser.client.perform_actions(actions).await?;
        Ok(())
    }

    /// The desktop size the page reports and its canvas's size, read in one script so that
    /// a resize cannot fall between the readings.
    async fn desktop_and_canvas(&self) -> anyhow::Result<[u64; 4]> {
        let sizes = self
            .browser
            .client
            .execute(
                "const s = document.querySelector('[data-testid=\"rdp-screen\"]'); \
                 const c = document.querySelector('[data-testid=\"rdp-canvas\"]'); \
                 return [Number(s.getAttribute('data-desktop-width')), \
                   Number(s.getAttribute('data-desktop-height')), c.width, c.height];",
                vec![],
            )
            .await?;
        Ok(serde_json::from_value(sizes)?)
    }

    /// Makes the browser window smaller and waits until the remote desktop has shrunk and the
    /// canvas has the desktop's size; returns the new desktop size. The window may reach its
    /// new size in steps, each asking the desktop for a size, so the last step is awaited.
    async fn shrink_window(&self) -> anyhow::Result<(u64, u64)> {
        let [width, height, ..] = self.desktop_and_canvas().await?;
        self.browser.client.set_window_size(800, 640).await?;
        let shrunk = wait_for(
            "the remote desktop and its canvas to shrink",
            LIMIT,
            || async {
                let [w, h, canvas_w, canvas_h] = self.desktop_and_canvas().await.ok()?;
                (w < width && h < height && [canvas_w, canvas_h] == [w, h]).then_some((w, h))
            },
        )
        .await;
        match shrunk {
            Ok(after) => Ok(after),
            Err(error) => {
                let seen = self.desktop_and_canvas().await.ok();
                Err(error.context(format!(
                    "desktop and canvas (width, height, width, height): {seen:?}"
                )))
            }
        }
    }

    async fn stop(self) {
        self.browser.close().await;
        self.connector.kill().await;
        let _ = self.server.stop().await;
        self.idp.stop().await;
    }
}

async fn or_screenshot(stage: &Stage, name: &str, result: anyhow::Result<()>) {
    if let Err(error) = result {
        let shot = stage.browser.screenshot(name).await;
        panic!("{error:#}\nscreenshot: {shot:?}");
    }
}

/// Runs `program` on the X display `display`.
fn on_display(display: &str, program: &str, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("start {program}: {error}"))
}

#[tokio::test]
async fn a_person_sees_types_and_clicks_on_the_shadowed_display() {
    let shadow = Shadow::start_nla().await.unwrap();
    let display = shadow.display().to_owned();
    let painted = std::process::Command::new("xsetroot")
        .args(["-solid", &format!("#{ROOT_COLOR:06x}")])
        .env("DISPLAY", &display)
        .status()
        .unwrap();
    assert!(painted.success());
    let dir = tempfile::tempdir().unwrap();
    let typed = dir.path().join("typed");
    // A terminal over the middle of the screen writes what it is typed into a file, and a
    // window in the top left corner reports where it is clicked.
    let mut xterm = on_display(
        &display,
        "xterm",
        &[
            "-geometry",
            "80x24+262+234",
            "-e",
            "sh",
            "-c",
            &format!("cat > {}", typed.display()),
        ],
    );
    let mut xev = on_display(
        &display,
        "xev",
        &["-geometry", "160x120+0+0", "-event", "button"],
    );
    let stage = Stage::start(shadow.port).await;
    let result = async {
        stage.connect(RDP_PASSWORD).await?;
        stage.wait_connected().await?;
        // The remote screen is in the canvas: the root window's colour, away from the windows.
        stage.wait_for_color(1000, 740, ROOT_COLOR).await?;

        // A click in the xev window lands where it was aimed.
        stage.click_at(40.0, 30.0).await?;
        let stdout = xev
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no xev output"))?;
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let press = tokio::time::timeout(LIMIT, async {
            let mut pressed = false;
            while let Ok(Some(line)) = lines.next_line().await {
                pressed |= line.contains("ButtonPress");
                if pressed && line.contains("root:(") {
                    return Ok::<_, anyhow::Error>(line);
                }
            }
            anyhow::bail!("xev ended")
        })
        .await??;
        // xev prints `… (x,y), root:(x,y), …` relative to its window, which sits at 0,0.
        let at = press
            .split('(')
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_default()
            .to_owned();
        let (x, y) = at
            .split_once(',')
            .and_then(|(x, y)| Some((x.trim().parse::<i32>().ok()?, y.trim().parse::<i32>().ok()?)))
            .ok_or_else(|| anyhow::anyhow!("no position in {press:?}"))?;
        anyhow::ensure!(
            (x - 40).abs() <= 2 && (y - 30).abs() <= 2,
            "clicked at 40,30 but xev saw {x},{y}"
        );

        // Keystrokes typed in the browser reach the terminal under the pointer.
        stage.click_at(512.0, 384.0).await?;
        let canvas = stage.browser.find("[data-testid=\"rdp-canvas\"]").await?;
        canvas.send_keys("Hello, RDP 42!\u{E007}").await?;
        wait_for("the typed line in the remote file", LIMIT, || async {
            std::fs::read_to_string(&typed)
                .ok()
                .filter(|text| text == "Hello, RDP 42!\n")
        })
        .await
        .map_err(|error| {
            let text = std::fs::read_to_string(&typed).unwrap_or_default();
            error.context(format!("the file holds {text:?}"))
        })?;

        // Disconnect, then try a wrong password: the prompt says what went wrong.
        stage
            .browser
            .click("[data-testid=\"rdp-disconnect\"]")
            .await?;
        stage
            .browser
            .find("[data-testid=\"rdp-screen\"][data-state=\"closed\"]")
            .await?;
        stage.browser.goto(&stage.server.url("/rdp/desk")).await?;
        stage
            .browser
            .fill("[data-testid=\"rdp-username\"]", RDP_USER)
            .await?;
        stage
            .browser
            .fill("[data-testid=\"rdp-password\"]", "not the password")
            .await?;
        stage.browser.click("[data-testid=\"rdp-connect\"]").await?;
        stage
            .browser
            .wait_for_text(
                "[data-testid=\"rdp-prompt-error\"]",
                "The user name or password is not correct.",
            )
            .await?;
        Ok(())
    }
    .await;
    or_screenshot(&stage, "rdp-shadow", result).await;
    stage.stop().await;
    let _ = xterm.kill().await;
    let _ = xev.kill().await;
    shadow.stop().await;
}

#[tokio::test]
async fn an_xrdp_session_shows_its_desktop_and_follows_the_window() {
    let xrdp = Xrdp::start().await.unwrap();
    let stage = Stage::start(xrdp.port).await;
    stage
        .browser
        .client
        .set_window_size(1000, 760)
        .await
        .unwrap();
    let result = async {
        stage.connect(RDP_PASSWORD).await?;
        stage.wait_connected().await?;
        // The session's root window, painted by its startwm.sh.
        stage.wait_for_color(20, 20, SESSION_COLOR).await?;
        // xrdp sends its pointer shape, which becomes the canvas's CSS cursor.
        wait_for("the remote pointer as the cursor", LIMIT, || async {
            let cursor = stage
                .browser
                .client
                .execute(
                    "return document.querySelector('[data-testid=\"rdp-canvas\"]').style.cursor;",
                    vec![],
                )
                .await
                .ok()?;
            cursor
                .as_str()
                .filter(|cursor| cursor.starts_with("url(\"data:image/png"))
                .map(|_| ())
        })
        .await?;
        // A smaller window: xrdp reactivates the session at the size the page asks for, and
        // the session's X screen follows.
        let (width, height) = stage.shrink_window().await?;
        let display = xrdp.session_display(LIMIT).await?;
        wait_for(
            &format!("the session's screen at {width}x{height}"),
            LIMIT,
            || async {
                let (w, h) = Xrdp::screen_size(&display).await.ok()?;
                (u64::from(w) == width && u64::from(h) == height).then_some(())
            },
        )
        .await?;
        stage.wait_for_color(20, 20, SESSION_COLOR).await
    }
    .await;
    let result = result.map_err(|error| error.context(format!("xrdp's log:\n{}", xrdp.log_text())));
    or_screenshot(&stage, "rdp-xrdp", result).await;
    assert!(
        xrdp.log_text().contains("login successful"),
        "{}",
        xrdp.log_text()
    );
    stage.stop().await;
    xrdp.stop().await;
}

#[tokio::test]
async fn the_desktop_follows_the_window_and_takes_ctrl_alt_del() {
    let peer = IronRdpPeer::start(RDP_USER, RDP_PASSWORD).await.unwrap();
    let stage = Stage::start(peer.port).await;
    stage
        .browser
        .client
        .set_window_size(1000, 760)
        .await
        .unwrap();
    let result = async {
        stage.connect(RDP_PASSWORD).await?;
        stage.wait_connected().await?;
        stage.wait_for_color(100, 100, ironrdp_peer::COLOR).await?;
        let after = stage.shrink_window().await?;
        anyhow::ensure!(
            peer.log_text()
                .contains(&format!("layout {}x{}", after.0, after.1)),
            "the server never saw the new layout: {}",
            peer.log_text()
        );
        stage.wait_for_color(100, 100, ironrdp_peer::COLOR).await?;
        // The toolbar's Ctrl+Alt+Del reaches the server as the three keys, in order.
        stage
            .browser
            .click("[data-testid=\"rdp-ctrl-alt-del\"]")
            .await?;
        wait_for("Ctrl+Alt+Del in the server's log", LIMIT, || async {
            let log = peer.log_text();
            let at = |line: &str| log.find(line);
            let pressed = (
                at("key 0x1d down"),
                at("key 0x38 down"),
                at("key 0x53 down extended"),
            );
            match pressed {
                (Some(ctrl), Some(alt), Some(delete)) if ctrl < alt && alt < delete => Some(()),
                _ => None,
            }
        })
        .await
    }
    .await;
    or_screenshot(&stage, "rdp-resize", result).await;
    stage.stop().await;
    peer.stop().await;
}
