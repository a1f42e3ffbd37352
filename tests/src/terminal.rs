//! A terminal WebSocket client that behaves like the web app: it upgrades with the Session
//! cookie and an Origin, sends keystrokes and resizes, and acknowledges output it has
//! "rendered" (or holds acknowledgements back, to act as a slow browser).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use protocol::ssh::{TerminalEvent, TerminalInput, TerminalParams};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::server::{TestServer, trusting};

/// How the upgrade presents itself.
#[derive(Debug, Clone, Default)]
pub struct Upgrade {
    /// The Session token for the cookie, if any.
    pub session: Option<String>,
    /// The `Origin` header; `None` sends none.
    pub origin: Option<String>,
    /// Which principal to ask for.
    pub principal: Option<String>,
    /// The raw query string instead of cols/rows/principal.
    pub raw_query: Option<String>,
}

/// An open terminal.
pub struct Terminal {
    socket: Socket,
    /// Every output byte so far (unless [`Terminal::forget_output`] was called).
    pub output: Vec<u8>,
    /// Output bytes received in total.
    pub received: u64,
    /// Whether received output is acknowledged.
    pub acknowledge: bool,
    /// Control events in order.
    pub events: Vec<TerminalEvent>,
    /// Whether the server closed the socket.
    pub closed: bool,
    /// At most this many of the latest output bytes are kept in [`Terminal::output`].
    pub keep: usize,
}

/// What the upgrade got instead of a WebSocket: the HTTP status and body.
#[derive(Debug)]
pub struct Refused {
    /// HTTP status.
    pub status: u16,
    /// Response body (a JSON error).
    pub body: String,
}

/// A WebSocket to the test server over TLS.
pub type Socket = WebSocketStream<TlsStream<TcpStream>>;

/// Opens a WebSocket to `path` (with its query) the way a browser on the server's page would:
/// the Session cookie and the Origin of `upgrade`, HTTP/1.1 upgrade over TLS.
pub async fn open_websocket(
    server: &TestServer,
    path: &str,
    upgrade: &Upgrade,
) -> anyhow::Result<Result<Socket, Refused>> {
    open_websocket_at(&server.origin, &server.report.cert_path, path, upgrade).await
}

/// [`open_websocket`] to a server in another process: its `https://` origin and the PEM
/// certificate to trust.
pub async fn open_websocket_at(
    origin: &str,
    cert_pem: &std::path::Path,
    path: &str,
    upgrade: &Upgrade,
) -> anyhow::Result<Result<Socket, Refused>> {
    let host = origin.trim_start_matches("https://").to_owned();
    let url = format!("wss://{host}{path}");
    let mut request = url.as_str().into_client_request()?;
    if let Some(origin) = &upgrade.origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin)?);
    }
    if let Some(token) = &upgrade.session {
        request.headers_mut().insert(
            "cookie",
            HeaderValue::from_str(&format!("{}={token}", protocol::routes::SESSION_COOKIE))?,
        );
    }
    let tcp = TcpStream::connect(&host).await?;
    tcp.set_nodelay(true)?;
    let mut tls = trusting(cert_pem)?;
    // WebSockets upgrade HTTP/1.1.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let name = rustls_pki_types::ServerName::try_from("localhost")?.to_owned();
    let stream = connector.connect(name, tcp).await?;
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((socket, _)) => Ok(Ok(socket)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Ok(Err(Refused {
            status: response.status().as_u16(),
            body: response
                .body()
                .as_ref()
                .map(|body| String::from_utf8_lossy(body).into_owned())
                .unwrap_or_default(),
        })),
        Err(error) => Err(error).context("WebSocket upgrade"),
    }
}

impl Terminal {
    /// Opens `/gw/ssh/{app}` at `cols`×`rows`.
    pub async fn open(
        server: &TestServer,
        app: &str,
        cols: u16,
        rows: u16,
        upgrade: Upgrade,
    ) -> anyhow::Result<Result<Terminal, Refused>> {
        let query = upgrade.raw_query.clone().unwrap_or_else(|| {
            let params = TerminalParams {
                cols,
                rows,
                principal: upgrade.principal.clone(),
            };
            let mut query = format!("cols={}&rows={}", params.cols, params.rows);
            if let Some(principal) = &params.principal {
                query.push_str(&format!("&principal={principal}"));
            }
            query
        });
        let path = format!("{}?{query}", protocol::ssh::terminal_path(app));
        Ok(open_websocket(server, &path, &upgrade)
            .await?
            .map(|socket| Terminal {
                socket,
                output: Vec::new(),
                received: 0,
                acknowledge: true,
                events: Vec::new(),
                closed: false,
                keep: usize::MAX,
            }))
    }

    /// Types `text`.
    pub async fn type_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.socket
            .send(Message::Binary(text.as_bytes().to_vec().into()))
            .await?;
        Ok(())
    }

    /// Sends a control message.
    pub async fn control(&mut self, input: &TerminalInput) -> anyhow::Result<()> {
        self.socket
            .send(Message::Text(serde_json::to_string(input)?.into()))
            .await?;
        Ok(())
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await?;
        Ok(())
    }

    /// Output so far as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// Drops the output kept so far (counts keep going).
    pub fn forget_output(&mut self) {
        self.output.clear();
    }

    /// Reads one message; `false` once the socket is closed.
    async fn read_one(&mut self) -> anyhow::Result<bool> {
        let Some(message) = self.socket.next().await else {
            self.closed = true;
            return Ok(false);
        };
        match message {
            Ok(Message::Binary(bytes)) => {
                self.received += bytes.len() as u64;
                self.output.extend_from_slice(&bytes);
                if self.output.len() > self.keep.saturating_mul(2) {
                    let cut = self.output.len() - self.keep;
                    self.output.drain(..cut);
                }
                if self.acknowledge {
                    self.control(&TerminalInput::Ack {
                        bytes: bytes.len() as u64,
                    })
                    .await?;
                }
            }
            Ok(Message::Text(text)) => self.events.push(serde_json::from_str(text.as_str())?),
            Ok(Message::Close(_)) => {
                self.closed = true;
                return Ok(false);
            }
            Ok(_) => {}
            Err(error) => {
                self.closed = true;
                return Err(error.into());
            }
        }
        Ok(true)
    }

    /// Reads until `done(self)` holds, within `limit`.
    pub async fn read_until(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&Terminal) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.read_one()).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => bail!(
                    "the terminal closed while waiting for {what}; events {:?}; output:\n{}",
                    self.events,
                    tail(&self.text())
                ),
                Ok(Err(error)) => return Err(error.context(format!("waiting for {what}"))),
                Err(_) => bail!(
                    "timed out waiting for {what}; events {:?}; output:\n{}",
                    self.events,
                    tail(&self.text())
                ),
            }
        }
        Ok(())
    }

    /// Reads until the output contains `needle`.
    pub async fn expect(&mut self, needle: &str, limit: Duration) -> anyhow::Result<()> {
        self.read_until(needle, limit, |t| t.text().contains(needle))
            .await
    }

    /// Waits for the `Connected` event.
    pub async fn connected(&mut self) -> anyhow::Result<TerminalEvent> {
        self.read_until("the connected event", Duration::from_secs(30), |t| {
            t.events
                .iter()
                .any(|e| matches!(e, TerminalEvent::Connected { .. }))
                || t.events
                    .iter()
                    .any(|e| matches!(e, TerminalEvent::Closed { .. }))
        })
        .await?;
        self.events
            .iter()
            .find(|e| matches!(e, TerminalEvent::Connected { .. }))
            .cloned()
            .with_context(|| format!("closed instead of connecting: {:?}", self.events))
    }

    /// Reads to the end and returns the `Closed` event's code and reason.
    pub async fn closed_with(&mut self, limit: Duration) -> anyhow::Result<(String, String)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(TerminalEvent::Closed { code, reason }) = self
                .events
                .iter()
                .find(|e| matches!(e, TerminalEvent::Closed { .. }))
            {
                return Ok((code.clone(), reason.clone()));
            }
            match tokio::time::timeout_at(deadline, self.read_one()).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) | Ok(Err(_)) => {
                    bail!("closed without a Closed event: {:?}", self.events)
                }
                Err(_) => bail!("timed out waiting for the terminal to close"),
            }
        }
    }

    /// Reads whatever arrives within `window`, without waiting for anything in particular.
    pub async fn drain_for(&mut self, window: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(read) = tokio::time::timeout_at(deadline, self.read_one()).await {
            if !read? {
                break;
            }
        }
        Ok(())
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(2000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}
