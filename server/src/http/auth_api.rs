//! Sign-in API: the sign-in options, local sign-in, first-admin setup, sign-out and `/api/me`.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::api::{
    LocalSignInRequest, Me, ProviderInfo, SetupRequest, SignInOptions, error_code,
};

use super::extract::{ApiJson, Authenticated, ClientAddr, me, now};
use super::{ApiError, AppState};
use crate::auth::password;
use crate::auth::session::{clear_session_cookie, seconds, session_cookie};
use crate::metrics::SignInOutcome;
use crate::secret;
use crate::store::{NewLocalUser, NewSession, SessionRecord, SetupOutcome, User};

/// `GET /api/auth/providers`.
pub async fn providers(State(state): State<AppState>) -> Result<Json<SignInOptions>, ApiError> {
    let providers = state
        .providers
        .iter()
        .map(|provider| ProviderInfo {
            id: provider.config().id.clone(),
            name: provider.config().name.clone(),
            start_url: protocol::routes::oidc_start(&provider.config().id),
        })
        .collect();
    Ok(Json(SignInOptions {
        providers,
        local_sign_in: state.config.local.enabled,
        setup_required: state.store.count_admins().await? == 0,
    }))
}

/// Creates a Session for `user` and returns its secret and the stored record.
pub async fn create_session(
    state: &AppState,
    user: User,
    source: &str,
    user_agent: Option<String>,
    client: Option<ClientAddr>,
) -> Result<(String, SessionRecord), ApiError> {
    let token = secret::random_token();
    let now = now();
    let absolute = state.config.session.absolute_timeout;
    let user_agent = user_agent.map(|agent| agent.chars().take(256).collect::<String>());
    let address = client.map(|ClientAddr(addr)| addr.ip().to_string());
    let session = NewSession {
        id: secret::random_id(),
        token_hash: secret::hash_token(&token),
        user_id: user.id.clone(),
        source: source.to_owned(),
        created_at: now,
        expires_at: now.saturating_add(seconds(absolute)),
        user_agent: user_agent.clone(),
        address: address.clone(),
    };
    state.store.create_session(session.clone()).await?;
    state.store.record_sign_in(&user.id, now).await?;
    let record = SessionRecord {
        id: session.id,
        source: session.source,
        created_at: now,
        last_seen_at: now,
        expires_at: session.expires_at,
        revoked_at: None,
        user_agent,
        address,
        user: User {
            last_sign_in_at: Some(now),
            ..user
        },
    };
    tracing::info!(
        user = record.user.username,
        source,
        session = record.id,
        "signed in"
    );
    Ok((token, record))
}

/// Creates a browser Session for `user` and returns the `Set-Cookie` value and the record.
pub async fn issue_session(
    state: &AppState,
    user: User,
    source: &str,
    headers: &HeaderMap,
    client: Option<ClientAddr>,
) -> Result<(HeaderValue, SessionRecord), ApiError> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let (token, record) = create_session(state, user, source, user_agent, client).await?;
    let cookie = HeaderValue::from_str(&session_cookie(
        &token,
        state.config.session.absolute_timeout,
    ))
    .map_err(|error| ApiError::internal(&error))?;
    Ok((cookie, record))
}

fn signed_in(cookie: HeaderValue, record: &SessionRecord) -> Response {
    let mut response = Json(me(record)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        error_code::INVALID_CREDENTIALS,
        "wrong username or password",
    )
}

/// `POST /api/auth/local`.
pub async fn local_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Option<axum::Extension<ClientAddr>>,
    ApiJson(request): ApiJson<LocalSignInRequest>,
) -> Result<Response, ApiError> {
    if !state.config.local.enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            error_code::LOCAL_SIGN_IN_DISABLED,
            "sign-in with a local account is disabled on this server",
        ));
    }
    let found = if password::check_username(&request.username).is_ok() {
        state.store.find_local_user(&request.username).await?
    } else {
        None
    };
    // Verify against a decoy when the user does not exist so both answers take as long.
    let hash = found.as_ref().map_or_else(
        || password::decoy_hash().to_owned(),
        |(_, hash)| hash.clone(),
    );
    let password = request.password;
    let matches = tokio::task::spawn_blocking(move || password::verify_password(&password, &hash))
        .await
        .map_err(|error| ApiError::internal(&error))?;
    let Some((user, _)) = found.filter(|_| matches) else {
        state.metrics.record_local_sign_in(SignInOutcome::Failure);
        tracing::info!(username = request.username, "local sign-in refused");
        return Err(invalid_credentials());
    };
    state.metrics.record_local_sign_in(SignInOutcome::Success);
    let client = client.map(|axum::Extension(addr)| addr);
    let (cookie, record) = issue_session(&state, user, "local", &headers, client).await?;
    Ok(signed_in(cookie, &record))
}

/// `POST /api/setup`: create the first admin with the one-time token.
pub async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Option<axum::Extension<ClientAddr>>,
    ApiJson(request): ApiJson<SetupRequest>,
) -> Result<Response, ApiError> {
    let invalid_token = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            error_code::INVALID_SETUP_TOKEN,
            "this setup link is invalid, used or expired; restart the server to print a new one",
        )
    };
    if !secret::is_well_formed_token(&request.token) {
        return Err(invalid_token());
    }
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
    let admin = NewLocalUser {
        username: request.username,
        name: name.to_owned(),
        email,
        role: protocol::api::Role::Admin,
        password_hash,
    };
    let outcome = state
        .store
        .complete_setup(&secret::hash_token(&request.token), admin, now())
        .await?;
    let user = match outcome {
        SetupOutcome::Created(user) => user,
        SetupOutcome::InvalidToken => return Err(invalid_token()),
        SetupOutcome::Closed => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                error_code::SETUP_CLOSED,
                "this server has an admin already; sign in instead",
            ));
        }
    };
    tracing::info!(username = user.username, "first admin created");
    let client = client.map(|axum::Extension(addr)| addr);
    let (cookie, record) = issue_session(&state, user, "local", &headers, client).await?;
    Ok(signed_in(cookie, &record))
}

/// An optional email: trimmed, empty means none, and roughly the shape of an address.
pub fn normalize_email(email: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(email) = email.map(str::trim).filter(|email| !email.is_empty()) else {
        return Ok(None);
    };
    let shaped = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !shaped {
        return Err(ApiError::bad_request("the email address is not valid"));
    }
    Ok(Some(email.to_owned()))
}

/// `POST /api/auth/logout`: revokes the Session, if any, and clears the cookie either way.
pub async fn sign_out(
    State(state): State<AppState>,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    // No valid Session is fine: signing out is idempotent, and the cookie is cleared anyway.
    if let Ok(authenticated) = Authenticated::from_request_parts(&mut parts, &state).await {
        state
            .store
            .revoke_session(&authenticated.session.id, now())
            .await?;
        state.metrics.record_revocation();
        tracing::info!(session = authenticated.session.id, "signed out");
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let clear = HeaderValue::from_str(&clear_session_cookie())
        .map_err(|error| ApiError::internal(&error))?;
    response.headers_mut().insert(header::SET_COOKIE, clear);
    Ok(response)
}

/// `GET /api/apps`: the Apps the caller may reach, by name. Policy decides per App; these
/// decisions are not audited because nothing is opened.
pub async fn my_apps(
    authenticated: Authenticated,
    State(state): State<AppState>,
) -> Result<Json<Vec<protocol::api::UserApp>>, ApiError> {
    let user = &authenticated.session.user;
    // Listed by the allow rules alone: an App whose session duration this sign-in outlived is
    // still the user's to reach after signing in again.
    let now = now();
    let identity = crate::access::Identity::user(user, now);
    let apps = state.store.list_apps().await?;
    let visible = apps
        .into_iter()
        .filter(|app| {
            crate::access::policy::decide(&identity, app, now).decision
                == protocol::api::Decision::Allow
        })
        .map(|app| protocol::api::UserApp {
            name: app.name,
            kind: app.kind,
        })
        .collect();
    Ok(Json(visible))
}

/// `GET /api/me`.
pub async fn current_user(authenticated: Authenticated) -> Json<Me> {
    Json(authenticated.me())
}
