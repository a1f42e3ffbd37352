//! OIDC sign-in endpoints: `start` sends the browser to the provider, `callback` brings it
//! back. Failures render a small self-contained HTML page, since the browser arrives here by
//! navigation, not from the web app's code.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use protocol::api::error_code;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::auth_api::issue_session;
use super::extract::{ClientAddr, now};
use super::{AppState, ErrorChain};
use crate::auth::oidc::OidcError;
use crate::auth::session::{cookie_value, safe_return_path};
use crate::metrics::SignInOutcome;
use crate::secret;
use crate::store::LoginAttempt;

/// Binds an OIDC sign-in to the browser that started it.
const BINDING_COOKIE: &str = "postern_oidc";
/// How long a started sign-in may take.
const ATTEMPT_SECONDS: i64 = 600;

/// Query of `start`.
#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// Query of `callback`, as the provider sends it.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// A refused sign-in, shown as a page.
#[derive(Debug)]
pub struct SignInFailure {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl SignInFailure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> SignInFailure {
        SignInFailure {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid_state(message: &str) -> SignInFailure {
        SignInFailure::new(StatusCode::BAD_REQUEST, error_code::INVALID_STATE, message)
    }
}

impl From<OidcError> for SignInFailure {
    fn from(error: OidcError) -> SignInFailure {
        tracing::warn!(error = %ErrorChain(&error), "oidc sign-in refused");
        let (status, code) = match &error {
            OidcError::Unreachable(_) => {
                (StatusCode::BAD_GATEWAY, error_code::PROVIDER_UNREACHABLE)
            }
            OidcError::Refused(_) => (StatusCode::BAD_REQUEST, error_code::PROVIDER_ERROR),
            OidcError::InvalidIdToken(..) => {
                (StatusCode::BAD_REQUEST, error_code::INVALID_ID_TOKEN)
            }
            OidcError::Misconfigured(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                error_code::PROVIDER_ERROR,
            ),
        };
        SignInFailure::new(status, code, error.to_string())
    }
}

impl From<super::ApiError> for SignInFailure {
    fn from(error: super::ApiError) -> SignInFailure {
        SignInFailure::new(error.status(), error.code(), error.message().to_owned())
    }
}

impl From<crate::store::StoreError> for SignInFailure {
    fn from(error: crate::store::StoreError) -> SignInFailure {
        super::ApiError::from(error).into()
    }
}

impl IntoResponse for SignInFailure {
    fn into_response(self) -> Response {
        let page = format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in failed · Postern</title>
<style>
:root {{ color-scheme: light dark; --bg: #f6f7f9; --fg: #1b1f24; --card: #fff; --muted: #5b6472; --accent: #2f5bd3; --danger: #b42318; }}
@media (prefers-color-scheme: dark) {{ :root {{ --bg: #0f1216; --fg: #e6e9ee; --card: #171b21; --muted: #9aa3b2; --accent: #7a9bff; --danger: #ff7b6b; }} }}
body {{ margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg); color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }}
main {{ max-width: 30rem; margin: 1rem; padding: 2rem; background: var(--card); border-radius: 12px; box-shadow: 0 1px 3px rgb(0 0 0 / .12); }}
h1 {{ font-size: 1.25rem; margin: 0 0 .75rem; color: var(--danger); }}
code {{ color: var(--muted); font-size: .85rem; }}
a {{ color: var(--accent); font-weight: 600; }}
a:focus-visible {{ outline: 3px solid var(--accent); outline-offset: 2px; }}
</style></head>
<body><main data-error-code="{code}">
<h1>Sign-in failed</h1>
<p id="message">{message}</p>
<p><code>{code}</code></p>
<p><a href="/login">Back to sign-in</a></p>
</main></body></html>
"#,
            code = self.code,
            message = escape_html(&capitalize(&self.message)),
        );
        let mut response = (self.status, Html(page)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        );
        response
    }
}

fn capitalize(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Escapes text for an HTML text node or attribute.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn binding_cookie(value: &str, max_age: i64) -> String {
    format!(
        "{BINDING_COOKIE}={value}; Path=/auth/oidc/; HttpOnly; Secure; SameSite=Lax; Max-Age={max_age}"
    )
}

/// `GET /auth/oidc/{provider}/start`.
pub async fn start(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, SignInFailure> {
    let provider = state.provider(&provider_id).ok_or_else(|| {
        SignInFailure::new(
            StatusCode::NOT_FOUND,
            error_code::UNKNOWN_PROVIDER,
            "no such sign-in provider",
        )
    })?;
    let authorization = provider.begin().await?;
    let binding = secret::random_token();
    state
        .store
        .insert_login_attempt(LoginAttempt {
            state_hash: secret::hash_token(&authorization.state),
            provider: provider_id,
            nonce: authorization.nonce,
            pkce_verifier: authorization.pkce_verifier,
            binding_hash: secret::hash_token(&binding),
            return_to: safe_return_path(query.next.as_deref()),
            expires_at: now() + ATTEMPT_SECONDS,
        })
        .await?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    let location = HeaderValue::from_str(authorization.url.as_str())
        .map_err(|error| super::ApiError::internal(&error))?;
    headers.insert(header::LOCATION, location);
    let cookie = HeaderValue::from_str(&binding_cookie(&binding, ATTEMPT_SECONDS))
        .map_err(|error| super::ApiError::internal(&error))?;
    headers.insert(header::SET_COOKIE, cookie);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /auth/oidc/{provider}/callback`.
pub async fn callback(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
    client: Option<axum::Extension<ClientAddr>>,
) -> Response {
    match finish(
        &state,
        &provider_id,
        query,
        &headers,
        client.map(|axum::Extension(c)| c),
    )
    .await
    {
        Ok(response) => {
            state.metrics.record_oidc_sign_in(SignInOutcome::Success);
            response
        }
        Err(failure) => {
            state.metrics.record_oidc_sign_in(SignInOutcome::Failure);
            tracing::info!(
                provider = provider_id,
                code = failure.code,
                "oidc sign-in failed"
            );
            let mut response = failure.into_response();
            if let Ok(clear) = HeaderValue::from_str(&binding_cookie("", 0)) {
                response.headers_mut().append(header::SET_COOKIE, clear);
            }
            response
        }
    }
}

async fn finish(
    state: &AppState,
    provider_id: &str,
    query: CallbackQuery,
    headers: &HeaderMap,
    client: Option<ClientAddr>,
) -> Result<Response, SignInFailure> {
    let provider = state.provider(provider_id).ok_or_else(|| {
        SignInFailure::new(
            StatusCode::NOT_FOUND,
            error_code::UNKNOWN_PROVIDER,
            "no such sign-in provider",
        )
    })?;
    let unknown = "this sign-in attempt is unknown, was used already or has expired; start again";
    let state_param = query
        .state
        .as_deref()
        .ok_or_else(|| SignInFailure::invalid_state(unknown))?;
    if state_param.is_empty() || state_param.len() > 512 {
        return Err(SignInFailure::invalid_state(unknown));
    }
    // Taking the attempt deletes it: whatever happens next, this state cannot be replayed.
    let attempt = state
        .store
        .take_login_attempt(&secret::hash_token(state_param))
        .await?
        .ok_or_else(|| SignInFailure::invalid_state(unknown))?;
    if attempt.provider != provider_id || attempt.expires_at <= now() {
        return Err(SignInFailure::invalid_state(unknown));
    }
    let binding = headers
        .get(header::COOKIE)
        .and_then(|value| value.to_str().ok())
        .and_then(|cookies| cookie_value(cookies, BINDING_COOKIE))
        .map(secret::hash_token);
    let bound = binding
        .is_some_and(|hash| bool::from(hash.as_bytes().ct_eq(attempt.binding_hash.as_bytes())));
    if !bound {
        return Err(SignInFailure::invalid_state(
            "this sign-in was started in another browser or its cookie was lost; start again",
        ));
    }
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        let detail: String = format!("{error} {description}")
            .trim()
            .chars()
            .take(200)
            .collect();
        return Err(OidcError::Refused(detail).into());
    }
    let code = query
        .code
        .filter(|code| !code.is_empty() && code.len() <= 2048)
        .ok_or_else(|| {
            SignInFailure::new(
                StatusCode::BAD_REQUEST,
                error_code::PROVIDER_ERROR,
                "the identity provider sent no authorization code",
            )
        })?;
    let identity = provider
        .finish(&code, &attempt.nonce, &attempt.pkce_verifier)
        .await?;
    let user = state.store.upsert_oidc_user(identity, now()).await?;
    let (cookie, _) = issue_session(state, user, provider_id, headers, client).await?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let response_headers = response.headers_mut();
    let location = HeaderValue::from_str(&attempt.return_to)
        .map_err(|error| super::ApiError::internal(&error))?;
    response_headers.insert(header::LOCATION, location);
    response_headers.append(header::SET_COOKIE, cookie);
    let clear = HeaderValue::from_str(&binding_cookie("", 0))
        .map_err(|error| super::ApiError::internal(&error))?;
    response_headers.append(header::SET_COOKIE, clear);
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn first_letter_is_capitalised() {
        assert_eq!(capitalize("the token"), "The token");
        assert_eq!(capitalize(""), "");
    }
}
