//! Signing in the `postern` CLI: the signed-in user approves it in the browser
//! (`/cli/authorize`, then `POST /api/cli/approve`), which mints a two-minute one-time code
//! bound to the CLI's PKCE challenge; the CLI trades code and verifier for a Session of its own
//! (`POST /api/cli/token`). The code only ever travels to a loopback callback or to the
//! person's own eyes, and is useless without the verifier that never left the CLI.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use protocol::api::{CliApproval, CliApproveRequest, CliToken, CliTokenRequest, error_code};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::auth_api::create_session;
use super::extract::{ApiJson, Authenticated, ClientAddr, now, rfc3339};
use super::{ApiError, AppState};
use crate::secret;
use crate::store::CliGrant;

/// How long an approval code may wait for the CLI.
const CODE_SECONDS: i64 = 120;

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A loopback `http` URL with a port and a path, nothing else: the only place a code may go.
pub fn loopback_callback(callback: &str) -> Result<url::Url, &'static str> {
    let url = url::Url::parse(callback).map_err(|_| "the callback is not a URL")?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    if url.scheme() != "http" || !loopback || url.port().is_none() {
        return Err("the callback must be http://127.0.0.1:PORT/… on the CLI's own machine");
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.fragment().is_some()
        || url.query().is_some()
    {
        return Err("the callback must not carry credentials, a query or a fragment");
    }
    Ok(url)
}

/// `POST /api/cli/approve`.
pub async fn approve(
    authenticated: Authenticated,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CliApproveRequest>,
) -> Result<Json<CliApproval>, ApiError> {
    if request.challenge.len() != 43 || !is_base64url(&request.challenge) {
        return Err(ApiError::bad_request(
            "the sign-in link is incomplete: run `postern login` again",
        ));
    }
    if request.state.is_empty() || request.state.len() > 128 || !is_base64url(&request.state) {
        return Err(ApiError::bad_request(
            "the sign-in link is incomplete: run `postern login` again",
        ));
    }
    let callback = request
        .callback
        .as_deref()
        .map(loopback_callback)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let hostname: String = request
        .hostname
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(64)
        .collect();
    let code = secret::random_token();
    state
        .store
        .insert_cli_grant(CliGrant {
            code_hash: secret::hash_token(&code),
            user_id: authenticated.session.user.id.clone(),
            challenge: request.challenge,
            hostname: if hostname.is_empty() {
                "unknown host".to_owned()
            } else {
                hostname
            },
            expires_at: now() + CODE_SECONDS,
        })
        .await?;
    let redirect = callback.map(|mut url| {
        url.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &request.state);
        url.to_string()
    });
    tracing::info!(
        user = authenticated.session.user.username,
        "cli sign-in approved"
    );
    Ok(Json(CliApproval { redirect, code }))
}

/// `POST /api/cli/token`.
pub async fn token(
    State(state): State<AppState>,
    client: Option<axum::Extension<ClientAddr>>,
    ApiJson(request): ApiJson<CliTokenRequest>,
) -> Result<Json<CliToken>, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            error_code::INVALID_CLI_CODE,
            "this sign-in code is unknown, used or expired: run `postern login` again",
        )
    };
    if !secret::is_well_formed_token(request.code.trim()) || request.verifier.len() > 128 {
        return Err(invalid());
    }
    // Taking the grant deletes it: a wrong verifier burns the code too.
    let grant = state
        .store
        .take_cli_grant(&secret::hash_token(request.code.trim()))
        .await?
        .ok_or_else(invalid)?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(request.verifier.as_bytes()));
    let matches = bool::from(challenge.as_bytes().ct_eq(grant.challenge.as_bytes()));
    if grant.expires_at <= now() || !matches {
        return Err(invalid());
    }
    let user = state
        .store
        .user_by_id(&grant.user_id)
        .await?
        .ok_or_else(invalid)?;
    let user_agent = Some(format!("postern CLI on {}", grant.hostname));
    let client = client.map(|axum::Extension(addr)| addr);
    let (token, record) = create_session(&state, user, "cli", user_agent, client).await?;
    Ok(Json(CliToken {
        token,
        expires_at: rfc3339(record.expires_at),
        username: record.user.username,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_callbacks() {
        for (callback, ok) in [
            ("http://127.0.0.1:5555/callback", true),
            ("http://localhost:5555/cb", true),
            ("http://[::1]:5555/", true),
            ("https://127.0.0.1:5555/callback", false),
            ("http://127.0.0.1/callback", false),
            ("http://evil.example:5555/callback", false),
            ("http://127.0.0.1.evil.example:5555/", false),
            ("http://user@127.0.0.1:5555/", false),
            ("http://127.0.0.1:5555/?x=1", false),
            ("not a url", false),
        ] {
            assert_eq!(loopback_callback(callback).is_ok(), ok, "{callback}");
        }
    }
}
