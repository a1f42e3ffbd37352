//! A native RDP client that behaves like the browser desktop: it opens the gateway WebSocket
//! with the Session cookie and the server's Origin, then runs the same `rdp` crate the wasm
//! module runs.

use std::io;
use std::pin::Pin;
use std::time::Duration;

use ::rdp::ironrdp_async::bytes::BytesMut;
use ::rdp::ironrdp_async::{Framed, FramedRead, FramedWrite, StreamWrapper};
use ::rdp::{ConnectError, ConnectOptions, Credentials, Session, SessionEvent};
use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::terminal::Socket;

/// The gateway WebSocket, and how it was closed.
pub struct Connection {
    /// The socket.
    pub socket: Socket,
    /// The close frame's code and reason, once one arrived.
    pub close: Option<(u16, String)>,
}

/// Binary WebSocket messages as one byte stream, for IronRDP's framing.
pub struct WsStream(Connection);

impl StreamWrapper for WsStream {
    type InnerStream = Connection;

    fn from_inner(stream: Connection) -> Self {
        WsStream(stream)
    }

    fn into_inner(self) -> Connection {
        self.0
    }

    fn get_inner(&self) -> &Connection {
        &self.0
    }

    fn get_inner_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

impl FramedRead for WsStream {
    type ReadFut<'read>
        = Pin<Box<dyn Future<Output = io::Result<usize>> + Send + 'read>>
    where
        Self: 'read;

    fn read<'a>(&'a mut self, buf: &'a mut BytesMut) -> Self::ReadFut<'a> {
        Box::pin(async move {
            loop {
                match self.0.socket.next().await {
                    Some(Ok(Message::Binary(bytes))) if !bytes.is_empty() => {
                        buf.extend_from_slice(&bytes);
                        return Ok(bytes.len());
                    }
                    Some(Ok(Message::Close(frame))) => {
                        self.0.close =
                            frame.map(|frame| (u16::from(frame.code), frame.reason.to_string()));
                        return Ok(0);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(io::Error::other(error)),
                    None => return Ok(0),
                }
            }
        })
    }
}

impl FramedWrite for WsStream {
    type WriteAllFut<'write>
        = Pin<Box<dyn Future<Output = io::Result<()>> + Send + 'write>>
    where
        Self: 'write;

    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> Self::WriteAllFut<'a> {
        Box::pin(async move {
            self.0
                .socket
                .send(Message::Binary(buf.to_vec().into()))
                .await
                .map_err(io::Error::other)
        })
    }
}

/// A connected desktop.
pub struct NativeRdp {
    /// The session (image, input).
    pub session: Session,
    /// The gateway WebSocket, framed for RDP.
    pub framed: Framed<WsStream>,
    /// Every event so far except [`SessionEvent::Write`], in order.
    pub events: Vec<SessionEvent>,
}

/// Runs `rdp::connect` over a gateway WebSocket opened by [`crate::terminal::open_websocket`].
pub async fn connect_socket(
    socket: Socket,
    app: &str,
    ticket: &str,
    credentials: Credentials,
    width: u16,
    height: u16,
) -> Result<NativeRdp, ConnectError> {
    let mut framed = Framed::<WsStream>::new(Connection {
        socket,
        close: None,
    });
    let options = ConnectOptions {
        credentials,
        width,
        height,
        ticket: ticket.to_owned(),
        destination: app.to_owned(),
        client_name: "postern-test".to_owned(),
    };
    let connected = ::rdp::connect(&mut framed, &options).await?;
    Ok(NativeRdp {
        session: connected.session,
        framed,
        events: Vec::new(),
    })
}

impl NativeRdp {
    /// Reads and processes PDUs, sending the session's answers, until `until` holds for the
    /// session and the events seen during this call (all but writes), or `limit` passes.
    pub async fn run_until(
        &mut self,
        limit: Duration,
        mut until: impl FnMut(&Session, &[SessionEvent]) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen = Vec::new();
        while !until(&self.session, &seen) {
            let Ok(read) = tokio::time::timeout_at(deadline, self.framed.read_pdu()).await else {
                bail!("not done within {limit:?}; events: {}", summary(&seen));
            };
            let (action, frame) = match read {
                Ok(pdu) => pdu,
                Err(error) => {
                    let close = &self.framed.get_inner().0.close;
                    bail!(
                        "the connection ended ({error}; close frame {close:?}); events: {}",
                        summary(&seen)
                    );
                }
            };
            for event in self.session.process(action, &frame)? {
                match event {
                    SessionEvent::Write(bytes) => self.send(&bytes).await?,
                    other => {
                        self.events.push(other.clone());
                        seen.push(other);
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the session until the first graphics update arrives.
    pub async fn first_graphics(&mut self, limit: Duration) -> anyhow::Result<()> {
        self.run_until(limit, |_, events| {
            events
                .iter()
                .any(|event| matches!(event, SessionEvent::Graphics { .. }))
        })
        .await
    }

    /// Sends bytes the session produced (input, clipboard, resize, shutdown).
    pub async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        if !bytes.is_empty() {
            self.framed
                .write_all(bytes)
                .await
                .context("send to the gateway")?;
        }
        Ok(())
    }
}

/// Events for a message: pointer bitmaps by their size only.
fn summary(events: &[SessionEvent]) -> String {
    let names: Vec<String> = events
        .iter()
        .map(|event| match event {
            SessionEvent::Pointer(::rdp::Pointer::Bitmap { width, height, .. }) => {
                format!("Pointer(Bitmap {width}x{height})")
            }
            other => format!("{other:?}"),
        })
        .collect();
    names.join(", ")
}
