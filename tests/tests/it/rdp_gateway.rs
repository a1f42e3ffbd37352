//! The browser RDP gateway, byte by byte: RDCleanPath requests over the WebSocket the web app
//! opens, against a stand-in RDP origin (X.224 confirm, then TLS with a throwaway key, then
//! echo) that counts its connections, so a test can tell that a refusal dialled nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ironrdp_rdcleanpath::{RDCleanPathMessage, RDCleanPathPdu};
use protocol::api::{AppKind, AppSummary};
use protocol::rdp::{error_code, ticket_path};
use protocol::ssh::{RecordingKind, RecordingSummary};
use tests::app_fixture::{AppFixture, AppSpec, USER_DOMAIN};
use tests::terminal::{Socket, Upgrade, open_websocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const APP: &str = "desk";
const LIMIT: Duration = Duration::from_secs(20);

/// An X.224 Connection Request offering TLS and CredSSP, as RDP clients send it.
const CONNECTION_REQUEST: &[u8] = &[3, 0, 0, 19, 14, 0xE0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0];
/// The origin's Connection Confirm choosing TLS.
const CONFIRM_TLS: &[u8] = &[
    3, 0, 0, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0, 2, 0x1F, 8, 0, 1, 0, 0, 0,
];
/// A Connection Confirm refusing: SSL_NOT_ALLOWED_BY_SERVER.
const CONFIRM_FAILURE: &[u8] = &[
    3, 0, 0, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0, 3, 0, 8, 0, 2, 0, 0, 0,
];

/// How the stand-in origin answers.
#[derive(Clone)]
enum Answer {
    /// Bytes that are not RDP.
    Garbage,
    /// A negotiation failure.
    Refuse,
    /// TLS with this configuration, then echo.
    Tls(Arc<rustls::ServerConfig>),
}

struct Origin {
    port: u16,
    accepted: Arc<AtomicUsize>,
    answer: Arc<Mutex<Answer>>,
    task: tokio::task::JoinHandle<()>,
}

fn tls_identity() -> (Arc<rustls::ServerConfig>, Vec<u8>) {
    let certified = rcgen::generate_simple_self_signed(vec!["desk.test".to_owned()]).unwrap();
    let der = certified.cert.der().to_vec();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    (Arc::new(config), der)
}

impl Origin {
    async fn start(answer: Answer) -> Origin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(Mutex::new(answer));
        let task = tokio::spawn({
            let accepted = Arc::clone(&accepted);
            let answer = Arc::clone(&answer);
            async move {
                while let Ok((mut tcp, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let answer = answer.lock().unwrap().clone();
                    tokio::spawn(async move {
                        let mut request = [0u8; 19];
                        if tcp.read_exact(&mut request).await.is_err()
                            || request != CONNECTION_REQUEST
                        {
                            return;
                        }
                        match answer {
                            Answer::Garbage => {
                                let _ = tcp.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
                            }
                            Answer::Refuse => {
                                let _ = tcp.write_all(CONFIRM_FAILURE).await;
                            }
                            Answer::Tls(config) => {
                                if tcp.write_all(CONFIRM_TLS).await.is_err() {
                                    return;
                                }
                                let Ok(mut tls) =
                                    tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
                                else {
                                    return;
                                };
                                let mut buffer = [0u8; 4096];
                                while let Ok(n) = tls.read(&mut buffer).await {
                                    if n == 0
                                        || tls.write_all(&buffer[..n]).await.is_err()
                                        || tls.flush().await.is_err()
                                    {
                                        break;
                                    }
                                }
                            }
                        }
                    });
                }
            }
        });
        Origin {
            port,
            accepted,
            answer,
            task,
        }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fixture(origin: &Origin) -> AppFixture {
    AppFixture::start(AppSpec {
        name: APP.into(),
        kind: AppKind::Rdp,
        service_url: format!("rdp://127.0.0.1:{}", origin.port),
        connector_allow: format!("127.0.0.1:{}", origin.port),
        user_email: format!("ada@{USER_DOMAIN}"),
        ssh: None,
    })
    .await
    .unwrap()
}

async fn ticket(fixture: &AppFixture) -> String {
    let ticket = fixture.rdp_ticket(&fixture.user, APP).await.unwrap();
    assert_eq!(ticket.gateway_path, "/gw/rdp/desk");
    assert!(ticket.expires_in_secs <= 60);
    ticket.ticket
}

fn request(ticket: &str) -> Vec<u8> {
    RDCleanPathPdu::new_request(
        CONNECTION_REQUEST.to_vec(),
        "anything".into(),
        ticket.into(),
        None,
    )
    .unwrap()
    .to_der()
    .unwrap()
}

async fn open(fixture: &AppFixture, upgrade: &Upgrade) -> Socket {
    open_websocket(&fixture.server, "/gw/rdp/desk", upgrade)
        .await
        .unwrap()
        .unwrap_or_else(|refused| panic!("refused: {refused:?}"))
}

/// What the gateway sent back: the PDU (if any) and the close frame.
#[derive(Debug)]
struct Answered {
    pdu: Option<RDCleanPathMessage>,
    close: Option<(u16, String)>,
}

/// Sends `messages` (each one binary WebSocket message), then reads the answer.
async fn exchange(socket: &mut Socket, messages: Vec<Message>) -> Answered {
    for message in messages {
        // The gateway may answer and close after the first message it rejects; what it said
        // is still there to read.
        if socket.send(message).await.is_err() {
            break;
        }
    }
    let mut answered = Answered {
        pdu: None,
        close: None,
    };
    let mut received = Vec::new();
    let read = async {
        while let Some(Ok(message)) = socket.next().await {
            match message {
                Message::Binary(bytes) => {
                    received.extend_from_slice(&bytes);
                    if let Ok(pdu) = RDCleanPathPdu::from_der(&received) {
                        answered.pdu = Some(pdu.into_message().unwrap());
                        if matches!(answered.pdu, Some(RDCleanPathMessage::Response { .. })) {
                            return;
                        }
                    }
                }
                Message::Close(frame) => {
                    answered.close =
                        frame.map(|frame| (u16::from(frame.code), frame.reason.to_string()));
                    return;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(LIMIT, read)
        .await
        .expect("the gateway answered in time");
    answered
}

/// Opens a desktop WebSocket as the person and sends a request with a fresh ticket.
async fn connect(fixture: &AppFixture) -> (Socket, Answered) {
    let mut socket = open(fixture, &fixture.upgrade()).await;
    let answered = exchange(
        &mut socket,
        vec![Message::Binary(request(&ticket(fixture).await).into())],
    )
    .await;
    (socket, answered)
}

/// The RDCleanPath error in `answered`, as (code, HTTP status).
fn error(answered: &Answered) -> (u16, Option<u16>) {
    match &answered.pdu {
        Some(RDCleanPathMessage::GeneralErr(error)) => (error.error_code, error.http_status_code),
        other => panic!("not an error PDU: {other:?} (close {:?})", answered.close),
    }
}

async fn refusal(fixture: &AppFixture, messages: Vec<Message>) -> Answered {
    let mut socket = open(fixture, &fixture.upgrade()).await;
    let answered = exchange(&mut socket, messages).await;
    assert!(
        answered.close.is_some(),
        "the gateway closes after an error: {answered:?}"
    );
    answered
}

#[tokio::test]
async fn bad_requests_and_tickets_get_an_error_pdu_and_dial_nothing() {
    tests::init_logging();
    let origin = Origin::start(Answer::Garbage).await;
    let fixture = fixture(&origin).await;

    // Not RDCleanPath at all.
    let answered = refusal(
        &fixture,
        vec![Message::Binary(b"GET / HTTP/1.1\r\n\r\n".to_vec().into())],
    )
    .await;
    assert_eq!(error(&answered), (error_code::GENERAL, Some(400)));
    assert_eq!(answered.close.as_ref().unwrap().0, 1008);
    // A text message where the request belongs.
    let answered = refusal(&fixture, vec![Message::Text("hello".into())]).await;
    assert_eq!(error(&answered), (error_code::GENERAL, Some(400)));
    // Oversized: a ticket of 20 kB, sent in pieces.
    let oversized = request(&"x".repeat(20_000));
    let pieces = oversized
        .chunks(4096)
        .map(|piece| Message::Binary(piece.to_vec().into()))
        .collect();
    let answered = refusal(&fixture, pieces).await;
    assert_eq!(error(&answered), (error_code::GENERAL, Some(413)));
    // A request followed by RDP bytes before the answer.
    let mut eager = request(&ticket(&fixture).await);
    eager.extend_from_slice(&[0x16, 3, 1]);
    let answered = refusal(&fixture, vec![Message::Binary(eager.into())]).await;
    assert_eq!(error(&answered), (error_code::GENERAL, Some(400)));
    // A ticket nobody issued.
    let answered = refusal(
        &fixture,
        vec![Message::Binary(request("not-a-ticket").into())],
    )
    .await;
    assert_eq!(error(&answered), (error_code::REVOKED, Some(401)));
    assert!(
        answered
            .close
            .as_ref()
            .unwrap()
            .1
            .contains("already used or never issued")
    );
    // A ticket of another Session of the same person.
    let (other, _) = fixture.signed_in("ada").await.unwrap();
    let foreign = fixture.rdp_ticket(&other, APP).await.unwrap();
    let answered = refusal(
        &fixture,
        vec![Message::Binary(request(&foreign.ticket).into())],
    )
    .await;
    assert_eq!(error(&answered), (error_code::REVOKED, Some(401)));
    assert!(
        answered
            .close
            .as_ref()
            .unwrap()
            .1
            .contains("another session")
    );
    // An expired ticket, written straight into the store.
    let expired = server::secret::random_token();
    let session = fixture
        .server
        .store()
        .session_by_token_hash(&server::secret::hash_token(&fixture.token))
        .await
        .unwrap()
        .unwrap();
    let app = fixture
        .server
        .store()
        .app_by_name(APP)
        .await
        .unwrap()
        .unwrap();
    fixture
        .server
        .store()
        .insert_rdp_ticket(server::store::RdpTicket {
            ticket_hash: server::secret::hash_token(&expired),
            user_id: session.user.id.clone(),
            app_id: app.id.clone(),
            session_id: session.id.clone(),
            expires_at: time::OffsetDateTime::now_utc().unix_timestamp() - 1,
        })
        .await
        .unwrap();
    let answered = refusal(&fixture, vec![Message::Binary(request(&expired).into())]).await;
    assert_eq!(error(&answered), (error_code::EXPIRED, Some(401)));

    assert_eq!(origin.connections(), 0, "no refusal dialled the origin");
    fixture
        .assert_denials_audited(&[
            "already used or never issued",
            "another session",
            "ticket expired",
        ])
        .await
        .unwrap();
    fixture.stop().await;
}

#[tokio::test]
async fn a_ticket_works_once_and_origin_failures_are_reported() {
    tests::init_logging();
    let origin = Origin::start(Answer::Garbage).await;
    let fixture = fixture(&origin).await;
    let ticket = ticket(&fixture).await;
    // The origin is not an RDP server.
    let answered = refusal(&fixture, vec![Message::Binary(request(&ticket).into())]).await;
    assert_eq!(error(&answered), (error_code::GENERAL, Some(502)));
    assert_eq!(answered.close.as_ref().unwrap().0, 1011);
    assert_eq!(origin.connections(), 1);
    // The same ticket again.
    let answered = refusal(&fixture, vec![Message::Binary(request(&ticket).into())]).await;
    assert_eq!(error(&answered), (error_code::REVOKED, Some(401)));
    assert_eq!(origin.connections(), 1, "a replayed ticket dials nothing");
    // The origin refuses the offered protocols: its confirm comes back as a negotiation error.
    *origin.answer.lock().unwrap() = Answer::Refuse;
    let ticket = self::ticket(&fixture).await;
    let answered = refusal(&fixture, vec![Message::Binary(request(&ticket).into())]).await;
    match answered.pdu {
        Some(RDCleanPathMessage::NegotiationErr {
            x224_connection_response,
        }) => {
            assert_eq!(x224_connection_response, CONFIRM_FAILURE);
        }
        other => panic!("expected a negotiation error: {other:?}"),
    }
    fixture.stop().await;
}

#[tokio::test]
async fn the_upgrade_and_the_ticket_need_the_web_app_and_the_policy() {
    tests::init_logging();
    let origin = Origin::start(Answer::Garbage).await;
    let fixture = fixture(&origin).await;
    for upgrade in [
        Upgrade {
            origin: Some("https://evil.test".into()),
            ..fixture.upgrade()
        },
        Upgrade {
            origin: None,
            ..fixture.upgrade()
        },
    ] {
        let refused = open_websocket(&fixture.server, "/gw/rdp/desk", &upgrade)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.status, 403, "{refused:?}");
    }
    for session in [None, Some(server::secret::random_token())] {
        let upgrade = Upgrade {
            session,
            ..fixture.upgrade()
        };
        let refused = open_websocket(&fixture.server, "/gw/rdp/desk", &upgrade)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.status, 401, "{refused:?}");
    }
    // Tickets: only for RDP Apps the caller may use, only with a Session.
    let response = fixture
        .user
        .post_json(&ticket_path("nope"), &())
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let anonymous = fixture.server.client().unwrap();
    assert_eq!(
        anonymous
            .post_json(&ticket_path(APP), &())
            .await
            .unwrap()
            .status(),
        401
    );
    let (mallory, _) = fixture.outsider("mallory").await.unwrap();
    let response = mallory.post_json(&ticket_path(APP), &()).await.unwrap();
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("matches no allow rule"), "{body}");
    assert_eq!(origin.connections(), 0);
    fixture.stop().await;
}

#[tokio::test]
async fn the_gateway_pins_the_origin_key_relays_and_records() {
    tests::init_logging();
    let (config, leaf) = tls_identity();
    let origin = Origin::start(Answer::Tls(config)).await;
    let fixture = fixture(&origin).await;

    let (mut socket, answered) = connect(&fixture).await;
    let Some(RDCleanPathMessage::Response {
        x224_connection_response,
        server_cert_chain,
        server_addr,
    }) = answered.pdu
    else {
        panic!("expected a response: {answered:?}");
    };
    assert_eq!(x224_connection_response.as_bytes(), CONFIRM_TLS);
    assert_eq!(
        server_cert_chain.first().map(|c| c.as_bytes().to_vec()),
        Some(leaf.clone())
    );
    assert_eq!(server_addr, format!("127.0.0.1:{}", origin.port));
    // The relay: what the browser sends reaches the origin inside TLS, and its echo comes back.
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    socket
        .send(Message::Binary(payload.clone().into()))
        .await
        .unwrap();
    let mut echoed = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while echoed.len() < payload.len() {
            match socket.next().await {
                Some(Ok(Message::Binary(bytes))) => echoed.extend_from_slice(&bytes),
                other => panic!("relay broke: {other:?}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(echoed, payload);
    socket.close(None).await.unwrap();

    // The key is pinned now and shown to admins.
    let apps: Vec<AppSummary> = fixture
        .admin
        .get("/api/admin/apps")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pinned = apps
        .iter()
        .find(|app| app.name == APP)
        .unwrap()
        .host_key_fingerprint
        .clone()
        .unwrap();
    assert!(pinned.starts_with("SHA256:"), "{pinned}");

    // The recording holds what the origin sent, with timestamps.
    let recordings = tests::process::wait_for("the ended recording", LIMIT, || async {
        let recordings: Vec<RecordingSummary> =
            fixture.admin.get_json("/api/admin/recordings").await.ok()?;
        recordings
            .iter()
            .any(|r| r.ended_at.is_some())
            .then_some(recordings)
    })
    .await
    .unwrap();
    let recording = &recordings[0];
    assert_eq!(recording.kind, RecordingKind::Desktop);
    assert_eq!(recording.actor, "user:ada");
    let file = fixture
        .admin
        .get(&protocol::ssh::recording_cast_path(&recording.id))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (header, records) = server::rdp::recording::parse(&file).unwrap();
    assert_eq!(header["app"], APP);
    let replayed: Vec<u8> = records.iter().flat_map(|r| r.bytes.clone()).collect();
    assert_eq!(
        replayed, payload,
        "the recording is the origin's byte stream"
    );
    assert!(records.windows(2).all(|w| w[0].at <= w[1].at));
    // People cannot read recordings.
    assert_eq!(
        fixture
            .user
            .get("/api/admin/recordings")
            .await
            .unwrap()
            .status(),
        403
    );

    // A new key on the same origin is refused until an admin re-pins.
    let (config, _) = tls_identity();
    *origin.answer.lock().unwrap() = Answer::Tls(config);
    let answered = refusal(
        &fixture,
        vec![Message::Binary(request(&ticket(&fixture).await).into())],
    )
    .await;
    assert_eq!(error(&answered).0, error_code::HOST_KEY_CHANGED);
    let reason = &answered.close.as_ref().unwrap().1;
    assert!(reason.contains("changed"), "{reason}");
    let response = fixture
        .admin
        .delete(&format!("/api/admin/apps/{APP}/host-key"))
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (mut socket, answered) = connect(&fixture).await;
    assert!(
        matches!(answered.pdu, Some(RDCleanPathMessage::Response { .. })),
        "{answered:?}"
    );

    // Revoking the person's Session ends the running desktop.
    fixture.revoke_session_of("ada").await.unwrap();
    let ended = exchange(&mut socket, Vec::new()).await;
    let (code, reason) = ended.close.expect("the desktop was closed");
    assert_eq!(code, 1008);
    assert!(reason.contains("revoked"), "{reason}");
    fixture.stop().await;
}

#[tokio::test]
async fn taking_the_person_off_the_app_ends_the_desktop() {
    tests::init_logging();
    let (config, _) = tls_identity();
    let origin = Origin::start(Answer::Tls(config)).await;
    let fixture = fixture(&origin).await;
    let (mut socket, answered) = connect(&fixture).await;
    assert!(
        matches!(answered.pdu, Some(RDCleanPathMessage::Response { .. })),
        "{answered:?}"
    );

    fixture.withdraw_access().await.unwrap();
    let ended = exchange(&mut socket, Vec::new()).await;
    let (code, reason) = ended.close.expect("the desktop was closed");
    assert_eq!(code, 1008);
    fixture.assert_withdrawn(&reason).await.unwrap();
    fixture.stop().await;
}
