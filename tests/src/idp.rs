//! The OIDC identity provider peer: npm `oidc-provider` (OpenID-certified) run by Node, and an
//! optional proxy in front of its token endpoint that rewrites the ID token, because a correct
//! provider never issues the broken tokens Postern must refuse.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};
use tokio::io::BufReader;
use tokio::process::{Child, Command};

use crate::process::{read_line_until, stop};

/// The client id Postern is registered under.
pub const CLIENT_ID: &str = "postern";
/// Its client secret.
pub const CLIENT_SECRET: &str = "postern-test-secret";

/// A person the provider knows.
#[derive(Debug, Clone)]
pub struct IdpUser {
    /// Login name (also `sub` and `preferred_username`).
    pub login: &'static str,
    /// Password.
    pub password: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Email.
    pub email: &'static str,
    /// Groups claim.
    pub groups: &'static [&'static str],
}

/// An admin: in the `admins` group.
pub const ADA: IdpUser = IdpUser {
    login: "ada",
    password: "analytical-engine",
    name: "Ada Lovelace",
    email: "ada@example.test",
    groups: &["admins", "engineering"],
};

/// A plain user.
pub const GRACE: IdpUser = IdpUser {
    login: "grace",
    password: "compiler-first",
    name: "Grace Hopper",
    email: "grace@example.test",
    groups: &["engineering"],
};

/// How the proxy damages the ID token in the next token responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Pass through.
    None,
    /// Replace the nonce, re-sign with the provider's key.
    WrongNonce,
    /// Re-sign with a key the provider never published.
    OtherKey,
    /// Strip the signature and say `alg: none`.
    AlgNone,
    /// Issue for another client, re-sign with the provider's key.
    WrongAudience,
    /// Expired an hour ago, re-sign with the provider's key.
    Expired,
}

/// A running provider.
pub struct Idp {
    /// The issuer URL Postern should be configured with.
    pub issuer: String,
    child: Child,
    _dir: tempfile::TempDir,
    tamper: Arc<Mutex<Tamper>>,
    proxy: Option<tokio::task::JoinHandle<()>>,
}

fn generate_key(path: &Path) -> anyhow::Result<()> {
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .context("run openssl")?;
    anyhow::ensure!(status.success(), "openssl genpkey failed");
    Ok(())
}

fn load_key(path: &Path) -> anyhow::Result<RsaKeyPair> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let der = PrivateKeyDer::from_pem_file(path)?;
    let PrivateKeyDer::Pkcs8(der) = der else {
        bail!("expected a PKCS#8 key")
    };
    RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|error| anyhow::anyhow!("{error}"))
}

fn peers_dir() -> PathBuf {
    crate::workspace_root().join("tests/peers")
}

/// A server with one OIDC provider, `test`, backed by a fresh IdP that knows `users`.
pub async fn server_with_idp(
    users: &[IdpUser],
) -> anyhow::Result<(Idp, crate::server::TestServer)> {
    let reserved = crate::server::Reserved::bind()?;
    let idp = Idp::start(&[reserved.callback_uri("test")], users, false).await?;
    let provider = idp.provider_config("test");
    let server =
        crate::server::TestServer::start_with(reserved, |config| config.oidc = vec![provider])
            .await?;
    Ok((idp, server))
}

impl Idp {
    /// Starts the provider for `redirect_uris` with `users`. With `tamper_proxy`, the issuer
    /// is a proxy that can rewrite ID tokens ([`Idp::set_tamper`]).
    pub async fn start(
        redirect_uris: &[String],
        users: &[IdpUser],
        tamper_proxy: bool,
    ) -> anyhow::Result<Idp> {
        crate::init_logging();
        let peers = peers_dir();
        if !peers.join("node_modules/oidc-provider").exists() {
            bail!(
                "the OIDC provider is not installed: run `cargo xtask ci` (or `npm ci` in {})",
                peers.display()
            );
        }
        let dir = tempfile::tempdir()?;
        let key_file = dir.path().join("signing-key.pem");
        generate_key(&key_file)?;
        let tamper = Arc::new(Mutex::new(Tamper::None));
        let proxy_listener = if tamper_proxy {
            Some(tokio::net::TcpListener::bind("127.0.0.1:0").await?)
        } else {
            None
        };
        let issuer_override = match &proxy_listener {
            Some(listener) => Some(format!(
                "http://127.0.0.1:{}",
                listener.local_addr()?.port()
            )),
            None => None,
        };
        let users_json: HashMap<&str, Value> = users
            .iter()
            .map(|user| {
                (
                    user.login,
                    json!({"password": user.password, "name": user.name, "email": user.email, "groups": user.groups}),
                )
            })
            .collect();
        let config = json!({
            "issuer": issuer_override,
            "keyFile": key_file,
            "clients": [{
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": redirect_uris,
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            }],
            "users": users_json,
        });
        let config_path = dir.path().join("idp.json");
        std::fs::write(&config_path, serde_json::to_vec(&config)?)?;
        let mut child = Command::new("node")
            .arg(peers.join("idp.mjs"))
            .current_dir(&peers)
            .env("IDP_CONFIG", &config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("start node (is Node.js installed?)")?;
        let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let ready: Value = read_line_until(&mut stdout, Duration::from_secs(30), |line| {
            line.starts_with('{')
                .then(|| serde_json::from_str(line).ok())
                .flatten()
        })
        .await
        .context("oidc provider did not start")?;
        // Keep draining its stdout so the provider never blocks on a full pipe.
        tokio::spawn(async move {
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut stdout, &mut sink).await;
        });
        let port = ready["port"].as_u64().context("port")?;
        let issuer = ready["issuer"].as_str().context("issuer")?.to_owned();
        let proxy = match proxy_listener {
            Some(listener) => {
                let state = Arc::new(ProxyState {
                    upstream: format!("http://127.0.0.1:{port}"),
                    http: reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .build()?,
                    tamper: Arc::clone(&tamper),
                    provider_key: load_key(&key_file)?,
                    other_key: {
                        let other = dir.path().join("other-key.pem");
                        generate_key(&other)?;
                        load_key(&other)?
                    },
                });
                let app = axum::Router::new()
                    .fallback(proxy_request)
                    .with_state(state);
                Some(tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                }))
            }
            None => None,
        };
        Ok(Idp {
            issuer,
            child,
            _dir: dir,
            tamper,
            proxy,
        })
    }

    /// Postern's configuration for this provider under `id`.
    pub fn provider_config(&self, id: &str) -> server::config::OidcProviderConfig {
        server::config::OidcProviderConfig {
            id: id.to_owned(),
            name: "Test Identity".to_owned(),
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: Some(CLIENT_SECRET.to_owned()),
            client_secret_file: None,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            groups_claim: "groups".to_owned(),
            admin_groups: vec!["admins".to_owned()],
            ca_file: None,
        }
    }

    /// Sets how the proxy damages the next ID tokens.
    pub fn set_tamper(&self, tamper: Tamper) {
        if let Ok(mut current) = self.tamper.lock() {
            *current = tamper;
        }
    }

    /// Stops the provider.
    pub async fn stop(mut self) {
        if let Some(proxy) = self.proxy.take() {
            proxy.abort();
        }
        stop(&mut self.child, Duration::from_secs(5)).await;
    }
}

struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    tamper: Arc<Mutex<Tamper>>,
    provider_key: RsaKeyPair,
    other_key: RsaKeyPair,
}

async fn proxy_request(
    axum::extract::State(state): axum::extract::State<Arc<ProxyState>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    match forward(&state, request).await {
        Ok(response) => response,
        Err(error) => axum::response::Response::builder()
            .status(502)
            .body(axum::body::Body::from(format!("proxy: {error:#}")))
            .unwrap_or_default(),
    }
}

async fn forward(
    state: &ProxyState,
    request: axum::extract::Request,
) -> anyhow::Result<axum::response::Response> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await?;
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut upstream = state.http.request(
        parts.method.clone(),
        format!("{}{path_and_query}", state.upstream),
    );
    // Host passes through: the provider builds its endpoint URLs from it, and they must point
    // back at this proxy.
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let response = upstream.body(body).send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut bytes = response.bytes().await?.to_vec();
    let tamper = state
        .tamper
        .lock()
        .map(|tamper| *tamper)
        .unwrap_or(Tamper::None);
    if parts.uri.path() == "/token" && status.is_success() && tamper != Tamper::None {
        let mut token_response: Value = serde_json::from_slice(&bytes)?;
        let id_token = token_response["id_token"].as_str().context("no id_token")?;
        token_response["id_token"] = Value::String(damage(state, id_token, tamper)?);
        bytes = serde_json::to_vec(&token_response)?;
    }
    let mut builder = axum::response::Response::builder().status(status);
    for (name, value) in &headers {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            builder = builder.header(name, value);
        }
    }
    Ok(builder.body(axum::body::Body::from(bytes))?)
}

fn decode_segment(segment: &str) -> anyhow::Result<Value> {
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment)?)?)
}

fn sign(key: &RsaKeyPair, header: &Value, claims: &Value) -> anyhow::Result<String> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| anyhow::anyhow!("signing failed"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn damage(state: &ProxyState, id_token: &str, tamper: Tamper) -> anyhow::Result<String> {
    let mut segments = id_token.split('.');
    let header = decode_segment(segments.next().context("header")?)?;
    let mut claims = decode_segment(segments.next().context("claims")?)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match tamper {
        Tamper::None => return Ok(id_token.to_owned()),
        Tamper::WrongNonce => claims["nonce"] = json!("not-the-nonce-postern-sent"),
        Tamper::WrongAudience => claims["aud"] = json!("some-other-client"),
        Tamper::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        Tamper::OtherKey => return sign(&state.other_key, &header, &claims),
        Tamper::AlgNone => {
            let header = json!({"alg": "none", "typ": "JWT"});
            return Ok(format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
            ));
        }
    }
    sign(&state.provider_key, &header, &claims)
}

/// Drives the provider's login like a browser without JavaScript would: from Postern's start
/// URL to the callback URL the provider redirects back to (not followed, so tests can replay
/// or tamper with it).
pub async fn authorize(
    client: &crate::server::TestClient,
    provider: &str,
    user: &IdpUser,
) -> anyhow::Result<url::Url> {
    authorize_from(client, &protocol::routes::oidc_start(provider), user).await
}

/// Like [`authorize`], from a given start URL (for example with `?next=`).
pub async fn authorize_from(
    client: &crate::server::TestClient,
    start_path: &str,
    user: &IdpUser,
) -> anyhow::Result<url::Url> {
    let start = client.get(start_path).await?;
    anyhow::ensure!(start.status() == 303, "start answered {}", start.status());
    let mut location = redirect_target(&start)?;
    // Provider: /auth -> /interaction/{uid}.
    let response = client.http.get(location.clone()).send().await?;
    location = redirect_target(&response)?;
    let login = client
        .http
        .post(location.clone())
        .form(&[
            ("prompt", "login"),
            ("login", user.login),
            ("password", user.password),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        login.status() == 303,
        "provider login answered {}",
        login.status()
    );
    location = redirect_target(&login)?;
    // Provider: /auth/{uid} resumes and redirects to Postern's callback.
    let resumed = client.http.get(location).send().await?;
    redirect_target(&resumed)
}

fn redirect_target(response: &reqwest::Response) -> anyhow::Result<url::Url> {
    let location = response
        .headers()
        .get(http::header::LOCATION)
        .with_context(|| {
            format!(
                "no redirect from {} ({})",
                response.url(),
                response.status()
            )
        })?
        .to_str()?;
    Ok(response.url().join(location)?)
}
