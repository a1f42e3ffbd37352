//! The web app in headless Chromium, as a person uses it: sign in with the local account,
//! open `/ssh/{app}`, type. Timed there: a flood from pressing Enter until its end marker is in
//! xterm.js's buffer, the same amount of output written into xterm.js from memory (its own
//! share), and keystrokes from xterm.js taking them until their echo is parsed.
//!
//! The page draws with xterm.js's WebGL renderer when the browser offers WebGL2 and falls back
//! to the DOM renderer when the context is lost. Which one draws changes the flood's time a
//! lot where WebGL runs in software (a machine without a GPU), so when the page picked WebGL
//! the flood runs once more after taking the context away.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::Locator;
use fantoccini::wd::TimeoutConfiguration;
use protocol::ssh::OUTPUT_WINDOW;
use tests::browser::Browser;

use crate::children::wait_for;
use crate::console::START_CAT;
use crate::cpu::Snapshot;
use crate::exchange::{BrowserFlood, FLOOD_MARKER, Measured, Sizes, flood_command};
use crate::stage::{APP, DISPLAY_NAME, PASSWORD, Stage, USERNAME};

/// WebDriver's Enter key.
const ENTER: &str = "\u{E007}";
/// How often the page is asked whether the flood has ended.
const POLL: Duration = Duration::from_millis(50);
/// How long a prompt, or the page's switch of renderer, may take.
const PROMPT_LIMIT: Duration = Duration::from_secs(30);
/// How long the flood may take.
const FLOOD_LIMIT: Duration = Duration::from_secs(600);
/// Keystrokes timed in one script run (even, so each run ends on an empty line).
const ECHO_BATCH: usize = 200;

/// The line under the terminal's cursor and the two above it, without the cells nothing was
/// written to, joined by newlines.
const CURSOR_LINES: &str = "const b = window.posternTerminal.buffer.active; \
    const at = b.baseY + b.cursorY; const lines = []; \
    for (let i = Math.max(0, at - 2); i <= at; i++) { \
      const line = b.getLine(i); lines.push(line ? line.translateToString(true) : ''); } \
    return lines.join('\\n');";

/// `[renderer, what runs WebGL]`: the DOM renderer keeps its rows in `.xterm-rows`; the WebGL
/// one draws into a canvas with a live WebGL2 context (the link layer's canvas is 2D).
const RENDERER: &str = "if (document.querySelector('.xterm-rows')) return ['dom', null]; \
    for (const canvas of document.querySelectorAll('.xterm-screen canvas')) { \
      const gl = canvas.getContext('webgl2'); \
      if (gl && !gl.isContextLost()) { \
        const info = gl.getExtension('WEBGL_debug_renderer_info'); \
        return ['webgl', info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : null]; } } \
    return ['unknown', null];";

/// Takes the WebGL context away, as a browser does under memory pressure or a GPU reset.
const LOSE_CONTEXT: &str = "let lost = false; \
    for (const canvas of document.querySelectorAll('.xterm-screen canvas')) { \
      const gl = canvas.getContext('webgl2'); \
      const extension = gl && gl.getExtension('WEBGL_lose_context'); \
      if (extension) { extension.loseContext(); lost = true; } } \
    return lost;";

/// Writes `arguments[0]` bytes of base64-like lines (76 characters and CR LF, as the flood
/// arrives) into xterm.js in `arguments[1]`-byte pieces, each a fresh array with a completion
/// callback as the page writes them, never more than `arguments[2]` bytes unparsed (the
/// server's output window; xterm.js discards data beyond 50 MB queued), and calls back with
/// the seconds until the last was parsed.
const XTERM_ALONE: &str = "const [total, size, limit] = arguments; \
    const done = arguments[arguments.length - 1]; \
    const term = window.posternTerminal; \
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'; \
    let text = ''; \
    while (text.length < 1 << 20) { let line = ''; \
      for (let i = 0; i < 76; i++) line += alphabet[Math.floor(Math.random() * 64)]; \
      text += line + '\\r\\n'; } \
    const source = new TextEncoder().encode(text); \
    let written = 0, parsed = 0, offset = 0; \
    const began = performance.now(); \
    const pump = () => { \
      while (written < total && written - parsed < limit) { \
        const length = Math.min(size, total - written); \
        if (offset + length > source.length) offset = 0; \
        const piece = source.slice(offset, offset + length); \
        offset += length; written += length; \
        term.write(piece, () => { parsed += length; \
          if (parsed === total) done((performance.now() - began) / 1000); else pump(); }); } }; \
    pump();";

/// Types `arguments[0]` keystrokes into xterm.js one at a time, alternating a letter and DEL
/// (which erases it), and calls back with each one's time in microseconds from handing it to
/// xterm.js until its echo is parsed (the cursor is where the echo puts it), or with a
/// sentence if an echo does not come.
const ECHO_SCRIPT: &str = "const total = arguments[0]; \
    const done = arguments[arguments.length - 1]; \
    const term = window.posternTerminal; \
    const home = term.buffer.active.cursorX; \
    const samples = []; \
    const step = () => { \
      if (samples.length === total) { done(samples); return; } \
      const letter = samples.length % 2 === 0; \
      const expected = letter ? home + 1 : home; \
      let watch = null; \
      const timer = setTimeout(() => { if (watch) watch.dispose(); \
        done('no echo within 10 s after ' + samples.length + ' keystrokes'); }, 10000); \
      const began = performance.now(); \
      watch = term.onWriteParsed(() => { \
        if (term.buffer.active.cursorX !== expected) return; \
        const elapsed = performance.now() - began; \
        watch.dispose(); clearTimeout(timer); \
        samples.push(elapsed * 1000); \
        Promise.resolve().then(step); \
      }); \
      term.input(letter ? 'x' : '\\x7f', true); \
    }; \
    step();";

/// What the browser measured.
pub struct BrowserResults {
    /// The flood with the renderer the page picked.
    pub flood: anyhow::Result<BrowserFlood>,
    /// Keystroke echo samples, microseconds.
    pub echo: anyhow::Result<Vec<f64>>,
    /// Both again with the DOM renderer, if the page had picked WebGL.
    pub dom: Option<(Measured<BrowserFlood>, Measured<Vec<f64>>)>,
}

/// Runs every browser measurement: with the renderer the page picked, the flood and the
/// keystrokes (into `cat`, then back at the shell); then, if that was WebGL, both again with
/// the DOM renderer.
///
/// `piece` is the size of the pieces the flood is written into xterm.js in when it is timed
/// alone: the average WebSocket message of the same flood.
pub async fn measure(stage: &Stage, sizes: Sizes, piece: u64) -> BrowserResults {
    let browser = match Browser::start().await {
        Ok(browser) => browser,
        Err(error) => return all_failed(&error),
    };
    let page = Page {
        browser: &browser,
        stage,
        piece,
    };
    let results = match page.open_terminal().await {
        Ok(()) => {
            let flood = page.flood(sizes.flood_bytes).await;
            let echo = page.echo(sizes).await;
            let dom = if flood.as_ref().is_ok_and(|flood| flood.renderer == "webgl") {
                Some(match crate::measured(page.fall_back_to_dom().await) {
                    Ok(()) => (
                        crate::measured(page.flood(sizes.flood_bytes).await),
                        crate::measured(page.echo(sizes).await),
                    ),
                    Err(error) => (Err(error.clone()), Err(error)),
                })
            } else {
                None
            };
            BrowserResults { flood, echo, dom }
        }
        Err(error) => all_failed(&error),
    };
    let failed = results.flood.is_err()
        || results.echo.is_err()
        || results
            .dom
            .as_ref()
            .is_some_and(|(flood, echo)| flood.is_err() || echo.is_err());
    if failed {
        let shot = browser.screenshot("bench-ssh").await;
        crate::progress(&format!("browser screenshot: {shot:?}"));
    }
    browser.close().await;
    results
}

fn all_failed(error: &anyhow::Error) -> BrowserResults {
    let error = format!("{error:#}");
    BrowserResults {
        flood: Err(anyhow::anyhow!("{error}")),
        echo: Err(anyhow::anyhow!("{error}")),
        dom: None,
    }
}

struct Page<'a> {
    browser: &'a Browser,
    stage: &'a Stage,
    piece: u64,
}

impl Page<'_> {
    async fn open_terminal(&self) -> anyhow::Result<()> {
        let browser = self.browser;
        // Writing a flood into xterm.js from a script can take longer than WebDriver's
        // default script timeout where WebGL runs in software.
        let mut timeouts = TimeoutConfiguration::default();
        timeouts.set_script(Some(FLOOD_LIMIT));
        browser.client.update_timeouts(timeouts).await?;
        browser
            .goto(&format!("{}/login", self.stage.origin))
            .await?;
        browser.fill("input[name=\"username\"]", USERNAME).await?;
        browser.fill("input[name=\"password\"]", PASSWORD).await?;
        browser.click("button[type=\"submit\"]").await?;
        browser
            .wait_for_text("[data-testid=\"user-name\"]", DISPLAY_NAME)
            .await?;
        browser
            .goto(&format!(
                "{}{}",
                self.stage.origin,
                protocol::ssh::terminal_page(APP)
            ))
            .await?;
        browser.find("[data-state=\"connected\"]").await?;
        Ok(())
    }

    async fn script(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        self.browser
            .client
            .execute(script, vec![])
            .await
            .context("run a script in the page")
    }

    async fn cursor_lines(&self) -> anyhow::Result<String> {
        let value = self.script(CURSOR_LINES).await?;
        value
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the terminal's lines came back as {value}"))
    }

    /// Waits until the lines around the cursor satisfy `done`.
    async fn wait_for_lines(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&str) -> bool,
    ) -> anyhow::Result<()> {
        let waited = wait_for(what, limit, || async {
            self.cursor_lines()
                .await
                .ok()
                .filter(|lines| done(lines))
                .map(|_| ())
        })
        .await;
        match waited {
            Ok(()) => Ok(()),
            Err(error) => {
                let lines = self.cursor_lines().await.unwrap_or_default();
                Err(error.context(format!("the lines at the cursor: {lines:?}")))
            }
        }
    }

    async fn at_prompt(&self) -> anyhow::Result<()> {
        // The shell writes its prompt's space, so xterm.js does not trim it.
        self.wait_for_lines("the shell prompt", PROMPT_LIMIT, |lines| {
            lines.ends_with("$ ")
        })
        .await
    }

    /// Types as a person does: keys into xterm.js's input element.
    async fn type_keys(&self, keys: &str) -> anyhow::Result<()> {
        self.browser
            .client
            .find(Locator::Css(".xterm-helper-textarea"))
            .await?
            .send_keys(keys)
            .await
            .context("type into the terminal")
    }

    async fn renderer(&self) -> anyhow::Result<(String, Option<String>)> {
        let value = self.script(RENDERER).await?;
        let name = value
            .get(0)
            .and_then(serde_json::Value::as_str)
            .with_context(|| format!("the renderer came back as {value}"))?;
        let gl = value.get(1).and_then(serde_json::Value::as_str);
        Ok((name.to_owned(), gl.map(str::to_owned)))
    }

    /// At the prompt: the timed flood, then the same amount written into xterm.js alone.
    async fn flood(&self, bytes: u64) -> anyhow::Result<BrowserFlood> {
        self.at_prompt().await?;
        let (renderer, gl_renderer) = self.renderer().await?;
        let command = flood_command(bytes);
        self.type_keys(&command).await?;
        self.wait_for_lines("the typed command", PROMPT_LIMIT, |lines| {
            lines.ends_with(command.as_str())
        })
        .await?;
        let cpu = Snapshot::take(self.stage);
        let started = Instant::now();
        self.type_keys(ENTER).await?;
        let deadline = started + FLOOD_LIMIT;
        loop {
            let lines = self.cursor_lines().await?;
            if lines.lines().any(|line| line == FLOOD_MARKER) {
                break;
            }
            if Instant::now() >= deadline {
                bail!("the end marker did not render within {FLOOD_LIMIT:?}; last lines {lines:?}");
            }
            tokio::time::sleep(POLL).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = cpu.since(self.stage);
        // As many terminal bytes as the flood brought: each line of 76 characters and a
        // newline arrives with a carriage return added by the PTY.
        let terminal_bytes = bytes / 77 * 78;
        let xterm_seconds = crate::measured(self.xterm_alone(terminal_bytes).await);
        Ok(BrowserFlood {
            seconds,
            cpu,
            renderer,
            gl_renderer,
            xterm_seconds,
            xterm_piece: self.piece,
        })
    }

    async fn xterm_alone(&self, bytes: u64) -> anyhow::Result<f64> {
        self.at_prompt().await?;
        let answer = self
            .browser
            .client
            .execute_async(
                XTERM_ALONE,
                vec![bytes.into(), self.piece.into(), OUTPUT_WINDOW.into()],
            )
            .await;
        // The lines written over the prompt end the line; Enter brings a fresh prompt.
        self.type_keys(ENTER).await?;
        let answer = answer?;
        answer
            .as_f64()
            .with_context(|| format!("writing into xterm.js gave {answer}"))
    }

    /// Keystrokes into `cat`, which then gets end-of-file so the shell is back.
    async fn echo(&self, sizes: Sizes) -> anyhow::Result<Vec<f64>> {
        self.at_prompt().await?;
        self.browser
            .client
            .execute(
                "window.posternTerminal.input(arguments[0], true);",
                vec![START_CAT.into()],
            )
            .await?;
        self.wait_for_lines("cat to read", PROMPT_LIMIT, |lines| {
            lines == "ready\nready\n"
        })
        .await?;
        let even = |count: usize| count.div_ceil(2) * 2;
        self.keystrokes(even(sizes.echo_warmup)).await?;
        let samples = self.keystrokes(even(sizes.echo_count)).await?;
        self.script("window.posternTerminal.input('\\x04', true);")
            .await?;
        Ok(samples)
    }

    /// Times `count` keystrokes in batches of [`ECHO_BATCH`].
    async fn keystrokes(&self, count: usize) -> anyhow::Result<Vec<f64>> {
        let mut samples = Vec::with_capacity(count);
        while samples.len() < count {
            let batch = ECHO_BATCH.min(count - samples.len());
            let answer = self
                .browser
                .client
                .execute_async(ECHO_SCRIPT, vec![batch.into()])
                .await?;
            let Some(times) = answer.as_array() else {
                bail!("keystrokes in the browser: {answer}");
            };
            for time in times {
                samples.push(time.as_f64().context("a keystroke time is not a number")?);
            }
        }
        Ok(samples)
    }

    /// Takes the WebGL context away and waits for the page to draw with the DOM renderer
    /// (xterm.js gives the context three seconds to come back first).
    async fn fall_back_to_dom(&self) -> anyhow::Result<()> {
        let lost = self.script(LOSE_CONTEXT).await?;
        anyhow::ensure!(
            lost.as_bool() == Some(true),
            "no WebGL context to take away"
        );
        wait_for("the DOM renderer", PROMPT_LIMIT, || async {
            self.renderer()
                .await
                .ok()
                .filter(|(name, _)| name == "dom")
                .map(|_| ())
        })
        .await
    }
}
