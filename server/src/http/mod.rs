//! The HTTP edge: every route in one [`router`], the shared state, and the layers every
//! request passes (Origin check, body limit, security headers, metrics, tracing).

mod admin;
mod auth_api;
pub(crate) mod browser_session;
mod cli_login;
mod error;
mod extract;
mod gateway;
mod oidc;
mod ops;
pub(crate) mod origin;
mod rdp_api;
mod ssh_api;
pub mod stream_watch;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};

pub use admin::{AdminEndpoint, admin_endpoints};
pub use error::{ApiError, ErrorChain};
pub use extract::{ClientAddr, bearer, header_str, now, rfc3339};

use crate::auth::oidc::OidcProvider;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;

/// Largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

/// The contents of [`AppState`].
pub struct Shared {
    /// Validated configuration.
    pub config: Config,
    /// Persistent state.
    pub store: Arc<dyn Store>,
    /// OIDC providers in configuration order.
    pub providers: Vec<OidcProvider>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The at-rest form of the `/metrics` scrape token, if one is configured.
    pub metrics_token: Option<String>,
    /// `https://host[:port]` people use.
    pub public_origin: String,
    /// Origins allowed to make state-changing requests.
    pub allowed_origins: Vec<String>,
    /// When the server started.
    pub started: Instant,
    /// Whether the certificate is a real one (HSTS is sent only then).
    pub trusted_certificate: bool,
    /// Attached Connectors.
    pub registry: Arc<crate::tunnel::Registry>,
    /// The SSH user CA.
    pub ssh_ca: Arc<crate::ssh::ca::SshCa>,
    /// Browser terminals, to end them all at shutdown.
    pub terminals: tokio_util::sync::CancellationToken,
    /// The credentials behind open native Streams, re-checked so that revoking one cuts them.
    pub streams: stream_watch::StreamWatch,
}

impl AppState {
    /// Wraps the shared state.
    pub fn new(shared: Shared) -> AppState {
        AppState {
            inner: Arc::new(shared),
        }
    }

    /// Sessions usable right now.
    pub async fn live_session_count(&self) -> Result<u64, crate::store::StoreError> {
        let now = now();
        let idle = crate::auth::session::seconds(self.config.session.idle_timeout);
        self.store.count_live_sessions(now, now - idle).await
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&OidcProvider> {
        self.providers
            .iter()
            .find(|provider| provider.config().id == id)
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.inner
    }
}

/// Origins a browser on this machine or at the public URL may send.
pub fn allowed_origins(public_origin: &str, bound: SocketAddr) -> Vec<String> {
    let port = bound.port();
    let mut origins = vec![public_origin.to_owned()];
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        let origin = format!("https://{host}:{port}");
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    origins
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let admin = admin::router(state.clone());
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/api/auth/providers", get(auth_api::providers))
        .route("/api/auth/local", post(auth_api::local_sign_in))
        .route("/api/auth/logout", post(auth_api::sign_out))
        .route("/api/setup", post(auth_api::setup))
        .route("/api/me", get(auth_api::current_user))
        .route("/api/apps", get(auth_api::my_apps))
        .route("/api/apps/{app}/ssh", get(ssh_api::login))
        .route("/api/apps/{app}/rdp/ticket", post(rdp_api::ticket))
        .route(protocol::ssh::CERT_PATH, post(ssh_api::certificate))
        .route("/api/cli/approve", post(cli_login::approve))
        .route("/api/cli/token", post(cli_login::token))
        .merge(admin)
        .route("/api", any(ops::api_not_found))
        .route("/api/{*rest}", any(ops::api_not_found))
        .route(
            protocol::tunnel::TUNNEL_PATH,
            get(crate::tunnel::endpoint::attach),
        )
        .route("/gw/tcp/{app}", post(gateway::tcp))
        // `any`: a WebSocket is a GET upgrade on HTTP/1.1, a CONNECT on HTTP/2 (RFC 8441),
        // which the server does not offer (see `serve`).
        .route("/gw/ssh/{app}", any(crate::ssh::gateway::terminal))
        .route("/gw/rdp/{app}", any(crate::rdp::gateway::desktop))
        .route("/auth/oidc/{provider}/start", get(oidc::start))
        .route("/auth/oidc/{provider}/callback", get(oidc::callback))
        .fallback(web::serve)
        .layer(middleware::from_fn_with_state(state.clone(), origin::check))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Counts and logs each response and adds the headers every response carries.
async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    // The path only: query strings carry OIDC codes and states, which must not reach logs.
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status();
    state.metrics.record_response(status.as_u16());
    tracing::debug!(%method, path, status = status.as_u16(), elapsed_ms = started.elapsed().as_millis(), "request");
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if state.trusted_certificate {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_origins_cover_public_and_loopback_once() {
        let bound: SocketAddr = "0.0.0.0:8443".parse().unwrap();
        assert_eq!(
            allowed_origins("https://localhost:8443", bound),
            [
                "https://localhost:8443",
                "https://127.0.0.1:8443",
                "https://[::1]:8443"
            ]
        );
        assert_eq!(
            allowed_origins("https://postern.example.com", bound).len(),
            4
        );
    }
}
