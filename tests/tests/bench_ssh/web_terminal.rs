//! The terminal WebSocket as the web app uses it, reduced to what a load generator needs:
//! the Session cookie and the server's Origin on the upgrade, keystrokes up as binary frames,
//! output down, and acknowledgements the way the page sends them (in batches while output
//! keeps coming, at once when it has caught up), so the server never pauses a flood.
//!
//! The harness's `tests::terminal::Terminal` talks to an in-process `TestServer`; this one
//! talks to a server in another process and keeps no output.

use std::sync::Arc;

use anyhow::{Context, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use protocol::ssh::{TerminalEvent, TerminalInput, close_code};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Bytes;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::console::Console;
use crate::stage::Stage;

/// Output acknowledged in one message while more keeps arriving (the web app's batch).
const ACK_BATCH: u64 = 64 * 1024;
/// The terminal size asked for: a common laptop window.
const COLS: u16 = 120;
const ROWS: u16 = 40;

type Socket = WebSocketStream<TlsStream<TcpStream>>;

/// An open terminal, past the server's `Connected` event.
pub struct WebTerminal {
    sink: SplitSink<Socket, Message>,
    stream: SplitStream<Socket>,
    /// Output received but not yet acknowledged.
    unacknowledged: u64,
    /// Whether the server records this session.
    pub recorded: bool,
}

impl WebTerminal {
    /// Opens `/gw/ssh/{app}` on the stage's server and waits until the shell is open.
    pub async fn open(stage: &Stage, app: &str) -> anyhow::Result<WebTerminal> {
        let host = stage
            .origin
            .strip_prefix("https://")
            .context("the origin is not https")?;
        let url = format!(
            "wss://{host}{}?cols={COLS}&rows={ROWS}",
            protocol::ssh::terminal_path(app)
        );
        let mut request = url.as_str().into_client_request()?;
        let headers = request.headers_mut();
        headers.insert("origin", HeaderValue::from_str(&stage.origin)?);
        headers.insert(
            "cookie",
            HeaderValue::from_str(&format!(
                "{}={}",
                protocol::routes::SESSION_COOKIE,
                stage.session
            ))?,
        );
        let tcp = TcpStream::connect(host)
            .await
            .with_context(|| format!("connect to {host}"))?;
        tcp.set_nodelay(true)?;
        let mut tls = tests::server::trusting(&stage.cert)?;
        // A WebSocket upgrades an HTTP/1.1 request.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = rustls_pki_types::ServerName::try_from("localhost")?.to_owned();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(name, tcp)
            .await
            .context("TLS to the server")?;
        let (socket, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .context("the terminal upgrade")?;
        let (sink, mut stream) = socket.split();
        let recorded = loop {
            let event = match stream.next().await {
                Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str())?,
                Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(other)) => bail!("the terminal closed before connecting: {other:?}"),
                Some(Err(error)) => return Err(error).context("waiting for the shell"),
                None => bail!("the terminal closed before connecting"),
            };
            match event {
                TerminalEvent::Connected { recorded, .. } => break recorded,
                TerminalEvent::Closed { code, reason } => {
                    bail!("the terminal closed before connecting: {code}: {reason}")
                }
            }
        };
        Ok(WebTerminal {
            sink,
            stream,
            unacknowledged: 0,
            recorded,
        })
    }

    async fn acknowledge(&mut self) -> anyhow::Result<()> {
        if self.unacknowledged > 0 {
            let ack = TerminalInput::Ack {
                bytes: self.unacknowledged,
            };
            self.sink
                .send(Message::Text(serde_json::to_string(&ack)?.into()))
                .await
                .context("send an acknowledgement")?;
            self.unacknowledged = 0;
        }
        Ok(())
    }
}

impl Console for WebTerminal {
    async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.acknowledge().await?;
        self.sink
            .send(Message::Binary(Bytes::copy_from_slice(bytes)))
            .await
            .context("send keystrokes")
    }

    async fn recv(&mut self) -> anyhow::Result<Bytes> {
        loop {
            if self.unacknowledged >= ACK_BATCH {
                self.acknowledge().await?;
            }
            // Caught up (nothing more is waiting): acknowledge before waiting, as the page
            // does once its parser has caught up.
            let message = match self.stream.next().now_or_never() {
                Some(message) => message,
                None => {
                    self.acknowledge().await?;
                    self.stream.next().await
                }
            };
            match message {
                Some(Ok(Message::Binary(bytes))) => {
                    self.unacknowledged += bytes.len() as u64;
                    return Ok(bytes);
                }
                Some(Ok(Message::Text(text))) => {
                    if let Ok(TerminalEvent::Closed { code, reason }) =
                        serde_json::from_str(text.as_str())
                    {
                        if code == close_code::EXITED {
                            bail!("the shell exited: {reason}");
                        }
                        bail!("the terminal closed: {code}: {reason}");
                    }
                }
                Some(Ok(Message::Close(_))) | None => bail!("the terminal closed"),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error).context("read the terminal"),
            }
        }
    }

    async fn settle(&mut self) -> anyhow::Result<()> {
        self.acknowledge().await
    }
}
