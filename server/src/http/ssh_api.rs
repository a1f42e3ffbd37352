//! SSH for people: which principals they may use on an App (`GET /api/apps/{app}/ssh`) and
//! short-lived certificates for their own `ssh` (`POST /api/ssh/cert`), plus the admin's view
//! of recordings and host-key pins.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::api::{AppKind, AppSummary, Decision, error_code};
use protocol::ssh::{RecordingKind, RecordingSummary, SshCertRequest, SshCertificate, SshLogin};
use russh::keys::ssh_key::PublicKey;

use super::extract::{AdminSession, ApiJson, Authenticated, now, rfc3339};
use super::{ApiError, AppState};
use crate::access::{self, Identity};
use crate::provision;
use crate::ssh::ca::{BACKDATE, CertRequest};
use crate::ssh::{host_key_fingerprint, principals, recording};
use crate::store::{App, NewAuditEvent, Recording};

/// The longest public key line accepted.
const MAX_PUBLIC_KEY_LEN: usize = 16 * 1024;

/// `GET /api/apps/{app}/ssh`. Nothing is opened, so nothing is audited; the allow rules
/// alone decide, as for the launcher.
pub async fn login(
    authenticated: Authenticated,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SshLogin>, ApiError> {
    let app = state
        .store
        .app_by_name(&name)
        .await?
        .filter(|app| app.kind == AppKind::Ssh)
        .ok_or_else(|| ApiError::unknown_app("SSH ", &name))?;
    let identity = Identity::user(&authenticated.session.user, now());
    let verdict = access::policy::decide(&identity, &app, now());
    if verdict.decision != Decision::Allow {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            error_code::ACCESS_DENIED,
            format!("access denied: {}", verdict.reason),
        ));
    }
    let claims = state
        .store
        .user_claims(&authenticated.session.user.id)
        .await?;
    Ok(Json(SshLogin {
        principals: principals::allowed(&app.ssh_settings(), &identity, &claims),
        host_key_fingerprint: app.host_key.as_deref().and_then(host_key_fingerprint),
        app: app.name,
    }))
}

/// `POST /api/ssh/cert`: decided at the choke point like a Stream (and audited), then signed
/// for exactly one principal for `ssh.certificate_lifetime`.
pub async fn certificate(
    authenticated: Authenticated,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<SshCertRequest>,
) -> Result<Json<SshCertificate>, ApiError> {
    let public_key = parse_user_key(&request.public_key)?;
    let session = &authenticated.session;
    let identity = Identity::user(&session.user, session.created_at);
    let actor = identity.actor();
    let store = state.store.as_ref();
    let authorized = access::authorize(store, identity.clone(), &request.app, now())
        .await
        .map_err(|denied| ApiError::denied(denied, "SSH "))?;
    let app: &App = authorized.app();
    if app.kind != AppKind::Ssh {
        return Err(ApiError::unknown_app("SSH ", &app.name));
    }
    let settings = app.ssh_settings();
    let claims = store.user_claims(&session.user.id).await?;
    let allowed = principals::allowed(&settings, &identity, &claims);
    let principal = match principals::choose(&settings, allowed, request.principal.as_deref()) {
        Ok(principal) => principal,
        Err(error) => {
            let reason = error.to_string();
            access::audit(
                store,
                &actor,
                Some(&app.name),
                Decision::Deny,
                &reason,
                now(),
            )
            .await?;
            let (status, code) = match error {
                principals::PrincipalError::Required(_) => {
                    (StatusCode::BAD_REQUEST, error_code::BAD_REQUEST)
                }
                _ => (StatusCode::FORBIDDEN, error_code::ACCESS_DENIED),
            };
            return Err(ApiError::new(status, code, reason));
        }
    };
    let issued_at = now();
    let lifetime = state.config.ssh.certificate_lifetime;
    let certificate = state
        .ssh_ca
        .sign(&CertRequest {
            public_key: &public_key,
            principal: &principal,
            key_id: format!("{actor} app:{} session:{}", app.name, session.id),
            now: issued_at,
            lifetime,
        })
        .map_err(|error| ApiError::internal(error.as_ref()))?;
    let line = certificate
        .to_openssh()
        .map_err(|error| ApiError::internal(&error))?;
    let valid_before = issued_at + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    store
        .record_audit(
            NewAuditEvent {
                actor: actor.clone(),
                action: "ssh.certificate".to_owned(),
                app: Some(app.name.clone()),
                decision: Some(Decision::Allow),
                reason: format!(
                    "issued an SSH certificate for principal {principal} until {}",
                    rfc3339(valid_before)
                ),
            },
            issued_at,
        )
        .await?;
    Ok(Json(SshCertificate {
        certificate: line,
        principal,
        valid_after: rfc3339(issued_at - i64::try_from(BACKDATE.as_secs()).unwrap_or(0)),
        valid_before: rfc3339(valid_before),
        ca_public_key: state.ssh_ca.public_line().to_owned(),
    }))
}

/// A user's public key: one OpenSSH line of a plain key (not a certificate), of a type and
/// size OpenSSH accepts for users.
fn parse_user_key(line: &str) -> Result<PublicKey, ApiError> {
    let line = line.trim();
    if line.is_empty() || line.len() > MAX_PUBLIC_KEY_LEN {
        return Err(ApiError::bad_request(
            "public_key must be one OpenSSH public key line",
        ));
    }
    let key = PublicKey::from_openssh(line).map_err(|_| {
        ApiError::bad_request(
            "public_key is not an OpenSSH public key line (like `ssh-ed25519 AAAA… comment`)",
        )
    })?;
    use russh::keys::ssh_key::Algorithm;
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } => Ok(key),
        Algorithm::Rsa { .. } => {
            let bits = key
                .key_data()
                .rsa()
                .map(|rsa| rsa.n().as_positive_bytes().map_or(0, |n| n.len() * 8))
                .unwrap_or(0);
            if bits >= 2048 {
                Ok(key)
            } else {
                Err(ApiError::bad_request(
                    "RSA keys must have at least 2048 bits",
                ))
            }
        }
        other => Err(ApiError::bad_request(format!(
            "keys of type {other} cannot be certified; use ssh-ed25519"
        ))),
    }
}

fn recording_summary(recording: &Recording) -> RecordingSummary {
    let started = &recording.started;
    let end = recording.ended_at.unwrap_or_else(now);
    RecordingSummary {
        id: started.id.clone(),
        app: started.app_name.clone(),
        actor: started.actor.clone(),
        principal: started.principal.clone(),
        started_at: rfc3339(started.started_at),
        ended_at: recording.ended_at.map(rfc3339),
        duration_seconds: (end - started.started_at).max(0) as f64,
        size_bytes: u64::try_from(recording.size_bytes).unwrap_or(0),
        input_recorded: started.input_recorded,
        kind: recording_kind(recording),
    }
}

fn recording_kind(recording: &Recording) -> RecordingKind {
    if recording
        .started
        .file_name
        .ends_with(&format!(".{}", crate::rdp::recording::EXTENSION))
    {
        RecordingKind::Desktop
    } else {
        RecordingKind::Terminal
    }
}

/// `GET /api/admin/recordings`: the newest thousand.
pub async fn list_recordings(
    _admin: AdminSession,
    State(state): State<AppState>,
) -> Result<Json<Vec<RecordingSummary>>, ApiError> {
    let recordings = state.store.list_recordings(1000).await?;
    let mut summaries: Vec<RecordingSummary> = recordings.iter().map(recording_summary).collect();
    // A running recording's size is the file's so far.
    for (summary, recording) in summaries.iter_mut().zip(&recordings) {
        if recording.ended_at.is_none() {
            summary.size_bytes = file_size(&state, recording).await;
        }
    }
    Ok(Json(summaries))
}

async fn file_size(state: &AppState, recording: &Recording) -> u64 {
    let path = recording::directory(&state.config.data_dir).join(&recording.started.file_name);
    tokio::fs::metadata(path)
        .await
        .map(|meta| meta.len())
        .unwrap_or(0)
}

async fn find_recording(state: &AppState, id: &str) -> Result<Recording, ApiError> {
    state
        .store
        .recording(id)
        .await?
        .ok_or_else(|| ApiError::not_found("recording"))
}

/// `GET /api/admin/recordings/{id}`.
pub async fn get_recording(
    _admin: AdminSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RecordingSummary>, ApiError> {
    let recording = find_recording(&state, &id).await?;
    let mut summary = recording_summary(&recording);
    if recording.ended_at.is_none() {
        summary.size_bytes = file_size(&state, &recording).await;
    }
    Ok(Json(summary))
}

/// `GET /api/admin/recordings/{id}/cast`: the recording file: asciicast v2 for a terminal,
/// the timestamped RDP byte stream for a desktop.
pub async fn recording_cast(
    _admin: AdminSession,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let recording = find_recording(&state, &id).await?;
    // The file name comes from the store, never from the request.
    let path = recording::directory(&state.config.data_dir).join(&recording.started.file_name);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::not_found("recording file"))?;
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let (content_type, extension) = match recording_kind(&recording) {
        RecordingKind::Terminal => ("application/x-asciicast", "cast"),
        RecordingKind::Desktop => ("application/octet-stream", crate::rdp::recording::EXTENSION),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"postern-{id}.{extension}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// `DELETE /api/admin/apps/{name}/host-key`.
pub async fn unpin_host_key(
    AdminSession(admin): AdminSession,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<AppSummary>, ApiError> {
    let actor = format!("user:{}", admin.session.user.username);
    let app = provision::unpin_host_key(state.store.as_ref(), &actor, &name, now()).await?;
    Ok(Json(app))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_keys() {
        let ed = crate::ssh::ca::random_ed25519("t").unwrap();
        let line = ed.public_key().to_openssh().unwrap();
        assert!(parse_user_key(&line).is_ok());
        assert!(parse_user_key("").is_err());
        assert!(parse_user_key("ssh-ed25519 not-base64").is_err());
        assert!(parse_user_key(&"A".repeat(MAX_PUBLIC_KEY_LEN + 1)).is_err());
    }
}
