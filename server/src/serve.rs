//! The HTTPS listener: accept, TLS handshake, HTTP/1.1 or HTTP/2 by ALPN, graceful drain.
//! Each accepted connection is served on one of the [`Workers`], in turn.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::http::ClientAddr;
use crate::workers::Workers;
use transport::ReadAhead;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent HTTP/2 streams one client connection may hold open.
const MAX_STREAMS_PER_CONNECTION: u32 = 16_384;
/// How long open connections get to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let workers = Workers::start().await?;
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // One `postern access` multiplexes every local connection on one HTTP/2 connection, so the
    // default of 200 concurrent streams would cap a laptop at 200 open Streams.
    // No extended CONNECT (RFC 8441): browsers then open each terminal and desktop WebSocket
    // on an HTTP/1.1 connection of its own instead of inside the page's HTTP/2 connection,
    // which saves a layer of framing, flow control and a task hop on every message (`cargo
    // xtask bench rdp`: Chromium's desktop cost the server 1.4-1.5 % of a core inside HTTP/2,
    // 1.1 % on a connection of its own).
    builder
        .http2()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The socket moves to the worker's own I/O driver.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%peer, %error, "cannot hand a connection to a worker");
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let builder = Arc::clone(&builder);
        let app = app.clone();
        let watcher = graceful.watcher();
        workers.spawn(async move {
            let stream = match TcpStream::from_std(stream) {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::warn!(%peer, %error, "cannot serve a connection");
                    return;
                }
            };
            let tls_stream = match tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                acceptor.accept(ReadAhead::new(stream)),
            )
            .await
            {
                Ok(Ok(tls_stream)) => tls_stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "tls handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "tls handshake timed out");
                    return;
                }
            };
            let service = app.map_request(move |request: hyper::Request<hyper::body::Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ClientAddr(peer));
                request
            });
            let service = hyper_util::service::TowerToHyperService::new(service);
            let connection =
                builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining connections");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
    // Dropping the workers ends what is left on them.
    drop(workers);
    Ok(())
}
