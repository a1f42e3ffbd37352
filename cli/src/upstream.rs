//! One multiplexed HTTP/2 connection from the CLI to the server, re-established when it drops
//! (network change, server restart), over which every local connection becomes a Stream.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use protocol::api::ErrorBody;
use tokio_rustls::TlsConnector;
use url::Url;

/// The request body type of every Stream: local bytes, or a small JSON document.
pub type PipeBody = BoxBody<Bytes, std::io::Error>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STREAM_WINDOW: u32 = 8 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 32 * 1024 * 1024;

/// What the server is asked with.
#[derive(Clone)]
pub enum Credentials {
    /// A CLI Session token from `postern login`.
    Session(String),
    /// A Service token.
    ServiceToken {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
}

/// Why a request to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The server could not be reached or the connection broke.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// The server answered with an error.
    #[error("{message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Message for a person.
        message: String,
    },
}

/// The connection to one server.
pub struct Upstream {
    server: Url,
    host: String,
    port: u16,
    tls: TlsConnector,
    sender: tokio::sync::Mutex<Option<SendRequest<PipeBody>>>,
}

/// A TLS client configuration with the system roots plus `ca_file`, offering HTTP/2 only.
pub fn tls_config(ca_file: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<_, _>>())
            .with_context(|| format!("cannot read --ca {}", path.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        anyhow::ensure!(added > 0, "no certificate in --ca {}", path.display());
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("tls versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

impl Upstream {
    /// Prepares (without connecting) the connection to `server` (`https://host[:port]`).
    pub fn new(server: &Url, ca_file: Option<&Path>) -> anyhow::Result<Upstream> {
        anyhow::ensure!(
            server.scheme() == "https",
            "--server must be an https:// URL"
        );
        let host = server
            .host_str()
            .context("--server names no host")?
            .to_owned();
        let port = server.port_or_known_default().unwrap_or(443);
        Ok(Upstream {
            server: server.clone(),
            host,
            port,
            tls: TlsConnector::from(Arc::new(tls_config(ca_file)?)),
            sender: tokio::sync::Mutex::new(None),
        })
    }

    /// The server's URL.
    pub fn server(&self) -> &Url {
        &self.server
    }

    async fn connect(&self) -> Result<SendRequest<PipeBody>, RequestError> {
        let unreachable = |what: &str, error: &dyn std::fmt::Display| {
            RequestError::Unreachable(format!("{what} {}:{}: {error}", self.host, self.port))
        };
        let address = (self.host.trim_matches(['[', ']']), self.port);
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address))
            .await
            .map_err(|_| unreachable("timed out connecting to", &"no answer"))?
            .map_err(|error| unreachable("cannot connect to", &error))?;
        let _ = tcp.set_nodelay(true);
        let name =
            rustls_pki_types::ServerName::try_from(self.host.trim_matches(['[', ']']).to_owned())
                .map_err(|error| unreachable("bad server name", &error))?;
        let tls = self
            .tls
            .connect(name, transport::ReadAhead::new(tcp))
            .await
            .map_err(|error| {
                unreachable(
                    "TLS with",
                    &format!("{error} (for a self-signed server, pass --ca with its cert.pem)"),
                )
            })?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(unreachable(
                "HTTP/2 with",
                &"the server (or a proxy in front) did not offer HTTP/2",
            ));
        }
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder
            // hyper sends no keep-alive pings without a timer.
            .timer(TokioTimer::new())
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        let (sender, connection) = builder
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|error| unreachable("HTTP/2 handshake with", &error))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "server connection ended");
            }
        });
        Ok(sender)
    }

    async fn sender(&self) -> Result<SendRequest<PipeBody>, RequestError> {
        let mut current = self.sender.lock().await;
        if let Some(sender) = current.as_ref().filter(|sender| !sender.is_closed()) {
            return Ok(sender.clone());
        }
        let sender = self.connect().await?;
        *current = Some(sender.clone());
        Ok(sender)
    }

    /// Sends `request`, reconnecting once if the connection turned out dead before the request
    /// left; returns the response if its status is a success.
    pub async fn send(
        &self,
        request: http::Request<PipeBody>,
    ) -> Result<http::Response<Incoming>, RequestError> {
        let mut pending = Some(request);
        for _ in 0..2 {
            let Some(request) = pending.take() else { break };
            let mut sender = self.sender().await?;
            if sender.ready().await.is_err() {
                *self.sender.lock().await = None;
                pending = Some(request);
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => return Err(refusal(response).await),
                Err(mut error) => {
                    pending = error.take_message();
                    *self.sender.lock().await = None;
                    if pending.is_none() {
                        return Err(RequestError::Unreachable(error.into_error().to_string()));
                    }
                }
            }
        }
        Err(RequestError::Unreachable(
            "the connection to the server keeps failing".to_owned(),
        ))
    }

    /// A request to `path` on this server.
    pub fn request(
        &self,
        method: http::Method,
        path: &str,
        credentials: Option<&Credentials>,
    ) -> http::request::Builder {
        let uri = format!("https://{}:{}{path}", self.host, self.port);
        let mut builder = http::Request::builder()
            .method(method)
            .uri(uri)
            .version(http::Version::HTTP_2);
        match credentials {
            Some(Credentials::Session(token)) => {
                builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
            }
            Some(Credentials::ServiceToken { id, secret }) => {
                builder = builder
                    .header(protocol::gateway::HEADER_SERVICE_TOKEN_ID, id)
                    .header(protocol::gateway::HEADER_SERVICE_TOKEN_SECRET, secret);
            }
            None => {}
        }
        builder
    }

    /// POSTs `body` as JSON to `path` and decodes the JSON answer.
    pub async fn post_json<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
        credentials: Option<&Credentials>,
    ) -> Result<R, RequestError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|error| RequestError::Unreachable(error.to_string()))?;
        let request = self
            .request(http::Method::POST, path, credentials)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(json_body(bytes))
            .map_err(|error| RequestError::Unreachable(error.to_string()))?;
        decode(self.send(request).await?).await
    }

    /// GETs `path` and decodes the JSON answer.
    pub async fn get_json<R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        credentials: Option<&Credentials>,
    ) -> Result<R, RequestError> {
        let request = self
            .request(http::Method::GET, path, credentials)
            .body(json_body(Vec::new()))
            .map_err(|error| RequestError::Unreachable(error.to_string()))?;
        decode(self.send(request).await?).await
    }
}

fn json_body(bytes: Vec<u8>) -> PipeBody {
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

async fn decode<R: serde::de::DeserializeOwned>(
    response: http::Response<Incoming>,
) -> Result<R, RequestError> {
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|error| RequestError::Unreachable(error.to_string()))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|error| {
        RequestError::Unreachable(format!("unexpected answer from the server: {error}"))
    })
}

async fn refusal(response: http::Response<Incoming>) -> RequestError {
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes())
        .unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => RequestError::Refused {
            status,
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => RequestError::Refused {
            status,
            code: "unexpected".to_owned(),
            message: format!("the server answered {status}"),
        },
    }
}
