//! Browser SSH as a person uses it: sign in through the identity provider, open the SSH App
//! from the launcher, type, resize the window, paste, flood the terminal, and watch the
//! recording as an admin. The origin's sshd trusts nothing but Postern's SSH CA.

use std::time::Duration;

use fantoccini::Locator;
use sha2::{Digest, Sha256};
use tests::browser::Browser;
use tests::idp::{ADA, Idp};
use tests::postern::Postern;
use tests::process::wait_for;
use tests::server::TestServer;
use tests::sshd::{Sshd, ensure_unix_user};

/// Everything a person needs: IdP, server, sshd with the CA, connector, an SSH App `box`.
struct Stage {
    idp: Idp,
    server: TestServer,
    sshd: Sshd,
    connector: Postern,
    browser: Browser,
}

impl Stage {
    async fn start() -> Stage {
        tests::init_logging();
        let (idp, server) = tests::idp::server_with_idp(&[ADA]).await.unwrap();
        // ADA's email is ada@example.test: the principal is `ada`.
        ensure_unix_user("ada").unwrap();
        let ca = std::fs::read_to_string(server.data_dir().join("ssh/ca_ed25519.pub")).unwrap();
        let sshd = Sshd::start_with_ca(&ca, "ada").await.unwrap();
        let connector = tests::app_fixture::publish_for_group(
            &server,
            "box",
            protocol::api::AppKind::Ssh,
            &format!("ssh://127.0.0.1:{}", sshd.port),
            sshd.port,
            "engineering",
        )
        .await
        .unwrap();
        let browser = Browser::start().await.unwrap();
        Stage {
            idp,
            server,
            sshd,
            connector,
            browser,
        }
    }

    async fn sign_in(&self) -> anyhow::Result<()> {
        let browser = &self.browser;
        browser.sign_in_through_idp(&self.server, &ADA).await?;
        Ok(())
    }

    /// Opens the terminal from the launcher's card and waits until it is connected.
    async fn open_terminal(&self) -> anyhow::Result<()> {
        let browser = &self.browser;
        browser
            .click("[data-testid=\"app-card\"][data-app=\"box\"] a[href=\"/ssh/box\"]")
            .await?;
        browser.find("[data-state=\"connected\"]").await?;
        // Like a person, wait for the prompt before typing.
        wait_for("the prompt", Duration::from_secs(20), || async {
            self.screen()
                .await
                .ok()
                .filter(|screen| screen.lines().any(|line| line.starts_with('$')))
        })
        .await?;
        Ok(())
    }

    /// The terminal's whole buffer (scrollback and screen) as text, one line per logical line
    /// (rows the terminal wrapped are joined again).
    async fn screen(&self) -> anyhow::Result<String> {
        let text = self
            .browser
            .client
            .execute(
                "const b = window.posternTerminal.buffer.active; const lines = []; \
                 for (let i = 0; i < b.length; i++) { \
                   const line = b.getLine(i); if (!line) continue; \
                   const text = line.translateToString(true); \
                   if (line.isWrapped && lines.length) lines[lines.length - 1] += text; \
                   else lines.push(text); } \
                 return lines.join('\\n');",
                vec![],
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    async fn wait_for_screen(&self, needle: &str, limit: Duration) -> anyhow::Result<String> {
        let found = wait_for(&format!("{needle:?} in the terminal"), limit, || async {
            self.screen()
                .await
                .ok()
                .filter(|screen| screen.contains(needle))
        })
        .await;
        match found {
            Ok(screen) => Ok(screen),
            Err(error) => {
                let screen = self.screen().await.unwrap_or_default();
                let tail: String = screen.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                Err(error.context(format!("the terminal's last lines (newest first):\n{tail}")))
            }
        }
    }

    /// Types `text` into the terminal as keystrokes.
    async fn type_keys(&self, text: &str) -> anyhow::Result<()> {
        let input = self
            .browser
            .client
            .find(Locator::Css(".xterm-helper-textarea"))
            .await?;
        input.send_keys(text).await?;
        Ok(())
    }

    async fn js_number(&self, script: &str) -> anyhow::Result<u64> {
        let value = self.browser.client.execute(script, vec![]).await?;
        value
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("{script} gave {value}"))
    }

    async fn stop(self) {
        self.browser.close().await;
        self.connector.kill().await;
        self.sshd.stop().await;
        let _ = self.server.stop().await;
        self.idp.stop().await;
    }
}

/// When, in seconds into the one recording in `dir`, the output first held the answer `42`.
fn answer_time(dir: &std::path::Path) -> anyhow::Result<f64> {
    let entry = std::fs::read_dir(dir)?
        .next()
        .ok_or_else(|| anyhow::anyhow!("no recording in {}", dir.display()))??;
    let cast = std::fs::read_to_string(entry.path())?;
    for line in cast.lines().skip(1) {
        let (time, kind, data): (f64, String, String) = serde_json::from_str(line)?;
        if kind == "o" && data.contains("42\r\n") {
            return Ok(time);
        }
    }
    anyhow::bail!("the recording never shows 42")
}

/// Whether a terminal line is the shell's answer `42` (after a prompt, when the command was
/// typed before the shell printed its prompt).
fn is_answer(line: &str) -> bool {
    matches!(line.trim(), "42" | "$ 42")
}

/// WebDriver's Enter key.
const ENTER: &str = "\u{E007}";

async fn or_screenshot(stage: &Stage, name: &str, result: anyhow::Result<()>) {
    if let Err(error) = result {
        let shot = stage.browser.screenshot(name).await;
        panic!("{error:#}\nscreenshot: {shot:?}");
    }
}

#[tokio::test]
async fn a_person_types_resizes_pastes_and_an_admin_replays_the_recording() {
    let stage = Stage::start().await;
    let result = async {
        stage.sign_in().await?;
        stage.open_terminal().await?;
        stage.type_keys(&format!("echo $((6*7)){ENTER}")).await?;
        // The command line shows `6*7`; only the shell's answer is a line of its own.
        wait_for("42 on its own line", Duration::from_secs(20), || async {
            stage
                .screen()
                .await
                .ok()
                .filter(|screen| screen.lines().any(is_answer))
        })
        .await?;

        // UTF-8 and the 256-colour palette: `héllo → 世界` in colour 208, from octal escapes
        // so that only the shell's output holds the characters.
        stage
            .type_keys(&format!(
                "printf '\\033[38;5;208mh\\303\\251llo \\342\\206\\222 \\344\\270\\226\\347\\225\\214\\033[0m\\n'{ENTER}"
            ))
            .await?;
        stage
            .wait_for_screen("héllo → 世界", Duration::from_secs(20))
            .await?;
        let colour = stage
            .browser
            .client
            .execute(
                "const b = window.posternTerminal.buffer.active; \
                 for (let i = b.length - 1; i >= 0; i--) { \
                   const line = b.getLine(i); \
                   if (line && line.translateToString(true).startsWith('héllo')) { \
                     const cell = line.getCell(0); \
                     return cell.isFgPalette() ? cell.getFgColor() : -1; } } \
                 return -2;",
                vec![],
            )
            .await?;
        anyhow::ensure!(colour == serde_json::json!(208), "foreground {colour}");

        // A smaller window: the terminal refits and the remote PTY follows.
        let size = || async {
            let cols = stage
                .js_number("return window.posternTerminal.cols")
                .await
                .ok()?;
            let rows = stage
                .js_number("return window.posternTerminal.rows")
                .await
                .ok()?;
            Some((cols, rows))
        };
        let before = size()
            .await
            .ok_or_else(|| anyhow::anyhow!("the terminal has no size"))?;
        stage.browser.client.set_window_size(720, 480).await?;
        let size = wait_for("the terminal to refit", Duration::from_secs(10), || async {
            size().await.filter(|now| *now != before)
        })
        .await?;
        // The page sent the new size when xterm.js changed it, ahead of these keystrokes on the
        // same socket.
        stage.type_keys(&format!("stty size{ENTER}")).await?;
        stage
            .wait_for_screen(&format!("{} {}", size.1, size.0), Duration::from_secs(20))
            .await?;

        // A 10 kB pasted line arrives intact (read raw: longer than the tty's line buffer).
        let line: String = (0..10_000)
            .map(|i| char::from(b'a' + u8::try_from(i % 26).unwrap_or(0)))
            .collect();
        let digest: String = Sha256::digest(line.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        stage
            .type_keys(&format!(
                "stty -icanon; echo PASTE-$((1+1)); head -c 10000 | sha256sum; stty icanon{ENTER}"
            ))
            .await?;
        // The shell has read the whole line once it runs the echo: the paste goes to head.
        stage
            .wait_for_screen("PASTE-2", Duration::from_secs(20))
            .await?;
        stage
            .browser
            .client
            .execute(
                "window.posternTerminal.paste(arguments[0]);",
                vec![serde_json::Value::String(line)],
            )
            .await?;
        stage
            .wait_for_screen(&digest, Duration::from_secs(20))
            .await?;
        stage.type_keys(&format!("exit{ENTER}")).await?;
        stage
            .browser
            .find("[data-state=\"closed\"][data-close-code=\"exited\"]")
            .await?;

        // The admin plays the recording back and sees the answer.
        stage
            .browser
            .goto(&stage.server.url("/admin/recordings"))
            .await?;
        stage
            .browser
            .click("[data-testid=\"recording-row\"] a")
            .await?;
        stage.browser.find(".ap-player").await?;
        // Seek to just after the shell answered (the paste scrolls it off screen later).
        let answered = answer_time(&stage.server.data_dir().join("recordings"))?;
        wait_for("the player to show 42", Duration::from_secs(30), || async {
            let lines = stage
                .browser
                .client
                .execute(
                    "const p = window.posternPlayer; \
                     if (p && p.seek) p.seek(arguments[0]); \
                     return Array.from(document.querySelectorAll('.ap-player .ap-line')) \
                       .map(line => line.textContent);",
                    vec![serde_json::json!(answered + 0.05)],
                )
                .await
                .ok()?;
            lines
                .as_array()?
                .iter()
                .any(|line| line.as_str().is_some_and(is_answer))
                .then_some(())
        })
        .await?;
        Ok(())
    }
    .await;
    or_screenshot(&stage, "ssh-terminal", result).await;
    stage.stop().await;
}

#[tokio::test]
async fn fifty_megabytes_of_output_render_to_completion() {
    let stage = Stage::start().await;
    let result = async {
        stage.sign_in().await?;
        stage.open_terminal().await?;
        stage
            .type_keys(&format!(
                "head -c 50M /dev/urandom | base64; echo FLOOD-$((40+2))-DONE{ENTER}"
            ))
            .await?;
        stage
            .wait_for_screen("FLOOD-42-DONE", Duration::from_secs(300))
            .await?;
        // Still interactive afterwards.
        stage.type_keys(&format!("echo $((6*7)){ENTER}")).await?;
        wait_for("42 after the flood", Duration::from_secs(20), || async {
            stage
                .screen()
                .await
                .ok()
                .filter(|screen| screen.lines().any(is_answer))
        })
        .await?;
        Ok(())
    }
    .await;
    or_screenshot(&stage, "ssh-flood", result).await;
    stage.stop().await;
}
