//! `wss://…/gw/rdp/{app}`: the RDCleanPath gateway for the browser's RDP client.
//!
//! The upgrade needs the server's own Origin and a live Session cookie. The first PDU must
//! carry a ticket minted for this user, App and Session (`POST /api/apps/{app}/rdp/ticket`);
//! it is taken (deleted) on first sight, so it works once. The App is then decided at the one
//! choke point again, a Connector Stream opens to the App's own service URL (never to what the
//! browser names), the client's X.224 Connection Request goes through, and the gateway does
//! TLS with the origin itself: the origin's key is pinned per App on first use and a changed
//! key is refused. The browser gets the Connection Confirm and the certificate chain, runs
//! CredSSP and RDP through the relay, and the gateway records what the origin sends.
//!
//! Every refusal is one RDCleanPath error PDU followed by a WebSocket close whose reason is
//! the sentence for the person; nothing is dialled before the ticket and the policy allow it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, close_code as ws_close};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::FutureExt;
use protocol::api::{AppKind, Decision, error_code as api_code};
use protocol::rdp::error_code;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::client::TlsStream;

use super::cleanpath::{self, Confirm, ErrorPdu, Framing, RequestError};
use super::origin_tls;
use super::recording::DesktopRecorder;
use crate::access::{self, Denied, Identity};
use crate::http::browser_session;
use crate::http::{ApiError, AppState, now};
use crate::secret;
use crate::store::{App, SessionRecord};
use crate::tunnel::{OpenError, StreamIo};

/// The largest WebSocket message accepted from the browser (RDP input and clipboard).
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// How long the browser may take to send its request, and the origin each handshake step.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read from the origin per WebSocket message at most.
const CHUNK_BYTES: usize = 64 * 1024;

/// `GET /gw/rdp/{app}` with `Upgrade: websocket`.
pub async fn desktop(
    State(state): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    browser_session::check_origin(&state, &headers, "desktop")?;
    let session = browser_session::from_cookie(&state, &headers).await?;
    let upgrade = upgrade.map_err(|_| {
        ApiError::bad_request("the desktop gateway is a WebSocket: send an upgrade")
    })?;
    Ok(browser_session::limits(upgrade, MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(state, session, app, socket)))
}

/// Why the gateway refused a connection: the error PDU and the close frame.
#[derive(Debug)]
struct Refusal {
    pdu: Vec<u8>,
    close_code: u16,
    reason: String,
}

fn refused(error: ErrorPdu, reason: impl Into<String>) -> Refusal {
    Refusal {
        pdu: error.to_der(),
        close_code: ws_close::POLICY,
        reason: reason.into(),
    }
}

fn origin_failed(error: ErrorPdu, reason: impl Into<String>) -> Refusal {
    Refusal {
        close_code: ws_close::ERROR,
        ..refused(error, reason)
    }
}

async fn run(state: AppState, session: SessionRecord, app: String, mut socket: WebSocket) {
    let (code, reason) = match open(&state, &session, &app, &mut socket).await {
        Ok(desktop) => desktop.relay(&state, &session, &mut socket).await,
        Err(None) => return,
        Err(Some(refusal)) => {
            tracing::info!(
                app,
                user = session.user.username,
                reason = refusal.reason,
                "desktop refused"
            );
            let _ = socket.send(Message::Binary(refusal.pdu.into())).await;
            (refusal.close_code, refusal.reason)
        }
    };
    browser_session::close(&mut socket, code, &reason).await;
}

/// A desktop ready to relay.
struct Desktop {
    tls: TlsStream<StreamIo>,
    recorder: Option<DesktopRecorder>,
    app: App,
    /// Who was authorized, decided again at every check.
    identity: Identity,
}

/// Reads the request, checks the ticket, opens the origin and answers. `Err(None)`: the
/// browser left before asking anything.
async fn open(
    state: &AppState,
    session: &SessionRecord,
    app_name: &str,
    socket: &mut WebSocket,
) -> Result<Desktop, Option<Refusal>> {
    let request = match tokio::time::timeout(STEP_TIMEOUT, read_request(socket)).await {
        Ok(Ok(Some(request))) => request,
        Ok(Ok(None)) => return Err(None),
        Ok(Err(error)) => {
            let status = if error == RequestError::TooLong {
                413
            } else {
                400
            };
            return Err(Some(refused(
                ErrorPdu::http(error_code::GENERAL, status),
                error.to_string(),
            )));
        }
        Err(_) => {
            return Err(Some(refused(
                ErrorPdu::http(error_code::GENERAL, 408),
                "the browser did not send its connection request in time",
            )));
        }
    };
    let store = state.store.as_ref();
    let identity = Identity::user(&session.user, session.created_at);
    let actor = identity.actor();
    let deny = |error: ErrorPdu, reason: String| async move {
        let _ = access::audit(
            store,
            &actor,
            Some(app_name),
            Decision::Deny,
            &reason,
            now(),
        )
        .await;
        Some(refused(error, reason))
    };
    let internal = |error: &dyn std::fmt::Display| {
        tracing::warn!(%error, "desktop failed");
        Some(origin_failed(
            ErrorPdu::http(error_code::GENERAL, 500),
            "the server failed to open the desktop",
        ))
    };

    // The ticket: taken whatever happens next, so it can never be presented twice.
    let ticket = if secret::is_well_formed_token(&request.ticket) {
        store
            .take_rdp_ticket(&secret::hash_token(&request.ticket))
            .await
            .map_err(|error| internal(&error))?
    } else {
        None
    };
    let app = store
        .app_by_name(app_name)
        .await
        .map_err(|error| internal(&error))?;
    let Some(ticket) = ticket else {
        return Err(deny(
            ErrorPdu::http(error_code::REVOKED, 401),
            "the connection ticket was already used or never issued".to_owned(),
        )
        .await);
    };
    if ticket.expires_at <= now() {
        return Err(deny(
            ErrorPdu::http(error_code::EXPIRED, 401),
            "the connection ticket expired".to_owned(),
        )
        .await);
    }
    if ticket.session_id != session.id
        || ticket.user_id != session.user.id
        || app.as_ref().is_none_or(|app| app.id != ticket.app_id)
    {
        return Err(deny(
            ErrorPdu::http(error_code::REVOKED, 401),
            "the connection ticket was issued for another session or app".to_owned(),
        )
        .await);
    }

    // The choke point, again: the policy may have changed since the ticket was minted.
    let authorized = match access::authorize(store, identity.clone(), app_name, now()).await {
        Ok(authorized) => authorized,
        Err(Denied::UnknownApp(name)) => {
            return Err(Some(refused(
                ErrorPdu::http(error_code::GENERAL, 404),
                format!("no app is called {name}"),
            )));
        }
        Err(Denied::Policy(reason)) => {
            return Err(Some(refused(
                ErrorPdu::http(error_code::NOT_ALLOWED, 403),
                format!("access denied: {reason}"),
            )));
        }
        Err(Denied::Store(error)) => return Err(internal(&error)),
    };
    let app = authorized.app().clone();
    if app.kind != AppKind::Rdp {
        return Err(deny(
            ErrorPdu::http(error_code::GENERAL, 404),
            format!("app {app_name} is not an RDP app"),
        )
        .await);
    }
    let (mut pipe, stream_id) = match state.registry.open_io(&authorized).await {
        Ok(opened) => opened,
        Err(OpenError::Offline(connector)) => {
            return Err(deny(
                ErrorPdu::http(error_code::CONNECTOR_OFFLINE, 503),
                format!("the connector {connector} for app {app_name} is offline"),
            )
            .await);
        }
        Err(OpenError::Refused { code, message, .. }) if code == api_code::DESTINATION_REFUSED => {
            return Err(deny(
                ErrorPdu::http(error_code::ORIGIN_REFUSED, 403),
                format!("the connector refused the destination: {message}"),
            )
            .await);
        }
        Err(OpenError::Refused { message, .. }) => {
            return Err(deny(
                ErrorPdu::wsa(error_code::TARGET_UNREACHABLE, 10061),
                format!("the connector could not reach the remote computer: {message}"),
            )
            .await);
        }
    };
    tracing::debug!(app = app_name, stream = stream_id, "desktop stream open");

    let confirm = match tokio::time::timeout(
        STEP_TIMEOUT,
        negotiate(&mut pipe, &request.connection_request),
    )
    .await
    {
        Ok(Ok(confirm)) => confirm,
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::InvalidData => {
            return Err(Some(origin_failed(
                ErrorPdu::http(error_code::GENERAL, 502),
                "the remote computer is not an RDP server",
            )));
        }
        Ok(Err(error)) => {
            return Err(Some(origin_failed(
                ErrorPdu::wsa(error_code::TARGET_UNREACHABLE, 10054),
                format!("the remote computer did not answer the connection request: {error}"),
            )));
        }
        Err(_) => {
            return Err(Some(origin_failed(
                ErrorPdu::wsa(error_code::TARGET_UNREACHABLE, 10060),
                "the remote computer did not answer the connection request in time",
            )));
        }
    };
    match cleanpath::confirm(&confirm) {
        Confirm::Negotiated => {}
        Confirm::Failure(code) => {
            return Err(Some(Refusal {
                pdu: cleanpath::negotiation_error(&confirm),
                close_code: ws_close::ERROR,
                reason: format!(
                    "the remote computer refused the offered security protocols (code {code})"
                ),
            }));
        }
        Confirm::Legacy => {
            return Err(Some(Refusal {
                pdu: cleanpath::negotiation_error(&confirm),
                close_code: ws_close::ERROR,
                reason: "the remote computer offers only standard RDP security, which is not \
                         safe to relay: enable TLS or NLA on it"
                    .to_owned(),
            }));
        }
        Confirm::Malformed => {
            return Err(Some(origin_failed(
                ErrorPdu::http(error_code::GENERAL, 502),
                "the remote computer is not an RDP server",
            )));
        }
    }

    let destination = authorized.destination();
    let connector = connector().map_err(|error| internal(&error))?;
    let tls = match tokio::time::timeout(
        STEP_TIMEOUT,
        connector.connect(origin_tls::server_name(&destination.host), pipe),
    )
    .await
    {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            let alert = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .and_then(|error| match error {
                    rustls::Error::AlertReceived(alert) => Some(u8::from(*alert)),
                    _ => None,
                });
            return Err(Some(origin_failed(
                ErrorPdu::tls(alert),
                format!("the TLS handshake with the remote computer failed: {error}"),
            )));
        }
        Err(_) => {
            return Err(Some(origin_failed(
                ErrorPdu::tls(None),
                "the remote computer did not finish the TLS handshake in time",
            )));
        }
    };
    let chain: Vec<Vec<u8>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|certificate| certificate.to_vec())
        .collect();
    let presented = chain
        .first()
        .map(|leaf| origin_tls::key_fingerprint(&leaf.clone().into()))
        .transpose()
        .ok()
        .flatten()
        .ok_or_else(|| internal(&"the remote computer sent no usable certificate"))?;
    if let Err(refusal) = pin(state, &app, &presented).await {
        let _ = access::audit(
            store,
            &identity.actor(),
            Some(app_name),
            Decision::Deny,
            &refusal.reason,
            now(),
        )
        .await;
        return Err(Some(refusal));
    }

    let recorder = if state.config.rdp.record {
        let dir = crate::ssh::recording::directory(&state.config.data_dir);
        Some(
            DesktopRecorder::start(&dir, store, app_name, &identity.actor(), now())
                .await
                .map_err(|error| internal(&format!("{error:#}")))?,
        )
    } else {
        None
    };
    let response = cleanpath::response(&destination.to_string(), &confirm, chain)
        .map_err(|error| internal(&format!("{error:#}")))?;
    if socket.send(Message::Binary(response.into())).await.is_err() {
        return Err(None);
    }
    Ok(Desktop {
        tls,
        recorder,
        app,
        identity,
    })
}

/// Reads binary messages until they hold one whole request; `None` if the browser left.
async fn read_request(socket: &mut WebSocket) -> Result<Option<cleanpath::Request>, RequestError> {
    let mut received = Vec::new();
    loop {
        match socket.recv().await {
            Some(Ok(Message::Binary(bytes))) => {
                received.extend_from_slice(&bytes);
                if let Framing::Complete(request) = cleanpath::read_request(&received)? {
                    return Ok(Some(request));
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Text(_))) => {
                return Err(RequestError::Malformed("a text message".to_owned()));
            }
            Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(None),
        }
    }
}

/// Sends the client's Connection Request and reads the origin's Connection Confirm.
async fn negotiate(pipe: &mut StreamIo, request: &[u8]) -> std::io::Result<Vec<u8>> {
    pipe.write_all(request).await?;
    pipe.flush().await?;
    let mut header = [0u8; 4];
    pipe.read_exact(&mut header).await?;
    let length = cleanpath::tpkt_length(header)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not a TPKT header"))?;
    let mut confirm = vec![0u8; length];
    confirm[..4].copy_from_slice(&header);
    pipe.read_exact(&mut confirm[4..]).await?;
    Ok(confirm)
}

/// The TLS client for origins, built once.
fn connector() -> Result<tokio_rustls::TlsConnector, rustls::Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, rustls::Error>> = OnceLock::new();
    CONFIG
        .get_or_init(origin_tls::client_config)
        .clone()
        .map(tokio_rustls::TlsConnector::from)
}

/// Trust on first use: pins `presented` if the App has no key yet, else requires it.
async fn pin(state: &AppState, app: &App, presented: &str) -> Result<(), Refusal> {
    let changed = |pinned: &str| {
        refused(
            ErrorPdu::http(error_code::HOST_KEY_CHANGED, 403),
            format!(
                "the TLS key of {} changed: Postern pinned {pinned} but the remote computer \
                 presented {presented}. An admin can re-pin it if it was reinstalled",
                app.name
            ),
        )
    };
    let failed = |error: crate::store::StoreError| {
        tracing::warn!(%error, "pinning the desktop key failed");
        origin_failed(
            ErrorPdu::http(error_code::GENERAL, 500),
            "the server failed to open the desktop",
        )
    };
    match app.host_key.as_deref() {
        Some(pinned) if pinned == presented => Ok(()),
        Some(pinned) => Err(changed(pinned)),
        None => {
            if state
                .store
                .pin_host_key(&app.id, presented)
                .await
                .map_err(failed)?
            {
                tracing::info!(
                    app = app.name,
                    key = presented,
                    "pinned the desktop's TLS key on first use"
                );
                return Ok(());
            }
            // Another connection pinned one in the meantime: this one must match it.
            let current = state
                .store
                .app_by_name(&app.name)
                .await
                .map_err(failed)?
                .and_then(|app| app.host_key);
            match current {
                Some(current) if current != presented => Err(changed(&current)),
                _ => Ok(()),
            }
        }
    }
}

impl Desktop {
    /// Relays until one side ends; returns the close code and reason for the browser.
    async fn relay(
        mut self,
        state: &AppState,
        session: &SessionRecord,
        socket: &mut WebSocket,
    ) -> (u16, String) {
        let (code, reason) = self.pump(state, session, socket).await;
        let _ = self.tls.shutdown().await;
        if let Some(recorder) = self.recorder.take() {
            let id = recorder.id().to_owned();
            if let Err(error) = recorder.finish(state.store.as_ref(), now()).await {
                tracing::warn!(
                    recording = id,
                    error = format!("{error:#}"),
                    "recording not finished"
                );
            }
        }
        tracing::info!(
            app = self.app.name,
            user = session.user.username,
            reason,
            "desktop closed"
        );
        (code, reason)
    }

    /// Adds to the `filled` bytes at the start of `buffer` whatever more the origin has already
    /// sent, without waiting, so that a burst (a frame's several PDUs, each its own TLS
    /// record) crosses to the browser as one WebSocket message. An end or error is left for
    /// the next read to report.
    fn read_ready(&mut self, buffer: &mut [u8], mut filled: usize) -> usize {
        while filled < buffer.len() {
            match self.tls.read(&mut buffer[filled..]).now_or_never() {
                Some(Ok(n)) if n > 0 => filled += n,
                _ => break,
            }
        }
        filled
    }

    async fn pump(
        &mut self,
        state: &AppState,
        session: &SessionRecord,
        socket: &mut WebSocket,
    ) -> (u16, String) {
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let mut active = false;
        let mut check = tokio::time::interval(browser_session::RECHECK_INTERVAL);
        check.tick().await;
        loop {
            tokio::select! {
                message = socket.recv() => {
                    match message {
                        Some(Ok(Message::Binary(bytes))) => {
                            active = true;
                            if self.tls.write_all(&bytes).await.is_err() || self.tls.flush().await.is_err() {
                                return (ws_close::ERROR, "the connection to the remote computer broke".to_owned());
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Text(_))) => {
                            return (ws_close::UNSUPPORTED, "the desktop carries binary messages only".to_owned());
                        }
                        Some(Ok(Message::Close(_)) | Err(_)) | None => {
                            return (ws_close::NORMAL, "the browser closed the desktop".to_owned());
                        }
                    }
                }
                read = self.tls.read(&mut buffer) => {
                    let n = match read {
                        Ok(0) => return (ws_close::NORMAL, "the remote computer ended the session".to_owned()),
                        Ok(n) => self.read_ready(&mut buffer, n),
                        Err(_) => return (ws_close::ERROR, "the connection to the remote computer broke".to_owned()),
                    };
                    if let Some(recorder) = self.recorder.as_mut()
                        && let Err(error) = recorder.output(&buffer[..n]).await
                    {
                        tracing::warn!(error = format!("{error:#}"), "recording failed; ending the desktop");
                        return (ws_close::ERROR, "the session could not be recorded, so it was ended".to_owned());
                    }
                    if socket.send(Message::Binary(buffer[..n].to_vec().into())).await.is_err() {
                        return (ws_close::NORMAL, "the browser went away".to_owned());
                    }
                }
                _ = check.tick() => {
                    if let Some(end) = browser_session::recheck(state, session, &self.identity, &self.app.name, active).await {
                        return (ws_close::POLICY, end.reason());
                    }
                    active = false;
                }
                () = state.terminals.cancelled() => {
                    return (ws_close::AWAY, "the Postern server is restarting; reconnect in a moment".to_owned());
                }
            }
        }
    }
}
