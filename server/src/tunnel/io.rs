//! A Stream as a byte pipe: [`Registry::open_io`] hands in-process clients (the SSH and RDP
//! gateways) one end of an in-memory duplex whose other end is pumped to and from the
//! Stream's HTTP/2 bodies. Both directions are bounded: the duplex buffer, one body frame in
//! flight, and HTTP/2 flow control beyond.

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::{OpenError, Registry};
use crate::access::Authorized;

/// Bytes buffered in the duplex, each way.
const PIPE_BYTES: usize = 256 * 1024;
/// Largest chunk read from the client end per body frame.
const CHUNK_BYTES: usize = 64 * 1024;

impl Registry {
    /// Opens a Stream for `authorized` and returns the local end of a pipe to it, with the
    /// Stream id. Closing (dropping) the pipe ends the Stream.
    pub async fn open_io(&self, authorized: &Authorized) -> Result<(DuplexStream, u64), OpenError> {
        let (to_origin, frames) =
            tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        let body = Body::new(StreamBody::new(
            tokio_stream::wrappers::ReceiverStream::new(frames),
        ));
        let stream = self.open(authorized, body).await?;
        let (local, remote) = tokio::io::duplex(PIPE_BYTES);
        let (mut remote_read, mut remote_write) = tokio::io::split(remote);
        let id = stream.id;
        // Client → origin.
        tokio::spawn(async move {
            let mut buffer = vec![0u8; CHUNK_BYTES];
            loop {
                match remote_read.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let chunk = Bytes::copy_from_slice(&buffer[..n]);
                        if to_origin.send(Ok(Frame::data(chunk))).await.is_err() {
                            break;
                        }
                    }
                }
            }
            // Dropping the sender ends the request body: the origin sees end of input.
        });
        // Origin → client.
        let mut incoming = stream.body;
        tokio::spawn(async move {
            while let Some(frame) = incoming.frame().await {
                let Ok(frame) = frame else { break };
                if let Ok(data) = frame.into_data()
                    && remote_write.write_all(&data).await.is_err()
                {
                    break;
                }
            }
            let _ = remote_write.shutdown().await;
        });
        Ok((local, id))
    }
}
