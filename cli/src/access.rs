//! `postern access tcp|rdp|ssh` and `postern ssh-config`: local connections (or stdin and
//! stdout) carried as Streams through the server to an App.
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

use crate::credentials::TokenCache;
use crate::login::login;
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
    upstream: Arc<Upstream>,
    app: String,
    explicit: Option<Credentials>,
    no_browser: bool,
    /// One browser sign-in at a time; other connections wait for it instead of failing.
    sign_in: tokio::sync::Mutex<()>,
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
            upstream,
            app,
            explicit,
            no_browser,
            sign_in: tokio::sync::Mutex::new(()),
        }
    }

    async fn credentials(&self, stale: Option<&str>) -> anyhow::Result<Credentials> {
        if let Some(explicit) = &self.explicit {
            return Ok(explicit.clone());
        }
        let _one_at_a_time = self.sign_in.lock().await;
        let cache = TokenCache::open()?;
        if let Some(cached) = cache.get(self.upstream.server()) {
            // Another connection may have signed in while this one waited for the lock.
            if Some(cached.token.as_str()) != stale {
                return Ok(Credentials::Session(cached.token));
            }
            cache.remove(self.upstream.server())?;
        }
        if self.explicit.is_none() && stale.is_none() {
            eprintln!(
                "postern: not signed in to {}; signing in now (the connection waits)",
                self.upstream.server()
            );
        }
        let token = login(&self.upstream, self.no_browser).await?;
        Ok(Credentials::Session(token.token))
    }

    /// Opens a Stream; returns the sender for local-to-origin bytes and the origin's bytes.
    async fn open(&self) -> anyhow::Result<(mpsc::Sender<Bytes>, hyper::body::Incoming)> {
        let mut credentials = self.credentials(None).await?;
        let mut signed_in_again = false;
        loop {
            let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
            let body: PipeBody = ChannelBody(receiver).boxed();
            let request = self
                .upstream
                .request(
                    http::Method::POST,
                    &protocol::gateway::tcp_path(&self.app),
                    Some(&credentials),
                )
                .body(body)
                .context("build request")?;
            match self.upstream.send(request).await {
                Ok(response) => return Ok((sender, response.into_body())),
                Err(RequestError::Refused { status: 401, .. })
                    if !signed_in_again && matches!(credentials, Credentials::Session(_)) =>
                {
                    // The cached token expired or was revoked: sign in again, once.
                    let Credentials::Session(stale) = &credentials else {
                        unreachable!()
                    };
                    let stale = stale.clone();
                    credentials = self.credentials(Some(&stale)).await?;
                    signed_in_again = true;
                }
                Err(error) => return Err(error.into()),
            }
        }
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
            while let Some(frame) = incoming.frame().await {
                let frame = frame.context("stream from the server broke")?;
                if let Ok(data) = frame.into_data() {
                    writer
                        .write_all(&data)
                        .await
                        .context("write to the local side")?;
                    // Stdout is line-buffered and SSH packets carry no newlines: push every
                    // chunk out now (a no-op for sockets).
                    writer.flush().await.context("write to the local side")?;
                }
            }
            writer.flush().await?;
            writer.shutdown().await?;
            anyhow::Ok(())
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
