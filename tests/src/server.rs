//! A real `postern-server` in this process on a port the OS chose, and a client that talks to
//! it the way the web app in a browser does.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderValue, ORIGIN};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use server::config::Config;
use server::store::Store;
use server::{Server, StartupReport};
use tokio::sync::oneshot;

/// A listener bound before the server starts, so peers can be told its address first.
pub struct Reserved {
    listener: std::net::TcpListener,
    /// The port.
    pub port: u16,
}

impl Reserved {
    /// Binds 127.0.0.1:0.
    pub fn bind() -> anyhow::Result<Reserved> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind")?;
        let port = listener.local_addr()?.port();
        Ok(Reserved { listener, port })
    }

    /// Binds 127.0.0.1:`port` again, to restart a server where its clients expect it.
    pub fn bind_port(port: u16) -> anyhow::Result<Reserved> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).context("bind")?;
        Ok(Reserved { listener, port })
    }

    /// The origin the server will have: `https://localhost:{port}`.
    pub fn origin(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The OIDC redirect URI for `provider` on that origin.
    pub fn callback_uri(&self, provider: &str) -> String {
        format!(
            "{}{}",
            self.origin(),
            protocol::routes::oidc_callback(provider)
        )
    }
}

/// The `/metrics` scrape token every test server is configured with.
pub const METRICS_TOKEN: &str = "test-scrape-token-0123456789abcdefghijklmnop";

/// A running server.
pub struct TestServer {
    /// `https://localhost:{port}`.
    pub origin: String,
    /// What the server reported at start.
    pub report: StartupReport,
    store: Arc<dyn Store>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    data_dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with default settings on a fresh data directory.
    pub async fn start() -> anyhow::Result<TestServer> {
        TestServer::start_with(Reserved::bind()?, |_| {}).await
    }

    /// Starts a server on `reserved`, after `configure` adjusts the defaults.
    pub async fn start_with(
        reserved: Reserved,
        configure: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestServer> {
        crate::init_logging();
        let data_dir = tempfile::tempdir()?;
        let token_file = data_dir.path().join("metrics-token");
        std::fs::write(&token_file, METRICS_TOKEN)?;
        let mut config = Config {
            data_dir: data_dir.path().to_owned(),
            listen: reserved.listener.local_addr()?,
            public_url: Some(reserved.origin().parse()?),
            web_root: crate::workspace_root().join("dist"),
            ..Config::default()
        };
        config.metrics.token_file = Some(token_file);
        configure(&mut config);
        config.validate()?;
        let server = Server::start(config, Some(reserved.listener)).await?;
        let report = server.report().clone();
        let store = server.store();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));
        Ok(TestServer {
            origin: report.public_origin.clone(),
            report,
            store,
            shutdown: Some(shutdown),
            task: Some(task),
            data_dir,
        })
    }

    /// An absolute URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// The store, to check what requests left behind.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Sessions usable right now.
    pub async fn live_sessions(&self) -> anyhow::Result<usize> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Ok(self.store.list_live_sessions(now).await?.len())
    }

    /// `/metrics` as a scraper with the configured token reads it.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let response = self
            .client()?
            .http
            .get(self.url("/metrics"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "/metrics: {}", response.status());
        Ok(response.text().await?)
    }

    /// The setup token from the printed setup link.
    pub fn setup_token(&self) -> anyhow::Result<String> {
        let url = self
            .report
            .setup_url
            .as_deref()
            .context("no setup link was printed")?;
        let (_, token) = url
            .split_once("#token=")
            .context("setup link without token")?;
        Ok(token.to_owned())
    }

    /// A new client with its own cookie jar.
    pub fn client(&self) -> anyhow::Result<TestClient> {
        TestClient::new(&self.origin, &self.report.cert_path)
    }

    /// Creates the first admin through the setup link and returns a signed-in client.
    pub async fn first_admin(&self, username: &str, password: &str) -> anyhow::Result<TestClient> {
        let client = self.client()?;
        let response = client
            .post_json(
                "/api/setup",
                &protocol::api::SetupRequest {
                    token: self.setup_token()?,
                    username: username.to_owned(),
                    name: format!("{username} (admin)"),
                    email: None,
                    password: password.to_owned(),
                },
            )
            .await?;
        anyhow::ensure!(
            response.status() == 200,
            "setup failed: {}",
            response.text().await?
        );
        Ok(client)
    }

    /// Has `admin` create the local user `username` (role user, with `email`), then signs them
    /// in from a new browser; returns that browser and its Session token.
    pub async fn local_user(
        &self,
        admin: &TestClient,
        username: &str,
        email: Option<&str>,
        password: &str,
    ) -> anyhow::Result<(TestClient, String)> {
        let request = protocol::api::CreateLocalUserRequest {
            username: username.to_owned(),
            name: username.to_owned(),
            email: email.map(str::to_owned),
            password: password.to_owned(),
            role: protocol::api::Role::User,
        };
        let response = admin.post_json("/api/admin/users", &request).await?;
        anyhow::ensure!(
            response.status() == 201,
            "create user {username}: {}",
            response.text().await?
        );
        let client = self.client()?;
        let response = client.sign_in_local(username, password).await?;
        anyhow::ensure!(response.status() == 200, "sign in as {username}");
        let token = session_token(&response)?;
        Ok((client, token))
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .context("drain")???;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A client with a cookie jar that trusts the server's certificate and does not follow
/// redirects (tests look at each hop).
#[derive(Clone)]
pub struct TestClient {
    /// The underlying client.
    pub http: reqwest::Client,
    origin: String,
}

/// A rustls client configuration trusting the roots in `cert_pem`, offering HTTP/2 and
/// HTTP/1.1 by ALPN as browsers do.
pub fn trusting(cert_pem: &std::path::Path) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem)? {
        roots.add(cert?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl TestClient {
    fn new(origin: &str, cert_pem: &std::path::Path) -> anyhow::Result<TestClient> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(trusting(cert_pem)?)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()?;
        Ok(TestClient {
            http,
            origin: origin.to_owned(),
        })
    }

    /// An absolute URL for `path` (absolute URLs pass through).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.origin)
        }
    }

    fn origin_header(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(origin) = HeaderValue::from_str(&self.origin) {
            headers.insert(ORIGIN, origin);
        }
        headers
    }

    /// GET.
    pub async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self.http.get(self.url(path)).send().await?)
    }

    /// GET a JSON answer (any status: a body that is not `T` is the error).
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        Ok(self.get(path).await?.json().await?)
    }

    /// POST a JSON body with the web app's Origin.
    pub async fn post_json(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<reqwest::Response> {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    /// PUT a JSON body with the web app's Origin.
    pub async fn put_json(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<reqwest::Response> {
        self.send_json(reqwest::Method::PUT, path, body).await
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .request(method, self.url(path))
            .headers(self.origin_header())
            .json(body)
            .send()
            .await?)
    }

    /// DELETE with the web app's Origin.
    pub async fn delete(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .delete(self.url(path))
            .headers(self.origin_header())
            .send()
            .await?)
    }

    /// Signs in with a local account.
    pub async fn sign_in_local(
        &self,
        username: &str,
        password: &str,
    ) -> anyhow::Result<reqwest::Response> {
        self.post_json(
            "/api/auth/local",
            &protocol::api::LocalSignInRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            },
        )
        .await
    }

    /// Waits until the Connectors' attached HA links add up to `count` (an admin client).
    pub async fn wait_for_connector_links(&self, count: u32) -> anyhow::Result<()> {
        crate::process::wait_for(
            &format!("{count} connector links"),
            Duration::from_secs(20),
            || async {
                let response = self.get("/api/admin/connectors").await.ok()?;
                let connectors: Vec<protocol::api::ConnectorSummary> =
                    response.json().await.ok()?;
                let attached: u32 = connectors
                    .iter()
                    .flat_map(|c| &c.replicas)
                    .map(|r| r.connections)
                    .sum();
                (attached == count).then_some(())
            },
        )
        .await
    }

    /// `GET /api/me`, decoded, or the status if it failed.
    pub async fn me(&self) -> anyhow::Result<Result<protocol::api::Me, u16>> {
        let response = self.get("/api/me").await?;
        let status = response.status().as_u16();
        if status == 200 {
            Ok(Ok(response.json().await?))
        } else {
            Ok(Err(status))
        }
    }
}

/// The Session secret a sign-in response set in its cookie (what a CLI sends as a Bearer
/// token).
pub fn session_token(response: &reqwest::Response) -> anyhow::Result<String> {
    let cookie = response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .context("no Set-Cookie")?
        .to_str()?;
    let pair = cookie.split(';').next().unwrap_or_default();
    let (_, token) = pair.split_once('=').context("malformed Set-Cookie")?;
    Ok(token.to_owned())
}

/// The error code of an API error response.
pub async fn error_code(response: reqwest::Response) -> anyhow::Result<String> {
    let body: protocol::api::ErrorBody = response.json().await.context("error body")?;
    Ok(body.error.code)
}
