//! A socket read in large chunks beneath TLS.
//!
//! rustls asks its transport for at most 4 KiB at a time, so a full 16 KiB record costs four
//! or five `recv` calls. [`ReadAhead`] reads up to [`READ_AHEAD`] bytes per call into a buffer
//! of its own and serves rustls's small reads from it: one system call per 64 KiB of bulk
//! data instead of sixteen. Writes pass straight through.
//!
//! The buffer exists only while bytes arrive: it is released whenever the socket has nothing
//! more to give, so an idle connection (a parked browser terminal, a quiet connector link)
//! holds none of it, and it is never zeroed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::io::poll_read_buf;

/// The most read from the socket per call.
pub const READ_AHEAD: usize = 64 * 1024;

/// `inner` with reads buffered in [`READ_AHEAD`] chunks.
#[derive(Debug)]
pub struct ReadAhead<T> {
    inner: T,
    /// Read from `inner` and not yet handed on.
    buffer: BytesMut,
}

impl<T> ReadAhead<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> ReadAhead<T> {
        ReadAhead {
            inner,
            buffer: BytesMut::new(),
        }
    }

    /// The wrapped transport.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadAhead<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buffer.is_empty() {
            // A caller asking for at least a chunk gains nothing from the copy.
            if buf.remaining() >= READ_AHEAD {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            // Reuses the allocation the last chunk left, if any.
            this.buffer.reserve(READ_AHEAD);
            match poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.buffer) {
                Poll::Pending => {
                    this.buffer = BytesMut::new();
                    return Poll::Pending;
                }
                // End of stream: nothing put in `buf` says so.
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Ready(Ok(_)) => {}
            }
        }
        let n = this.buffer.len().min(buf.remaining());
        buf.put_slice(&this.buffer[..n]);
        this.buffer.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReadAhead<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::task::ready;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    use super::*;

    /// A transport that counts the reads that reached it.
    struct Counted {
        inner: DuplexStream,
        reads: usize,
    }

    impl AsyncRead for Counted {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            this.reads += 1;
            Poll::Ready(Ok(()))
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn small_reads_are_served_from_one_large_read_in_order() {
        let (near, mut far) = duplex(2 * READ_AHEAD);
        let sent = pattern(40_000);
        far.write_all(&sent).await.unwrap();
        let mut reader = ReadAhead::new(Counted {
            inner: near,
            reads: 0,
        });
        let mut received = Vec::new();
        let mut chunk = [0; 4096];
        while received.len() < sent.len() {
            let n = reader.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            received.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(received, sent);
        assert_eq!(
            reader.get_ref().reads,
            1,
            "ten 4 KiB reads, one from the transport"
        );
    }

    #[tokio::test]
    async fn end_of_stream_reaches_the_reader_after_the_buffered_bytes() {
        let (near, mut far) = duplex(1024);
        far.write_all(b"last words").await.unwrap();
        drop(far);
        let mut reader = ReadAhead::new(near);
        let mut received = Vec::new();
        reader.read_to_end(&mut received).await.unwrap();
        assert_eq!(received, b"last words");
        assert_eq!(reader.read(&mut [0; 16]).await.unwrap(), 0, "EOF stays EOF");
    }

    #[tokio::test]
    async fn a_read_of_a_chunk_or_more_goes_straight_to_the_transport() {
        let (near, mut far) = duplex(2 * READ_AHEAD);
        let sent = pattern(READ_AHEAD + 10);
        far.write_all(&sent).await.unwrap();
        let mut reader = ReadAhead::new(Counted {
            inner: near,
            reads: 0,
        });
        let mut big = vec![0; 2 * READ_AHEAD];
        let n = reader.read(&mut big).await.unwrap();
        assert_eq!(&big[..n], &sent[..n]);
        assert!(n > READ_AHEAD, "not capped at the buffer: {n}");
        assert_eq!(
            reader.buffer.capacity(),
            0,
            "nothing was copied through the buffer"
        );
    }

    /// Writes `message` on `from` and checks that `to` reads exactly it.
    async fn pass(
        from: &mut (impl AsyncWrite + Unpin),
        to: &mut (impl AsyncRead + Unpin),
        message: &[u8],
    ) {
        from.write_all(message).await.unwrap();
        let mut received = vec![0; message.len()];
        to.read_exact(&mut received).await.unwrap();
        assert_eq!(received, message);
    }

    #[tokio::test]
    async fn an_idle_socket_holds_no_buffer() {
        let (near, mut far) = duplex(1024);
        let mut reader = ReadAhead::new(near);
        pass(&mut far, &mut reader, b"ping").await;
        assert!(
            reader.buffer.capacity() > 0,
            "the chunk buffer holds what is left of its allocation"
        );
        // Nothing more to read: the read waits and gives the buffer back.
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            reader.read(&mut [0; 4]),
        )
        .await;
        assert!(waiting.is_err(), "nothing was sent");
        assert_eq!(reader.buffer.capacity(), 0);
        pass(&mut far, &mut reader, b"pong").await;
    }

    #[tokio::test]
    async fn writes_pass_through_unbuffered() {
        let (near, mut far) = duplex(1024);
        pass(&mut ReadAhead::new(near), &mut far, b"hello").await;
    }
}
