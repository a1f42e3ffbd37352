//! The connector: dials out from an origin host to the Postern server and carries Streams to
//! local services.
//!
//! [`run`] keeps [`Config::ha_connections`] independent connections attached (see
//! `protocol::tunnel` for the wire protocol), each reconnecting with capped, jittered backoff.
//! Each connection runs on a thread of its own with a single-threaded runtime, and the
//! Streams it carries stay there: a Stream's bytes never hop between threads (each hop costs
//! a futex wake and a context switch per message), while separate connections still use
//! separate cores.
//! Every Stream the server opens is checked against the local [`AllowList`] before anything is
//! dialled. On shutdown every connection sends GOAWAY and running Streams get
//! [`Config::grace`] to finish.
//!
//! Pure parts (the allow-list, the attach request and the reading of the server's answer,
//! backoff) are separate from the I/O shells (`tunnel`, `stream`) and tested without sockets.

pub mod allow;
mod attach;
pub mod backoff;
mod config;
mod error;
mod stream;
mod tls;
mod tunnel;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

pub use allow::{AllowList, AllowListError};
pub use backoff::Backoff;
pub use config::{Config, DEFAULT_GRACE, DEFAULT_HA_CONNECTIONS, Token, TokenError};
pub use error::Error;

/// How long past the grace deadline `run` waits for connection loops before abandoning them.
/// They honour the deadline themselves; this only bounds a bug there.
const STOP_MARGIN: Duration = Duration::from_secs(1);

/// Runs a connector until `shutdown` completes, then drains and returns `Ok`.
///
/// Returns an error at once for a bad configuration, and later for a refusal retrying cannot
/// cure (an unknown or revoked token, an incompatible protocol version); everything else is
/// retried.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    if config.ha_connections == 0 {
        return Err(Error::NoConnections);
    }
    let shared = Arc::new(tunnel::Shared::new(&config)?);
    info!(
        server = %shared.endpoint.authority,
        replica = %shared.identity.replica,
        hostname = %shared.identity.hostname,
        connections = config.ha_connections,
        allow = %config.allow,
        "connector starting"
    );
    let (drain_sender, drain) = watch::channel(None);
    let mut connections = FuturesUnordered::new();
    for index in 0..config.ha_connections {
        connections.push(spawn_connection(index, shared.clone(), drain.clone())?);
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            ended = connections.next() => match ended {
                // The same token and version fail on every connection: stop them all at once
                // (a drain that is already due).
                Some(Err(error)) => {
                    drain_sender.send_replace(Some(Instant::now()));
                    return Err(error);
                }
                // A loop ends cleanly only when drained, which has not been asked for yet.
                Some(Ok(())) => {}
                None => return Ok(()),
            },
        }
    }
    let deadline = Instant::now() + config.grace;
    info!(grace = ?config.grace, "shutting down: no new streams, running ones may finish");
    drain_sender.send_replace(Some(deadline));
    let stopped = tokio::time::timeout_at(deadline + STOP_MARGIN, async {
        while let Some(ended) = connections.next().await {
            if let Err(error) = ended {
                debug!(error = %error, "connection ended with an error while draining");
            }
        }
    })
    .await;
    if stopped.is_err() {
        // Their threads end with the process.
        warn!("connections did not stop by the deadline: abandoning them");
    }
    info!("connector stopped");
    Ok(())
}

/// Starts connection `index` on a thread of its own; the future ends with the loop's result,
/// or [`Error::ConnectionThread`] if the thread died.
fn spawn_connection(
    index: usize,
    shared: Arc<tunnel::Shared>,
    drain: tunnel::Drain,
) -> Result<impl Future<Output = Result<(), Error>>, Error> {
    let (done, ended) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("postern-link-{index}"))
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(Error::Runtime)
                .and_then(|runtime| {
                    runtime.block_on(tunnel::connection_loop(index, shared, drain))
                });
            let _ = done.send(result);
        })
        .map_err(Error::Runtime)?;
    Ok(ended.map(|ended| ended.unwrap_or(Err(Error::ConnectionThread))))
}
