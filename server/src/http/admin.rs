//! The admin API under `/api/admin`.
//!
//! Every admin endpoint is declared once in [`admin_endpoints`]; the router is built from that
//! table and the whole sub-router sits behind the admin gate, so an endpoint cannot be added
//! without it. Tests enumerate the same table.

use axum::extract::{Path, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Json, Router};
use protocol::api::{
    AppRequest, AppSummary, AuditEvent, ConnectorSummary, ConnectorToken, CreateConnectorRequest,
    CreateLocalUserRequest, CreateServiceTokenRequest, Overview, ProviderSummary,
    ServiceTokenCreated, ServiceTokenSummary, SessionSummary, UserSummary, error_code,
};
use serde::Deserialize;

use crate::provision::{self, ProvisionError};

use super::auth_api::normalize_email;
use super::extract::{AdminSession, ApiJson, now, rfc3339};
use super::ssh_api;
use super::{ApiError, AppState};
use crate::auth::password;
use crate::auth::session::{Validity, validity};
use crate::store::{NewLocalUser, User};

/// One admin endpoint: its method, its path pattern (axum syntax) and its handler.
pub struct AdminEndpoint {
    /// HTTP method.
    pub method: Method,
    /// Path pattern, such as `/api/admin/sessions/{id}`.
    pub path: &'static str,
    route: MethodRouter<AppState>,
}

fn endpoint<H, T>(method: Method, path: &'static str, handler: H) -> AdminEndpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = match method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        _ => MethodFilter::DELETE,
    };
    AdminEndpoint {
        method,
        path,
        route: on(filter, handler),
    }
}

/// Every admin endpoint.
pub fn admin_endpoints() -> Vec<AdminEndpoint> {
    vec![
        endpoint(Method::GET, "/api/admin/overview", overview),
        endpoint(Method::GET, "/api/admin/users", list_users),
        endpoint(Method::POST, "/api/admin/users", create_user),
        endpoint(Method::GET, "/api/admin/sessions", list_sessions),
        endpoint(Method::DELETE, "/api/admin/sessions/{id}", revoke_session),
        endpoint(Method::GET, "/api/admin/providers", list_providers),
        endpoint(Method::GET, "/api/admin/connectors", list_connectors),
        endpoint(Method::POST, "/api/admin/connectors", create_connector),
        endpoint(
            Method::POST,
            "/api/admin/connectors/{name}/rotate",
            rotate_connector,
        ),
        endpoint(
            Method::DELETE,
            "/api/admin/connectors/{name}",
            revoke_connector,
        ),
        endpoint(Method::GET, "/api/admin/apps", list_apps),
        endpoint(Method::POST, "/api/admin/apps", create_app),
        endpoint(Method::PUT, "/api/admin/apps/{name}", update_app),
        endpoint(Method::DELETE, "/api/admin/apps/{name}", delete_app),
        endpoint(
            Method::DELETE,
            "/api/admin/apps/{name}/host-key",
            ssh_api::unpin_host_key,
        ),
        endpoint(
            Method::GET,
            "/api/admin/recordings",
            ssh_api::list_recordings,
        ),
        endpoint(
            Method::GET,
            "/api/admin/recordings/{id}",
            ssh_api::get_recording,
        ),
        endpoint(
            Method::GET,
            "/api/admin/recordings/{id}/cast",
            ssh_api::recording_cast,
        ),
        endpoint(
            Method::GET,
            "/api/admin/service-tokens",
            list_service_tokens,
        ),
        endpoint(
            Method::POST,
            "/api/admin/service-tokens",
            create_service_token,
        ),
        endpoint(
            Method::DELETE,
            "/api/admin/service-tokens/{id}",
            revoke_service_token,
        ),
        endpoint(Method::GET, "/api/admin/audit", list_audit),
    ]
}

/// The admin sub-router, gated.
pub fn router(state: AppState) -> Router<AppState> {
    let mut router = Router::new();
    for endpoint in admin_endpoints() {
        router = router.route(endpoint.path, endpoint.route);
    }
    router.route_layer(axum::middleware::from_fn_with_state(state, gate))
}

/// Refuses anyone but an admin before the handler runs; handlers also take [`AdminSession`],
/// so the rule holds twice.
async fn gate(
    _admin: AdminSession,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    next.run(request).await
}

fn user_summary(user: User) -> UserSummary {
    UserSummary {
        id: user.id,
        username: user.username,
        name: user.name,
        email: user.email,
        role: user.role,
        source: user.source,
        groups: user.groups,
        created_at: rfc3339(user.created_at),
        last_sign_in_at: user.last_sign_in_at.map(rfc3339),
    }
}

async fn overview(
    _admin: AdminSession,
    State(state): State<AppState>,
) -> Result<Json<Overview>, ApiError> {
    Ok(Json(Overview {
        version: protocol::version::PRODUCT_VERSION.to_owned(),
        users: state.store.count_users().await?,
        active_sessions: state.live_session_count().await?,
        providers: u64::try_from(state.providers.len()).unwrap_or(u64::MAX),
        public_url: state.public_origin.clone(),
    }))
}

async fn list_users(
    _admin: AdminSession,
    State(state): State<AppState>,
) -> Result<Json<Vec<UserSummary>>, ApiError> {
    let users = state.store.list_users().await?;
    Ok(Json(users.into_iter().map(user_summary).collect()))
}

async fn create_user(
    AdminSession(admin): AdminSession,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateLocalUserRequest>,
) -> Result<Response, ApiError> {
    password::check_username(&request.username).map_err(ApiError::bad_request)?;
    password::check_new_password(&request.password).map_err(ApiError::bad_request)?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ApiError::bad_request("the name must be 1-128 characters"));
    }
    let email = normalize_email(request.email.as_deref())?;
    let password = request.password;
    let password_hash = tokio::task::spawn_blocking(move || password::hash_password(&password))
        .await
        .map_err(|error| ApiError::internal(&error))?
        .map_err(|error| ApiError::internal(&error))?;
    let user = state
        .store
        .create_local_user(
            NewLocalUser {
                username: request.username,
                name: name.to_owned(),
                email,
                role: request.role,
                password_hash,
            },
            now(),
        )
        .await?;
    tracing::info!(
        by = admin.session.user.username,
        username = user.username,
        role = user.role.as_str(),
        "local account created"
    );
    Ok((StatusCode::CREATED, Json(user_summary(user))).into_response())
}

async fn list_sessions(
    AdminSession(admin): AdminSession,
    State(state): State<AppState>,
) -> Result<Json<Vec<SessionSummary>>, ApiError> {
    let now = now();
    let idle = state.config.session.idle_timeout;
    let sessions = state.store.list_live_sessions(now).await?;
    let summaries = sessions
        .into_iter()
        .filter(|session| validity(session, now, idle) == Validity::Live)
        .map(|session| SessionSummary {
            current: session.id == admin.session.id,
            id: session.id,
            user_id: session.user.id,
            username: session.user.username,
            name: session.user.name,
            source: session.source,
            created_at: rfc3339(session.created_at),
            last_seen_at: rfc3339(session.last_seen_at),
            expires_at: rfc3339(session.expires_at),
            user_agent: session.user_agent,
            address: session.address,
        })
        .collect();
    Ok(Json(summaries))
}

async fn revoke_session(
    AdminSession(admin): AdminSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found("session"));
    }
    if !state.store.revoke_session(&id, now()).await? {
        return Err(ApiError::not_found("session"));
    }
    state.metrics.record_revocation();
    tracing::info!(
        by = admin.session.user.username,
        session = id,
        "session revoked"
    );
    Ok(StatusCode::NO_CONTENT)
}

async fn list_providers(
    _admin: AdminSession,
    State(state): State<AppState>,
) -> Json<Vec<ProviderSummary>> {
    let providers = state
        .providers
        .iter()
        .map(|provider| {
            let config = provider.config();
            ProviderSummary {
                id: config.id.clone(),
                name: config.name.clone(),
                issuer: config.issuer.to_string(),
                client_id: config.client_id.clone(),
                groups_claim: config.groups_claim.clone(),
                admin_groups: config.admin_groups.clone(),
                redirect_uri: provider.redirect_uri().to_owned(),
            }
        })
        .collect();
    Json(providers)
}

impl From<ProvisionError> for ApiError {
    fn from(error: ProvisionError) -> ApiError {
        match error {
            ProvisionError::Invalid(message) => ApiError::bad_request(message),
            ProvisionError::NotFound(..) => ApiError::new(
                StatusCode::NOT_FOUND,
                error_code::NOT_FOUND,
                error.to_string(),
            ),
            ProvisionError::Store(error) => error.into(),
        }
    }
}

fn actor(admin: &AdminSession) -> String {
    format!("user:{}", admin.0.session.user.username)
}

async fn list_connectors(
    _admin: AdminSession,
    State(state): State<AppState>,
) -> Result<Json<Vec<ConnectorSummary>>, ApiError> {
    let connectors = state.store.list_connectors().await?;
    Ok(Json(
        connectors
            .iter()
            .map(|connector| ConnectorSummary {
                replicas: state.registry.replicas(&connector.id),
                ..provision::connector_summary(connector)
            })
            .collect(),
    ))
}

async fn create_connector(
    admin: AdminSession,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateConnectorRequest>,
) -> Result<Response, ApiError> {
    let created =
        provision::create_connector(state.store.as_ref(), &actor(&admin), &request.name, now())
            .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn rotate_connector(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ConnectorToken>, ApiError> {
    let rotated =
        provision::rotate_connector(state.store.as_ref(), &actor(&admin), &name, now()).await?;
    // Links authenticated with the old token must not outlive it.
    state.registry.disconnect(&rotated.connector.id);
    Ok(Json(rotated))
}

async fn revoke_connector(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let connector =
        provision::revoke_connector(state.store.as_ref(), &actor(&admin), &name, now()).await?;
    state.registry.disconnect(&connector.id);
    Ok(StatusCode::NO_CONTENT)
}

async fn list_apps(
    _admin: AdminSession,
    State(state): State<AppState>,
) -> Result<Json<Vec<AppSummary>>, ApiError> {
    let apps = state.store.list_apps().await?;
    Ok(Json(apps.iter().map(provision::app_summary).collect()))
}

async fn create_app(
    admin: AdminSession,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<AppRequest>,
) -> Result<Response, ApiError> {
    let app = provision::create_app(state.store.as_ref(), &actor(&admin), request, now()).await?;
    Ok((StatusCode::CREATED, Json(app)).into_response())
}

async fn update_app(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<AppRequest>,
) -> Result<Json<AppSummary>, ApiError> {
    let app =
        provision::update_app(state.store.as_ref(), &actor(&admin), &name, request, now()).await?;
    Ok(Json(app))
}

async fn delete_app(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    provision::delete_app(state.store.as_ref(), &actor(&admin), &name, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_service_tokens(
    _admin: AdminSession,
    State(state): State<AppState>,
) -> Result<Json<Vec<ServiceTokenSummary>>, ApiError> {
    let tokens = state.store.list_service_tokens().await?;
    Ok(Json(
        tokens
            .iter()
            .map(provision::service_token_summary)
            .collect(),
    ))
}

async fn create_service_token(
    admin: AdminSession,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateServiceTokenRequest>,
) -> Result<Response, ApiError> {
    let created: ServiceTokenCreated =
        provision::create_service_token(state.store.as_ref(), &actor(&admin), request, now())
            .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn revoke_service_token(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    provision::revoke_service_token(state.store.as_ref(), &actor(&admin), &id, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /api/admin/audit`.
#[derive(Debug, Deserialize)]
struct AuditQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

async fn list_audit(
    _admin: AdminSession,
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<AuditQuery>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let records = state.store.list_audit(limit, query.before).await?;
    Ok(Json(
        records.into_iter().map(provision::audit_event).collect(),
    ))
}
