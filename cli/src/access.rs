//! `postern access tcp|rdp|ssh`: local connections (or stdin and stdout) carried as Streams
//! through the server to an App.
//!
//! Each local connection is one HTTP/2 request on the shared [`Upstream`]. The request body is
//! fed only after the server answers `200` (the Connector reached the origin), so a refusal
//! never swallows bytes the local client already sent, and a sign-in can happen while the first
//! connection waits.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::sign_in::SignIn;
use crate::upstream::{Credentials, PipeBody, RequestError, Upstream};

/// Size of each read from the local side.
const CHUNK: usize = 64 * 1024;
/// Chunks buffered between the local reader and HTTP/2 (which adds its own flow control).
const CHANNEL_CHUNKS: usize = 4;

/// A request body fed from a bounded channel.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(context)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// Reaching one App.
pub struct Access {
    sign_in: SignIn,
    app: String,
}

impl Access {
    /// Prepares access to `app`; `explicit` credentials (a Service token) skip sign-in.
    pub fn new(
        upstream: Arc<Upstream>,
        app: String,
        explicit: Option<Credentials>,
        no_browser: bool,
    ) -> Access {
        Access {
            sign_in: SignIn::new(upstream, explicit, no_browser, "the connection"),
            app,
        }
    }

    /// Opens a Stream; returns the sender for local-to-origin bytes and the origin's bytes.
    async fn open(&self) -> anyhow::Result<(mpsc::Sender<Bytes>, hyper::body::Incoming)> {
        let upstream = self.sign_in.upstream();
        let path = protocol::gateway::tcp_path(&self.app);
        self.sign_in
            .send(|credentials| {
                let path = &path;
                async move {
                    let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
                    let body: PipeBody = ChannelBody(receiver).boxed();
                    let request = upstream
                        .request(http::Method::POST, path, Some(&credentials))
                        .body(body)
                        .map_err(|error| RequestError::Unreachable(error.to_string()))?;
                    let response = upstream.send(request).await?;
                    Ok((sender, response.into_body()))
                }
            })
            .await
    }

    /// Carries one local connection until both directions end.
    pub async fn carry<R, W>(&self, mut reader: R, mut writer: W) -> anyhow::Result<()>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, mut incoming) = self.open().await?;
        let upload = tokio::spawn(async move {
            loop {
                let mut buffer = BytesMut::with_capacity(CHUNK);
                let read = reader.read_buf(&mut buffer).await?;
                if read == 0 {
                    // Dropping the sender ends the request body: the origin sees a half-close.
                    return Ok::<(), std::io::Error>(());
                }
                if sender.send(buffer.freeze()).await.is_err() {
                    return Ok(());
                }
            }
        });
        let download = async {
            let mut ended_by_server = None;
            while let Some(frame) = incoming.frame().await {
                let frame = frame.context("the stream from the server broke")?;
                match frame.into_data() {
                    Ok(data) => {
                        writer
                            .write_all(&data)
                            .await
                            .context("write to the local side")?;
                        // Stdout is line-buffered and SSH packets carry no newlines: push every
                        // chunk out now (a no-op for sockets).
                        writer.flush().await.context("write to the local side")?;
                    }
                    Err(frame) => {
                        ended_by_server = frame
                            .trailers_ref()
                            .and_then(|trailers| {
                                trailers.get(protocol::gateway::TRAILER_STREAM_END)
                            })
                            .map(|reason| String::from_utf8_lossy(reason.as_bytes()).into_owned());
                    }
                }
            }
            writer.flush().await?;
            writer.shutdown().await?;
            match ended_by_server {
                Some(reason) => anyhow::bail!("the server ended this connection: {reason}"),
                None => anyhow::Ok(()),
            }
        };
        let downloaded = download.await;
        // The origin closed: nothing more can be delivered, so stop reading the local side.
        if downloaded.is_err() {
            upload.abort();
        }
        match upload.await {
            Ok(result) => result.context("read from the local side")?,
            Err(join) if join.is_cancelled() => {}
            Err(join) => return Err(join.into()),
        }
        downloaded
    }
}

/// Accepts local connections on `listener` forever, carrying each to the App.
pub async fn serve_listener(
    access: Arc<Access>,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let access = Arc::clone(&access);
        tokio::spawn(async move {
            let (reader, writer) = stream.into_split();
            if let Err(error) = access.carry(reader, writer).await {
                eprintln!("postern: connection from {peer}: {error:#}");
            }
        });
    }
}
