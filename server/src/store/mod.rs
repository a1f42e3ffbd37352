//! The one interface to persistent state.
//!
//! Handlers and the auth layer see only [`Store`]; [`sqlite::SqliteStore`] is the embedded
//! implementation. A PostgreSQL implementation for several replicas slots in behind the same
//! trait. Secrets reach this layer already hashed: the store never sees a clear token or
//! password.

pub mod sqlite;

use async_trait::async_trait;
use protocol::api::{AllowList, AppKind, Decision, Role};
use protocol::ssh::SshSettings;

/// Seconds since the Unix epoch, UTC.
pub type UnixTime = i64;

/// Failures of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (for example a username that exists).
    #[error("{0} exists already")]
    Conflict(&'static str),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The database could not be migrated to the current schema.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: String,
    /// `local` or the OIDC provider id.
    pub source: String,
    /// The provider's subject, or the username for local accounts.
    pub subject: String,
    /// Username.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email, if known.
    pub email: Option<String>,
    /// Groups as of the last sign-in.
    pub groups: Vec<String>,
    /// Role across Postern.
    pub role: Role,
    /// When created.
    pub created_at: UnixTime,
    /// When last signed in.
    pub last_sign_in_at: Option<UnixTime>,
}

/// What is needed to create a local account.
#[derive(Debug, Clone)]
pub struct NewLocalUser {
    /// Username, unique among local accounts.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email, if any.
    pub email: Option<String>,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// The identity an OIDC provider vouched for, to create or refresh its user.
#[derive(Debug, Clone)]
pub struct OidcIdentity {
    /// Provider id.
    pub provider: String,
    /// The ID token's `sub`.
    pub subject: String,
    /// Preferred username, else email, else subject.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email, if the provider sent one.
    pub email: Option<String>,
    /// Groups from the configured claim.
    pub groups: Vec<String>,
    /// Role derived from the provider's admin groups.
    pub role: Role,
    /// The ID token's claims whose values are strings or arrays of strings.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// A session recording to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecording {
    /// Public id.
    pub id: String,
    /// The App.
    pub app_name: String,
    /// Who (`user:NAME`).
    pub actor: String,
    /// The principal logged in as.
    pub principal: String,
    /// The file under the recordings directory.
    pub file_name: String,
    /// Whether input is recorded too.
    pub input_recorded: bool,
    /// When it started.
    pub started_at: UnixTime,
}

/// A session recording as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// What it was started with.
    pub started: NewRecording,
    /// When it ended, if it has.
    pub ended_at: Option<UnixTime>,
    /// Size of the file when it ended.
    pub size_bytes: i64,
}

/// A Session to create. `token_hash` is the SHA-256 of the cookie secret.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Public id.
    pub id: String,
    /// SHA-256 of the cookie secret, hex.
    pub token_hash: String,
    /// Owner.
    pub user_id: String,
    /// How the user signed in.
    pub source: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Absolute end.
    pub expires_at: UnixTime,
    /// `User-Agent` at sign-in.
    pub user_agent: Option<String>,
    /// Client address at sign-in.
    pub address: Option<String>,
}

/// A stored Session joined with its user.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// Public id.
    pub id: String,
    /// How the user signed in.
    pub source: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last use.
    pub last_seen_at: UnixTime,
    /// Absolute end.
    pub expires_at: UnixTime,
    /// When revoked, if it was.
    pub revoked_at: Option<UnixTime>,
    /// `User-Agent` at sign-in.
    pub user_agent: Option<String>,
    /// Client address at sign-in.
    pub address: Option<String>,
    /// The owner.
    pub user: User,
}

/// An OIDC sign-in in flight, keyed by the SHA-256 of its `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttempt {
    /// SHA-256 of `state`, hex.
    pub state_hash: String,
    /// Provider id.
    pub provider: String,
    /// The nonce sent in the authorization request.
    pub nonce: String,
    /// The PKCE verifier whose challenge was sent.
    pub pkce_verifier: String,
    /// SHA-256 of the browser-binding cookie, hex.
    pub binding_hash: String,
    /// Same-site path to land on afterwards.
    pub return_to: String,
    /// After this the attempt is void.
    pub expires_at: UnixTime,
}

/// What consuming a setup token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOutcome {
    /// The token was valid and the first admin now exists.
    Created(User),
    /// The token is unknown, used or expired; nothing changed.
    InvalidToken,
    /// An admin exists already; nothing changed.
    Closed,
}

/// A Connector (tunnel identity) as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    /// Stable id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// When created.
    pub created_at: UnixTime,
    /// When its token was last rotated.
    pub rotated_at: Option<UnixTime>,
    /// When revoked.
    pub revoked_at: Option<UnixTime>,
}

/// An App as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// Stable id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// What it carries.
    pub kind: AppKind,
    /// The Connector that reaches it.
    pub connector_id: String,
    /// That Connector's name.
    pub connector_name: String,
    /// Where the Connector dials (`ssh://localhost:22`).
    pub service_url: String,
    /// How long granted access lasts.
    pub session_duration_seconds: i64,
    /// Who may use it.
    pub allow: AllowList,
    /// SSH settings (SSH Apps; `None` means the defaults).
    pub ssh: Option<SshSettings>,
    /// The origin's host key (one OpenSSH public key line), pinned on first use.
    pub host_key: Option<String>,
    /// When created.
    pub created_at: UnixTime,
}

impl App {
    /// The SSH settings in force.
    pub fn ssh_settings(&self) -> SshSettings {
        self.ssh.clone().unwrap_or_default()
    }
}

/// What is needed to create or replace an App.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApp {
    /// Unique name.
    pub name: String,
    /// What it carries.
    pub kind: AppKind,
    /// The Connector that reaches it.
    pub connector_id: String,
    /// Where the Connector dials, already validated.
    pub service_url: String,
    /// How long granted access lasts.
    pub session_duration_seconds: i64,
    /// Who may use it.
    pub allow: AllowList,
    /// SSH settings (SSH Apps only).
    pub ssh: Option<SshSettings>,
}

/// A Service token as stored (without its secret hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceToken {
    /// The client id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Names of the Apps it may reach.
    pub apps: Vec<String>,
    /// When it stops working.
    pub expires_at: UnixTime,
    /// When created.
    pub created_at: UnixTime,
    /// When revoked.
    pub revoked_at: Option<UnixTime>,
}

/// An Audit event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// Who acted.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// The App concerned.
    pub app: Option<String>,
    /// The decision, for access checks.
    pub decision: Option<Decision>,
    /// Why.
    pub reason: String,
}

/// An Audit event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Increasing id.
    pub id: i64,
    /// When.
    pub at: UnixTime,
    /// The event.
    pub event: NewAuditEvent,
}

/// A CLI sign-in the user approved in the browser, waiting for the CLI to collect it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliGrant {
    /// SHA-256 of the one-time code.
    pub code_hash: String,
    /// Who approved it.
    pub user_id: String,
    /// The CLI's PKCE challenge (base64url SHA-256 of its verifier).
    pub challenge: String,
    /// The host the CLI said it runs on.
    pub hostname: String,
    /// After this the code is void.
    pub expires_at: UnixTime,
}

/// A browser RDP ticket: minted after the policy decision, taken once by the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdpTicket {
    /// SHA-256 of the secret, hex.
    pub ticket_hash: String,
    /// Who it was minted for.
    pub user_id: String,
    /// The App it opens.
    pub app_id: String,
    /// The Session that asked for it.
    pub session_id: String,
    /// After this the ticket is void.
    pub expires_at: UnixTime,
}

/// Persistent state behind one interface.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Number of users with the admin role.
    async fn count_admins(&self) -> Result<u64, StoreError>;
    /// Number of users.
    async fn count_users(&self) -> Result<u64, StoreError>;
    /// All users, oldest first.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// A local account and its password hash.
    async fn find_local_user(&self, username: &str) -> Result<Option<(User, String)>, StoreError>;
    /// Creates a local account.
    async fn create_local_user(
        &self,
        user: NewLocalUser,
        now: UnixTime,
    ) -> Result<User, StoreError>;
    /// Creates the user an OIDC provider vouched for, or refreshes its profile, groups and role.
    async fn upsert_oidc_user(
        &self,
        identity: OidcIdentity,
        now: UnixTime,
    ) -> Result<User, StoreError>;
    /// Records a successful sign-in.
    async fn record_sign_in(&self, user_id: &str, now: UnixTime) -> Result<(), StoreError>;

    /// Replaces every setup token with this one.
    async fn replace_setup_token(
        &self,
        token_hash: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Atomically consumes the setup token and creates the first admin.
    async fn complete_setup(
        &self,
        token_hash: &str,
        admin: NewLocalUser,
        now: UnixTime,
    ) -> Result<SetupOutcome, StoreError>;

    /// Stores an OIDC sign-in attempt.
    async fn insert_login_attempt(&self, attempt: LoginAttempt) -> Result<(), StoreError>;
    /// Removes and returns the attempt for this state hash, whether or not it has expired, so a
    /// state can never be used twice.
    async fn take_login_attempt(
        &self,
        state_hash: &str,
    ) -> Result<Option<LoginAttempt>, StoreError>;

    /// Creates a Session.
    async fn create_session(&self, session: NewSession) -> Result<(), StoreError>;
    /// The Session whose cookie secret hashes to `token_hash`, revoked or not.
    async fn session_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Moves a Session's last-seen time forward.
    async fn touch_session(&self, id: &str, now: UnixTime) -> Result<(), StoreError>;
    /// A Session and its user by public id (for long-lived connections re-checking theirs).
    async fn session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Revokes a Session by public id; false if there was no live one.
    async fn revoke_session(&self, id: &str, now: UnixTime) -> Result<bool, StoreError>;
    /// Sessions neither revoked nor past their absolute end, newest first. Idle expiry is the
    /// caller's to apply: it depends on configuration.
    async fn list_live_sessions(&self, now: UnixTime) -> Result<Vec<SessionRecord>, StoreError>;
    /// Number of Sessions that are neither revoked, past their absolute end, nor idle since
    /// `idle_cutoff`.
    async fn count_live_sessions(
        &self,
        now: UnixTime,
        idle_cutoff: UnixTime,
    ) -> Result<u64, StoreError>;
    /// Creates a Connector whose token hashes to `token_hash`.
    async fn create_connector(
        &self,
        name: &str,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<Connector, StoreError>;
    /// All Connectors, oldest first.
    async fn list_connectors(&self) -> Result<Vec<Connector>, StoreError>;
    /// The Connector with this name.
    async fn connector_by_name(&self, name: &str) -> Result<Option<Connector>, StoreError>;
    /// The Connector whose token hashes to `token_hash`, revoked or not.
    async fn connector_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Connector>, StoreError>;
    /// Replaces a live Connector's token; `None` if there is no live Connector by that name.
    async fn rotate_connector(
        &self,
        name: &str,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<Option<Connector>, StoreError>;
    /// Revokes a Connector; false if there was no live one by that name.
    async fn revoke_connector(&self, name: &str, now: UnixTime) -> Result<bool, StoreError>;

    /// Creates an App.
    async fn create_app(&self, app: NewApp, now: UnixTime) -> Result<App, StoreError>;
    /// Replaces the App called `name`; `None` if there is none.
    async fn update_app(
        &self,
        name: &str,
        app: NewApp,
        now: UnixTime,
    ) -> Result<Option<App>, StoreError>;
    /// Deletes the App called `name`; false if there was none.
    async fn delete_app(&self, name: &str) -> Result<bool, StoreError>;
    /// All Apps by name.
    async fn list_apps(&self) -> Result<Vec<App>, StoreError>;
    /// The App called `name`.
    async fn app_by_name(&self, name: &str) -> Result<Option<App>, StoreError>;

    /// Creates a Service token for the Apps with these ids.
    async fn create_service_token(
        &self,
        token: &ServiceToken,
        secret_hash: &str,
        app_ids: &[String],
    ) -> Result<(), StoreError>;
    /// A Service token and its secret hash.
    async fn service_token(&self, id: &str) -> Result<Option<(ServiceToken, String)>, StoreError>;
    /// All Service tokens, oldest first.
    async fn list_service_tokens(&self) -> Result<Vec<ServiceToken>, StoreError>;
    /// Revokes a Service token; false if there was no live one.
    async fn revoke_service_token(&self, id: &str, now: UnixTime) -> Result<bool, StoreError>;

    /// Appends to the Audit log.
    async fn record_audit(&self, event: NewAuditEvent, now: UnixTime) -> Result<(), StoreError>;
    /// Audit events newest first, at most `limit`, older than `before` if given.
    async fn list_audit(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// Stores a one-time CLI sign-in code (by hash) for `user_id`, bound to `challenge`.
    async fn insert_cli_grant(&self, grant: CliGrant) -> Result<(), StoreError>;
    /// Removes and returns the CLI grant for this code hash, expired or not, so a code can
    /// never be used twice.
    async fn take_cli_grant(&self, code_hash: &str) -> Result<Option<CliGrant>, StoreError>;
    /// Stores a browser RDP ticket (by hash).
    async fn insert_rdp_ticket(&self, ticket: RdpTicket) -> Result<(), StoreError>;
    /// Removes and returns the RDP ticket with this hash, expired or not, so a ticket can
    /// never be used twice.
    async fn take_rdp_ticket(&self, ticket_hash: &str) -> Result<Option<RdpTicket>, StoreError>;
    /// The user with this id.
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// The string claims of the user's last OIDC sign-in (empty for local accounts).
    async fn user_claims(
        &self,
        user_id: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, StoreError>;

    /// Pins `host_key` for the App if none is pinned yet; whether it did.
    async fn pin_host_key(&self, app_id: &str, host_key: &str) -> Result<bool, StoreError>;
    /// Forgets the App's pinned host key; whether the App exists.
    async fn clear_host_key(&self, app_name: &str) -> Result<bool, StoreError>;

    /// Starts a recording.
    async fn create_recording(&self, recording: NewRecording) -> Result<(), StoreError>;
    /// Marks a recording ended with its final size.
    async fn finish_recording(
        &self,
        id: &str,
        ended_at: UnixTime,
        size_bytes: i64,
    ) -> Result<(), StoreError>;
    /// Recordings, newest first.
    async fn list_recordings(&self, limit: i64) -> Result<Vec<Recording>, StoreError>;
    /// One recording.
    async fn recording(&self, id: &str) -> Result<Option<Recording>, StoreError>;

    /// Deletes Sessions, setup tokens and login attempts that can no longer be used.
    async fn purge_expired(&self, now: UnixTime, idle_cutoff: UnixTime) -> Result<u64, StoreError>;
}
