//! Attached Connectors: the registry of Replicas and their Connections, and opening Streams on
//! them.
//!
//! A Connection is an HTTP/2 client session over an upgraded connector link (the roles are
//! reversed: the server opens the Streams). New Streams go round-robin over every ready
//! Connection of every Replica of the App's Connector; a Connection that fails to take one is
//! dropped from the rotation and the next is tried, so a dead Replica costs at most a retry.
//! Connections served by the caller's own worker thread come first (see [`crate::workers`]):
//! a Stream whose client and link share a thread is relayed without waking another one.

pub mod endpoint;
mod io;

pub use io::StreamIo;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use protocol::api::{ErrorBody, ReplicaSummary};
use protocol::tunnel::{HEADER_DESTINATION, HEADER_STREAM, STREAM_PATH};

use crate::access::Authorized;

/// One live Connection of a Replica.
struct Connection {
    id: u64,
    /// The worker thread the link is served on, if any.
    worker: Option<usize>,
    sender: SendRequest<Body>,
    /// Aborting it closes the link (used when the Connector is revoked or rotated).
    task: tokio::task::AbortHandle,
}

/// One connector process.
struct Replica {
    /// SHA-256 of the token it attached with; a rotation or revocation ends it.
    token_hash: String,
    hostname: String,
    protocol_version: u32,
    address: String,
    connections: Vec<Connection>,
}

#[derive(Default)]
struct ConnectorEntry {
    replicas: HashMap<String, Replica>,
}

/// Every attached Connector, by Connector id.
#[derive(Default)]
pub struct Registry {
    connectors: Mutex<HashMap<String, ConnectorEntry>>,
    next_connection: AtomicU64,
    next_stream: AtomicU64,
    rotation: AtomicUsize,
}

/// Where a new Connection came from.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The Connector's id.
    pub connector_id: String,
    /// The Replica's self-chosen id.
    pub replica_id: String,
    /// Its host name.
    pub hostname: String,
    /// Its tunnel protocol version.
    pub protocol_version: u32,
    /// Its address.
    pub address: String,
    /// SHA-256 of the token it attached with.
    pub token_hash: String,
}

/// Why a Stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No ready Connection of the Connector.
    #[error("connector {0} is offline: no replica is attached")]
    Offline(String),
    /// The connector refused the destination (its allow-list) or could not reach it.
    #[error("{message}")]
    Refused {
        /// HTTP status the connector answered.
        status: u16,
        /// The connector's error code.
        code: String,
        /// The connector's message.
        message: String,
    },
}

/// A Stream accepted by a Connector: the bytes from the origin.
pub struct OpenStream {
    /// Origin-to-client bytes.
    pub body: Incoming,
    /// The Stream id, for logs.
    pub id: u64,
}

impl Registry {
    /// Registers a Connection and returns its id. The caller must call [`Registry::detach`]
    /// when the Connection ends.
    pub fn attach(
        &self,
        attachment: &Attachment,
        sender: SendRequest<Body>,
        task: tokio::task::AbortHandle,
    ) -> u64 {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let mut connectors = self.lock();
        let entry = connectors
            .entry(attachment.connector_id.clone())
            .or_default();
        let replica = entry
            .replicas
            .entry(attachment.replica_id.clone())
            .or_insert_with(|| Replica {
                token_hash: attachment.token_hash.clone(),
                hostname: attachment.hostname.clone(),
                protocol_version: attachment.protocol_version,
                address: attachment.address.clone(),
                connections: Vec::new(),
            });
        replica.connections.push(Connection {
            id,
            worker: crate::workers::current(),
            sender,
            task,
        });
        id
    }

    /// Removes a Connection.
    pub fn detach(&self, connector_id: &str, replica_id: &str, connection_id: u64) {
        let mut connectors = self.lock();
        let Some(entry) = connectors.get_mut(connector_id) else {
            return;
        };
        if let Some(replica) = entry.replicas.get_mut(replica_id) {
            replica
                .connections
                .retain(|connection| connection.id != connection_id);
            if replica.connections.is_empty() {
                entry.replicas.remove(replica_id);
            }
        }
        if entry.replicas.is_empty() {
            connectors.remove(connector_id);
        }
    }

    /// Closes every Connection of every Connector (the server is shutting down), so replicas
    /// reconnect to a live server at once instead of waiting for pings to time out.
    pub fn disconnect_all(&self) {
        let connectors = std::mem::take(&mut *self.lock());
        for connection in connectors
            .values()
            .flat_map(|e| e.replicas.values())
            .flat_map(|r| &r.connections)
        {
            connection.task.abort();
        }
    }

    /// Closes every Connection of a Connector (revoked or rotated).
    pub fn disconnect(&self, connector_id: &str) {
        if let Some(entry) = self.lock().remove(connector_id) {
            for connection in entry
                .replicas
                .values()
                .flat_map(|replica| &replica.connections)
            {
                connection.task.abort();
            }
        }
    }

    /// Every (Connector id, token hash) pair with a live Connection, for the sweep that ends
    /// links whose token was rotated or revoked behind the server's back.
    pub fn attached_tokens(&self) -> Vec<(String, String)> {
        let connectors = self.lock();
        let mut pairs: Vec<(String, String)> = connectors
            .iter()
            .flat_map(|(id, entry)| {
                entry
                    .replicas
                    .values()
                    .map(move |r| (id.clone(), r.token_hash.clone()))
            })
            .collect();
        pairs.sort();
        pairs.dedup();
        pairs
    }

    /// Closes the Connections of a Connector's Replicas that attached with `token_hash`.
    pub fn disconnect_token(&self, connector_id: &str, token_hash: &str) {
        let mut connectors = self.lock();
        let Some(entry) = connectors.get_mut(connector_id) else {
            return;
        };
        entry.replicas.retain(|_, replica| {
            if replica.token_hash != token_hash {
                return true;
            }
            for connection in &replica.connections {
                connection.task.abort();
            }
            false
        });
        if entry.replicas.is_empty() {
            connectors.remove(connector_id);
        }
    }

    /// The Replicas of a Connector attached now.
    pub fn replicas(&self, connector_id: &str) -> Vec<ReplicaSummary> {
        let connectors = self.lock();
        let Some(entry) = connectors.get(connector_id) else {
            return Vec::new();
        };
        let mut replicas: Vec<ReplicaSummary> = entry
            .replicas
            .iter()
            .map(|(id, replica)| ReplicaSummary {
                id: id.clone(),
                hostname: replica.hostname.clone(),
                protocol_version: replica.protocol_version,
                connections: u32::try_from(replica.connections.len()).unwrap_or(u32::MAX),
                address: replica.address.clone(),
            })
            .collect();
        replicas.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.id.cmp(&b.id)));
        replicas
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConnectorEntry>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Candidate Connections for a Connector: those on the caller's worker first, each group
    /// in rotation order starting at the next slot.
    fn candidates(&self, connector_id: &str) -> Vec<Candidate> {
        let connectors = self.lock();
        let Some(entry) = connectors.get(connector_id) else {
            return Vec::new();
        };
        let all: Vec<Candidate> = entry
            .replicas
            .iter()
            .flat_map(|(replica_id, replica)| {
                replica.connections.iter().map(|c| Candidate {
                    replica: replica_id.clone(),
                    id: c.id,
                    worker: c.worker,
                    sender: c.sender.clone(),
                })
            })
            .collect();
        let rotation = self.rotation.fetch_add(1, Ordering::Relaxed);
        in_turn(all, rotation, crate::workers::current())
    }

    /// Opens a Stream for `authorized` whose client-to-origin bytes are `body`.
    pub async fn open(&self, authorized: &Authorized, body: Body) -> Result<OpenStream, OpenError> {
        let app = authorized.app();
        let stream_id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let mut request = Some(
            http::Request::post(STREAM_PATH)
                .header(HEADER_DESTINATION, authorized.destination().to_string())
                .header(HEADER_STREAM, stream_id.to_string())
                .body(body)
                .map_err(|_| OpenError::Offline(app.connector_name.clone()))?,
        );
        for Candidate {
            replica: replica_id,
            id: connection_id,
            mut sender,
            ..
        } in self.candidates(&app.connector_id)
        {
            let Some(pending) = request.take() else { break };
            if sender.ready().await.is_err() {
                request = Some(pending);
                self.detach(&app.connector_id, &replica_id, connection_id);
                continue;
            }
            let response = match sender.try_send_request(pending).await {
                Ok(response) => response,
                Err(mut error) => {
                    request = error.take_message();
                    let cause = error.into_error();
                    tracing::debug!(connection = connection_id, error = %cause, "connection failed a stream; trying the next");
                    self.detach(&app.connector_id, &replica_id, connection_id);
                    if request.is_none() {
                        // The request was sent and its body consumed: it cannot be retried.
                        return Err(OpenError::Offline(app.connector_name.clone()));
                    }
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                return Ok(OpenStream {
                    body: response.into_body(),
                    id: stream_id,
                });
            }
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|body| body.to_bytes())
                .unwrap_or_default();
            let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => (body.error.code, body.error.message),
                Err(_) => (
                    "connector_error".to_owned(),
                    format!("the connector answered {status}"),
                ),
            };
            return Err(OpenError::Refused {
                status: status.as_u16(),
                code,
                message,
            });
        }
        Err(OpenError::Offline(app.connector_name.clone()))
    }
}

/// Shared handle.
pub type SharedRegistry = Arc<Registry>;

/// A Connection that may take a new Stream.
struct Candidate<S = SendRequest<Body>> {
    replica: String,
    id: u64,
    worker: Option<usize>,
    sender: S,
}

/// The order in which to try `all`: Connections on `worker` first, then the others; within
/// each group by id (so consecutive slots fall on different links and replicas interleave),
/// rotated by `rotation`.
fn in_turn<S>(
    mut all: Vec<Candidate<S>>,
    rotation: usize,
    worker: Option<usize>,
) -> Vec<Candidate<S>> {
    all.sort_by_key(|candidate| candidate.id);
    let (mut near, mut far): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|candidate| worker.is_some() && candidate.worker == worker);
    for group in [&mut near, &mut far] {
        if !group.is_empty() {
            let start = rotation % group.len();
            group.rotate_left(start);
        }
    }
    near.extend(far);
    near
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: u64, worker: Option<usize>) -> Candidate<()> {
        Candidate {
            replica: format!("replica-{}", id % 2),
            id,
            worker,
            sender: (),
        }
    }

    fn ids(order: &[Candidate<()>]) -> Vec<u64> {
        order.iter().map(|candidate| candidate.id).collect()
    }

    #[test]
    fn links_on_the_callers_worker_come_first_and_every_link_stays_a_candidate() {
        let all = || {
            vec![
                candidate(3, Some(1)),
                candidate(0, Some(0)),
                candidate(2, Some(0)),
                candidate(1, Some(1)),
            ]
        };
        assert_eq!(ids(&in_turn(all(), 0, Some(0))), [0, 2, 1, 3]);
        assert_eq!(ids(&in_turn(all(), 1, Some(0))), [2, 0, 3, 1]);
        assert_eq!(ids(&in_turn(all(), 0, Some(1))), [1, 3, 0, 2]);
    }

    #[test]
    fn without_a_worker_the_rotation_covers_every_link() {
        let all = vec![
            candidate(2, Some(0)),
            candidate(0, None),
            candidate(1, Some(1)),
        ];
        assert_eq!(ids(&in_turn(all, 4, None)), [1, 2, 0]);
        // No link on the caller's worker: the plain rotation.
        let all = vec![candidate(0, Some(1)), candidate(1, Some(1))];
        assert_eq!(ids(&in_turn(all, 1, Some(0))), [1, 0]);
    }
}
