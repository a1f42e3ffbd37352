//! `postern login`: sign in through the browser and cache a token for this server.
//!
//! The CLI makes a secret verifier and sends only its SHA-256 (the challenge) in the link it
//! opens. After the person approves in the browser, the server redirects to this process's
//! loopback listener with a one-time code (or, with `--no-browser`, shows the code to paste);
//! the CLI trades code and verifier for a token. A code seen by anyone else is useless.

use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use protocol::api::{CliToken, CliTokenRequest};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::credentials::{CachedToken, TokenCache};
use crate::upstream::Upstream;

/// How long the CLI waits for the person to approve.
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(300);

fn random_b64(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// This machine's host name, for the approval page.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn open_browser(url: &str) -> bool {
    let candidates: Vec<String> = match std::env::var("BROWSER") {
        Ok(browser) if !browser.is_empty() => vec![browser],
        _ => vec!["xdg-open".to_owned(), "open".to_owned()],
    };
    candidates.iter().any(|program| {
        std::process::Command::new(program)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    })
}

/// Signs in and caches the token; returns it.
pub async fn login(upstream: &Upstream, no_browser: bool) -> anyhow::Result<CachedToken> {
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_b64(16);
    let mut link = upstream.server().join(protocol::routes::CLI_AUTHORIZE)?;
    link.query_pairs_mut()
        .append_pair("challenge", &challenge)
        .append_pair("state", &state)
        .append_pair("hostname", &hostname());
    let code = if no_browser {
        eprintln!(
            "To sign in, open this link in a browser, approve, and paste the code it shows:\n\n  {link}\n"
        );
        eprint!("Code: ");
        let mut line = String::new();
        BufReader::new(tokio::io::stdin())
            .read_line(&mut line)
            .await
            .context("read the code")?;
        let code = line.trim().to_owned();
        if code.is_empty() {
            bail!("no sign-in code was entered");
        }
        code
    } else {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("listen for the sign-in callback")?;
        let callback = format!(
            "http://127.0.0.1:{}/callback",
            listener.local_addr()?.port()
        );
        link.query_pairs_mut().append_pair("callback", &callback);
        let opened = open_browser(link.as_str());
        eprintln!(
            "{}\n\n  {link}\n",
            if opened {
                "Opened your browser to sign in. If it did not open, visit:"
            } else {
                "Open this link in your browser to sign in:"
            }
        );
        tokio::time::timeout(APPROVAL_TIMEOUT, wait_for_code(&listener, &state))
            .await
            .context("timed out waiting for the sign-in to be approved")??
    };
    let token: CliToken = upstream
        .post_json("/api/cli/token", &CliTokenRequest { code, verifier }, None)
        .await
        .context("sign-in failed")?;
    let cached = CachedToken {
        token: token.token,
        expires_at: token.expires_at,
        username: token.username,
    };
    let cache = TokenCache::open()?;
    cache.put(upstream.server(), cached.clone())?;
    eprintln!(
        "Signed in to {} as {} (token cached in {}).",
        upstream.server(),
        cached.username,
        cache.path().display()
    );
    Ok(cached)
}

/// Serves the loopback callback until a request with our `state` brings a code.
async fn wait_for_code(listener: &TcpListener, state: &str) -> anyhow::Result<String> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let mut head = vec![0u8; 8192];
        let read = match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut head)).await
        {
            Ok(Ok(read)) => read,
            _ => continue,
        };
        let head = String::from_utf8_lossy(&head[..read]);
        let target = head
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap_or("/");
        let url = url::Url::parse("http://127.0.0.1").and_then(|base| base.join(target));
        let pairs: Vec<(String, String)> = url
            .map(|url| url.query_pairs().into_owned().collect())
            .unwrap_or_default();
        let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let (status, message, code) = match (value("state"), value("code")) {
            (Some(got), Some(code)) if got == state => (
                "200 OK",
                "Signed in. You can close this tab and return to the terminal.",
                Some(code),
            ),
            (Some(_), _) => (
                "400 Bad Request",
                "This sign-in does not belong to the waiting command. Run postern login again.",
                None,
            ),
            _ => ("404 Not Found", "Nothing here.", None),
        };
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>Postern</title><body style=\"font:16px system-ui;margin:3rem\"><p>{message}</p></body>"
        );
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        if let Some(code) = code {
            return Ok(code);
        }
        if status.starts_with("400") {
            bail!("the browser returned a sign-in for another attempt");
        }
    }
}
