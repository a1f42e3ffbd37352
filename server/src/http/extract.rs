//! Request extractors: the signed-in Session, the admin gate, JSON bodies with our errors,
//! and the client address.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use protocol::api::{Me, Role, SessionInfo, error_code};
use serde::de::DeserializeOwned;

use super::{ApiError, AppState};
use crate::auth::session::{self, Validity};
use crate::secret;
use crate::store::SessionRecord;

/// The TCP peer of the connection, put on each request by the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// A request made with a live Session.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The Session and its user.
    pub session: SessionRecord,
}

/// A request made with a live Session whose user is an admin.
#[derive(Debug, Clone)]
pub struct AdminSession(pub Authenticated);

/// The Session secret: `Authorization: Bearer` (the CLI) or else exactly one well-formed
/// Session cookie (the browser).
pub fn session_token(parts: &Parts) -> Option<&str> {
    if parts.headers.contains_key(header::AUTHORIZATION) {
        let token = bearer(&parts.headers)?;
        return secret::is_well_formed_token(token).then_some(token);
    }
    let cookies = parts.headers.get(header::COOKIE)?.to_str().ok()?;
    let token = session::cookie_value(cookies, protocol::routes::SESSION_COOKIE)?;
    secret::is_well_formed_token(token).then_some(token)
}

/// The credential of an `Authorization: Bearer` header, if the request has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    header_str(headers, header::AUTHORIZATION.as_str())?.strip_prefix("Bearer ")
}

/// A header's value as text, if present and visible ASCII.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Unix time now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = session_token(parts).ok_or_else(ApiError::unauthenticated)?;
        let record = state
            .store
            .session_by_token_hash(&secret::hash_token(token))
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let now = now();
        let idle_timeout = state.config.session.idle_timeout;
        match session::validity(&record, now, idle_timeout) {
            Validity::Live => {}
            refused => {
                tracing::debug!(session = record.id, ?refused, "session refused");
                return Err(ApiError::unauthenticated());
            }
        }
        if session::needs_touch(&record, now, idle_timeout) {
            state.store.touch_session(&record.id, now).await?;
        }
        Ok(Authenticated { session: record })
    }
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authenticated = Authenticated::from_request_parts(parts, state).await?;
        if authenticated.session.user.role != Role::Admin {
            return Err(ApiError::admin_only());
        }
        Ok(AdminSession(authenticated))
    }
}

impl Authenticated {
    /// The `/api/me` view of this Session.
    pub fn me(&self) -> Me {
        me(&self.session)
    }
}

/// The `/api/me` view of a Session.
pub fn me(session: &SessionRecord) -> Me {
    let user = &session.user;
    Me {
        id: user.id.clone(),
        username: user.username.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        groups: user.groups.clone(),
        role: user.role,
        source: session.source.clone(),
        session: SessionInfo {
            id: session.id.clone(),
            created_at: rfc3339(session.created_at),
            expires_at: rfc3339(session.expires_at),
        },
    }
}

/// RFC 3339 text for a Unix time.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A JSON body whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::BytesRejection(_)) => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_code::PAYLOAD_TOO_LARGE,
                "the request body is too large",
            )),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::bad_request("send the body as application/json"))
            }
            Err(rejection) => Err(ApiError::bad_request(format!(
                "the request body is not valid: {}",
                rejection.body_text()
            ))),
        }
    }
}
