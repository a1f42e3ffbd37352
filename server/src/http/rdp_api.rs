//! `POST /api/apps/{app}/rdp/ticket`: the browser's pass to the RDP gateway. The App is decided
//! at the one choke point (and audited) first; only then is a ticket minted, bound to the user,
//! the App and the Session, valid for seconds and usable once.

use axum::Json;
use axum::extract::{Path, State};
use protocol::api::AppKind;
use protocol::rdp::{RdpTicket, TICKET_LIFETIME_SECS, gateway_path};

use super::extract::{Authenticated, now};
use super::{ApiError, AppState};
use crate::access::{self, Identity};
use crate::secret;
use crate::store;

/// Mints a ticket for the caller's Session.
pub async fn ticket(
    authenticated: Authenticated,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<RdpTicket>, ApiError> {
    let session = &authenticated.session;
    let identity = Identity::user(&session.user, session.created_at);
    let store = state.store.as_ref();
    // Cheap refusal first: a ticket for a non-RDP App would only be refused at the gateway.
    if !store
        .app_by_name(&name)
        .await?
        .is_some_and(|app| app.kind == AppKind::Rdp)
    {
        return Err(ApiError::unknown_app("RDP ", &name));
    }
    let authorized = access::authorize(store, identity, &name, now())
        .await
        .map_err(|denied| ApiError::denied(denied, "RDP "))?;
    let secret = secret::random_token();
    store
        .insert_rdp_ticket(store::RdpTicket {
            ticket_hash: secret::hash_token(&secret),
            user_id: session.user.id.clone(),
            app_id: authorized.app().id.clone(),
            session_id: session.id.clone(),
            expires_at: now() + TICKET_LIFETIME_SECS as i64,
        })
        .await?;
    Ok(Json(RdpTicket {
        ticket: secret,
        expires_in_secs: TICKET_LIFETIME_SECS,
        gateway_path: gateway_path(&name),
    }))
}
