//! Typed calls to the server's JSON API, one function per endpoint.
//!
//! Every call is same-origin, so the browser attaches the Session cookie and the `Origin`
//! header by itself. A failed call yields an [`ApiError`] that carries the server's
//! [`ErrorBody`] when there is one, so pages can show its message and branch on its code.

use gloo_net::http::{Request, Response};
use protocol::api::{
    AppRequest, AppSummary, AuditEvent, CliApproval, CliApproveRequest, ConnectorSummary,
    ConnectorToken, CreateConnectorRequest, CreateLocalUserRequest, CreateServiceTokenRequest,
    ErrorBody, LocalSignInRequest, Me, Overview, ProviderSummary, ServiceTokenCreated,
    ServiceTokenSummary, SessionSummary, SetupRequest, SignInOptions, UserApp, UserSummary,
    error_code,
};
use protocol::rdp::{RdpTicket, ticket_path};
use protocol::ssh::{RecordingSummary, SshLogin, login_path, recording_cast_path};
use serde::de::DeserializeOwned;

// The API paths live here rather than in `protocol::routes`, which lists only the paths the
// server answers with the web app itself.
const SIGN_IN_OPTIONS: &str = "/api/auth/providers";
const LOCAL_SIGN_IN: &str = "/api/auth/local";
const SIGN_OUT: &str = "/api/auth/logout";
const SETUP: &str = "/api/setup";
const ME: &str = "/api/me";
const APPS: &str = "/api/apps";
const ADMIN_OVERVIEW: &str = "/api/admin/overview";
const ADMIN_USERS: &str = "/api/admin/users";
const ADMIN_SESSIONS: &str = "/api/admin/sessions";
const ADMIN_PROVIDERS: &str = "/api/admin/providers";
const ADMIN_CONNECTORS: &str = "/api/admin/connectors";
const ADMIN_APPS: &str = "/api/admin/apps";
const ADMIN_SERVICE_TOKENS: &str = "/api/admin/service-tokens";
const ADMIN_AUDIT: &str = "/api/admin/audit";
const ADMIN_RECORDINGS: &str = "/api/admin/recordings";
const CLI_APPROVE: &str = "/api/cli/approve";

/// How many Audit events one page of the audit log asks for.
pub const AUDIT_PAGE_SIZE: usize = 100;

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request never got an answer (network down, server stopped, request blocked).
    #[error("request failed: {0}")]
    Network(String),
    /// The server answered with an error status and the API's error body.
    #[error("server answered {status} ({code})")]
    Server {
        /// HTTP status.
        status: u16,
        /// One of `protocol::api::error_code`.
        code: String,
        /// The server's explanation, written for a person.
        message: String,
    },
    /// The answer was not what the API promises: an error status without an [`ErrorBody`]
    /// (a proxy's HTML page, say) or a success body that does not decode.
    #[error("unexpected answer with status {status}")]
    Unexpected {
        /// HTTP status.
        status: u16,
    },
}

impl ApiError {
    /// A sentence to show the person, never a Rust error chain.
    pub fn message(&self) -> String {
        match self {
            ApiError::Network(_) => {
                "Could not reach the Postern server. Check your connection and try again."
                    .to_owned()
            }
            ApiError::Server { message, .. } => message.clone(),
            ApiError::Unexpected { status } => format!(
                "The server gave an unexpected answer (HTTP {status}). Try again; if this \
                 persists, the server's log has the details."
            ),
        }
    }

    /// The API error code, if the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Server { code, .. } => Some(code),
            ApiError::Network(_) | ApiError::Unexpected { .. } => None,
        }
    }

    /// Whether the request carried no valid Session, so the person must sign in.
    pub fn is_unauthenticated(&self) -> bool {
        self.code() == Some(error_code::UNAUTHENTICATED)
    }

    /// Whether the Session is valid but lacks the role for this request.
    pub fn is_forbidden(&self) -> bool {
        self.code() == Some(error_code::FORBIDDEN)
    }
}

/// `GET /api/auth/providers`: what the sign-in page offers.
pub async fn sign_in_options() -> Result<SignInOptions, ApiError> {
    get(SIGN_IN_OPTIONS).await
}

/// `POST /api/auth/local`: signs in with a local account; the server sets the cookie.
pub async fn sign_in_local(request: &LocalSignInRequest) -> Result<Me, ApiError> {
    post(LOCAL_SIGN_IN, request).await
}

/// `POST /api/auth/logout`: ends the current Session.
pub async fn sign_out() -> Result<(), ApiError> {
    expect_empty(Request::post(SIGN_OUT).send().await).await
}

/// `POST /api/setup`: creates the first admin and signs them in.
pub async fn setup(request: &SetupRequest) -> Result<Me, ApiError> {
    post(SETUP, request).await
}

/// `GET /api/me`: the signed-in user and their Session.
pub async fn me() -> Result<Me, ApiError> {
    get(ME).await
}

/// `GET /api/apps`: the Apps the signed-in user may reach.
pub async fn user_apps() -> Result<Vec<UserApp>, ApiError> {
    get(APPS).await
}

/// `GET /api/apps/{app}/ssh`: the principals the signed-in user may log in to `app` as.
pub async fn ssh_login(app: &str) -> Result<SshLogin, ApiError> {
    get(&login_path(&encode_path_segment(app))).await
}

/// `POST /api/apps/{app}/rdp/ticket`: a single-use ticket for the RDP gateway, if the policy
/// lets the signed-in user open `app` now.
pub async fn rdp_ticket(app: &str) -> Result<RdpTicket, ApiError> {
    expect_json(
        Request::post(&ticket_path(&encode_path_segment(app)))
            .send()
            .await,
    )
    .await
}

/// `GET /api/admin/overview`.
pub async fn overview() -> Result<Overview, ApiError> {
    get(ADMIN_OVERVIEW).await
}

/// `GET /api/admin/users`.
pub async fn users() -> Result<Vec<UserSummary>, ApiError> {
    get(ADMIN_USERS).await
}

/// `POST /api/admin/users`: creates a local account.
pub async fn create_user(request: &CreateLocalUserRequest) -> Result<UserSummary, ApiError> {
    post(ADMIN_USERS, request).await
}

/// `GET /api/admin/sessions`.
pub async fn sessions() -> Result<Vec<SessionSummary>, ApiError> {
    get(ADMIN_SESSIONS).await
}

/// `DELETE /api/admin/sessions/{id}`: revokes one Session.
pub async fn revoke_session(id: &str) -> Result<(), ApiError> {
    let url = format!("{ADMIN_SESSIONS}/{}", encode_path_segment(id));
    expect_empty(Request::delete(&url).send().await).await
}

/// `GET /api/admin/providers`.
pub async fn providers() -> Result<Vec<ProviderSummary>, ApiError> {
    get(ADMIN_PROVIDERS).await
}

/// `GET /api/admin/connectors`, with the replicas attached right now.
pub async fn connectors() -> Result<Vec<ConnectorSummary>, ApiError> {
    get(ADMIN_CONNECTORS).await
}

/// `POST /api/admin/connectors`: creates a Connector; its token comes back this once.
pub async fn create_connector(
    request: &CreateConnectorRequest,
) -> Result<ConnectorToken, ApiError> {
    post(ADMIN_CONNECTORS, request).await
}

/// `POST /api/admin/connectors/{name}/rotate`: replaces the token and disconnects replicas.
pub async fn rotate_connector(name: &str) -> Result<ConnectorToken, ApiError> {
    let url = format!("{ADMIN_CONNECTORS}/{}/rotate", encode_path_segment(name));
    expect_json(Request::post(&url).send().await).await
}

/// `DELETE /api/admin/connectors/{name}`: revokes a Connector for good.
pub async fn revoke_connector(name: &str) -> Result<(), ApiError> {
    let url = format!("{ADMIN_CONNECTORS}/{}", encode_path_segment(name));
    expect_empty(Request::delete(&url).send().await).await
}

/// `GET /api/admin/apps`.
pub async fn apps() -> Result<Vec<AppSummary>, ApiError> {
    get(ADMIN_APPS).await
}

/// `POST /api/admin/apps`.
pub async fn create_app(request: &AppRequest) -> Result<AppSummary, ApiError> {
    post(ADMIN_APPS, request).await
}

/// `PUT /api/admin/apps/{name}`: replaces the App called `name` (which may rename it).
pub async fn update_app(name: &str, request: &AppRequest) -> Result<AppSummary, ApiError> {
    let url = format!("{ADMIN_APPS}/{}", encode_path_segment(name));
    let request = Request::put(&url).json(request).map_err(network_error)?;
    expect_json(request.send().await).await
}

/// `DELETE /api/admin/apps/{name}`.
pub async fn delete_app(name: &str) -> Result<(), ApiError> {
    let url = format!("{ADMIN_APPS}/{}", encode_path_segment(name));
    expect_empty(Request::delete(&url).send().await).await
}

/// `DELETE /api/admin/apps/{name}/host-key`: forgets the pinned host key, so the next
/// connection pins whatever key the origin presents.
pub async fn forget_host_key(name: &str) -> Result<AppSummary, ApiError> {
    let url = format!("{ADMIN_APPS}/{}/host-key", encode_path_segment(name));
    expect_json(Request::delete(&url).send().await).await
}

/// `GET /api/admin/service-tokens`.
pub async fn service_tokens() -> Result<Vec<ServiceTokenSummary>, ApiError> {
    get(ADMIN_SERVICE_TOKENS).await
}

/// `POST /api/admin/service-tokens`: its secret comes back this once.
pub async fn create_service_token(
    request: &CreateServiceTokenRequest,
) -> Result<ServiceTokenCreated, ApiError> {
    post(ADMIN_SERVICE_TOKENS, request).await
}

/// `DELETE /api/admin/service-tokens/{id}`: revokes a Service token.
pub async fn revoke_service_token(id: &str) -> Result<(), ApiError> {
    let url = format!("{ADMIN_SERVICE_TOKENS}/{}", encode_path_segment(id));
    expect_empty(Request::delete(&url).send().await).await
}

/// `GET /api/admin/audit`: up to [`AUDIT_PAGE_SIZE`] events, newest first, older than the
/// event `before` when given.
pub async fn audit(before: Option<i64>) -> Result<Vec<AuditEvent>, ApiError> {
    get(&audit_url(before)).await
}

fn audit_url(before: Option<i64>) -> String {
    match before {
        Some(id) => format!("{ADMIN_AUDIT}?limit={AUDIT_PAGE_SIZE}&before={id}"),
        None => format!("{ADMIN_AUDIT}?limit={AUDIT_PAGE_SIZE}"),
    }
}

/// `GET /api/admin/recordings`: recorded terminal sessions, newest first.
pub async fn recordings() -> Result<Vec<RecordingSummary>, ApiError> {
    get(ADMIN_RECORDINGS).await
}

/// `GET /api/admin/recordings/{id}`.
pub async fn recording(id: &str) -> Result<RecordingSummary, ApiError> {
    get(&format!("{ADMIN_RECORDINGS}/{}", encode_path_segment(id))).await
}

/// Where the asciicast file of recording `id` downloads from; the player fetches it too.
pub fn recording_cast_url(id: &str) -> String {
    recording_cast_path(&encode_path_segment(id))
}

/// `POST /api/cli/approve`: lets a waiting CLI act as the signed-in user.
pub async fn approve_cli(request: &CliApproveRequest) -> Result<CliApproval, ApiError> {
    post(CLI_APPROVE, request).await
}

async fn get<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    expect_json(Request::get(url).send().await).await
}

async fn post<B: serde::Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, ApiError> {
    // `json` sets `content-type: application/json`; it fails only if the body cannot be
    // serialised, which our plain request structs never do.
    let request = Request::post(url).json(body).map_err(network_error)?;
    expect_json(request.send().await).await
}

async fn expect_json<T: DeserializeOwned>(
    sent: Result<Response, gloo_net::Error>,
) -> Result<T, ApiError> {
    let response = sent.map_err(network_error)?;
    if !response.ok() {
        return Err(error_from(response).await);
    }
    let status = response.status();
    response
        .json::<T>()
        .await
        .map_err(|_| ApiError::Unexpected { status })
}

async fn expect_empty(sent: Result<Response, gloo_net::Error>) -> Result<(), ApiError> {
    let response = sent.map_err(network_error)?;
    if response.ok() {
        Ok(())
    } else {
        Err(error_from(response).await)
    }
}

async fn error_from(response: Response) -> ApiError {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(body) => ApiError::Server {
            status,
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => ApiError::Unexpected { status },
    }
}

fn network_error(error: gloo_net::Error) -> ApiError {
    ApiError::Network(error.to_string())
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so an id can never add a
/// path segment or a query to the URL it is put in.
pub fn encode_path_segment(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        for (raw, expected) in [
            ("abc-DEF_0.9~", "abc-DEF_0.9~"),
            ("a/b", "a%2Fb"),
            ("../x", "..%2Fx"),
            ("a?b#c", "a%3Fb%23c"),
            ("é", "%C3%A9"),
            ("", ""),
        ] {
            assert_eq!(encode_path_segment(raw), expected, "{raw}");
        }
    }

    #[test]
    fn audit_pages_go_back_from_the_last_id() {
        assert_eq!(audit_url(None), "/api/admin/audit?limit=100");
        assert_eq!(audit_url(Some(42)), "/api/admin/audit?limit=100&before=42");
    }

    #[test]
    fn server_errors_keep_their_code_and_message() {
        let error = ApiError::Server {
            status: 401,
            code: error_code::UNAUTHENTICATED.to_owned(),
            message: "Sign in first.".to_owned(),
        };
        assert!(error.is_unauthenticated());
        assert!(!error.is_forbidden());
        assert_eq!(error.message(), "Sign in first.");
        assert!(ApiError::Network("x".to_owned()).code().is_none());
    }
}
