//! The one choke point for Streams: every Stream to a Connector needs an [`Authorized`], and
//! only [`authorize`] can make one. It decides with [`policy::decide`] and writes every
//! decision, allow or deny, to the Audit log.

pub mod policy;

use protocol::api::Decision;
use protocol::tunnel::Destination;
use subtle::ConstantTimeEq;

use crate::secret;
use crate::store::{App, NewAuditEvent, Store, StoreError, UnixTime};
pub use policy::Identity;

/// Permission to open one Stream for `identity` to `app`. Its fields are private and it has
/// no constructor outside this module: holding one proves the decision was made and audited.
#[derive(Debug, Clone)]
pub struct Authorized {
    identity: Identity,
    app: App,
    destination: Destination,
}

impl Authorized {
    /// Who.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// To which App.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Where the Connector must dial: from the App, never from the client.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }
}

/// Why access was refused.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// No App by that name.
    #[error("no app is called {0}")]
    UnknownApp(String),
    /// Policy said no.
    #[error("{0}")]
    Policy(String),
    /// The store failed; nothing was decided.
    #[error("store error")]
    Store(#[from] StoreError),
}

/// Decides and audits whether `identity` may open a Stream to the App called `app_name`.
pub async fn authorize(
    store: &dyn Store,
    identity: Identity,
    app_name: &str,
    now: UnixTime,
) -> Result<Authorized, Denied> {
    let Some(app) = store.app_by_name(app_name).await? else {
        let reason = format!("no app is called {app_name}");
        audit(
            store,
            &identity.actor(),
            Some(app_name),
            Decision::Deny,
            &reason,
            now,
        )
        .await?;
        return Err(Denied::UnknownApp(app_name.to_owned()));
    };
    let mut verdict = policy::decide(&identity, &app, now);
    // A stored service URL was validated on write; if it no longer parses, refuse rather than
    // guess where to dial.
    let destination = match policy::parse_service_url(app.kind, &app.service_url) {
        Ok(destination) => Some(destination),
        Err(error) => {
            verdict = policy::Verdict {
                decision: Decision::Deny,
                reason: format!("app {} is misconfigured: {error}", app.name),
            };
            None
        }
    };
    audit(
        store,
        &identity.actor(),
        Some(&app.name),
        verdict.decision,
        &verdict.reason,
        now,
    )
    .await?;
    match (verdict.decision, destination) {
        (Decision::Allow, Some(destination)) => Ok(Authorized {
            identity,
            app,
            destination,
        }),
        _ => Err(Denied::Policy(verdict.reason)),
    }
}

/// What deciding again for an open connection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recheck {
    /// The App still admits the identity.
    Allowed,
    /// It no longer does; the policy's reason.
    Withdrawn(String),
}

/// Decides again, for a connection already open, whether `identity` may still reach the App
/// called `app_name`: an admin may have removed the App or changed its allow list since, or
/// the App's session duration may have run out. A refusal is audited like any other; a
/// continued allow is not, since open connections are re-checked every few seconds.
pub async fn still_allowed(
    store: &dyn Store,
    identity: &Identity,
    app_name: &str,
    now: UnixTime,
) -> Result<Recheck, StoreError> {
    let verdict = match store.app_by_name(app_name).await? {
        Some(app) => policy::decide(identity, &app, now),
        None => policy::Verdict {
            decision: Decision::Deny,
            reason: format!("app {app_name} was removed"),
        },
    };
    if verdict.decision == Decision::Allow {
        return Ok(Recheck::Allowed);
    }
    let reason = format!("access withdrawn while connected: {}", verdict.reason);
    audit(
        store,
        &identity.actor(),
        Some(app_name),
        Decision::Deny,
        &reason,
        now,
    )
    .await?;
    Ok(Recheck::Withdrawn(verdict.reason))
}

/// Records an access decision made outside [`authorize`] (for example a refused credential).
pub async fn audit(
    store: &dyn Store,
    actor: &str,
    app: Option<&str>,
    decision: Decision,
    reason: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    let level_deny = decision == Decision::Deny;
    if level_deny {
        tracing::info!(actor, app, reason, "access denied");
    } else {
        tracing::debug!(actor, app, reason, "access allowed");
    }
    store
        .record_audit(
            NewAuditEvent {
                actor: actor.to_owned(),
                action: "stream.open".to_owned(),
                app: app.map(str::to_owned),
                decision: Some(decision),
                reason: reason.to_owned(),
            },
            now,
        )
        .await
}

/// Why a Service token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// Unknown id or wrong secret (indistinguishable on purpose).
    #[error("the service token is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the service token has expired")]
    Expired,
    /// Revoked by an admin.
    #[error("the service token was revoked")]
    Revoked,
}

/// A Service token that could not be checked or was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not accepted.
    #[error(transparent)]
    Refused(#[from] TokenRefusal),
    /// The store failed.
    #[error("store error")]
    Store(#[from] StoreError),
}

/// Checks a Service token's id and secret.
pub async fn authenticate_service_token(
    store: &dyn Store,
    id: &str,
    presented_secret: &str,
    now: UnixTime,
) -> Result<Identity, TokenError> {
    if id.len() != 32 || !secret::is_well_formed_token(presented_secret) {
        return Err(TokenRefusal::Invalid.into());
    }
    let (token, secret_hash) = store
        .service_token(id)
        .await?
        .ok_or(TokenRefusal::Invalid)?;
    let presented = secret::hash_token(presented_secret);
    if !bool::from(presented.as_bytes().ct_eq(secret_hash.as_bytes())) {
        return Err(TokenRefusal::Invalid.into());
    }
    if token.revoked_at.is_some() {
        return Err(TokenRefusal::Revoked.into());
    }
    if token.expires_at <= now {
        return Err(TokenRefusal::Expired.into());
    }
    Ok(Identity::ServiceToken {
        id: token.id,
        name: token.name,
        apps: token.apps,
    })
}
