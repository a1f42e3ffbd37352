//! A Stream as a byte pipe: [`Registry::open_io`] hands in-process clients (the SSH and RDP
//! gateways) a [`StreamIo`] that reads the Stream's response body and writes its request body
//! directly, in the caller's task: no pump task and no extra copy between them. Both
//! directions are bounded: one request-body frame in flight, and HTTP/2 flow control beyond
//! (the response body's window is released as the caller reads).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use bytes::{Buf, Bytes};
use http_body_util::StreamBody;
use hyper::body::{Body as _, Frame, Incoming};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::PollSender;

use super::{OpenError, Registry};
use crate::access::Authorized;

/// Largest chunk sent per request-body frame.
const CHUNK_BYTES: usize = 64 * 1024;

type Outgoing = Result<Frame<Bytes>, io::Error>;

impl Registry {
    /// Opens a Stream for `authorized` and returns it as a byte pipe, with the Stream id.
    /// Shutting down the pipe's write half ends the request body (the origin sees end of
    /// input); dropping the pipe ends the Stream.
    pub async fn open_io(&self, authorized: &Authorized) -> Result<(StreamIo, u64), OpenError> {
        let (to_origin, frames) = tokio::sync::mpsc::channel::<Outgoing>(1);
        let body = Body::new(StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(frames),
        ));
        let stream = self.open(authorized, body).await?;
        let io = StreamIo {
            incoming: stream.body,
            unread: Bytes::new(),
            ended: false,
            to_origin: Some(PollSender::new(to_origin)),
        };
        Ok((io, stream.id))
    }
}

/// An open Stream as `AsyncRead + AsyncWrite`: reads are the origin's bytes, writes go to it.
pub struct StreamIo {
    incoming: Incoming,
    /// The rest of the last data frame read.
    unread: Bytes,
    /// The origin's side has ended (end of body or an error was returned).
    ended: bool,
    /// `None` once shut down.
    to_origin: Option<PollSender<Outgoing>>,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the stream to the origin closed")
}

impl AsyncRead for StreamIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.unread.is_empty() {
                let n = this.unread.len().min(buf.remaining());
                buf.put_slice(&this.unread[..n]);
                this.unread.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.ended || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.incoming).poll_frame(cx)) {
                // Trailers carry nothing for the caller.
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.unread = data;
                    }
                }
                Some(Err(error)) => {
                    this.ended = true;
                    return Poll::Ready(Err(io::Error::other(error)));
                }
                None => this.ended = true,
            }
        }
    }
}

impl AsyncWrite for StreamIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Some(sender) = self.to_origin.as_mut() else {
            return Poll::Ready(Err(closed()));
        };
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(sender.poll_reserve(cx)).map_err(|_| closed())?;
        let n = buf.len().min(CHUNK_BYTES);
        sender
            .send_item(Ok(Frame::data(Bytes::copy_from_slice(&buf[..n]))))
            .map_err(|_| closed())?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Frames handed over are on their way; HTTP/2 sends them as its window allows.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Dropping the sender ends the request body.
        self.to_origin = None;
        Poll::Ready(Ok(()))
    }
}
