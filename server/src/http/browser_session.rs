//! The browser Session behind a gateway WebSocket (terminal or desktop): the Origin and cookie
//! checks before the upgrade, the periodic re-check that ends a connection when its Session
//! does or when the App no longer admits its person, and the close frame that tells the page
//! why.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use protocol::api::error_code;

use super::{ApiError, AppState, now};
use crate::access::{self, Identity, Recheck};
use crate::auth::session::{self as rules, Validity};
use crate::secret;
use crate::store::SessionRecord;

/// How often a live connection re-reads the Session or token behind it, so that revoking it
/// ends the connection within this long.
pub const RECHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Bytes read from the socket at a time. The browser sends keystrokes, pointer moves and
/// acknowledgements, all small; the WebSocket library clears its whole read buffer on every
/// read, so its 128 KiB default cost more than the messages.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// The upgrade with a gateway's limits: messages and frames of at most `max_message` bytes.
pub fn limits(upgrade: WebSocketUpgrade, max_message: usize) -> WebSocketUpgrade {
    upgrade
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .read_buffer_size(READ_BUFFER_BYTES.min(max_message))
}

/// Refuses an upgrade that was not opened by the web app. A WebSocket is not bound by the
/// same-origin policy: without this any site could open one with the user's cookie.
pub fn check_origin(state: &AppState, headers: &HeaderMap, what: &str) -> Result<(), ApiError> {
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok());
    if super::origin::is_allowed(state, origin) {
        return Ok(());
    }
    tracing::info!(
        origin = origin.unwrap_or("(none)"),
        what,
        "refused a WebSocket from a foreign origin"
    );
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        error_code::BAD_ORIGIN,
        format!("this {what} was not opened by the Postern web app and was refused"),
    ))
}

/// The live Session of the browser's cookie; gateways never take a bearer token.
pub async fn from_cookie(state: &AppState, headers: &HeaderMap) -> Result<SessionRecord, ApiError> {
    let cookies = headers
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(ApiError::unauthenticated)?;
    let token = rules::cookie_value(cookies, protocol::routes::SESSION_COOKIE)
        .filter(|token| secret::is_well_formed_token(token))
        .ok_or_else(ApiError::unauthenticated)?;
    let record = state
        .store
        .session_by_token_hash(&secret::hash_token(token))
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    match rules::validity(&record, now(), state.config.session.idle_timeout) {
        Validity::Live => Ok(record),
        _ => Err(ApiError::unauthenticated()),
    }
}

/// Why a connection's Session or its access ended under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// It is gone: the user signed out.
    SignedOut,
    /// The user or an admin revoked it.
    Revoked,
    /// Its absolute or idle lifetime ran out.
    Expired,
    /// The App no longer admits the person (the policy's reason): an admin removed the App or
    /// changed its allow list, or the App's session duration ran out.
    Withdrawn(String),
}

impl SessionEnd {
    /// Words for the person.
    pub fn reason(&self) -> String {
        match self {
            SessionEnd::SignedOut => "you were signed out".to_owned(),
            SessionEnd::Revoked => {
                "your session ended: you signed out or an admin revoked it".to_owned()
            }
            SessionEnd::Expired => "your session expired: sign in again".to_owned(),
            SessionEnd::Withdrawn(reason) => format!("your access was withdrawn: {reason}"),
        }
    }
}

/// Checks that `session` is still live and that `identity` may still reach the App called
/// `app`; `active` (the person typed or moved the mouse since the last check) counts as use
/// of the Session.
pub async fn recheck(
    state: &AppState,
    session: &SessionRecord,
    identity: &Identity,
    app: &str,
    active: bool,
) -> Option<SessionEnd> {
    let current = match state.store.session_by_id(&session.id).await {
        Ok(current) => current,
        // A store hiccup does not cut a working connection; the next check decides.
        Err(_) => return None,
    };
    let Some(current) = current else {
        return Some(SessionEnd::SignedOut);
    };
    let now = now();
    match rules::validity(&current, now, state.config.session.idle_timeout) {
        Validity::Live => {}
        Validity::Revoked => return Some(SessionEnd::Revoked),
        Validity::Expired | Validity::Idle => return Some(SessionEnd::Expired),
    }
    // As above, a store hiccup (`Err`) does not cut a working connection.
    if let Ok(Recheck::Withdrawn(reason)) =
        access::still_allowed(state.store.as_ref(), identity, app, now).await
    {
        return Some(SessionEnd::Withdrawn(reason));
    }
    if active && rules::needs_touch(&current, now, state.config.session.idle_timeout) {
        let _ = state.store.touch_session(&current.id, now).await;
    }
    None
}

/// The most a close frame's reason may hold (RFC 6455: 125 bytes of payload, 2 of them code).
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// Closes `socket` with `code` and as much of `reason` as fits.
pub async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: fitting(reason).into(),
        })))
        .await;
}

/// The longest start of `reason` that fits a close frame, cut at a character boundary.
fn fitting(reason: &str) -> &str {
    let mut end = reason.len().min(MAX_CLOSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_the_frame() {
        assert_eq!(fitting("signed out"), "signed out");
        let long = "é".repeat(100);
        let cut = fitting(&long);
        assert!(cut.len() <= MAX_CLOSE_REASON_BYTES && long.starts_with(cut));
        assert_eq!(cut.chars().count(), MAX_CLOSE_REASON_BYTES / 2);
    }
}
