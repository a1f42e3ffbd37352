//! `postern-server`: sign-in, Sessions, the admin API and the web app behind one HTTPS port.
//!
//! [`Server::start`] opens the store, prepares TLS and binds (or adopts) the listener;
//! [`Server::serve`] runs until its shutdown future resolves. Tests drive the same two calls
//! on port 0.

pub mod access;
pub mod auth;
pub mod config;
pub mod http;
pub mod metrics;
pub mod provision;
pub mod rdp;
pub mod secret;
pub mod serve;
pub mod ssh;
pub mod store;
pub mod tls;
pub mod tunnel;
pub mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::auth::oidc::OidcProvider;
use crate::config::Config;
use crate::http::{AppState, Shared};
use crate::store::Store;
use crate::store::sqlite::SqliteStore;

/// How often expired Sessions, setup tokens and sign-in attempts are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// How often attached Connectors are checked against the store, so a token rotated or revoked
/// by `postern-server admin` (which cannot reach this process) stops working within seconds.
const CONNECTOR_SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// What an operator needs to know once the server is up.
#[derive(Debug, Clone)]
pub struct StartupReport {
    /// The bound address.
    pub local_addr: SocketAddr,
    /// The public origin, `https://host[:port]`.
    pub public_origin: String,
    /// SHA-256 fingerprint of the certificate.
    pub fingerprint: String,
    /// The certificate's PEM file.
    pub cert_path: PathBuf,
    /// Whether Postern made the certificate itself.
    pub self_signed: bool,
    /// The one-time first-admin link, when the store has no admin.
    pub setup_url: Option<String>,
}

/// A started server, ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Arc<rustls::ServerConfig>,
    report: StartupReport,
}

impl Server {
    /// Opens everything the server needs. `listener`, if given, is used instead of binding
    /// `config.listen` (tests bind port 0 first to learn the address).
    pub async fn start(
        config: Config,
        listener: Option<std::net::TcpListener>,
    ) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
        let listener = match listener {
            Some(listener) => {
                listener.set_nonblocking(true).context("listener")?;
                tokio::net::TcpListener::from_std(listener).context("listener")?
            }
            None => tokio::net::TcpListener::bind(config.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.listen))?,
        };
        let local_addr = listener.local_addr().context("listener address")?;
        let public_origin = config.public_origin(local_addr);
        let certificate = tls::load_or_create(
            &config.tls,
            &config.data_dir,
            &tls::public_host(&public_origin, local_addr),
        )?;
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&config.data_dir).await.with_context(|| {
                format!("cannot open the store in {}", config.data_dir.display())
            })?);
        let providers = config
            .oidc
            .iter()
            .map(|oidc| {
                OidcProvider::new(oidc.clone(), &public_origin)
                    .with_context(|| format!("oidc provider {}", oidc.id))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let setup_url = if store.count_admins().await? == 0 {
            let token = secret::random_token();
            let ttl = auth::session::seconds(config.setup.link_ttl);
            let expires_at = time::OffsetDateTime::now_utc().unix_timestamp() + ttl;
            store
                .replace_setup_token(&secret::hash_token(&token), expires_at)
                .await?;
            Some(format!("{public_origin}/setup#token={token}"))
        } else {
            None
        };
        let report = StartupReport {
            local_addr,
            public_origin: public_origin.clone(),
            fingerprint: certificate.fingerprint,
            cert_path: certificate.cert_path,
            self_signed: certificate.self_signed,
            setup_url,
        };
        let ssh_ca = Arc::new(ssh::ca::SshCa::load_or_create(&config.data_dir)?);
        let metrics_token = config
            .metrics
            .token_file
            .as_deref()
            .map(metrics::load_scrape_token)
            .transpose()?;
        let state = AppState::new(Shared {
            allowed_origins: http::allowed_origins(&public_origin, local_addr),
            public_origin,
            store,
            providers,
            metrics: metrics::Metrics::default(),
            metrics_token,
            started: Instant::now(),
            trusted_certificate: !certificate.self_signed,
            registry: Arc::new(tunnel::Registry::default()),
            ssh_ca,
            terminals: tokio_util::sync::CancellationToken::new(),
            streams: Default::default(),
            config,
        });
        Ok(Server {
            listener,
            state,
            tls: certificate.server_config,
            report,
        })
    }

    /// What to tell the operator.
    pub fn report(&self) -> &StartupReport {
        &self.report
    }

    /// The store, for operator tooling and tests that check what a request left behind.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.state.store)
    }

    /// Serves until `shutdown` resolves, then drains open connections.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let purge_state = self.state.clone();
        let purger = tokio::spawn(async move {
            let mut interval = tokio::time::interval(PURGE_INTERVAL);
            loop {
                interval.tick().await;
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let idle = auth::session::seconds(purge_state.config.session.idle_timeout);
                match purge_state.store.purge_expired(now, now - idle).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::debug!(purged, "purged expired rows"),
                    Err(error) => tracing::warn!(error = %http::ErrorChain(&error), "purge failed"),
                }
            }
        });
        let sweep_state = self.state.clone();
        let sweeper = tokio::spawn(async move {
            let mut interval = tokio::time::interval(CONNECTOR_SWEEP_INTERVAL);
            loop {
                interval.tick().await;
                for (connector_id, token_hash) in sweep_state.registry.attached_tokens() {
                    let current = sweep_state.store.connector_by_token_hash(&token_hash).await;
                    let valid = matches!(&current, Ok(Some(c)) if c.revoked_at.is_none() && c.id == connector_id);
                    // A store error keeps links up: failing closed here would cut every
                    // connector on a transient database hiccup.
                    if !valid && current.is_ok() {
                        tracing::info!(
                            connector = connector_id,
                            "connector token no longer valid; disconnecting"
                        );
                        sweep_state
                            .registry
                            .disconnect_token(&connector_id, &token_hash);
                    }
                }
            }
        });
        tracing::info!(addr = %self.report.local_addr, url = self.report.public_origin, "listening");
        let registry = Arc::clone(&self.state.registry);
        let terminals = self.state.terminals.clone();
        let shutdown = async move {
            shutdown.await;
            // WebSockets are long-lived upgrades the HTTP drain would wait out: end the
            // terminals now, each telling its browser why.
            terminals.cancel();
        };
        let served =
            serve::serve(self.listener, self.tls, http::router(self.state), shutdown).await;
        // Streams had their drain time; now let connectors go find a live server.
        registry.disconnect_all();
        purger.abort();
        sweeper.abort();
        served.context("start the connection workers")
    }
}
