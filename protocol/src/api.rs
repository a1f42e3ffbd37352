//! Request and response bodies of the JSON API under `/api`.
//!
//! Timestamps are RFC 3339 strings in UTC. Every error is an [`ErrorBody`] whose `code` is one
//! of the constants in [`error_code`] and whose `message` is a sentence for a person.

use serde::{Deserialize, Serialize};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A stable machine-readable code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// One of the constants in [`error_code`]; stable across releases.
    pub code: String,
    /// A short explanation for a person. Never contains internal details.
    pub message: String,
}

/// The stable error codes of the API.
pub mod error_code {
    /// The request carries no valid Session (absent, expired, revoked).
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    /// The Session is valid but its user may not do this.
    pub const FORBIDDEN: &str = "forbidden";
    /// A state-changing request came from a foreign or missing `Origin`.
    pub const BAD_ORIGIN: &str = "bad_origin";
    /// The request body or parameters are malformed.
    pub const BAD_REQUEST: &str = "bad_request";
    /// The request body is larger than the endpoint accepts.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// No such resource.
    pub const NOT_FOUND: &str = "not_found";
    /// The resource exists already (for example a username).
    pub const CONFLICT: &str = "conflict";
    /// Wrong username or password.
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    /// The first-admin setup link is unknown, used or expired.
    pub const INVALID_SETUP_TOKEN: &str = "invalid_setup_token";
    /// The first admin exists already; setup is closed.
    pub const SETUP_CLOSED: &str = "setup_closed";
    /// The OIDC sign-in attempt is unknown, replayed, expired or bound to another browser.
    pub const INVALID_STATE: &str = "invalid_state";
    /// The identity provider refused the sign-in or returned an error.
    pub const PROVIDER_ERROR: &str = "provider_error";
    /// The identity provider could not be reached.
    pub const PROVIDER_UNREACHABLE: &str = "provider_unreachable";
    /// The ID token failed validation (signature, issuer, audience, expiry or nonce).
    pub const INVALID_ID_TOKEN: &str = "invalid_id_token";
    /// No such identity provider is configured.
    pub const UNKNOWN_PROVIDER: &str = "unknown_provider";
    /// Local sign-in is disabled by configuration.
    pub const LOCAL_SIGN_IN_DISABLED: &str = "local_sign_in_disabled";
    /// Something failed on the server; the details are in its log.
    pub const INTERNAL: &str = "internal";
    /// The connector token is unknown or revoked.
    pub const BAD_CONNECTOR_TOKEN: &str = "bad_connector_token";
    /// The connector and server speak incompatible tunnel versions; the message says which
    /// side to upgrade.
    pub const VERSION_MISMATCH: &str = "version_mismatch";
    /// The connector refused a Stream: its destination is outside its local allow-list.
    pub const DESTINATION_REFUSED: &str = "destination_refused";
    /// The connector could not reach the origin service (refused, unreachable, timed out).
    pub const ORIGIN_UNREACHABLE: &str = "origin_unreachable";
    /// No replica of the App's Connector is attached.
    pub const CONNECTOR_OFFLINE: &str = "connector_offline";
    /// Policy refused access to the App; the message carries the reason.
    pub const ACCESS_DENIED: &str = "access_denied";
    /// No such App.
    pub const UNKNOWN_APP: &str = "unknown_app";
    /// The CLI sign-in code is unknown, used, expired or does not match the verifier.
    pub const INVALID_CLI_CODE: &str = "invalid_cli_code";
}

/// What a signed-in user may do across Postern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages apps, connectors, users and Sessions.
    Admin,
    /// Uses the apps policy lets them reach.
    User,
}

impl Role {
    /// The lowercase name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

/// `GET /api/auth/providers`: what the sign-in page offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    /// Configured OIDC providers, in configuration order.
    pub providers: Vec<ProviderInfo>,
    /// Whether the username and password form is enabled.
    pub local_sign_in: bool,
    /// Whether the store has no admin yet and waits for the first-admin setup link.
    pub setup_required: bool,
}

/// One OIDC provider as shown on the sign-in page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// Identifier used in URLs (`/auth/oidc/{id}/start`).
    pub id: String,
    /// Name shown on the button.
    pub name: String,
    /// Where the browser goes to start the sign-in.
    pub start_url: String,
}

/// `POST /api/auth/local`: sign in with a local account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSignInRequest {
    /// The account's username.
    pub username: String,
    /// The account's password.
    pub password: String,
}

/// `POST /api/setup`: create the first admin with the one-time setup token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token from the setup link printed by the server.
    pub token: String,
    /// Username of the new admin.
    pub username: String,
    /// Display name of the new admin.
    pub name: String,
    /// Email of the new admin, if any.
    #[serde(default)]
    pub email: Option<String>,
    /// Password of the new admin.
    pub password: String,
}

/// `GET /api/me`: the signed-in user and their Session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// Stable user id.
    pub id: String,
    /// Username (local accounts) or the provider's preferred username or email.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email address, if known.
    pub email: Option<String>,
    /// Groups from the identity provider's groups claim (empty for local accounts).
    pub groups: Vec<String>,
    /// Role across Postern.
    pub role: Role,
    /// `local` or the id of the OIDC provider the user signed in with.
    pub source: String,
    /// The current Session.
    pub session: SessionInfo,
}

/// The current Session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Public id of the Session (not the cookie secret).
    pub id: String,
    /// When the Session was created.
    pub created_at: String,
    /// When the Session ends regardless of activity.
    pub expires_at: String,
}

/// One user as an admin sees it (`GET /api/admin/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// Stable user id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email address, if known.
    pub email: Option<String>,
    /// Role across Postern.
    pub role: Role,
    /// `local` or the id of the OIDC provider.
    pub source: String,
    /// Groups as of the last sign-in.
    pub groups: Vec<String>,
    /// When the user was created.
    pub created_at: String,
    /// When the user last signed in, if ever.
    pub last_sign_in_at: Option<String>,
}

/// `POST /api/admin/users`: create a local (break-glass) account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLocalUserRequest {
    /// Username, unique among local accounts.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email address, if any.
    #[serde(default)]
    pub email: Option<String>,
    /// Initial password.
    pub password: String,
    /// Role of the new account.
    pub role: Role,
}

/// One live Session as an admin sees it (`GET /api/admin/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    /// Public id of the Session; `DELETE /api/admin/sessions/{id}` revokes it.
    pub id: String,
    /// The user who owns it.
    pub user_id: String,
    /// That user's username.
    pub username: String,
    /// That user's display name.
    pub name: String,
    /// `local` or the id of the OIDC provider used to sign in.
    pub source: String,
    /// When it was created.
    pub created_at: String,
    /// When it was last used.
    pub last_seen_at: String,
    /// When it ends regardless of activity.
    pub expires_at: String,
    /// The browser's `User-Agent` at sign-in, if sent.
    pub user_agent: Option<String>,
    /// The client address at sign-in.
    pub address: Option<String>,
    /// Whether this is the Session making the request.
    pub current: bool,
}

/// One configured OIDC provider as an admin sees it (`GET /api/admin/providers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSummary {
    /// Identifier used in URLs.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Issuer URL.
    pub issuer: String,
    /// OAuth client id registered with the provider.
    pub client_id: String,
    /// The ID-token claim read as the user's groups.
    pub groups_claim: String,
    /// Members of any of these groups get the admin role.
    pub admin_groups: Vec<String>,
    /// The redirect URI to register with the provider.
    pub redirect_uri: String,
}

/// `GET /api/admin/overview`: the admin area's landing figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// Server version.
    pub version: String,
    /// Number of users.
    pub users: u64,
    /// Number of live Sessions.
    pub active_sessions: u64,
    /// Number of configured OIDC providers.
    pub providers: u64,
    /// The server's public URL.
    pub public_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_is_lowercase_on_the_wire() {
        assert_eq!(serde_json::to_string(&Role::Admin).unwrap(), "\"admin\"");
        assert_eq!(
            serde_json::from_str::<Role>("\"user\"").unwrap(),
            Role::User
        );
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let body = r#"{"username":"a","password":"b","admin":true}"#;
        assert!(serde_json::from_str::<LocalSignInRequest>(body).is_err());
    }
}

/// What an App carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    /// An SSH server (`ssh://host:port`).
    Ssh,
    /// An RDP server (`rdp://host:port`).
    Rdp,
    /// Any TCP service (`tcp://host:port`).
    Tcp,
}

impl AppKind {
    /// The lowercase name, which is also the service URL scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Ssh => "ssh",
            AppKind::Rdp => "rdp",
            AppKind::Tcp => "tcp",
        }
    }

    /// The kind for a service URL scheme.
    pub fn from_scheme(scheme: &str) -> Option<AppKind> {
        match scheme {
            "ssh" => Some(AppKind::Ssh),
            "rdp" => Some(AppKind::Rdp),
            "tcp" => Some(AppKind::Tcp),
            _ => None,
        }
    }

    /// The port a service URL of this kind means when it names none.
    pub fn default_port(self) -> Option<u16> {
        match self {
            AppKind::Ssh => Some(22),
            AppKind::Rdp => Some(3389),
            AppKind::Tcp => None,
        }
    }
}

/// Who may use an App: anyone matching any entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllowList {
    /// Exact email addresses (compared case-insensitively).
    pub emails: Vec<String>,
    /// Email domains, such as `example.com` (the part after `@`, case-insensitive).
    pub email_domains: Vec<String>,
    /// Group names from the identity provider, compared exactly.
    pub groups: Vec<String>,
}

/// A Connector as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorSummary {
    /// Stable id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// When created.
    pub created_at: String,
    /// When its token was last rotated, if ever.
    pub rotated_at: Option<String>,
    /// Whether its token is revoked (it can no longer attach).
    pub revoked: bool,
    /// Replicas attached right now.
    pub replicas: Vec<ReplicaSummary>,
}

/// One running connector process attached to this server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSummary {
    /// Random id the process chose at start.
    pub id: String,
    /// Host name it reported.
    pub hostname: String,
    /// Tunnel protocol version it speaks.
    pub protocol_version: u32,
    /// Live Connections (HA links) from it.
    pub connections: u32,
    /// Address it connects from.
    pub address: String,
}

/// `POST /api/admin/connectors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectorRequest {
    /// Unique name: lowercase letters, digits, dashes.
    pub name: String,
}

/// The answer to creating or rotating a Connector: the token is shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorToken {
    /// The Connector.
    pub connector: ConnectorSummary,
    /// The secret `postern connector run --token` needs. Stored only hashed.
    pub token: String,
}

/// An App as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSummary {
    /// Stable id.
    pub id: String,
    /// Unique name, used in `--app` and in URLs.
    pub name: String,
    /// What it carries.
    pub kind: AppKind,
    /// Name of the Connector that reaches it.
    pub connector: String,
    /// Where the Connector dials, such as `ssh://localhost:22`.
    pub service_url: String,
    /// How long access granted for it lasts, in seconds.
    pub session_duration_seconds: u64,
    /// Who may use it.
    pub allow: AllowList,
    /// SSH settings (SSH Apps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<crate::ssh::SshSettings>,
    /// The origin's pinned host key, `SHA256:…`, once the first connection pinned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key_fingerprint: Option<String>,
    /// When created.
    pub created_at: String,
}

/// `POST /api/admin/apps` and `PUT /api/admin/apps/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRequest {
    /// Unique name: lowercase letters, digits, dashes.
    pub name: String,
    /// What it carries; must match the service URL's scheme.
    pub kind: AppKind,
    /// Name of the Connector that reaches it.
    pub connector: String,
    /// `ssh://host[:port]`, `rdp://host[:port]` or `tcp://host:port`.
    pub service_url: String,
    /// How long access granted for it lasts, in seconds (default 8 hours).
    #[serde(default)]
    pub session_duration_seconds: Option<u64>,
    /// Who may use it.
    #[serde(default)]
    pub allow: AllowList,
    /// SSH settings (SSH Apps only); absent means principals from the email's local part and
    /// no input recording.
    #[serde(default)]
    pub ssh: Option<crate::ssh::SshSettings>,
}

/// A Service token as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTokenSummary {
    /// The client id (public half).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Apps it may reach, by name.
    pub apps: Vec<String>,
    /// When it stops working.
    pub expires_at: String,
    /// When created.
    pub created_at: String,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// `POST /api/admin/service-tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceTokenRequest {
    /// Unique name.
    pub name: String,
    /// Apps it may reach, by name.
    pub apps: Vec<String>,
    /// Lifetime in seconds (default one year).
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
}

/// The answer to creating a Service token: the secret is shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTokenCreated {
    /// The token.
    pub token: ServiceTokenSummary,
    /// The secret half. Stored only hashed.
    pub secret: String,
}

/// The outcome of a policy decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Access granted.
    Allow,
    /// Access refused.
    Deny,
}

/// One Audit event (`GET /api/admin/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Increasing id.
    pub id: i64,
    /// When it happened.
    pub at: String,
    /// Who acted: `user:{username}`, `service-token:{id}`, `connector:{name}` or `system`.
    pub actor: String,
    /// What happened, such as `stream.open` or `connector.create`.
    pub action: String,
    /// The App concerned, if any.
    pub app: Option<String>,
    /// The decision, for access checks.
    pub decision: Option<Decision>,
    /// Why, in words.
    pub reason: String,
}

/// `POST /api/cli/approve`: the signed-in user lets a CLI act as them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CliApproveRequest {
    /// Base64url SHA-256 of the CLI's secret verifier (43 characters).
    pub challenge: String,
    /// The CLI's `state`, echoed back to its loopback callback.
    pub state: String,
    /// The CLI's loopback callback (`http://127.0.0.1:PORT/…`), if it listens for one.
    #[serde(default)]
    pub callback: Option<String>,
    /// The host the CLI runs on, as it says.
    #[serde(default)]
    pub hostname: Option<String>,
}

/// The answer to an approval: where to send the browser, or a code to paste.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliApproval {
    /// The loopback callback with `code` and `state`, when the CLI gave one.
    pub redirect: Option<String>,
    /// The one-time code, for a CLI that waits for it to be pasted.
    pub code: String,
}

/// `POST /api/cli/token`: the CLI trades the one-time code for a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CliTokenRequest {
    /// The one-time code.
    pub code: String,
    /// The secret whose SHA-256 was the challenge.
    pub verifier: String,
}

/// A CLI's access token: a Session of its own, revocable like any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliToken {
    /// Bearer token for the gateway.
    pub token: String,
    /// When it ends.
    pub expires_at: String,
    /// Who it acts as.
    pub username: String,
}

/// One App the caller may reach (`GET /api/apps`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserApp {
    /// Name, as used in `--app` and in URLs.
    pub name: String,
    /// What it carries.
    pub kind: AppKind,
}
