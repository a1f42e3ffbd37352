//! The connector against an in-test acceptor that plays the server's part: a rustls listener
//! with a self-signed certificate, the HTTP/1.1 upgrade, then an HTTP/2 client on the upgraded
//! connection that opens Streams. Everything binds port 0; waits poll with a deadline.

// A panic in a test binary is a failed assertion with a backtrace, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use connector::{Backoff, Config, Error};
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::channel::{Channel, Sender};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2 as client_http2;
use hyper::server::conn::http1 as server_http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use protocol::api::{ErrorBody, ErrorDetail, error_code};
use protocol::tunnel::{HEADER_DESTINATION, HEADER_STREAM};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The longest any one wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);
/// What the echo origin appends after the client's half-close, to prove bytes still flow
/// towards the client once the client has stopped sending.
const EOF_MARKER: &[u8] = b"<eof>";

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn init_logs() {
    let _already_set = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "connector=debug".into()),
        )
        .with_test_writer()
        .try_init();
}

type StreamRequestBody = Channel<Bytes, Infallible>;

/// How the acceptor answers one upgrade request.
#[derive(Debug, Clone)]
enum Answer {
    Upgrade,
    Refuse(StatusCode, &'static str, &'static str),
}

/// One upgrade request the acceptor saw.
struct Attach {
    headers: HeaderMap,
    alpn: Option<Vec<u8>>,
    /// The HTTP/2 client side, when the acceptor upgraded.
    tunnel: Option<Tunnel>,
}

struct Tunnel {
    sender: client_http2::SendRequest<StreamRequestBody>,
    connection: JoinHandle<()>,
}

struct Acceptor {
    url: url::Url,
    ca_file: PathBuf,
    attaches: mpsc::Receiver<Attach>,
    handshake_failures: Arc<AtomicUsize>,
    _directory: tempfile::TempDir,
    task: JoinHandle<()>,
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Acceptor {
    /// Starts an acceptor that answers the n-th upgrade with `script[n]`, repeating the last.
    async fn start(script: Vec<Answer>) -> Acceptor {
        let directory = tempfile::tempdir().unwrap();
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .unwrap();
        let ca_file = directory.path().join("cert.pem");
        std::fs::write(&ca_file, certified.cert.pem()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(certified.signing_key.serialize_pem().as_bytes())
            .unwrap();
        let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        // As the real server does: both, so the test proves the connector picks HTTP/1.1.
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let tls = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (attach_sender, attaches) = mpsc::channel(16);
        let handshake_failures = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let failures = handshake_failures.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let tls = tls.clone();
                let attach_sender = attach_sender.clone();
                let requests = requests.clone();
                let script = script.clone();
                let failures = failures.clone();
                tokio::spawn(async move {
                    let Ok(stream) = tls.accept(socket).await else {
                        failures.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    let service = service_fn(move |mut request: Request<Incoming>| {
                        let number = requests.fetch_add(1, Ordering::SeqCst);
                        let answer = script[number.min(script.len() - 1)].clone();
                        let attach_sender = attach_sender.clone();
                        let alpn = alpn.clone();
                        async move {
                            let headers = request.headers().clone();
                            match answer {
                                Answer::Upgrade => {
                                    let upgrade = hyper::upgrade::on(&mut request);
                                    tokio::spawn(async move {
                                        let upgraded = upgrade.await.unwrap();
                                        let mut builder =
                                            client_http2::Builder::new(TokioExecutor::new());
                                        builder
                                            .initial_stream_window_size(4 * 1024 * 1024)
                                            .initial_connection_window_size(16 * 1024 * 1024);
                                        let (sender, connection) =
                                            builder.handshake(upgraded).await.unwrap();
                                        let connection = tokio::spawn(async move {
                                            let _ended = connection.await;
                                        });
                                        let tunnel = Tunnel { sender, connection };
                                        let _ = attach_sender
                                            .send(Attach {
                                                headers,
                                                alpn,
                                                tunnel: Some(tunnel),
                                            })
                                            .await;
                                    });
                                    let response = Response::builder()
                                        .status(StatusCode::SWITCHING_PROTOCOLS)
                                        .header(CONNECTION, "upgrade")
                                        .header(UPGRADE, "postern-tunnel")
                                        .body(Full::new(Bytes::new()))
                                        .unwrap();
                                    Ok::<_, Infallible>(response)
                                }
                                Answer::Refuse(status, code, message) => {
                                    let _ = attach_sender
                                        .send(Attach {
                                            headers,
                                            alpn,
                                            tunnel: None,
                                        })
                                        .await;
                                    Ok(json_response(status, code, message))
                                }
                            }
                        }
                    });
                    let _ended = server_http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Acceptor {
            url: format!("https://127.0.0.1:{}", address.port())
                .parse()
                .unwrap(),
            ca_file,
            attaches,
            handshake_failures,
            _directory: directory,
            task,
        }
    }

    async fn next_attach(&mut self) -> Attach {
        within("an attach", self.attaches.recv()).await.unwrap()
    }

    async fn next_tunnel(&mut self) -> (HeaderMap, Tunnel) {
        let attach = self.next_attach().await;
        (
            attach.headers,
            attach.tunnel.expect("the acceptor upgraded"),
        )
    }

    fn config(&self, allow: &str) -> Config {
        let mut config = Config::new(
            self.url.clone(),
            "test-token".parse().unwrap(),
            allow.parse().unwrap(),
        );
        config.ha_connections = 1;
        config.ca_file = Some(self.ca_file.clone());
        config.backoff = Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(200),
        };
        config
    }
}

fn json_response(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.into(),
            message: message.into(),
        },
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(&body).unwrap())))
        .unwrap()
}

/// A connector running in the background.
struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), Error>>,
}

impl Running {
    fn start(config: Config) -> Running {
        init_logs();
        let (shutdown, requested) = oneshot::channel::<()>();
        let task = tokio::spawn(connector::run(config, async move {
            let _ = requested.await;
        }));
        Running {
            shutdown: Some(shutdown),
            task,
        }
    }

    fn request_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    async fn finished(self) -> Result<(), Error> {
        within("the connector to return", self.task).await.unwrap()
    }

    async fn stop(mut self) -> Result<(), Error> {
        self.request_shutdown();
        self.finished().await
    }
}

/// An origin that echoes what it reads, then appends [`EOF_MARKER`] and half-closes once the
/// client half-closes.
async fn echo_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut reader, mut writer) = socket.into_split();
                if tokio::io::copy(&mut reader, &mut writer).await.is_ok() {
                    let _ = writer.write_all(EOF_MARKER).await;
                    let _ = writer.shutdown().await;
                }
            });
        }
    });
    address
}

/// Opens a Stream; the returned sender feeds its request body (drop it to half-close).
async fn open_stream(
    tunnel: &mut Tunnel,
    destination: &str,
) -> Result<(Response<Incoming>, Sender<Bytes, Infallible>), hyper::Error> {
    let (body_sender, body) = Channel::new(4);
    // The connector looks only at the path; the authority is there as a real client sends it.
    let request = Request::post("http://connector/stream")
        .header(HEADER_DESTINATION, destination)
        .header(HEADER_STREAM, "test-stream")
        .body(body)
        .unwrap();
    within("the tunnel to be ready", tunnel.sender.ready()).await?;
    let response = within("a stream answer", tunnel.sender.send_request(request)).await?;
    Ok((response, body_sender))
}

async fn error_body(response: Response<Incoming>) -> ErrorDetail {
    let bytes = within("an error body", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    serde_json::from_slice::<ErrorBody>(&bytes).unwrap().error
}

/// Deterministic bytes that are not a short repeating pattern.
fn payload(length: usize) -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn attaches_with_the_protocol_headers_and_round_trips_a_stream() {
    let mut acceptor = Acceptor::start(vec![Answer::Upgrade]).await;
    let origin = echo_origin().await;
    let mut config = acceptor.config(&format!("127.0.0.1:{0},127.0.0.0/8:{0}", origin.port()));
    config.ha_connections = 2;
    let running = Running::start(config);

    let first = acceptor.next_attach().await;
    let second = acceptor.next_attach().await;
    for attach in [&first, &second] {
        let headers = &attach.headers;
        assert_eq!(headers["authorization"], "Bearer test-token");
        assert_eq!(headers["connection"], "upgrade");
        assert_eq!(headers["upgrade"], "postern-tunnel");
        assert_eq!(headers["postern-protocol-version"], "1");
        assert_eq!(headers["host"], acceptor.url.authority());
        assert!(!headers["postern-hostname"].is_empty());
        let replica = headers["postern-replica"].to_str().unwrap();
        assert_eq!(replica.len(), 32, "{replica}");
        assert_eq!(attach.alpn.as_deref(), Some(&b"http/1.1"[..]));
    }
    assert_eq!(
        first.headers["postern-replica"], second.headers["postern-replica"],
        "one process is one replica"
    );

    let mut tunnel = first.tunnel.unwrap();
    let (response, mut body_sender) = open_stream(&mut tunnel, &origin.to_string()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let sent = payload(1_000_003);
    let to_send = sent.clone();
    let writer = tokio::spawn(async move {
        for chunk in to_send.chunks(16 * 1024) {
            body_sender
                .send_data(Bytes::copy_from_slice(chunk))
                .await
                .unwrap();
        }
        // Dropping the sender ends the request body: the half-close the origin waits for.
    });
    let received = within("the echo", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    writer.await.unwrap();
    assert_eq!(received.len(), sent.len() + EOF_MARKER.len());
    assert!(received[..sent.len()] == sent[..], "the echo differs");
    assert_eq!(&received[sent.len()..], EOF_MARKER);

    // A host name allowed only through a network rule is resolved and dialled inside it.
    let mut other = second.tunnel.unwrap();
    let (response, mut body_sender) =
        open_stream(&mut other, &format!("localhost:{}", origin.port()))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    body_sender
        .send_data(Bytes::from_static(b"hello"))
        .await
        .unwrap();
    drop(body_sender);
    let received = within("the echo", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&received[..], b"hello<eof>");

    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_origin_may_finish_first_while_the_client_keeps_sending() {
    // An origin that says its piece, half-closes, and only then reads all the client sends.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = listener.local_addr().unwrap();
    let (count_sender, count) = oneshot::channel::<usize>();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (mut reader, mut writer) = socket.into_split();
        writer.write_all(b"greetings").await.unwrap();
        writer.shutdown().await.unwrap();
        let read = tokio::io::copy(&mut reader, &mut tokio::io::sink())
            .await
            .unwrap();
        let _ = count_sender.send(usize::try_from(read).unwrap());
    });
    let mut acceptor = Acceptor::start(vec![Answer::Upgrade]).await;
    let running = Running::start(acceptor.config(&format!("127.0.0.1:{}", origin.port())));
    let (_, mut tunnel) = acceptor.next_tunnel().await;

    let (response, mut body_sender) = open_stream(&mut tunnel, &origin.to_string()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let received = within("the origin's half", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&received[..], b"greetings");
    // The response has ended; the request direction is still open and still delivers.
    let sent = payload(300_000);
    for chunk in sent.chunks(32 * 1024) {
        body_sender
            .send_data(Bytes::copy_from_slice(chunk))
            .await
            .unwrap();
    }
    drop(body_sender);
    assert_eq!(
        within("the origin's count", count).await.unwrap(),
        sent.len()
    );

    running.stop().await.unwrap();
}

#[tokio::test]
async fn refuses_destinations_outside_the_allow_list_without_dialling() {
    let mut acceptor = Acceptor::start(vec![Answer::Upgrade]).await;
    let origin = echo_origin().await;
    let running = Running::start(acceptor.config(&format!("127.0.0.1:{}", origin.port())));
    let (_, mut tunnel) = acceptor.next_tunnel().await;

    let bystander = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    bystander.set_nonblocking(true).unwrap();
    let port = bystander.local_addr().unwrap().port();
    for destination in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let (response, _body) = open_stream(&mut tunnel, &destination).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{destination}");
        let error = error_body(response).await;
        assert_eq!(error.code, error_code::DESTINATION_REFUSED);
        assert_eq!(
            error.message,
            format!("destination {destination} is outside this connector's allow-list")
        );
    }
    // A dial would have completed its handshake before the answer came back, so it would be
    // waiting in the accept queue now.
    let accepted = bystander.accept();
    assert_eq!(
        accepted.map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the connector dialled a refused destination"
    );

    let (response, _body) = open_stream(&mut tunnel, "not a destination").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_body(response).await.code, error_code::BAD_REQUEST);

    running.stop().await.unwrap();
}

#[tokio::test]
async fn reports_an_unreachable_origin() {
    let mut acceptor = Acceptor::start(vec![Answer::Upgrade]).await;
    // A port that was just free and is closed again: the dial is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let running = Running::start(acceptor.config(&format!("127.0.0.1:{port}")));
    let (_, mut tunnel) = acceptor.next_tunnel().await;

    let (response, _body) = open_stream(&mut tunnel, &format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let error = error_body(response).await;
    assert_eq!(error.code, error_code::ORIGIN_UNREACHABLE);
    assert_eq!(
        error.message,
        format!("cannot reach 127.0.0.1:{port}: connection refused")
    );

    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_token_stops_the_connector() {
    let mut acceptor = Acceptor::start(vec![Answer::Refuse(
        StatusCode::UNAUTHORIZED,
        error_code::BAD_CONNECTOR_TOKEN,
        "the connector token is unknown or revoked",
    )])
    .await;
    let running = Running::start(acceptor.config("localhost:22"));
    let error = running.finished().await.unwrap_err();
    assert!(
        matches!(&error, Error::BadToken { message } if message == "the connector token is unknown or revoked"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the server refused the connector token: the connector token is unknown or revoked"
    );
    assert!(acceptor.next_attach().await.tunnel.is_none());
    assert!(
        acceptor.attaches.try_recv().is_err(),
        "a refused token was retried"
    );
}

#[tokio::test]
async fn a_version_mismatch_stops_the_connector() {
    let message = "this connector speaks tunnel protocol 1 but the server needs at least 2: \
                   upgrade the connector";
    let acceptor = Acceptor::start(vec![Answer::Refuse(
        StatusCode::UPGRADE_REQUIRED,
        error_code::VERSION_MISMATCH,
        message,
    )])
    .await;
    let running = Running::start(acceptor.config("localhost:22"));
    let error = running.finished().await.unwrap_err();
    assert!(
        matches!(&error, Error::VersionMismatch { message: got } if got == message),
        "{error:?}"
    );
}

#[tokio::test]
async fn retries_server_errors_and_reconnects_after_a_dropped_connection() {
    let mut acceptor = Acceptor::start(vec![
        Answer::Refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            error_code::INTERNAL,
            "starting up",
        ),
        Answer::Upgrade,
    ])
    .await;
    let origin = echo_origin().await;
    let running = Running::start(acceptor.config(&format!("127.0.0.1:{}", origin.port())));

    let refused = acceptor.next_attach().await;
    assert!(refused.tunnel.is_none());
    let (first_headers, first) = acceptor.next_tunnel().await;

    // The server side goes away without a word: the connector must notice and come back.
    first.connection.abort();
    drop(first);
    let (again_headers, mut again) = acceptor.next_tunnel().await;
    assert_eq!(
        first_headers["postern-replica"],
        again_headers["postern-replica"]
    );
    let (response, body_sender) = open_stream(&mut again, &origin.to_string()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(body_sender);
    let received = within("the echo", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&received[..], EOF_MARKER);

    running.stop().await.unwrap();
}

/// A TCP relay whose existing connections can be frozen: they stay open but carry nothing, as
/// when a network path dies without a FIN or RST.
struct Relay {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    frozen_up_to: tokio::sync::watch::Sender<usize>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (frozen_up_to, frozen) = tokio::sync::watch::channel(0usize);
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let number = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let mut frozen = frozen.clone();
                tokio::spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                    let freeze = async move {
                        let _ = frozen.wait_for(|up_to| *up_to >= number).await;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = freeze => {
                            // Hold both sockets open and silent.
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
        });
        Relay {
            address,
            accepted,
            frozen_up_to,
        }
    }

    /// Freezes every connection accepted so far.
    fn freeze(&self) {
        self.frozen_up_to
            .send_replace(self.accepted.load(Ordering::SeqCst));
    }
}

#[tokio::test]
async fn a_silent_link_is_detected_by_pings_and_replaced() {
    let mut acceptor = Acceptor::start(vec![Answer::Upgrade]).await;
    let relay = Relay::start(acceptor.url.socket_addrs(|| None).unwrap()[0]).await;
    let mut config = acceptor.config("localhost:22");
    config.server = format!("https://127.0.0.1:{}", relay.address.port())
        .parse()
        .unwrap();
    let running = Running::start(config);
    let (_, mut first) = acceptor.next_tunnel().await;
    // A Stream's answer proves both ends are attached before the link dies.
    let (response, _body) = open_stream(&mut first, "localhost:23").await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Elapsed time is the behaviour under test: PING every second, three seconds to answer.
    let frozen_at = Instant::now();
    relay.freeze();
    let (_, _second) = acceptor.next_tunnel().await;
    let took = frozen_at.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "a dead link took {took:?} to replace"
    );
    assert_eq!(relay.accepted.load(Ordering::SeqCst), 2);

    running.stop().await.unwrap();
}

#[tokio::test]
async fn draining_refuses_new_streams_and_lets_running_ones_finish() {
    let mut acceptor = Acceptor::start(vec![Answer::Upgrade]).await;
    let origin = echo_origin().await;
    let mut config = acceptor.config(&format!("127.0.0.1:{}", origin.port()));
    config.grace = Duration::from_secs(120);
    let mut running = Running::start(config);
    let (_, mut tunnel) = acceptor.next_tunnel().await;

    let (response, mut body_sender) = open_stream(&mut tunnel, &origin.to_string()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut response_body = response.into_body();
    body_sender
        .send_data(Bytes::from_static(b"before"))
        .await
        .unwrap();
    let frame = within("the first echo", response_body.frame())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_data().unwrap(), "before");

    running.request_shutdown();
    // GOAWAY reaches the client asynchronously; from then on no Stream opens.
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(
            Instant::now() < deadline,
            "new streams kept opening while draining"
        );
        if open_stream(&mut tunnel, &origin.to_string()).await.is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }

    // The running Stream still carries bytes both ways and ends normally.
    body_sender
        .send_data(Bytes::from_static(b"after"))
        .await
        .unwrap();
    drop(body_sender);
    let rest = within("the rest of the echo", response_body.collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&rest[..], b"after<eof>");
    // With nothing left running, the connector stops long before its 120 s grace period.
    running.finished().await.unwrap();
}

#[tokio::test]
async fn the_grace_period_bounds_the_drain() {
    let mut acceptor = Acceptor::start(vec![Answer::Upgrade]).await;
    let origin = echo_origin().await;
    let mut config = acceptor.config(&format!("127.0.0.1:{}", origin.port()));
    let grace = Duration::from_millis(300);
    config.grace = grace;
    let mut running = Running::start(config);
    let (_, mut tunnel) = acceptor.next_tunnel().await;
    let (response, _body_sender) = open_stream(&mut tunnel, &origin.to_string()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Elapsed time is the behaviour under test here: the Stream never ends by itself.
    let asked = Instant::now();
    running.request_shutdown();
    running.finished().await.unwrap();
    let took = asked.elapsed();
    assert!(
        took >= grace,
        "stopped after {took:?}, before the grace period"
    );
    assert!(
        took < grace + Duration::from_secs(5),
        "stopped only after {took:?}"
    );
    let ended = within("the stream to end", response.into_body().collect()).await;
    assert!(
        ended.is_err(),
        "a stream cut by the deadline must not look complete"
    );
}

#[tokio::test]
async fn an_untrusted_server_is_never_attached() {
    let mut acceptor = Acceptor::start(vec![Answer::Upgrade]).await;
    let mut config = acceptor.config("localhost:22");
    config.ca_file = None;
    let running = Running::start(config);
    let deadline = Instant::now() + DEADLINE;
    // Two failed handshakes: verification failed, and the connector kept retrying.
    while acceptor.handshake_failures.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the connector did not retry");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        acceptor.attaches.try_recv().is_err(),
        "an untrusted server got a request"
    );
    running.stop().await.unwrap();
}
