//! Native Streams end with the credential that opened them, and when their App stops admitting
//! the identity behind them. Every Stream of `POST /gw/tcp/{app}` holds a [`Held`] for its
//! Session or Service token and App; while any are held, one task per (credential, App)
//! re-reads both as often as a browser gateway re-reads its Session ([`RECHECK_INTERVAL`]):
//! when the credential is gone, revoked or expired, or the policy decided again now refuses
//! (the App was removed, its allow list changed, its session duration ran out), every such
//! Stream is cut (the response body ends with a trailer that says why, and the connector's
//! side is reset as it is dropped) and the end is audited once. Re-reading the store, rather
//! than being told, also covers changes made on another replica.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use protocol::api::Decision;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::browser_session::RECHECK_INTERVAL;
use super::{AppState, now};
use crate::access::{self, Authorized, Identity, Recheck};
use crate::auth::session::{Validity, validity};
use crate::store::NewAuditEvent;

/// What proved the identity behind a Stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A Session token (`postern login`), by the Session's id.
    Session {
        /// The Session's id.
        id: String,
    },
    /// A Service token, by its client id.
    ServiceToken {
        /// The token's client id.
        id: String,
    },
}

impl Credential {
    /// The key of the watch over this credential's Streams to `app`.
    fn watch_key(&self, app: &str) -> String {
        match self {
            Credential::Session { id } => format!("session:{id} app:{app}"),
            Credential::ServiceToken { id } => format!("service-token:{id} app:{app}"),
        }
    }
}

/// Credentials and Apps with open Streams.
#[derive(Default)]
pub struct StreamWatch {
    watched: Mutex<HashMap<String, Watched>>,
    /// Numbers each watch, so a hold never counts against a later watch of the same key.
    watches: AtomicU64,
}

struct Watched {
    watch: u64,
    ended: CancellationToken,
    /// Why, set before `ended` is cancelled.
    reason: Arc<OnceLock<String>>,
    streams: usize,
}

/// One Stream's hold on its credential and App; dropping it lets the watch stop when it was the
/// last.
pub struct Held {
    state: AppState,
    key: String,
    watch: u64,
    ended: CancellationToken,
    reason: Arc<OnceLock<String>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut watched = lock(&self.state.streams.watched);
        if let Some(entry) = watched.get_mut(&self.key).filter(|e| e.watch == self.watch) {
            entry.streams = entry.streams.saturating_sub(1);
            if entry.streams == 0 {
                watched.remove(&self.key);
            }
        }
    }
}

fn lock(
    map: &Mutex<HashMap<String, Watched>>,
) -> std::sync::MutexGuard<'_, HashMap<String, Watched>> {
    // A panic while holding the lock leaves only counters behind; they stay usable.
    map.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Holds `credential` and the App of `authorized` for one Stream, starting their watch if they
/// have none.
pub fn hold(state: &AppState, credential: Credential, authorized: &Authorized) -> Held {
    let app = authorized.app().name.clone();
    let key = credential.watch_key(&app);
    let mut watched = lock(&state.streams.watched);
    let entry = watched.entry(key.clone()).or_insert_with(|| {
        let watch_id = state.streams.watches.fetch_add(1, Ordering::Relaxed);
        let ended = CancellationToken::new();
        tokio::spawn(watch(
            state.clone(),
            Watch {
                credential,
                identity: authorized.identity().clone(),
                app,
                watch_id,
            },
            ended.clone(),
        ));
        Watched {
            watch: watch_id,
            ended,
            reason: Arc::default(),
            streams: 0,
        }
    });
    entry.streams += 1;
    Held {
        state: state.clone(),
        key,
        watch: entry.watch,
        ended: entry.ended.clone(),
        reason: Arc::clone(&entry.reason),
    }
}

/// What one watch re-reads.
struct Watch {
    credential: Credential,
    identity: Identity,
    app: String,
    watch_id: u64,
}

/// Re-reads the credential and the policy until the Streams are all gone or one of them ends
/// them; then cuts them.
async fn watch(state: AppState, watch: Watch, ended: CancellationToken) {
    let Watch {
        credential,
        identity,
        app,
        watch_id,
    } = watch;
    let key = credential.watch_key(&app);
    let actor = identity.actor();
    let mut interval = tokio::time::interval(RECHECK_INTERVAL);
    interval.tick().await;
    loop {
        interval.tick().await;
        let still_held = lock(&state.streams.watched)
            .get(&key)
            .is_some_and(|entry| entry.watch == watch_id);
        if !still_held {
            return;
        }
        let reason = match end_of(&state, &credential).await {
            Some(reason) => reason.to_owned(),
            None => match access::still_allowed(state.store.as_ref(), &identity, &app, now()).await
            {
                Ok(Recheck::Withdrawn(reason)) => format!("access was withdrawn: {reason}"),
                // A store error decides nothing: the next check will.
                Ok(Recheck::Allowed) | Err(_) => continue,
            },
        };
        // Removed before cutting, so that a Stream opened from now on (which the choke point
        // admitted, so on a live credential) starts a watch of its own.
        let streams = match lock(&state.streams.watched).entry(key.clone()) {
            Entry::Occupied(entry) if entry.get().watch == watch_id => {
                let entry = entry.remove();
                let _ = entry.reason.set(reason.clone());
                entry.streams
            }
            _ => return,
        };
        ended.cancel();
        tracing::info!(actor, app, reason, streams, "cut open streams");
        let _ = state
            .store
            .record_audit(
                NewAuditEvent {
                    actor,
                    action: "stream.cut".to_owned(),
                    app: Some(app),
                    decision: Some(Decision::Deny),
                    reason: format!("{streams} open stream(s) ended: {reason}"),
                },
                now(),
            )
            .await;
        return;
    }
}

/// Why `credential` no longer admits its Streams, if it does not. A store error decides
/// nothing: the next check will.
async fn end_of(state: &AppState, credential: &Credential) -> Option<&'static str> {
    let now = now();
    match credential {
        Credential::Session { id } => match state.store.session_by_id(id).await {
            Ok(None) => Some("the session was signed out"),
            Ok(Some(session)) => {
                // An open Stream is use of the Session, so idleness does not end it.
                match validity(&session, now, state.config.session.idle_timeout) {
                    Validity::Revoked => Some("the session was revoked"),
                    Validity::Expired => Some("the session expired"),
                    Validity::Live | Validity::Idle => None,
                }
            }
            Err(_) => None,
        },
        Credential::ServiceToken { id } => match state.store.service_token(id).await {
            Ok(None) => Some("the service token was deleted"),
            Ok(Some((token, _))) if token.revoked_at.is_some() => {
                Some("the service token was revoked")
            }
            Ok(Some((token, _))) if token.expires_at <= now => Some("the service token expired"),
            Ok(Some(_)) | Err(_) => None,
        },
    }
}

/// A Stream's origin-to-client body that ends once its watch cuts it, with a trailer
/// ([`protocol::gateway::TRAILER_STREAM_END`]) that says why.
pub struct WatchedBody {
    body: Incoming,
    ended: Pin<Box<WaitForCancellationFutureOwned>>,
    /// The trailer has gone: the body is over.
    cut: bool,
    held: Held,
}

impl WatchedBody {
    /// `body`, cut when `held`'s watch ends it.
    pub fn new(body: Incoming, held: Held) -> WatchedBody {
        WatchedBody {
            body,
            ended: Box::pin(held.ended.clone().cancelled_owned()),
            cut: false,
            held,
        }
    }

    fn end_trailer(&self) -> HeaderMap {
        let reason = self
            .held
            .reason
            .get()
            .map_or("the credential behind it ended", String::as_str);
        // A header value is visible ASCII; an App's name or a person's email might not be.
        let reason: String = reason
            .chars()
            .map(|c| {
                if c == ' ' || c.is_ascii_graphic() {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        let mut trailers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&reason) {
            trailers.insert(
                HeaderName::from_static(protocol::gateway::TRAILER_STREAM_END),
                value,
            );
        }
        trailers
    }
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.cut {
            return Poll::Ready(None);
        }
        if self.ended.as_mut().poll(cx).is_ready() {
            self.cut = true;
            return Poll::Ready(Some(Ok(Frame::trailers(self.end_trailer()))));
        }
        Pin::new(&mut self.body)
            .poll_frame(cx)
            .map_err(std::io::Error::other)
    }

    fn is_end_stream(&self) -> bool {
        self.cut || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
