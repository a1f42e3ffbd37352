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

/// Middleware: refuse state-changing requests from other origins.
pub async fn check(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_state_changing(request.method()) {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok());
        let allowed =
            origin.is_some_and(|origin| state.allowed_origins.iter().any(|a| a == origin));
        if !allowed {
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
