//! The desktop page in headless Chromium, as a person uses it: sign in with the local account,
//! open `/rdp/{app}`, type the remote account, click Connect. Timed in the page, from the
//! click to the screen element's `data-frames` turning 1 (the RDP module painted its first
//! frame into the canvas); counted later: frames painted while a window moves.

use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::wd::TimeoutConfiguration;
use tests::browser::Browser;
use tests::rdp::{RDP_PASSWORD, RDP_USER};

use crate::stage::{APP, DISPLAY_NAME, PASSWORD, Stage, USERNAME};

/// How long a connect in the page may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

/// Clicks Connect and calls back with `['frame', seconds]` once the screen's `data-frames` is
/// at least 1, `['closed', reason]` if the session ends first, or `['timeout', what the page
/// shows]` after `arguments[0]` milliseconds. Watched with a MutationObserver, so the time is
/// when the module set the attribute, not when WebDriver next asked.
const CLICK_TO_FRAME: &str = "const limit = arguments[0]; \
    const done = arguments[arguments.length - 1]; \
    const screen = document.querySelector('[data-testid=\"rdp-screen\"]'); \
    const button = document.querySelector('[data-testid=\"rdp-connect\"]'); \
    if (!screen || !button) { done(['missing', 'no screen or Connect button']); return; } \
    let finished = false; \
    const finish = (value) => { if (!finished) { finished = true; observer.disconnect(); \
      clearTimeout(timer); done(value); } }; \
    const began = performance.now(); \
    const check = () => { \
      if (Number(screen.getAttribute('data-frames') || '0') >= 1) \
        finish(['frame', (performance.now() - began) / 1000]); \
      else if (screen.getAttribute('data-state') === 'closed') \
        finish(['closed', screen.getAttribute('data-close-reason') || '']); }; \
    const observer = new MutationObserver(check); \
    observer.observe(screen, { attributes: true }); \
    const timer = setTimeout(() => { \
      const page = document.querySelector('[data-testid=\"desktop-page\"]'); \
      const alert = document.querySelector('[role=\"alert\"]'); \
      finish(['timeout', 'phase ' + (page && page.getAttribute('data-phase')) + ', ' + \
        (alert ? alert.textContent : 'no alert')]); }, limit); \
    button.click();";

/// The screen's `data-frames`.
const FRAMES: &str = "const screen = document.querySelector('[data-testid=\"rdp-screen\"]'); \
    return Number((screen && screen.getAttribute('data-frames')) || '0');";

/// The desktop the page asks for: the native client's and xfreerdp's, so that the columns
/// relay the same screen.
const DESKTOP: (u32, u32) = (1024, 768);

/// The screen element's size in CSS pixels, which the page asks the desktop to be.
const SCREEN_SIZE: &str = "const screen = document.querySelector('[data-testid=\"rdp-screen\"]'); \
    return screen ? [screen.clientWidth, screen.clientHeight] : null;";

/// A signed-in browser.
pub struct Page {
    browser: Browser,
}

impl Page {
    /// Starts Chromium and signs in.
    pub async fn open(stage: &Stage) -> anyhow::Result<Page> {
        let browser = Browser::start().await?;
        let mut timeouts = TimeoutConfiguration::default();
        timeouts.set_script(Some(CONNECT_LIMIT + Duration::from_secs(10)));
        browser.client.update_timeouts(timeouts).await?;
        browser.goto(&format!("{}/login", stage.origin)).await?;
        browser.fill("input[name=\"username\"]", USERNAME).await?;
        browser.fill("input[name=\"password\"]", PASSWORD).await?;
        browser.click("button[type=\"submit\"]").await?;
        browser
            .wait_for_text("[data-testid=\"user-name\"]", DISPLAY_NAME)
            .await?;
        let page = Page { browser };
        page.fit_window(stage).await?;
        Ok(page)
    }

    /// Loads `app`'s desktop page afresh.
    async fn open_desktop_page(&self, stage: &Stage, app: &str) -> anyhow::Result<()> {
        self.browser
            .goto(&format!(
                "{}{}",
                stage.origin,
                protocol::rdp::desktop_page(app)
            ))
            .await
    }

    /// Sizes the window so that the desktop page's screen is [`DESKTOP`].
    async fn fit_window(&self, stage: &Stage) -> anyhow::Result<()> {
        let browser = &self.browser;
        self.open_desktop_page(stage, APP).await?;
        browser.find("[data-testid=\"rdp-screen\"]").await?;
        let screen = || async {
            let size = browser.client.execute(SCREEN_SIZE, vec![]).await?;
            let side = |index: usize| size.get(index).and_then(serde_json::Value::as_u64);
            match (side(0), side(1)) {
                (Some(width), Some(height)) => anyhow::Ok((width, height)),
                _ => bail!("the screen's size came back as {size}"),
            }
        };
        let (width, height) = browser.client.get_window_size().await?;
        let (screen_width, screen_height) = screen().await?;
        let fit = |window: u64, screen: u64, wanted: u32| {
            u32::try_from((window + u64::from(wanted)).saturating_sub(screen)).unwrap_or(wanted)
        };
        browser
            .client
            .set_window_size(
                fit(width, screen_width, DESKTOP.0),
                fit(height, screen_height, DESKTOP.1),
            )
            .await?;
        let fitted = screen().await?;
        anyhow::ensure!(
            fitted == (u64::from(DESKTOP.0), u64::from(DESKTOP.1)),
            "the screen is {fitted:?} after resizing the window, not {DESKTOP:?}"
        );
        Ok(())
    }

    /// Opens `app`'s desktop page afresh, waits for its RDP module (a person is typing
    /// meanwhile), types the remote account, and times Connect to the first painted frame. The
    /// session stays connected until the next call or [`Page::close`].
    pub async fn click_to_first_frame(&self, stage: &Stage, app: &str) -> anyhow::Result<f64> {
        let browser = &self.browser;
        self.open_desktop_page(stage, app).await?;
        browser
            .find("[data-testid=\"desktop-page\"][data-module=\"loaded\"]")
            .await
            .context("the RDP module did not load")?;
        browser
            .fill("[data-testid=\"rdp-username\"]", RDP_USER)
            .await?;
        browser
            .fill("[data-testid=\"rdp-password\"]", RDP_PASSWORD)
            .await?;
        let limit = u64::try_from(CONNECT_LIMIT.as_millis()).unwrap_or(u64::MAX);
        let answer = browser
            .client
            .execute_async(CLICK_TO_FRAME, vec![limit.into()])
            .await
            .context("time Connect in the page")?;
        let kind = answer.get(0).and_then(serde_json::Value::as_str);
        match (kind, answer.get(1)) {
            (Some("frame"), Some(seconds)) => seconds
                .as_f64()
                .with_context(|| format!("the page answered {answer}")),
            _ => bail!("no first frame: {answer}"),
        }
    }

    /// Frames the page has painted in its current session.
    pub async fn frames(&self) -> anyhow::Result<u64> {
        let value = self
            .browser
            .client
            .execute(FRAMES, vec![])
            .await
            .context("read data-frames")?;
        value
            .as_u64()
            .with_context(|| format!("data-frames came back as {value}"))
    }

    /// Saves a screenshot for a person to look at.
    pub async fn screenshot(&self) {
        let shot = self.browser.screenshot("bench-rdp").await;
        crate::progress(&format!("browser screenshot: {shot:?}"));
    }

    /// Closes Chromium (and so its session).
    pub async fn close(self) {
        self.browser.close().await;
    }
}
