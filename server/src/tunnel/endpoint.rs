//! `GET /connector`: a Connector attaches. The request is checked (upgrade, version, token,
//! replica id) before the upgrade; after it, this server speaks HTTP/2 as the client on the
//! link and registers the Connection until it ends.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use protocol::api::{Decision, error_code};
use protocol::tunnel::{self, HEADER_HOSTNAME, HEADER_REPLICA, HEADER_VERSION, UPGRADE_PROTOCOL};

use super::Attachment;
use crate::http::{ApiError, AppState, ClientAddr, bearer, header_str as header, now};
use crate::secret;

/// HTTP/2 settings of the server side of a link. Large windows let one Stream fill a fast
/// link; pings find a dead link within a few seconds.
const STREAM_WINDOW: u32 = 8 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 32 * 1024 * 1024;
const PING_INTERVAL: Duration = Duration::from_secs(1);
const PING_TIMEOUT: Duration = Duration::from_secs(3);

fn is_valid_replica_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn bad_token(message: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        error_code::BAD_CONNECTOR_TOKEN,
        message,
    )
}

/// `GET /connector`.
pub async fn attach(
    State(state): State<AppState>,
    mut request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let upgrade = header(headers, header::UPGRADE.as_str()).unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case(UPGRADE_PROTOCOL) {
        return Err(ApiError::bad_request(format!(
            "this endpoint is for connectors: send Upgrade: {UPGRADE_PROTOCOL}"
        )));
    }
    let version: u32 = header(headers, HEADER_VERSION)
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("missing or malformed {HEADER_VERSION}")))?;
    if let Err(mismatch) = tunnel::check_connector_version(version) {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            error_code::VERSION_MISMATCH,
            mismatch.to_string(),
        ));
    }
    let address = request
        .extensions()
        .get::<ClientAddr>()
        .map(|ClientAddr(addr)| addr.to_string())
        .unwrap_or_default();
    let token = bearer(headers).filter(|token| secret::is_well_formed_token(token));
    let Some(token) = token else {
        audit(
            &state,
            "connector:unknown",
            "a connector presented no valid token",
            &address,
        )
        .await?;
        return Err(bad_token("the connector token is missing or malformed"));
    };
    let connector = state
        .store
        .connector_by_token_hash(&secret::hash_token(token))
        .await?;
    let connector = match connector {
        Some(connector) if connector.revoked_at.is_none() => connector,
        Some(connector) => {
            audit(
                &state,
                &format!("connector:{}", connector.name),
                "connector token revoked",
                &address,
            )
            .await?;
            return Err(bad_token("this connector was revoked; create a new one"));
        }
        None => {
            audit(
                &state,
                "connector:unknown",
                "unknown connector token",
                &address,
            )
            .await?;
            return Err(bad_token(
                "the connector token is not valid (was it rotated?)",
            ));
        }
    };
    let replica_id = header(headers, HEADER_REPLICA)
        .filter(|id| is_valid_replica_id(id))
        .ok_or_else(|| ApiError::bad_request(format!("missing or malformed {HEADER_REPLICA}")))?
        .to_owned();
    let hostname: String = header(headers, HEADER_HOSTNAME)
        .unwrap_or("unknown")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(253)
        .collect();
    let attachment = Attachment {
        connector_id: connector.id.clone(),
        replica_id,
        hostname,
        protocol_version: version,
        address,
        token_hash: secret::hash_token(token),
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    let registry = state.registry.clone();
    let name = connector.name.clone();
    // The link lives in its own task; aborting it (revocation) closes the link.
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<tokio::task::AbortHandle>();
    let link = tokio::spawn(async move {
        let Ok(abort) = ready_rx.await else { return };
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::warn!(connector = name, %error, "connector upgrade failed");
                return;
            }
        };
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder
            // hyper sends no keep-alive pings without a timer.
            .timer(TokioTimer::new())
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .keep_alive_interval(PING_INTERVAL)
            .keep_alive_timeout(PING_TIMEOUT)
            .keep_alive_while_idle(true)
            .max_concurrent_reset_streams(1024);
        let (sender, connection) = match builder.handshake::<_, Body>(upgraded).await {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(connector = name, %error, "connector http/2 handshake failed");
                return;
            }
        };
        let connection_id = registry.attach(&attachment, sender, abort);
        tracing::info!(
            connector = name,
            replica = attachment.replica_id,
            hostname = attachment.hostname,
            connection = connection_id,
            "connector attached"
        );
        if let Err(error) = connection.await {
            tracing::info!(connector = name, connection = connection_id, %error, "connector link ended");
        } else {
            tracing::info!(
                connector = name,
                connection = connection_id,
                "connector link closed"
            );
        }
        registry.detach(
            &attachment.connector_id,
            &attachment.replica_id,
            connection_id,
        );
    });
    let _ = ready_tx.send(link.abort_handle());
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    response
        .headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static(UPGRADE_PROTOCOL));
    Ok(response.into_response())
}

async fn audit(state: &AppState, actor: &str, reason: &str, address: &str) -> Result<(), ApiError> {
    tracing::info!(actor, reason, address, "connector refused");
    state
        .store
        .record_audit(
            crate::store::NewAuditEvent {
                actor: actor.to_owned(),
                action: "connector.attach".to_owned(),
                app: None,
                decision: Some(Decision::Deny),
                reason: format!("{reason} (from {address})"),
            },
            now(),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_ids() {
        for (id, ok) in [
            ("0123456789abcdef", true),
            ("short", false),
            ("has space here!", false),
            (&"a".repeat(65), false),
        ] {
            assert_eq!(is_valid_replica_id(id), ok, "{id}");
        }
    }
}
