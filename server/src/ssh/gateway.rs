//! `wss://…/gw/ssh/{app}`: a browser terminal. The upgrade needs the server's own Origin and
//! a live Session cookie; then the App is authorized at the one choke point, a principal is
//! chosen, a Connector Stream opens to the origin's sshd, and an SSH client on the server logs
//! in with a throwaway key and a certificate from Postern's CA valid for a few minutes.
//!
//! Flow control is end to end. Towards the browser, output is sent only while fewer than
//! [`OUTPUT_WINDOW`] bytes are unacknowledged (the page acknowledges what xterm.js has
//! parsed); while the window is full nothing is read from the SSH channel, whose bounded
//! queue then stops the SSH session reading the Stream, and HTTP/2 and TCP flow control carry
//! the pause back to the origin. Towards the origin, keystrokes wait for the SSH window.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, close_code as ws_close};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::FutureExt;
use protocol::api::Decision;
use protocol::ssh::{
    MAX_TERMINAL_CELLS, OUTPUT_WINDOW, TerminalEvent, TerminalInput, TerminalParams, close_code,
};
use russh::ChannelMsg;
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::PublicKey;

use super::ca::{CertRequest, fingerprint, random_ed25519};
use super::principals;
use super::recording::{self, Recorder, Subject};
use crate::access::{self, Denied, Identity};
use crate::http::browser_session::{self, SessionEnd};
use crate::http::now;
use crate::http::{ApiError, AppState};
use crate::store::{App, SessionRecord};
use crate::tunnel::OpenError;

/// The largest WebSocket message accepted from the browser.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// How long the SSH connection may take to be ready.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// `GET /gw/ssh/{app}` with `Upgrade: websocket`.
pub async fn terminal(
    State(state): State<AppState>,
    Path(app): Path<String>,
    headers: HeaderMap,
    params: Result<Query<TerminalParams>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    browser_session::check_origin(&state, &headers, "terminal")?;
    let session = browser_session::from_cookie(&state, &headers).await?;
    let Ok(Query(params)) = params else {
        return Err(ApiError::bad_request(
            "the terminal needs cols and rows (and optionally principal) in its query",
        ));
    };
    if !valid_size(params.cols, params.rows) {
        return Err(ApiError::bad_request(format!(
            "the terminal size must be 1-{MAX_TERMINAL_CELLS} columns and rows"
        )));
    }
    let upgrade = upgrade
        .map_err(|_| ApiError::bad_request("the terminal is a WebSocket: send an upgrade"))?;
    Ok(
        browser_session::limits(upgrade, MAX_MESSAGE_BYTES).on_upgrade(move |socket| async move {
            run(state, session, app, params, socket).await;
        }),
    )
}

fn valid_size(cols: u16, rows: u16) -> bool {
    (1..=MAX_TERMINAL_CELLS).contains(&cols) && (1..=MAX_TERMINAL_CELLS).contains(&rows)
}

/// Why a terminal ended: a [`close_code`] and words for the person.
#[derive(Debug, Clone)]
struct Ended {
    code: &'static str,
    reason: String,
}

fn ended(code: &'static str, reason: impl Into<String>) -> Ended {
    Ended {
        code,
        reason: reason.into(),
    }
}

async fn run(
    state: AppState,
    session: SessionRecord,
    app: String,
    params: TerminalParams,
    mut socket: WebSocket,
) {
    let outcome = match connect(&state, &session, &app, &params).await {
        Ok(shell) => shell.relay(&state, &session, &mut socket, &params).await,
        Err(end) => end,
    };
    tracing::info!(
        app,
        user = session.user.username,
        code = outcome.code,
        reason = outcome.reason,
        "terminal closed"
    );
    let event = TerminalEvent::Closed {
        code: outcome.code.to_owned(),
        reason: outcome.reason.clone(),
    };
    if let Ok(text) = serde_json::to_string(&event) {
        let _ = socket.send(Message::Text(text.into())).await;
    }
    let code = if outcome.code == close_code::EXITED {
        ws_close::NORMAL
    } else {
        ws_close::POLICY
    };
    browser_session::close(&mut socket, code, &outcome.reason).await;
}

/// An open shell, ready to relay.
struct Shell {
    handle: russh::client::Handle<Client>,
    channel: russh::Channel<russh::client::Msg>,
    principal: String,
    host_key_fingerprint: String,
    pinned_now: bool,
    recorder: Option<Recorder>,
    app: App,
    /// Who was authorized, decided again at every check.
    identity: Identity,
}

async fn connect(
    state: &AppState,
    session: &SessionRecord,
    app_name: &str,
    params: &TerminalParams,
) -> Result<Shell, Ended> {
    let user = &session.user;
    let identity = Identity::user(user, session.created_at);
    let actor = identity.actor();
    let store = state.store.as_ref();
    let internal = |error: &dyn std::fmt::Display| {
        tracing::warn!(%error, "terminal failed");
        ended(
            close_code::SSH_ERROR,
            "the server failed to open the terminal",
        )
    };
    let authorized = match access::authorize(store, identity.clone(), app_name, now()).await {
        Ok(authorized) => authorized,
        Err(Denied::UnknownApp(name)) => {
            return Err(ended(
                close_code::UNKNOWN_APP,
                format!("no app is called {name}"),
            ));
        }
        Err(Denied::Policy(reason)) => {
            return Err(ended(
                close_code::ACCESS_DENIED,
                format!("access denied: {reason}"),
            ));
        }
        Err(Denied::Store(error)) => return Err(internal(&error)),
    };
    let app = authorized.app().clone();
    let deny = |code: &'static str, reason: String| async move {
        let _ = access::audit(
            store,
            &actor,
            Some(app_name),
            Decision::Deny,
            &reason,
            now(),
        )
        .await;
        Err(ended(code, reason))
    };
    if app.kind != protocol::api::AppKind::Ssh {
        return deny(
            close_code::UNKNOWN_APP,
            format!("app {app_name} is not an SSH app"),
        )
        .await;
    }
    let settings = app.ssh_settings();
    let claims = store
        .user_claims(&user.id)
        .await
        .map_err(|error| internal(&error))?;
    let allowed = principals::allowed(&settings, &identity, &claims);
    let principal = match principals::choose(&settings, allowed, params.principal.as_deref()) {
        Ok(principal) => principal,
        Err(error @ principals::PrincipalError::Required(_)) => {
            return deny(close_code::PRINCIPAL_REQUIRED, error.to_string()).await;
        }
        Err(error) => return deny(close_code::PRINCIPAL_NOT_ALLOWED, error.to_string()).await,
    };
    let (pipe, stream_id) = match state.registry.open_io(&authorized).await {
        Ok(opened) => opened,
        Err(OpenError::Offline(connector)) => {
            return deny(
                close_code::CONNECTOR_OFFLINE,
                format!("the connector {connector} for app {app_name} is offline"),
            )
            .await;
        }
        Err(OpenError::Refused { message, .. }) => {
            return deny(
                close_code::ORIGIN_UNREACHABLE,
                format!("the connector could not reach the origin: {message}"),
            )
            .await;
        }
    };
    tracing::debug!(
        app = app_name,
        stream = stream_id,
        principal,
        "terminal stream open"
    );
    let pinned = app
        .host_key
        .as_deref()
        .and_then(|line| PublicKey::from_openssh(line).ok());
    let presented = Arc::new(Mutex::new(None));
    let client = Client {
        pinned: pinned.clone(),
        presented: Arc::clone(&presented),
    };
    let config = Arc::new(russh::client::Config {
        // Bounded: a full channel queue stops the session reading the Stream.
        channel_buffer_size: 8,
        window_size: 1024 * 1024,
        keepalive_interval: Some(Duration::from_secs(15)),
        nodelay: true,
        ..russh::client::Config::default()
    });
    let handshake = async {
        let mut handle = russh::client::connect_stream(config, pipe, client).await?;
        let key = Arc::new(random_ed25519("postern-browser").map_err(SshFailure::Other)?);
        let certificate = state
            .ssh_ca
            .sign(&CertRequest {
                public_key: key.public_key(),
                principal: &principal,
                key_id: format!(
                    "{} app:{} session:{}",
                    authorized.identity().actor(),
                    app_name,
                    session.id
                ),
                now: now(),
                lifetime: state.config.ssh.certificate_lifetime,
            })
            .map_err(SshFailure::Other)?;
        let auth = handle
            .authenticate_openssh_cert(principal.clone(), key, certificate)
            .await?;
        Ok::<_, SshFailure>((handle, auth.success()))
    };
    let (handle, authenticated) = match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(failure)) => {
            let presented_key = presented.lock().ok().and_then(|key| key.clone());
            if let (Some(pinned), Some(presented)) = (&pinned, presented_key)
                && &presented != pinned
            {
                return deny(
                    close_code::HOST_KEY_CHANGED,
                    host_key_changed(app_name, pinned, &presented),
                )
                .await;
            }
            return deny(
                close_code::SSH_ERROR,
                format!("the SSH connection to {app_name} failed: {failure}"),
            )
            .await;
        }
        Err(_) => {
            return deny(
                close_code::SSH_ERROR,
                format!("the SSH server of {app_name} did not answer within {CONNECT_TIMEOUT:?}"),
            )
            .await;
        }
    };
    let presented_key = presented
        .lock()
        .ok()
        .and_then(|key| key.clone())
        .ok_or_else(|| internal(&"no host key was presented"))?;
    if !authenticated {
        return deny(
            close_code::AUTH_FAILED,
            format!(
                "the SSH server of {app_name} refused the certificate for {principal}: \
                 check that it trusts Postern's CA (TrustedUserCAKeys, see `postern-server ssh-ca`) \
                 and that the account {principal} exists"
            ),
        )
        .await;
    }
    // Trust on first use: pin the key now that the connection works. If another connection
    // pinned one in the meantime, this one must match it.
    let mut pinned_now = false;
    if pinned.is_none() {
        let line = presented_key
            .to_openssh()
            .map_err(|error| internal(&error))?;
        pinned_now = store
            .pin_host_key(&app.id, &line)
            .await
            .map_err(|error| internal(&error))?;
        if !pinned_now {
            let current = store
                .app_by_name(app_name)
                .await
                .map_err(|error| internal(&error))?
                .and_then(|app| app.host_key)
                .and_then(|line| PublicKey::from_openssh(&line).ok());
            if let Some(current) = current
                && current != presented_key
            {
                return deny(
                    close_code::HOST_KEY_CHANGED,
                    host_key_changed(app_name, &current, &presented_key),
                )
                .await;
            }
        } else {
            tracing::info!(
                app = app_name,
                key = fingerprint(&presented_key),
                "pinned the origin host key on first use"
            );
        }
    }
    let channel = async {
        let channel = handle.channel_open_session().await?;
        channel
            .request_pty(
                false,
                "xterm-256color",
                u32::from(params.cols),
                u32::from(params.rows),
                0,
                0,
                &[],
            )
            .await?;
        channel.request_shell(false).await?;
        Ok::<_, russh::Error>(channel)
    };
    let channel = match tokio::time::timeout(CONNECT_TIMEOUT, channel).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(error)) => {
            return deny(
                close_code::SSH_ERROR,
                format!("the SSH server of {app_name} refused a shell: {error}"),
            )
            .await;
        }
        Err(_) => {
            return deny(
                close_code::SSH_ERROR,
                format!("the SSH server of {app_name} did not open a shell in time"),
            )
            .await;
        }
    };
    let recorder = if state.config.ssh.record {
        let subject = Subject {
            app: app_name,
            actor: &authorized.identity().actor(),
            principal: &principal,
            record_input: settings.record_input,
            cols: params.cols,
            rows: params.rows,
            now: now(),
        };
        let dir = recording::directory(&state.config.data_dir);
        // A session that cannot be recorded does not start: recording is the admin's promise.
        Some(
            Recorder::start(&dir, store, subject)
                .await
                .map_err(|error| internal(&format!("{error:#}")))?,
        )
    } else {
        None
    };
    Ok(Shell {
        handle,
        channel,
        principal,
        host_key_fingerprint: fingerprint(&presented_key),
        pinned_now,
        recorder,
        app,
        identity,
    })
}

fn host_key_changed(app: &str, pinned: &PublicKey, presented: &PublicKey) -> String {
    format!(
        "the host key of {app} changed: Postern pinned {} but the server presented {}. \
         This can be an attack; if the server was reinstalled, an admin can re-pin its key",
        fingerprint(pinned),
        fingerprint(presented)
    )
}

/// What can fail while the SSH connection is being set up.
#[derive(Debug, thiserror::Error)]
enum SshFailure {
    #[error(transparent)]
    Ssh(#[from] russh::Error),
    #[error("{0:#}")]
    Other(anyhow::Error),
}

/// The SSH client's side of the handshake: remembers the host key it was shown and accepts
/// it only if it matches the pinned one (or nothing is pinned yet).
struct Client {
    pinned: Option<PublicKey>,
    presented: Arc<Mutex<Option<PublicKey>>>,
}

impl russh::client::Handler for Client {
    type Error = SshFailure;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(certificate) => {
                PublicKey::from(certificate.public_key().clone())
            }
        };
        let accepted = self.pinned.as_ref().is_none_or(|pinned| *pinned == key);
        if let Ok(mut presented) = self.presented.lock() {
            *presented = Some(key);
        }
        Ok(accepted)
    }
}

impl Shell {
    async fn relay(
        mut self,
        state: &AppState,
        session: &SessionRecord,
        socket: &mut WebSocket,
        params: &TerminalParams,
    ) -> Ended {
        let connected = TerminalEvent::Connected {
            principal: self.principal.clone(),
            host_key_fingerprint: self.host_key_fingerprint.clone(),
            pinned_now: self.pinned_now,
            recorded: self.recorder.is_some(),
        };
        let sent = match serde_json::to_string(&connected) {
            Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
            Err(_) => false,
        };
        let end = if sent {
            self.pump(state, session, socket, params).await
        } else {
            ended(close_code::SSH_ERROR, "the browser went away")
        };
        let _ = self.channel.close().await;
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
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
        tracing::debug!(app = self.app.name, "terminal relay over");
        end
    }

    async fn pump(
        &mut self,
        state: &AppState,
        session: &SessionRecord,
        socket: &mut WebSocket,
        params: &TerminalParams,
    ) -> Ended {
        let mut unacknowledged: u64 = 0;
        let mut size = (params.cols, params.rows);
        let mut exit_status: Option<u32> = None;
        let mut typed_since_check = false;
        // A channel message read while batching output, to handle next.
        let mut held: Option<Option<ChannelMsg>> = None;
        let mut check = tokio::time::interval(browser_session::RECHECK_INTERVAL);
        check.tick().await;
        loop {
            tokio::select! {
                message = socket.recv() => {
                    let Some(Ok(message)) = message else {
                        return ended(close_code::SSH_ERROR, "the browser closed the terminal");
                    };
                    match message {
                        Message::Binary(bytes) => {
                            typed_since_check = true;
                            if let Some(recorder) = self.recorder.as_mut()
                                && let Err(error) = recorder.input(&bytes).await
                            {
                                return recording_failed(&error);
                            }
                            if self.channel.data_bytes(bytes).await.is_err() {
                                return ended(close_code::SSH_ERROR, "the SSH connection closed");
                            }
                        }
                        Message::Text(text) => {
                            match serde_json::from_str::<TerminalInput>(text.as_str()) {
                                Ok(TerminalInput::Resize { cols, rows }) if valid_size(cols, rows) => {
                                    if (cols, rows) == size {
                                        continue;
                                    }
                                    size = (cols, rows);
                                    if let Some(recorder) = self.recorder.as_mut()
                                        && let Err(error) = recorder.resize(cols, rows).await
                                    {
                                        return recording_failed(&error);
                                    }
                                    if self.channel.window_change(u32::from(cols), u32::from(rows), 0, 0).await.is_err() {
                                        return ended(close_code::SSH_ERROR, "the SSH connection closed");
                                    }
                                }
                                Ok(TerminalInput::Ack { bytes }) => {
                                    unacknowledged = unacknowledged.saturating_sub(bytes);
                                }
                                Ok(TerminalInput::Resize { .. }) => {
                                    return ended(close_code::BAD_INPUT, format!("the terminal size must be 1-{MAX_TERMINAL_CELLS} columns and rows"));
                                }
                                Err(_) => {
                                    return ended(close_code::BAD_INPUT, "the browser sent a control message the server does not know");
                                }
                            }
                        }
                        Message::Close(_) => {
                            return ended(close_code::SSH_ERROR, "the browser closed the terminal");
                        }
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
                message = next_output(&mut self.channel, &mut held), if unacknowledged < OUTPUT_WINDOW => {
                    match message {
                        Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                            // What else is already waiting goes in the same WebSocket message:
                            // a flood arrives as many small SSH packets, and each message costs
                            // the page more than its bytes do.
                            let mut data = data;
                            let mut batch: Option<Vec<u8>> = None;
                            while batch.as_ref().map_or(data.len(), Vec::len) < BATCH_BYTES {
                                match self.channel.wait().now_or_never() {
                                    Some(Some(ChannelMsg::Data { data: more }))
                                    | Some(Some(ChannelMsg::ExtendedData { data: more, .. })) => {
                                        batch.get_or_insert_with(|| data.to_vec()).extend_from_slice(&more);
                                    }
                                    Some(other) => {
                                        held = Some(other);
                                        break;
                                    }
                                    None => break,
                                }
                            }
                            if let Some(batch) = batch {
                                data = batch.into();
                            }
                            unacknowledged += data.len() as u64;
                            if let Some(recorder) = self.recorder.as_mut()
                                && let Err(error) = recorder.output(&data).await
                            {
                                return recording_failed(&error);
                            }
                            if socket.send(Message::Binary(data)).await.is_err() {
                                return ended(close_code::SSH_ERROR, "the browser went away");
                            }
                        }
                        Some(ChannelMsg::ExitStatus { exit_status: status }) => exit_status = Some(status),
                        Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                            return ended(close_code::EXITED, format!("the shell was killed by signal {signal_name:?}"));
                        }
                        Some(ChannelMsg::Eof) => {}
                        Some(ChannelMsg::Close) | None => {
                            let reason = match exit_status {
                                Some(status) => format!("the shell exited with status {status}"),
                                None => "the SSH server closed the session".to_owned(),
                            };
                            return ended(close_code::EXITED, reason);
                        }
                        Some(other) => tracing::debug!(?other, "terminal channel message"),
                    }
                }
                _ = check.tick() => {
                    if let Some(end) = session_over(state, session, &self.identity, &self.app.name, typed_since_check).await {
                        return end;
                    }
                    typed_since_check = false;
                }
                () = state.terminals.cancelled() => {
                    return ended(close_code::SHUTDOWN, "the Postern server is restarting; reconnect in a moment");
                }
            }
        }
    }
}

/// The largest WebSocket message of output, when more than one SSH packet is waiting.
const BATCH_BYTES: usize = 64 * 1024;

/// The held channel message if there is one, else the next from the channel.
async fn next_output(
    channel: &mut russh::Channel<russh::client::Msg>,
    held: &mut Option<Option<ChannelMsg>>,
) -> Option<ChannelMsg> {
    match held.take() {
        Some(message) => message,
        None => channel.wait().await,
    }
}

fn recording_failed(error: &anyhow::Error) -> Ended {
    tracing::warn!(
        error = format!("{error:#}"),
        "recording failed; ending the terminal"
    );
    ended(
        close_code::SSH_ERROR,
        "the session could not be recorded, so it was ended",
    )
}

/// Whether the Session behind a terminal ended or the App stopped admitting its person;
/// typing counts as use of the Session.
async fn session_over(
    state: &AppState,
    session: &SessionRecord,
    identity: &Identity,
    app: &str,
    active: bool,
) -> Option<Ended> {
    let end = browser_session::recheck(state, session, identity, app, active).await?;
    let code = match end {
        SessionEnd::Revoked => close_code::REVOKED,
        SessionEnd::SignedOut | SessionEnd::Expired => close_code::SIGNED_OUT,
        SessionEnd::Withdrawn(_) => close_code::ACCESS_DENIED,
    };
    Some(ended(code, end.reason()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sizes() {
        assert!(valid_size(80, 24));
        assert!(valid_size(1, MAX_TERMINAL_CELLS));
        assert!(!valid_size(0, 24));
        assert!(!valid_size(80, MAX_TERMINAL_CELLS + 1));
    }
}
