//! Operations endpoints: liveness, readiness, metrics, and the JSON 404 for unknown API paths.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::extract::{AdminSession, bearer};
use super::{ApiError, AppState};
use crate::secret;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: the store answers, so requests can be served.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready\n".into_response(),
        Err(error) => {
            tracing::warn!(error = %super::ErrorChain(&error), "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format, for a scraper presenting the configured token
/// (`Authorization: Bearer`) or a signed-in admin; anyone else gets 401 (or 403 when signed
/// in without the admin role), since the counters describe the deployment.
pub async fn metrics(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, _) = request.into_parts();
    let scraper = state.metrics_token.as_deref().is_some_and(|expected| {
        bearer(&parts.headers).is_some_and(|token| secret::hash_token(token) == expected)
    });
    if !scraper {
        AdminSession::from_request_parts(&mut parts, &state).await?;
    }
    let live = state.live_session_count().await?;
    let users = state.store.count_users().await?;
    let body = state
        .metrics
        .render(live, users, state.started.elapsed().as_secs());
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response())
}

/// Any unknown path under `/api`.
pub async fn api_not_found() -> ApiError {
    ApiError::not_found("API endpoint")
}
