//! One HA connection's life: dial, TLS, upgrade, serve Streams over HTTP/2 until the link drops
//! or a drain ends it, then reconnect after a backoff.
//!
//! On the upgraded byte stream the connector is the HTTP/2 *server*, because the server opens
//! Streams. HTTP/2 PINGs find a dead link within a few seconds on both ends; GOAWAY (hyper's
//! graceful shutdown) stops new Streams while running ones finish.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use hyper::client::conn::http1;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};
use transport::ReadAhead;

use crate::allow::AllowList;
use crate::attach::{Answer, Endpoint, EndpointHost, Identity, attach_request, classify};
use crate::backoff::Backoff;
use crate::config::{Config, Token};
use crate::error::{Error, chain};
use crate::stream;

/// How long dialling the server, TLS and the upgrade answer may take together.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of a refusal's body that is read; an `ErrorBody` is far smaller.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// A connection that stayed attached this long resets the backoff, so a server that accepts
/// and then drops connections at once is still retried with growing delays.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// PING interval on an attached connection. With [`KEEPALIVE_TIMEOUT`], a dead link is noticed
/// within about four seconds; a PING costs 17 bytes each way.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// How long an unanswered PING may stay unanswered before the connection is dropped.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);
/// How much one Stream may send to the connector ahead of the origin consuming it, which caps
/// one Stream's upload at about window / RTT. Measured through a 40 ms RTT link (64 MiB upload,
/// release build): hyper's 1 MiB default gave 21 MiB/s, this 4 MiB window 63-71 MiB/s,
/// `adaptive_window` 63-73 MiB/s (and 31 vs 36 MiB/s at 100 ms). Fixed windows match adaptive
/// ones at realistic RTTs and keep the memory bound plain: the buffer fills only while the
/// origin reads slower than the link delivers.
const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
/// How much all Streams of one connection may have in flight together: the most one connection
/// ever buffers (64 MiB for a process with four).
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;
/// Concurrent Streams per connection. hyper's default of 200 is too few for a busy bastion;
/// each open Stream holds one socket and at most one read chunk.
const MAX_STREAMS: u32 = 16_384;

/// What every connection of one process shares.
pub(crate) struct Shared {
    pub endpoint: Endpoint,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    token: Token,
    pub identity: Identity,
    allow: Arc<AllowList>,
    backoff: Backoff,
    http2: http2::Builder<TokioExecutor>,
}

impl Shared {
    /// Validates the configuration and prepares TLS; fails without touching the network.
    pub(crate) fn new(config: &Config) -> Result<Shared, Error> {
        let endpoint = Endpoint::from_url(&config.server)?;
        let server_name = match &endpoint.host {
            EndpointHost::Name(name) => {
                ServerName::try_from(name.clone()).map_err(|_| Error::ServerUrl {
                    url: config.server.to_string(),
                    reason: "the host is not a valid tls server name",
                })?
            }
            EndpointHost::Address(address) => ServerName::IpAddress((*address).into()),
        };
        let tls = TlsConnector::from(crate::tls::client_config(config.ca_file.as_deref())?);
        // The name is informational (the admin area's Replica list); a host without one is
        // still a working connector.
        let hostname = whoami::hostname().unwrap_or_default();
        Ok(Shared {
            endpoint,
            server_name,
            tls,
            token: config.token.clone(),
            identity: Identity::new(&hostname),
            allow: Arc::new(config.allow.clone()),
            backoff: config.backoff,
            http2: http2_builder(),
        })
    }
}

fn http2_builder() -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_concurrent_streams(MAX_STREAMS);
    builder
}

/// The drain signal: `None` while running, then the instant running Streams must end by.
pub(crate) type Drain = watch::Receiver<Option<Instant>>;

/// Waits for the drain signal and returns its deadline.
async fn draining(drain: &mut Drain) -> Instant {
    match drain.wait_for(Option::is_some).await {
        Ok(deadline) => deadline.unwrap_or_else(Instant::now),
        // The process is going away without a drain: stop at once.
        Err(_sender_gone) => Instant::now(),
    }
}

/// Keeps connection number `index` attached until a drain ends it. Returns an error only for
/// a refusal that retrying cannot cure.
pub(crate) async fn connection_loop(
    index: usize,
    shared: Arc<Shared>,
    mut drain: Drain,
) -> Result<(), Error> {
    let mut attempt: u32 = 0;
    loop {
        let attached = tokio::select! {
            biased;
            _ = draining(&mut drain) => return Ok(()),
            attached = tokio::time::timeout(ATTACH_TIMEOUT, attach(&shared)) => {
                attached.unwrap_or(Err(AttachError::Retry(AttachFailure::Timeout(ATTACH_TIMEOUT))))
            }
        };
        let setback = match attached {
            Ok(upgraded) => {
                info!(connection = index, server = %shared.endpoint.authority, "attached");
                let attached_at = Instant::now();
                match serve(index, upgraded, &shared, &mut drain).await {
                    Served::Drained => return Ok(()),
                    Served::Lost(reason) => {
                        if attached_at.elapsed() >= STABLE_AFTER {
                            attempt = 0;
                        }
                        Setback::Lost(reason)
                    }
                }
            }
            Err(AttachError::Fatal(error)) => return Err(error),
            Err(AttachError::Retry(failure)) => Setback::NotAttached(chain(&failure)),
        };
        let delay = shared.backoff.delay(attempt, rand::random());
        attempt = attempt.saturating_add(1);
        match setback {
            Setback::Lost(reason) => {
                warn!(connection = index, %reason, retry_in = ?delay, "connection lost");
            }
            Setback::NotAttached(error) => {
                warn!(connection = index, %error, retry_in = ?delay, "cannot attach");
            }
        }
        tokio::select! {
            biased;
            _ = draining(&mut drain) => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Why a connection loop is about to wait and retry.
enum Setback {
    /// An attached connection ended.
    Lost(String),
    /// Attaching failed.
    NotAttached(String),
}

#[derive(Debug)]
enum AttachError {
    Fatal(Error),
    Retry(AttachFailure),
}

/// Why one attach attempt failed, for the log; all of these are retried.
#[derive(Debug, thiserror::Error)]
enum AttachFailure {
    #[error("cannot connect to {authority}")]
    Connect {
        authority: String,
        #[source]
        source: io::Error,
    },
    #[error("the server's certificate is not trusted (is the ca file the server's?)")]
    Untrusted(#[source] io::Error),
    #[error("tls handshake failed")]
    Tls(#[source] io::Error),
    #[error("the upgrade request failed")]
    Http(#[source] hyper::Error),
    #[error("cannot build the upgrade request")]
    Request(#[source] http::Error),
    #[error("the server answered {status}: {message}")]
    Refused { status: StatusCode, message: String },
    #[error("no answer within {}s", .0.as_secs())]
    Timeout(Duration),
}

impl From<hyper::Error> for AttachError {
    fn from(error: hyper::Error) -> AttachError {
        AttachError::Retry(AttachFailure::Http(error))
    }
}

/// Dials the server, verifies it, and upgrades to the tunnel.
async fn attach(shared: &Shared) -> Result<Upgraded, AttachError> {
    let endpoint = &shared.endpoint;
    let socket = match &endpoint.host {
        EndpointHost::Name(name) => TcpStream::connect((name.as_str(), endpoint.port)).await,
        EndpointHost::Address(address) => TcpStream::connect((*address, endpoint.port)).await,
    }
    .map_err(|source| {
        AttachError::Retry(AttachFailure::Connect {
            authority: endpoint.authority.clone(),
            source,
        })
    })?;
    // Keystrokes ride this connection; Nagle would hold them back behind unacknowledged data.
    if let Err(error) = socket.set_nodelay(true) {
        debug!(%error, "cannot disable nagle on the tunnel socket");
    }
    let tls = shared
        .tls
        .connect(shared.server_name.clone(), ReadAhead::new(socket))
        .await
        .map_err(|error| {
            let untrusted = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|inner| matches!(inner, rustls::Error::InvalidCertificate(_)));
            AttachError::Retry(if untrusted {
                AttachFailure::Untrusted(error)
            } else {
                AttachFailure::Tls(error)
            })
        })?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(tls)).await?;
    // The HTTP/1.1 connection must be driven while the request is in flight; once upgraded it
    // hands the socket over and ends. Aborting it on any early return closes the socket.
    let _connection = AbortOnDrop(tokio::spawn(connection.with_upgrades()));
    let request = attach_request(endpoint, &shared.token, &shared.identity)
        .map_err(|error| AttachError::Retry(AttachFailure::Request(error)))?;
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = if parts.status == StatusCode::SWITCHING_PROTOCOLS {
        bytes::Bytes::new()
    } else {
        // A body that fails or overflows still leaves the status to go by.
        Limited::new(body, ERROR_BODY_LIMIT)
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default()
    };
    match classify(parts.status, &parts.headers, &body) {
        Answer::Attached => {
            let response = http::Response::from_parts(parts, ());
            Ok(hyper::upgrade::on(response).await?)
        }
        Answer::Fatal(error) => Err(AttachError::Fatal(error)),
        Answer::Retry { status, message } => Err(AttachError::Retry(AttachFailure::Refused {
            status,
            message,
        })),
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Served {
    /// A drain ended it; the loop must not reconnect.
    Drained,
    /// The link or the server ended it; reconnect.
    Lost(String),
}

/// Serves Streams on an attached connection until it ends or a drain finishes.
async fn serve(index: usize, upgraded: Upgraded, shared: &Shared, drain: &mut Drain) -> Served {
    let allow = shared.allow.clone();
    let service = service_fn(move |request| stream::handle(request, allow.clone(), index));
    let connection = shared.http2.serve_connection(upgraded, service);
    tokio::pin!(connection);
    let deadline = tokio::select! {
        ended = connection.as_mut() => {
            return Served::Lost(match ended {
                Ok(()) => "the server closed it".to_owned(),
                Err(error) => chain(&error),
            });
        }
        deadline = draining(drain) => deadline,
    };
    // GOAWAY: the server opens no new Stream here; running ones go on until the deadline.
    connection.as_mut().graceful_shutdown();
    info!(connection = index, "draining");
    match tokio::time::timeout_at(deadline, connection).await {
        Ok(Ok(())) => info!(connection = index, "drained"),
        Ok(Err(error)) => {
            debug!(connection = index, error = %chain(&error), "connection ended while draining")
        }
        Err(_elapsed) => warn!(
            connection = index,
            "grace period over: closing running streams"
        ),
    }
    Served::Drained
}
