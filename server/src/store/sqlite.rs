//! The embedded store: SQLite in the data directory, migrated at open.

use std::path::Path;

use async_trait::async_trait;
use protocol::api::Role;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    App, AuditRecord, CliGrant, Connector, LoginAttempt, NewApp, NewAuditEvent, NewLocalUser,
    NewRecording, NewSession, OidcIdentity, RdpTicket, Recording, ServiceToken, SessionRecord,
    SetupOutcome, Store, StoreError, UnixTime, User,
};
use protocol::api::{AppKind, Decision};

/// The file name of the database inside the data directory.
pub const DATABASE_FILE: &str = "postern.db";

/// The user columns every user query selects, as a literal so queries stay `&'static str`.
macro_rules! user_columns {
    () => {
        "u.id, u.source, u.subject, u.username, u.name, u.email, u.groups_json, u.role, \
         u.created_at, u.last_sign_in_at"
    };
}

/// Sessions joined with their users; callers append the `WHERE`.
macro_rules! session_select {
    () => {
        concat!(
            "SELECT s.id AS session_id, s.source AS session_source, \
             s.created_at AS session_created_at, s.last_seen_at, s.expires_at, s.revoked_at, \
             s.user_agent, s.address, ",
            user_columns!(),
            " FROM sessions s JOIN users u ON u.id = s.user_id"
        )
    };
}

/// SQLite-backed [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    async fn service_token_from_row(
        &self,
        row: &sqlx::sqlite::SqliteRow,
    ) -> Result<ServiceToken, StoreError> {
        let id: String = row.try_get("id")?;
        let apps: Vec<String> = sqlx::query_scalar(
            "SELECT a.name FROM service_token_apps t JOIN apps a ON a.id = t.app_id \
             WHERE t.token_id = ? ORDER BY a.name",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await?;
        Ok(ServiceToken {
            id,
            name: row.try_get("name")?,
            apps,
            expires_at: row.try_get("expires_at")?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }

    /// Opens (creating if needed) the database in `data_dir` and applies pending migrations.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(DATABASE_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

fn user_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<User, StoreError> {
    let groups_json: String = row.try_get("groups_json")?;
    let groups = serde_json::from_str(&groups_json)
        .map_err(|error| StoreError::Corrupt(format!("groups_json: {error}")))?;
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        subject: row.try_get("subject")?,
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        groups,
        role: parse_role(&role)?,
        created_at: row.try_get("created_at")?,
        last_sign_in_at: row.try_get("last_sign_in_at")?,
    })
}

fn parse_role(role: &str) -> Result<Role, StoreError> {
    match role {
        "admin" => Ok(Role::Admin),
        "user" => Ok(Role::User),
        other => Err(StoreError::Corrupt(format!("role {other:?}"))),
    }
}

fn session_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        id: row.try_get("session_id")?,
        source: row.try_get("session_source")?,
        created_at: row.try_get("session_created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        user_agent: row.try_get("user_agent")?,
        address: row.try_get("address")?,
        user: user_from_row(row)?,
    })
}

const CONNECTOR_COLUMNS: &str = "id, name, created_at, rotated_at, revoked_at";

macro_rules! app_select {
    () => {
        "SELECT a.id, a.name, a.kind, a.connector_id, c.name AS connector_name, a.service_url, \
         a.session_duration_seconds, a.allow_json, a.ssh_json, a.host_key, a.created_at FROM apps a \
         JOIN connectors c ON c.id = a.connector_id"
    };
}

fn connector_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Connector, StoreError> {
    Ok(Connector {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        rotated_at: row.try_get("rotated_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn app_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<App, StoreError> {
    let kind: String = row.try_get("kind")?;
    let allow_json: String = row.try_get("allow_json")?;
    let ssh_json: Option<String> = row.try_get("ssh_json")?;
    Ok(App {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: AppKind::from_scheme(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("app kind {kind:?}")))?,
        connector_id: row.try_get("connector_id")?,
        connector_name: row.try_get("connector_name")?,
        service_url: row.try_get("service_url")?,
        session_duration_seconds: row.try_get("session_duration_seconds")?,
        allow: serde_json::from_str(&allow_json)
            .map_err(|error| StoreError::Corrupt(format!("allow_json: {error}")))?,
        ssh: ssh_json
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|error| StoreError::Corrupt(format!("ssh_json: {error}")))?,
        host_key: row.try_get("host_key")?,
        created_at: row.try_get("created_at")?,
    })
}

fn ssh_json(app: &NewApp) -> Result<Option<String>, StoreError> {
    app.ssh
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn recording_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Recording, StoreError> {
    Ok(Recording {
        started: NewRecording {
            id: row.try_get("id")?,
            app_name: row.try_get("app_name")?,
            actor: row.try_get("actor")?,
            principal: row.try_get("principal")?,
            file_name: row.try_get("file_name")?,
            input_recorded: row.try_get("input_recorded")?,
            started_at: row.try_get("started_at")?,
        },
        ended_at: row.try_get("ended_at")?,
        size_bytes: row.try_get("size_bytes")?,
    })
}

macro_rules! recording_select {
    () => {
        "SELECT id, app_name, actor, principal, file_name, input_recorded, started_at, \
         ended_at, size_bytes FROM recordings"
    };
}

fn decision_str(decision: Decision) -> &'static str {
    match decision {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn new_user_id() -> String {
    crate::secret::random_id()
}

async fn insert_local_user<'c, E>(
    executor: E,
    user: &NewLocalUser,
    now: UnixTime,
) -> Result<User, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    let id = new_user_id();
    let result = sqlx::query(
        "INSERT INTO users (id, source, subject, username, name, email, groups_json, role, \
         password_hash, created_at) VALUES (?, 'local', ?, ?, ?, ?, '[]', ?, ?, ?)",
    )
    .bind(&id)
    .bind(&user.username)
    .bind(&user.username)
    .bind(&user.name)
    .bind(&user.email)
    .bind(user.role.as_str())
    .bind(&user.password_hash)
    .bind(now)
    .execute(executor)
    .await;
    match result {
        Ok(_) => Ok(User {
            id,
            source: "local".to_owned(),
            subject: user.username.clone(),
            username: user.username.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            groups: Vec::new(),
            role: user.role,
            created_at: now,
            last_sign_in_at: None,
        }),
        Err(error) if is_unique_violation(&error) => Err(StoreError::Conflict("username")),
        Err(error) => Err(error.into()),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
            .fetch_one(&self.pool)
            .await?;
        Ok(count.unsigned_abs())
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(count.unsigned_abs())
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u ORDER BY u.created_at, u.rowid"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn find_local_user(&self, username: &str) -> Result<Option<(User, String)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", u.password_hash FROM users u WHERE u.source = 'local' AND u.subject = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let password_hash: Option<String> = row.try_get("password_hash")?;
        let password_hash = password_hash
            .ok_or_else(|| StoreError::Corrupt("local user without password".to_owned()))?;
        Ok(Some((user_from_row(&row)?, password_hash)))
    }

    async fn create_local_user(
        &self,
        user: NewLocalUser,
        now: UnixTime,
    ) -> Result<User, StoreError> {
        insert_local_user(&self.pool, &user, now).await
    }

    async fn upsert_oidc_user(
        &self,
        identity: OidcIdentity,
        now: UnixTime,
    ) -> Result<User, StoreError> {
        let groups_json = serde_json::to_string(&identity.groups)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let claims_json = serde_json::to_string(&identity.claims)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        sqlx::query(
            "INSERT INTO users (id, source, subject, username, name, email, groups_json, role, \
             created_at, last_sign_in_at, claims_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (source, subject) DO UPDATE SET username = excluded.username, \
             name = excluded.name, email = excluded.email, groups_json = excluded.groups_json, \
             role = excluded.role, last_sign_in_at = excluded.last_sign_in_at, \
             claims_json = excluded.claims_json",
        )
        .bind(new_user_id())
        .bind(&identity.provider)
        .bind(&identity.subject)
        .bind(&identity.username)
        .bind(&identity.name)
        .bind(&identity.email)
        .bind(&groups_json)
        .bind(identity.role.as_str())
        .bind(now)
        .bind(now)
        .bind(&claims_json)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.source = ? AND u.subject = ?"
        ))
        .bind(&identity.provider)
        .bind(&identity.subject)
        .fetch_one(&self.pool)
        .await?;
        user_from_row(&row)
    }

    async fn record_sign_in(&self, user_id: &str, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_sign_in_at = ? WHERE id = ?")
            .bind(now)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn replace_setup_token(
        &self,
        token_hash: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("DELETE FROM setup_tokens")
            .execute(&mut *transaction)
            .await?;
        sqlx::query("INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?, ?)")
            .bind(token_hash)
            .bind(expires_at)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn complete_setup(
        &self,
        token_hash: &str,
        admin: NewLocalUser,
        now: UnixTime,
    ) -> Result<SetupOutcome, StoreError> {
        // BEGIN IMMEDIATE takes the write lock up front, so two setup requests racing with the
        // same token cannot both see it and both create an admin.
        let mut connection = self.pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *connection)
            .await?;
        let outcome = complete_setup_locked(&mut connection, token_hash, &admin, now).await;
        let finish = match &outcome {
            Ok(SetupOutcome::Created(_)) => "COMMIT",
            _ => "ROLLBACK",
        };
        sqlx::query(finish).execute(&mut *connection).await?;
        outcome
    }

    async fn insert_login_attempt(&self, attempt: LoginAttempt) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_attempts (state_hash, provider, nonce, pkce_verifier, \
             binding_hash, return_to, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&attempt.state_hash)
        .bind(&attempt.provider)
        .bind(&attempt.nonce)
        .bind(&attempt.pkce_verifier)
        .bind(&attempt.binding_hash)
        .bind(&attempt.return_to)
        .bind(attempt.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_login_attempt(
        &self,
        state_hash: &str,
    ) -> Result<Option<LoginAttempt>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM login_attempts WHERE state_hash = ? RETURNING state_hash, provider, \
             nonce, pkce_verifier, binding_hash, return_to, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(LoginAttempt {
            state_hash: row.try_get("state_hash")?,
            provider: row.try_get("provider")?,
            nonce: row.try_get("nonce")?,
            pkce_verifier: row.try_get("pkce_verifier")?,
            binding_hash: row.try_get("binding_hash")?,
            return_to: row.try_get("return_to")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    async fn create_session(&self, session: NewSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, source, created_at, last_seen_at, \
             expires_at, user_agent, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&session.id)
        .bind(&session.token_hash)
        .bind(&session.user_id)
        .bind(&session.source)
        .bind(session.created_at)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(&session.user_agent)
        .bind(&session.address)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(concat!(session_select!(), " WHERE s.token_hash = ?"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn session_by_id(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(concat!(session_select!(), " WHERE s.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(&self, id: &str, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?")
            .bind(now)
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_session(&self, id: &str, now: UnixTime) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn list_live_sessions(&self, now: UnixTime) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            session_select!(),
            " WHERE s.revoked_at IS NULL AND s.expires_at > ? ORDER BY s.created_at DESC"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn count_live_sessions(
        &self,
        now: UnixTime,
        idle_cutoff: UnixTime,
    ) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ? \
             AND last_seen_at > ?",
        )
        .bind(now)
        .bind(idle_cutoff)
        .fetch_one(&self.pool)
        .await?;
        Ok(count.unsigned_abs())
    }

    async fn create_connector(
        &self,
        name: &str,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<Connector, StoreError> {
        let connector = Connector {
            id: new_user_id(),
            name: name.to_owned(),
            created_at: now,
            rotated_at: None,
            revoked_at: None,
        };
        let result = sqlx::query(
            "INSERT INTO connectors (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&connector.id)
        .bind(name)
        .bind(token_hash)
        .bind(now)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(connector),
            Err(error) if is_unique_violation(&error) => {
                Err(StoreError::Conflict("connector name"))
            }
            Err(error) => Err(error.into()),
        }
    }

    async fn list_connectors(&self) -> Result<Vec<Connector>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors ORDER BY created_at, rowid"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(connector_from_row).collect()
    }

    async fn connector_by_name(&self, name: &str) -> Result<Option<Connector>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE name = ?"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connector_from_row).transpose()
    }

    async fn connector_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Connector>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE token_hash = ?"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(connector_from_row).transpose()
    }

    async fn rotate_connector(
        &self,
        name: &str,
        token_hash: &str,
        now: UnixTime,
    ) -> Result<Option<Connector>, StoreError> {
        let updated = sqlx::query(
            "UPDATE connectors SET token_hash = ?, rotated_at = ? \
             WHERE name = ? AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(now)
        .bind(name)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        self.connector_by_name(name).await
    }

    async fn revoke_connector(&self, name: &str, now: UnixTime) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE connectors SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(name)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    async fn create_app(&self, app: NewApp, now: UnixTime) -> Result<App, StoreError> {
        let allow_json = serde_json::to_string(&app.allow)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let result = sqlx::query(
            "INSERT INTO apps (id, name, kind, connector_id, service_url, \
             session_duration_seconds, allow_json, ssh_json, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new_user_id())
        .bind(&app.name)
        .bind(app.kind.as_str())
        .bind(&app.connector_id)
        .bind(&app.service_url)
        .bind(app.session_duration_seconds)
        .bind(&allow_json)
        .bind(ssh_json(&app)?)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::Conflict("app name"));
            }
            Err(error) => return Err(error.into()),
        }
        self.app_by_name(&app.name)
            .await?
            .ok_or_else(|| StoreError::Corrupt("app vanished after insert".to_owned()))
    }

    async fn update_app(
        &self,
        name: &str,
        app: NewApp,
        now: UnixTime,
    ) -> Result<Option<App>, StoreError> {
        let allow_json = serde_json::to_string(&app.allow)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let result = sqlx::query(
            "UPDATE apps SET name = ?, kind = ?, connector_id = ?, service_url = ?, \
             session_duration_seconds = ?, allow_json = ?, ssh_json = ?, updated_at = ?, \
             host_key = CASE WHEN service_url = ? THEN host_key ELSE NULL END WHERE name = ?",
        )
        .bind(&app.name)
        .bind(app.kind.as_str())
        .bind(&app.connector_id)
        .bind(&app.service_url)
        .bind(app.session_duration_seconds)
        .bind(&allow_json)
        .bind(ssh_json(&app)?)
        .bind(now)
        .bind(&app.service_url)
        .bind(name)
        .execute(&self.pool)
        .await;
        match result {
            Ok(done) if done.rows_affected() == 0 => Ok(None),
            Ok(_) => self.app_by_name(&app.name).await,
            Err(error) if is_unique_violation(&error) => Err(StoreError::Conflict("app name")),
            Err(error) => Err(error.into()),
        }
    }

    async fn delete_app(&self, name: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM apps WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        let rows = sqlx::query(concat!(app_select!(), " ORDER BY a.name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(app_from_row).collect()
    }

    async fn app_by_name(&self, name: &str) -> Result<Option<App>, StoreError> {
        let row = sqlx::query(concat!(app_select!(), " WHERE a.name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn create_service_token(
        &self,
        token: &ServiceToken,
        secret_hash: &str,
        app_ids: &[String],
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query(
            "INSERT INTO service_tokens (id, name, secret_hash, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(secret_hash)
        .bind(token.expires_at)
        .bind(token.created_at)
        .execute(&mut *transaction)
        .await;
        match result {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::Conflict("service token name"));
            }
            Err(error) => return Err(error.into()),
        }
        for app_id in app_ids {
            sqlx::query("INSERT INTO service_token_apps (token_id, app_id) VALUES (?, ?)")
                .bind(&token.id)
                .bind(app_id)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn service_token(&self, id: &str) -> Result<Option<(ServiceToken, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, secret_hash, expires_at, created_at, revoked_at \
             FROM service_tokens WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let secret_hash: String = row.try_get("secret_hash")?;
        let token = self.service_token_from_row(&row).await?;
        Ok(Some((token, secret_hash)))
    }

    async fn list_service_tokens(&self) -> Result<Vec<ServiceToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, expires_at, created_at, revoked_at FROM service_tokens \
             ORDER BY created_at, rowid",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut tokens = Vec::with_capacity(rows.len());
        for row in &rows {
            tokens.push(self.service_token_from_row(row).await?);
        }
        Ok(tokens)
    }

    async fn revoke_service_token(&self, id: &str, now: UnixTime) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE service_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    async fn record_audit(&self, event: NewAuditEvent, now: UnixTime) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_events (at, actor, action, app, decision, reason) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(now)
        .bind(&event.actor)
        .bind(&event.action)
        .bind(&event.app)
        .bind(event.decision.map(decision_str))
        .bind(&event.reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_audit(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, app, decision, reason FROM audit_events \
             WHERE id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let decision: Option<String> = row.try_get("decision")?;
                let decision = match decision.as_deref() {
                    None => None,
                    Some("allow") => Some(Decision::Allow),
                    Some("deny") => Some(Decision::Deny),
                    Some(other) => return Err(StoreError::Corrupt(format!("decision {other:?}"))),
                };
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    event: NewAuditEvent {
                        actor: row.try_get("actor")?,
                        action: row.try_get("action")?,
                        app: row.try_get("app")?,
                        decision,
                        reason: row.try_get("reason")?,
                    },
                })
            })
            .collect()
    }

    async fn insert_cli_grant(&self, grant: CliGrant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cli_grants (code_hash, user_id, challenge, hostname, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&grant.code_hash)
        .bind(&grant.user_id)
        .bind(&grant.challenge)
        .bind(&grant.hostname)
        .bind(grant.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_cli_grant(&self, code_hash: &str) -> Result<Option<CliGrant>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM cli_grants WHERE code_hash = ? \
             RETURNING code_hash, user_id, challenge, hostname, expires_at",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(CliGrant {
            code_hash: row.try_get("code_hash")?,
            user_id: row.try_get("user_id")?,
            challenge: row.try_get("challenge")?,
            hostname: row.try_get("hostname")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    async fn insert_rdp_ticket(&self, ticket: RdpTicket) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rdp_tickets (ticket_hash, user_id, app_id, session_id, expires_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&ticket.ticket_hash)
        .bind(&ticket.user_id)
        .bind(&ticket.app_id)
        .bind(&ticket.session_id)
        .bind(ticket.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_rdp_ticket(&self, ticket_hash: &str) -> Result<Option<RdpTicket>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM rdp_tickets WHERE ticket_hash = ? \
             RETURNING ticket_hash, user_id, app_id, session_id, expires_at",
        )
        .bind(ticket_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RdpTicket {
            ticket_hash: row.try_get("ticket_hash")?,
            user_id: row.try_get("user_id")?,
            app_id: row.try_get("app_id")?,
            session_id: row.try_get("session_id")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_claims(
        &self,
        user_id: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
        let json: Option<String> = sqlx::query_scalar("SELECT claims_json FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        match json {
            None => Ok(serde_json::Map::new()),
            Some(json) => serde_json::from_str(&json)
                .map_err(|error| StoreError::Corrupt(format!("claims_json: {error}"))),
        }
    }

    async fn pin_host_key(&self, app_id: &str, host_key: &str) -> Result<bool, StoreError> {
        let pinned = sqlx::query("UPDATE apps SET host_key = ? WHERE id = ? AND host_key IS NULL")
            .bind(host_key)
            .bind(app_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(pinned == 1)
    }

    async fn clear_host_key(&self, app_name: &str) -> Result<bool, StoreError> {
        let found = sqlx::query("UPDATE apps SET host_key = NULL WHERE name = ?")
            .bind(app_name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(found == 1)
    }

    async fn create_recording(&self, recording: NewRecording) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recordings (id, app_name, actor, principal, file_name, input_recorded, \
             started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&recording.id)
        .bind(&recording.app_name)
        .bind(&recording.actor)
        .bind(&recording.principal)
        .bind(&recording.file_name)
        .bind(recording.input_recorded)
        .bind(recording.started_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_recording(
        &self,
        id: &str,
        ended_at: UnixTime,
        size_bytes: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE recordings SET ended_at = ?, size_bytes = ? WHERE id = ?")
            .bind(ended_at)
            .bind(size_bytes)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_recordings(&self, limit: i64) -> Result<Vec<Recording>, StoreError> {
        let rows = sqlx::query(concat!(
            recording_select!(),
            " ORDER BY started_at DESC, id LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(recording_from_row).collect()
    }

    async fn recording(&self, id: &str) -> Result<Option<Recording>, StoreError> {
        let row = sqlx::query(concat!(recording_select!(), " WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(recording_from_row).transpose()
    }

    async fn purge_expired(&self, now: UnixTime, idle_cutoff: UnixTime) -> Result<u64, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ? \
             OR revoked_at IS NOT NULL",
        )
        .bind(now)
        .bind(idle_cutoff)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        let tokens = sqlx::query("DELETE FROM setup_tokens WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        let attempts = sqlx::query("DELETE FROM login_attempts WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        let grants = sqlx::query("DELETE FROM cli_grants WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        let tickets = sqlx::query("DELETE FROM rdp_tickets WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        transaction.commit().await?;
        Ok(sessions + tokens + attempts + grants + tickets)
    }
}

async fn complete_setup_locked(
    connection: &mut sqlx::SqliteConnection,
    token_hash: &str,
    admin: &NewLocalUser,
    now: UnixTime,
) -> Result<SetupOutcome, StoreError> {
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'")
        .fetch_one(&mut *connection)
        .await?;
    if admins > 0 {
        return Ok(SetupOutcome::Closed);
    }
    let deleted = sqlx::query("DELETE FROM setup_tokens WHERE token_hash = ? AND expires_at > ?")
        .bind(token_hash)
        .bind(now)
        .execute(&mut *connection)
        .await?
        .rows_affected();
    if deleted != 1 {
        return Ok(SetupOutcome::InvalidToken);
    }
    // The admin must be created by this setup; a matching local username would be a surprise
    // takeover, so a conflict aborts the whole setup.
    let admin = NewLocalUser {
        role: Role::Admin,
        ..admin.clone()
    };
    let user = insert_local_user(&mut *connection, &admin, now).await?;
    sqlx::query("DELETE FROM setup_tokens")
        .execute(&mut *connection)
        .await?;
    Ok(SetupOutcome::Created(user))
}
