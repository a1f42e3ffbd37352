//! `POST /gw/tcp/{app}`: a native client (the `postern` CLI) opens one Stream to an App.
//!
//! The request must be HTTP/2, so both directions flow at once on one request: the request
//! body carries client-to-origin bytes and the response body origin-to-client bytes, and
//! HTTP/2 flow control carries backpressure end to end. Credentials are explicit headers (a
//! Session token as `Authorization: Bearer`, or a Service token id and secret), never a cookie.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use protocol::api::{Decision, error_code};
use protocol::gateway::{HEADER_SERVICE_TOKEN_ID, HEADER_SERVICE_TOKEN_SECRET};

use super::extract::{bearer, header_str as header, now};
use super::stream_watch::{self, Credential, WatchedBody};
use super::{ApiError, AppState};
use crate::access::{self, Identity, TokenError};
use crate::auth::session::{Validity, validity};
use crate::secret;
use crate::tunnel::OpenError;

/// Who the request says it is, checked, and the credential that proved it; refusals are
/// audited by the caller.
async fn identify(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Identity, Credential), (String, ApiError)> {
    let unauthenticated = |message: &'static str| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            error_code::UNAUTHENTICATED,
            message,
        )
    };
    if let Some(id) = header(headers, HEADER_SERVICE_TOKEN_ID) {
        let secret = header(headers, HEADER_SERVICE_TOKEN_SECRET).unwrap_or_default();
        let actor = format!("service-token:{}", id.chars().take(32).collect::<String>());
        return match access::authenticate_service_token(state.store.as_ref(), id, secret, now())
            .await
        {
            Ok(identity) => Ok((identity, Credential::ServiceToken { id: id.to_owned() })),
            Err(TokenError::Refused(refusal)) => Err((
                actor,
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    error_code::UNAUTHENTICATED,
                    refusal.to_string(),
                ),
            )),
            Err(TokenError::Store(error)) => Err((actor, error.into())),
        };
    }
    let Some(token) = bearer(headers) else {
        return Err((
            "anonymous".to_owned(),
            unauthenticated("not signed in: run `postern login`, or pass a service token"),
        ));
    };
    if !secret::is_well_formed_token(token) {
        return Err((
            "anonymous".to_owned(),
            unauthenticated("the access token is malformed"),
        ));
    }
    let session = match state
        .store
        .session_by_token_hash(&secret::hash_token(token))
        .await
    {
        Ok(Some(session)) => session,
        Ok(None) => {
            return Err((
                "anonymous".to_owned(),
                unauthenticated("the access token is not valid: run `postern login`"),
            ));
        }
        Err(error) => return Err(("anonymous".to_owned(), error.into())),
    };
    let actor = format!("user:{}", session.user.username);
    match validity(&session, now(), state.config.session.idle_timeout) {
        Validity::Live => {}
        Validity::Revoked => {
            return Err((
                actor,
                unauthenticated("the access token was revoked: run `postern login`"),
            ));
        }
        Validity::Expired | Validity::Idle => {
            return Err((
                actor,
                unauthenticated("the access token has expired: run `postern login`"),
            ));
        }
    }
    Ok((
        Identity::user(&session.user, session.created_at),
        Credential::Session { id: session.id },
    ))
}

/// `POST /gw/tcp/{app}`.
pub async fn tcp(
    State(state): State<AppState>,
    Path(app): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    if request.version() != Version::HTTP_2 {
        return Err(ApiError::bad_request("the TCP gateway needs HTTP/2"));
    }
    let (identity, credential) = match identify(&state, request.headers()).await {
        Ok(identified) => identified,
        Err((actor, error)) => {
            access::audit(
                state.store.as_ref(),
                &actor,
                Some(&app),
                Decision::Deny,
                error.message(),
                now(),
            )
            .await?;
            return Err(error);
        }
    };
    let authorized = access::authorize(state.store.as_ref(), identity, &app, now())
        .await
        .map_err(|denied| ApiError::denied(denied, ""))?;
    match state.registry.open(&authorized, request.into_body()).await {
        Ok(stream) => {
            let actor = authorized.identity().actor();
            tracing::debug!(app, stream = stream.id, actor, "stream open");
            let held = stream_watch::hold(&state, credential, &authorized);
            Ok(Response::new(Body::new(WatchedBody::new(stream.body, held))).into_response())
        }
        Err(OpenError::Offline(connector)) => {
            let message = format!("the connector {connector} for app {app} is offline");
            access::audit(
                state.store.as_ref(),
                &authorized.identity().actor(),
                Some(&app),
                Decision::Deny,
                &message,
                now(),
            )
            .await?;
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                error_code::CONNECTOR_OFFLINE,
                message,
            ))
        }
        Err(OpenError::Refused {
            status,
            code,
            message,
        }) => {
            access::audit(
                state.store.as_ref(),
                &authorized.identity().actor(),
                Some(&app),
                Decision::Deny,
                &format!("connector refused: {message}"),
                now(),
            )
            .await?;
            let (status, code) = match code.as_str() {
                error_code::DESTINATION_REFUSED => {
                    (StatusCode::FORBIDDEN, error_code::DESTINATION_REFUSED)
                }
                error_code::ORIGIN_UNREACHABLE => {
                    (StatusCode::BAD_GATEWAY, error_code::ORIGIN_UNREACHABLE)
                }
                _ => (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                    error_code::ORIGIN_UNREACHABLE,
                ),
            };
            Err(ApiError::new(status, code, message))
        }
    }
}
