//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`).

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::process::{Child, Command};

use crate::process::{free_port, stop, wait_for};

/// How long a page may take to show what a test waits for.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// A browser session with its own profile.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn chromium_binary() -> anyhow::Result<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .context("chromium is not installed: run `cargo xtask ci`, which installs it")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that accepts the test server's certificate.
    pub async fn start() -> anyhow::Result<Browser> {
        crate::init_logging();
        let binary = chromium_binary()?;
        // chromedriver cannot be told to pick its own port; retry if ours was taken meanwhile.
        let mut last_error = None;
        for _ in 0..3 {
            match Browser::try_start(binary).await {
                Ok(browser) => return Ok(browser),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("chromedriver did not start")))
    }

    async fn try_start(binary: &str) -> anyhow::Result<Browser> {
        let port = free_port()?;
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Chromium starts in chromedriver's process group, so that dropping the Browser
            // (also when a test panics) can end all of it.
            .process_group(0)
            .spawn()
            .context("start chromedriver (is chromium-driver installed?)")?;
        let status_url = format!("http://127.0.0.1:{port}/status");
        let http = reqwest::Client::new();
        let ready = wait_for("chromedriver", Duration::from_secs(20), || async {
            let response = http.get(&status_url).send().await.ok()?;
            let body: serde_json::Value = response.json().await.ok()?;
            body["value"]["ready"].as_bool().filter(|ready| *ready)
        })
        .await;
        if let Err(error) = ready {
            stop(&mut driver, Duration::from_secs(2)).await;
            return Err(error);
        }
        let profile = tempfile::tempdir()?;
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert("acceptInsecureCerts".into(), true.into());
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": binary, "args": args }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match client {
            Ok(client) => Ok(Browser {
                client,
                driver,
                _profile: profile,
            }),
            Err(error) => {
                stop(&mut driver, Duration::from_secs(2)).await;
                bail!("cannot open a chromium session: {error}")
            }
        }
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("open {url}"))
    }

    /// Waits for the element `css` and returns it.
    pub async fn find(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        let found = self
            .client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => Ok(element),
            Err(error) => {
                let url = self
                    .client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let source = self.client.source().await.unwrap_or_default();
                let excerpt: String = source.chars().take(2000).collect();
                bail!("no element {css} on {url} ({error}); page starts:\n{excerpt}")
            }
        }
    }

    /// Waits until the element `css` has text containing `expected`, and returns its text.
    pub async fn wait_for_text(&self, css: &str, expected: &str) -> anyhow::Result<String> {
        let last = std::sync::Mutex::new(String::new());
        let found = wait_for(
            &format!("{css} to contain {expected:?}"),
            PAGE_TIMEOUT,
            || async {
                let element = self.client.find(Locator::Css(css)).await.ok()?;
                let text = element.text().await.ok()?;
                if text.contains(expected) {
                    return Some(text);
                }
                if let Ok(mut last) = last.lock() {
                    *last = text;
                }
                None
            },
        )
        .await;
        let last = last.lock().map(|last| last.clone()).unwrap_or_default();
        found.with_context(|| format!("last text of {css}: {last:?}"))
    }

    /// Types `text` into the input `css` (clearing it first).
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let input = self.find(css).await?;
        input.clear().await?;
        input
            .send_keys(text)
            .await
            .with_context(|| format!("type into {css}"))
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.find(css)
            .await?
            .click()
            .await
            .with_context(|| format!("click {css}"))
    }

    /// The current URL.
    pub async fn url(&self) -> anyhow::Result<url::Url> {
        Ok(self.client.current_url().await?)
    }

    /// Saves a screenshot under `target/screenshots/{name}.png` for a person to look at.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<std::path::PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = crate::workspace_root().join("target/screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Signs in to `server` through its `test` OIDC provider as `user` and waits for the
    /// launcher to greet them.
    pub async fn sign_in_through_idp(
        &self,
        server: &crate::server::TestServer,
        user: &crate::idp::IdpUser,
    ) -> anyhow::Result<()> {
        self.goto(&server.url("/login")).await?;
        self.click("a[data-provider=\"test\"]").await?;
        self.fill("input[name=\"login\"]", user.login).await?;
        self.fill("input[name=\"password\"]", user.password).await?;
        self.click("button[type=\"submit\"]").await?;
        self.wait_for_text("[data-testid=\"user-name\"]", user.name)
            .await?;
        Ok(())
    }

    /// Ends the session and stops the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        stop(&mut self.driver, Duration::from_secs(5)).await;
    }
}

impl Drop for Browser {
    /// Kills chromedriver's whole process group: Chromium and its helpers outlive the driver
    /// otherwise, and a test that failed before [`Browser::close`] would leave them running.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
