//! The Origin check on every state-changing request.
//!
//! Browsers send `Origin` on every cross-site and every non-GET request; a state-changing
//! request whose Origin is missing or foreign is refused before any handler runs. This,
//! together with `SameSite=Lax` cookies, is the CSRF defence.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use protocol::api::error_code;

use super::{ApiError, AppState};

/// Whether requests with this method can change state.
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether the request carries an explicit credential header. A browser cannot attach one to
/// a cross-site request without a CORS preflight, which this server never grants, so such
/// requests cannot be forged by another site; handlers that accept them authenticate by that
/// header alone, never by cookie.
/// The native TCP gateway and the CLI token exchange are in the same position for every request: it never reads cookies,
/// so a cross-site request there carries no ambient authority and is refused as
/// unauthenticated by the gateway itself, with a message a CLI user understands.
fn has_explicit_credentials(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(header::AUTHORIZATION)
        || headers.contains_key(protocol::gateway::HEADER_SERVICE_TOKEN_ID)
        || request.uri().path().starts_with("/gw/tcp/")
        // The CLI trades a one-time code and its verifier here; no cookie is read.
        || request.uri().path() == "/api/cli/token"
}

/// Whether `origin` (the request's `Origin` header) is one this server accepts.
pub fn is_allowed(state: &AppState, origin: Option<&str>) -> bool {
    origin.is_some_and(|origin| state.allowed_origins.iter().any(|a| a == origin))
}

/// Middleware: refuse state-changing requests from other origins.
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_state_changing(request.method()) && !has_explicit_credentials(&request) {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok());
        if !is_allowed(&state, origin) {
            tracing::info!(
                origin = origin.unwrap_or("(none)"),
                path = request.uri().path(),
                "refused foreign origin"
            );
            return ApiError::new(
                StatusCode::FORBIDDEN,
                error_code::BAD_ORIGIN,
                "this request did not come from the Postern web app and was refused",
            )
            .into_response();
        }
    }
    next.run(request).await
}
