//! Provisioning Connectors, Apps and Service tokens: the rules both the admin API and
//! `postern-server admin …` follow, so the two can never disagree. Every change is audited.

use protocol::api::{
    AllowList, AppKind, AppRequest, AppSummary, AuditEvent, ConnectorSummary, ConnectorToken,
    CreateServiceTokenRequest, ServiceTokenCreated, ServiceTokenSummary,
};
use protocol::ssh::{PrincipalSource, SshSettings};

use crate::access::policy::parse_service_url;
use crate::http::rfc3339;
use crate::secret;
use crate::ssh::principals::is_valid_principal;
use crate::store::{
    App, AuditRecord, Connector, NewApp, NewAuditEvent, ServiceToken, Store, StoreError, UnixTime,
};

/// Default lifetime of access granted for an App.
pub const DEFAULT_SESSION_DURATION_SECONDS: u64 = 8 * 3600;
/// Default lifetime of a Service token.
pub const DEFAULT_SERVICE_TOKEN_SECONDS: u64 = 365 * 86_400;
/// Longest lifetime of a Service token.
pub const MAX_SERVICE_TOKEN_SECONDS: u64 = 5 * 365 * 86_400;

/// Why a provisioning request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The request is not valid; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The named thing does not exist.
    #[error("no {0} is called {1}")]
    NotFound(&'static str, String),
    /// The store refused or failed (including name conflicts).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `name` is a valid Connector, App or Service token name.
pub fn check_name(what: &str, name: &str) -> Result<(), ProvisionError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ProvisionError::Invalid(format!(
            "{what} name {name:?}: use 1-63 lowercase letters, digits and dashes"
        )))
    }
}

async fn record(
    store: &dyn Store,
    actor: &str,
    action: &str,
    reason: String,
    now: UnixTime,
) -> Result<(), StoreError> {
    tracing::info!(actor, action, reason, "admin action");
    store
        .record_audit(
            NewAuditEvent {
                actor: actor.to_owned(),
                action: action.to_owned(),
                app: None,
                decision: None,
                reason,
            },
            now,
        )
        .await
}

/// The API view of a Connector; replicas are filled in by the caller that knows them.
pub fn connector_summary(connector: &Connector) -> ConnectorSummary {
    ConnectorSummary {
        id: connector.id.clone(),
        name: connector.name.clone(),
        created_at: rfc3339(connector.created_at),
        rotated_at: connector.rotated_at.map(rfc3339),
        revoked: connector.revoked_at.is_some(),
        replicas: Vec::new(),
    }
}

/// Creates a Connector and returns its token, shown this once.
pub async fn create_connector(
    store: &dyn Store,
    actor: &str,
    name: &str,
    now: UnixTime,
) -> Result<ConnectorToken, ProvisionError> {
    check_name("connector", name)?;
    let token = secret::random_token();
    let connector = store
        .create_connector(name, &secret::hash_token(&token), now)
        .await?;
    record(
        store,
        actor,
        "connector.create",
        format!("created connector {name}"),
        now,
    )
    .await?;
    Ok(ConnectorToken {
        connector: connector_summary(&connector),
        token,
    })
}

/// Replaces a Connector's token; attached replicas using the old one must be disconnected by
/// the caller.
pub async fn rotate_connector(
    store: &dyn Store,
    actor: &str,
    name: &str,
    now: UnixTime,
) -> Result<ConnectorToken, ProvisionError> {
    let token = secret::random_token();
    let connector = store
        .rotate_connector(name, &secret::hash_token(&token), now)
        .await?
        .ok_or_else(|| ProvisionError::NotFound("live connector", name.to_owned()))?;
    record(
        store,
        actor,
        "connector.rotate",
        format!("rotated the token of connector {name}"),
        now,
    )
    .await?;
    Ok(ConnectorToken {
        connector: connector_summary(&connector),
        token,
    })
}

/// Revokes a Connector; returns it so the caller can disconnect its replicas.
pub async fn revoke_connector(
    store: &dyn Store,
    actor: &str,
    name: &str,
    now: UnixTime,
) -> Result<Connector, ProvisionError> {
    let connector = store
        .connector_by_name(name)
        .await?
        .ok_or_else(|| ProvisionError::NotFound("connector", name.to_owned()))?;
    if !store.revoke_connector(name, now).await? {
        return Err(ProvisionError::Invalid(format!(
            "connector {name} is revoked already"
        )));
    }
    record(
        store,
        actor,
        "connector.revoke",
        format!("revoked connector {name}"),
        now,
    )
    .await?;
    Ok(connector)
}

/// The API view of an App.
pub fn app_summary(app: &App) -> AppSummary {
    AppSummary {
        id: app.id.clone(),
        name: app.name.clone(),
        kind: app.kind,
        connector: app.connector_name.clone(),
        service_url: app.service_url.clone(),
        session_duration_seconds: app.session_duration_seconds.unsigned_abs(),
        allow: app.allow.clone(),
        ssh: (app.kind == AppKind::Ssh).then(|| app.ssh_settings()),
        host_key_fingerprint: app
            .host_key
            .as_deref()
            .and_then(crate::ssh::host_key_fingerprint),
        created_at: rfc3339(app.created_at),
    }
}

fn validate_ssh(
    kind: AppKind,
    ssh: Option<SshSettings>,
) -> Result<Option<SshSettings>, ProvisionError> {
    let Some(ssh) = ssh else {
        return Ok(None);
    };
    if kind != AppKind::Ssh {
        return Err(ProvisionError::Invalid(
            "SSH settings are only for apps of kind ssh".to_owned(),
        ));
    }
    match &ssh.principals {
        PrincipalSource::EmailLocalPart => {}
        PrincipalSource::Claim { claim } => {
            if claim.is_empty() || claim.len() > 256 {
                return Err(ProvisionError::Invalid(
                    "the principal claim needs a name of 1-256 characters".to_owned(),
                ));
            }
        }
        PrincipalSource::List { principals } => {
            if principals.is_empty() || principals.len() > 64 {
                return Err(ProvisionError::Invalid(
                    "a principal list needs 1-64 principals".to_owned(),
                ));
            }
            for rule in principals {
                if !is_valid_principal(&rule.name) {
                    return Err(ProvisionError::Invalid(format!(
                        "{:?} is not a valid principal (1-32 of letters, digits, . _ -, not starting with -)",
                        rule.name
                    )));
                }
                if let Some(allow) = &rule.allow {
                    validate_allow(allow)?;
                }
            }
        }
    }
    Ok(Some(ssh))
}

async fn validate_app(store: &dyn Store, request: AppRequest) -> Result<NewApp, ProvisionError> {
    check_name("app", &request.name)?;
    parse_service_url(request.kind, &request.service_url).map_err(ProvisionError::Invalid)?;
    let connector = store
        .connector_by_name(&request.connector)
        .await?
        .ok_or_else(|| ProvisionError::NotFound("connector", request.connector.clone()))?;
    let duration = request
        .session_duration_seconds
        .unwrap_or(DEFAULT_SESSION_DURATION_SECONDS);
    if !(60..=30 * 86_400).contains(&duration) {
        return Err(ProvisionError::Invalid(
            "session duration must be between 1 minute and 30 days".to_owned(),
        ));
    }
    validate_allow(&request.allow)?;
    let ssh = validate_ssh(request.kind, request.ssh)?;
    Ok(NewApp {
        name: request.name,
        kind: request.kind,
        connector_id: connector.id,
        service_url: request.service_url,
        session_duration_seconds: i64::try_from(duration).unwrap_or(i64::MAX),
        allow: request.allow,
        ssh,
    })
}

fn validate_allow(allow: &AllowList) -> Result<(), ProvisionError> {
    for email in &allow.emails {
        if !email.contains('@') || email.len() > 254 {
            return Err(ProvisionError::Invalid(format!(
                "{email:?} is not an email address"
            )));
        }
    }
    for domain in &allow.email_domains {
        if domain.is_empty() || domain.contains('@') || !domain.contains('.') {
            return Err(ProvisionError::Invalid(format!(
                "{domain:?} is not an email domain (like example.com)"
            )));
        }
    }
    if allow
        .groups
        .iter()
        .any(|group| group.is_empty() || group.len() > 256)
    {
        return Err(ProvisionError::Invalid(
            "group names must be 1-256 characters".to_owned(),
        ));
    }
    Ok(())
}

/// Forgets the pinned host key of the App called `name`: its next connection trusts and pins
/// whatever key the origin presents, so an admin does this only after checking the new key.
pub async fn unpin_host_key(
    store: &dyn Store,
    actor: &str,
    name: &str,
    now: UnixTime,
) -> Result<AppSummary, ProvisionError> {
    let app = store
        .app_by_name(name)
        .await?
        .ok_or_else(|| ProvisionError::NotFound("app", name.to_owned()))?;
    let previous = app
        .host_key
        .as_deref()
        .and_then(crate::ssh::host_key_fingerprint)
        .unwrap_or_else(|| "none".to_owned());
    store.clear_host_key(name).await?;
    record(
        store,
        actor,
        "app.unpin_host_key",
        format!("forgot the pinned host key of app {name} (was {previous})"),
        now,
    )
    .await?;
    let app = store
        .app_by_name(name)
        .await?
        .ok_or_else(|| ProvisionError::NotFound("app", name.to_owned()))?;
    Ok(app_summary(&app))
}

/// Creates an App.
pub async fn create_app(
    store: &dyn Store,
    actor: &str,
    request: AppRequest,
    now: UnixTime,
) -> Result<AppSummary, ProvisionError> {
    let app = validate_app(store, request).await?;
    let app = store.create_app(app, now).await?;
    record(
        store,
        actor,
        "app.create",
        format!(
            "created app {} ({} via connector {})",
            app.name, app.service_url, app.connector_name
        ),
        now,
    )
    .await?;
    Ok(app_summary(&app))
}

/// Replaces the App called `name`.
pub async fn update_app(
    store: &dyn Store,
    actor: &str,
    name: &str,
    request: AppRequest,
    now: UnixTime,
) -> Result<AppSummary, ProvisionError> {
    let app = validate_app(store, request).await?;
    let app = store
        .update_app(name, app, now)
        .await?
        .ok_or_else(|| ProvisionError::NotFound("app", name.to_owned()))?;
    record(
        store,
        actor,
        "app.update",
        format!("updated app {name}"),
        now,
    )
    .await?;
    Ok(app_summary(&app))
}

/// Deletes the App called `name`.
pub async fn delete_app(
    store: &dyn Store,
    actor: &str,
    name: &str,
    now: UnixTime,
) -> Result<(), ProvisionError> {
    if !store.delete_app(name).await? {
        return Err(ProvisionError::NotFound("app", name.to_owned()));
    }
    record(
        store,
        actor,
        "app.delete",
        format!("deleted app {name}"),
        now,
    )
    .await?;
    Ok(())
}

/// The API view of a Service token.
pub fn service_token_summary(token: &ServiceToken) -> ServiceTokenSummary {
    ServiceTokenSummary {
        id: token.id.clone(),
        name: token.name.clone(),
        apps: token.apps.clone(),
        expires_at: rfc3339(token.expires_at),
        created_at: rfc3339(token.created_at),
        revoked: token.revoked_at.is_some(),
    }
}

/// Creates a Service token and returns its secret, shown this once.
pub async fn create_service_token(
    store: &dyn Store,
    actor: &str,
    request: CreateServiceTokenRequest,
    now: UnixTime,
) -> Result<ServiceTokenCreated, ProvisionError> {
    check_name("service token", &request.name)?;
    if request.apps.is_empty() {
        return Err(ProvisionError::Invalid(
            "a service token needs at least one app".to_owned(),
        ));
    }
    let lifetime = request
        .expires_in_seconds
        .unwrap_or(DEFAULT_SERVICE_TOKEN_SECONDS);
    if !(60..=MAX_SERVICE_TOKEN_SECONDS).contains(&lifetime) {
        return Err(ProvisionError::Invalid(
            "a service token lives between 1 minute and 5 years".to_owned(),
        ));
    }
    let mut app_ids = Vec::new();
    let mut app_names = Vec::new();
    for name in &request.apps {
        let app = store
            .app_by_name(name)
            .await?
            .ok_or_else(|| ProvisionError::NotFound("app", name.clone()))?;
        if !app_ids.contains(&app.id) {
            app_ids.push(app.id);
            app_names.push(app.name);
        }
    }
    app_names.sort();
    let token = ServiceToken {
        id: secret::random_id(),
        name: request.name,
        apps: app_names,
        expires_at: now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX)),
        created_at: now,
        revoked_at: None,
    };
    let secret = secret::random_token();
    store
        .create_service_token(&token, &secret::hash_token(&secret), &app_ids)
        .await?;
    record(
        store,
        actor,
        "service-token.create",
        format!(
            "created service token {} for {}",
            token.name,
            token.apps.join(", ")
        ),
        now,
    )
    .await?;
    Ok(ServiceTokenCreated {
        token: service_token_summary(&token),
        secret,
    })
}

/// Revokes a Service token by id.
pub async fn revoke_service_token(
    store: &dyn Store,
    actor: &str,
    id: &str,
    now: UnixTime,
) -> Result<(), ProvisionError> {
    if !store.revoke_service_token(id, now).await? {
        return Err(ProvisionError::NotFound(
            "live service token",
            id.to_owned(),
        ));
    }
    record(
        store,
        actor,
        "service-token.revoke",
        format!("revoked service token {id}"),
        now,
    )
    .await?;
    Ok(())
}

/// The API view of an Audit record.
pub fn audit_event(record: AuditRecord) -> AuditEvent {
    AuditEvent {
        id: record.id,
        at: rfc3339(record.at),
        actor: record.event.actor,
        action: record.event.action,
        app: record.event.app,
        decision: record.event.decision,
        reason: record.event.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (name, ok) in [
            ("office", true),
            ("db-1", true),
            ("", false),
            ("-x", false),
            ("x-", false),
            ("Office", false),
            ("a b", false),
            (&"a".repeat(64), false),
        ] {
            assert_eq!(check_name("app", name).is_ok(), ok, "{name}");
        }
    }
}
