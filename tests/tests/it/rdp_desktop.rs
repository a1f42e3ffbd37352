//! The browser desktop's client wiring (the `rdp` crate the wasm module runs), built natively
//! and driven through the real gateway, connector and RDP servers: the FreeRDP shadow server
//! with NLA and with TLS, xrdp with TLS, and `ironrdp-server` with NLA.

use std::time::Duration;

use protocol::api::AppKind;
use rdp::{ConnectError, Credentials, SessionEvent};
use tests::app_fixture::{AppFixture, AppSpec, USER_DOMAIN};
use tests::ironrdp_peer::{self, IronRdpPeer};
use tests::rdp::{RDP_PASSWORD, RDP_USER, Shadow, Xrdp};
use tests::rdp_client::{NativeRdp, connect_socket};
use tests::terminal::open_websocket;

const APP: &str = "desk";
const LIMIT: Duration = Duration::from_secs(30);

async fn fixture(port: u16) -> AppFixture {
    AppFixture::start(AppSpec {
        name: APP.into(),
        kind: AppKind::Rdp,
        service_url: format!("rdp://127.0.0.1:{port}"),
        connector_allow: format!("127.0.0.1:{port}"),
        user_email: format!("ada@{USER_DOMAIN}"),
        ssh: None,
    })
    .await
    .unwrap()
}

/// Asks for a ticket and connects the way the page does.
/// xrdp behind the gateway, a native client connected and drawing, and its session's display.
async fn xrdp_session() -> (Xrdp, AppFixture, NativeRdp, String) {
    tests::init_logging();
    let xrdp = Xrdp::start().await.unwrap();
    let fixture = fixture(xrdp.port).await;
    let mut desktop = connect(&fixture, RDP_PASSWORD).await.unwrap();
    desktop.first_graphics(LIMIT).await.unwrap();
    let display = xrdp.session_display(LIMIT).await.unwrap();
    (xrdp, fixture, desktop, display)
}

async fn connect(fixture: &AppFixture, password: &str) -> Result<NativeRdp, ConnectError> {
    let ticket = fixture.rdp_ticket(&fixture.user, APP).await.unwrap();
    let socket = open_websocket(&fixture.server, &ticket.gateway_path, &fixture.upgrade())
        .await
        .unwrap()
        .unwrap();
    let credentials = Credentials {
        username: RDP_USER.to_owned(),
        password: password.to_owned(),
        domain: None,
    };
    connect_socket(socket, APP, &ticket.ticket, credentials, 1024, 768).await
}

/// Runs the session until a graphics update has painted something other than black.
async fn wait_for_pixels(desktop: &mut NativeRdp) {
    desktop
        .run_until(LIMIT, |session, events| {
            events
                .iter()
                .any(|e| matches!(e, SessionEvent::Graphics { .. }))
                && session.pixels().chunks(4).any(|p| p[..3] != [0, 0, 0])
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn nla_through_the_gateway_to_the_shadow_server() {
    tests::init_logging();
    let shadow = Shadow::start_nla().await.unwrap();
    let fixture = fixture(shadow.port).await;
    let mut desktop = connect(&fixture, RDP_PASSWORD).await.unwrap();
    wait_for_pixels(&mut desktop).await;
    let bytes = desktop.session.shutdown().unwrap();
    desktop.send(&bytes).await.unwrap();

    match connect(&fixture, "not the password").await {
        Err(error @ ConnectError::AuthenticationFailed(_)) => {
            assert_eq!(error.message(), "The user name or password is not correct.");
        }
        Err(other) => panic!("expected an authentication failure, got {other:?}"),
        Ok(_) => panic!("a wrong password connected"),
    }

    // A forged ticket: the client reports the gateway's refusal.
    let socket = open_websocket(&fixture.server, "/gw/rdp/desk", &fixture.upgrade())
        .await
        .unwrap()
        .unwrap();
    let credentials = Credentials {
        username: RDP_USER.to_owned(),
        password: RDP_PASSWORD.to_owned(),
        domain: None,
    };
    match connect_socket(socket, APP, "forged", credentials, 800, 600).await {
        Err(error @ ConnectError::Gateway { .. }) => {
            assert!(matches!(
                error,
                ConnectError::Gateway {
                    code: 102,
                    http_status: Some(401)
                }
            ));
            assert!(
                error.message().contains("already used or is unknown"),
                "{}",
                error.message()
            );
        }
        Err(other) => panic!("expected the gateway's refusal, got {other:?}"),
        Ok(_) => panic!("a forged ticket connected"),
    }
    fixture.stop().await;
    shadow.stop().await;
}

#[tokio::test]
async fn tls_through_the_gateway_to_the_shadow_server() {
    tests::init_logging();
    let shadow = Shadow::start_tls().await.unwrap();
    let fixture = fixture(shadow.port).await;
    let mut desktop = connect(&fixture, RDP_PASSWORD).await.unwrap();
    wait_for_pixels(&mut desktop).await;
    fixture.stop().await;
    shadow.stop().await;
}

#[tokio::test]
async fn tls_through_the_gateway_to_xrdp() {
    tests::init_logging();
    let xrdp = Xrdp::start().await.unwrap();
    let fixture = fixture(xrdp.port).await;
    let mut desktop = connect(&fixture, RDP_PASSWORD).await.unwrap();
    // xrdp's session (autologon, so no greeter) draws as soon as its X server is up.
    desktop
        .first_graphics(LIMIT)
        .await
        .unwrap_or_else(|error| panic!("{error:#}\nxrdp log:\n{}", xrdp.log_text()));
    assert!(
        xrdp.log_text().contains("login successful"),
        "{}",
        xrdp.log_text()
    );
    fixture.stop().await;
    xrdp.stop().await;
}

#[tokio::test]
async fn nla_through_the_gateway_to_ironrdp_server() {
    tests::init_logging();
    let peer = IronRdpPeer::start(RDP_USER, RDP_PASSWORD).await.unwrap();
    let fixture = fixture(peer.port).await;
    let mut desktop = connect(&fixture, RDP_PASSWORD).await.unwrap();
    let [_, red, green, blue] = ironrdp_peer::COLOR.to_be_bytes();
    // The centre shows the peer's colour (its codec is lossy: a few units either way).
    let centre = |session: &rdp::Session| {
        let offset = (usize::from(session.height() / 2) * usize::from(session.width())
            + usize::from(session.width() / 2))
            * 4;
        session.pixels()[offset..offset + 3].to_vec()
    };
    desktop
        .run_until(LIMIT, |session, _| {
            centre(session)
                .iter()
                .zip([red, green, blue])
                .all(|(&got, want)| got.abs_diff(want) <= 6)
        })
        .await
        .unwrap_or_else(|error| panic!("{error:#}\npeer log:\n{}", peer.log_text()));
    // Keystrokes reach the server: `a` is scancode 0x1E.
    for pressed in [true, false] {
        let bytes = desktop.session.key("KeyA", pressed).unwrap();
        desktop.send(&bytes).await.unwrap();
    }
    tests::process::wait_for("the key in the peer's log", LIMIT, || async {
        let log = peer.log_text();
        (log.contains("key 0x1e down") && log.contains("key 0x1e up")).then_some(())
    })
    .await
    .unwrap();

    match connect(&fixture, "not the password").await {
        Err(error @ ConnectError::AuthenticationFailed(_)) => {
            assert_eq!(error.message(), "The user name or password is not correct.");
        }
        Err(other) => panic!("expected an authentication failure, got {other:?}"),
        Ok(_) => panic!("a wrong password connected"),
    }
    fixture.stop().await;
    peer.stop().await;
}

/// Asks for a `width` × `height` desktop through display control and waits for the server to
/// reactivate the session at that size.
async fn resize(desktop: &mut NativeRdp, width: u16, height: u16) -> anyhow::Result<()> {
    // The display-control channel opens shortly after the session starts; until then `resize`
    // has nothing to send.
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let bytes = desktop.session.resize(width, height)?;
        if !bytes.is_empty() {
            desktop.send(&bytes).await?;
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "display control never opened"
        );
        let _ = desktop
            .run_until(Duration::from_millis(200), |_, _| false)
            .await;
    }
    desktop
        .run_until(LIMIT, |_, events| {
            events.iter().any(|e| {
                matches!(e, SessionEvent::DesktopResized { width: w, height: h } if (*w, *h) == (width, height))
            })
        })
        .await?;
    anyhow::ensure!(
        (desktop.session.width(), desktop.session.height()) == (width, height),
        "the session is {}x{}",
        desktop.session.width(),
        desktop.session.height()
    );
    Ok(())
}

#[tokio::test]
async fn ironrdp_server_resizes_through_display_control() {
    tests::init_logging();
    let peer = IronRdpPeer::start(RDP_USER, RDP_PASSWORD).await.unwrap();
    let fixture = fixture(peer.port).await;
    let mut desktop = connect(&fixture, RDP_PASSWORD).await.unwrap();
    desktop.first_graphics(LIMIT).await.unwrap();
    resize(&mut desktop, 800, 600)
        .await
        .unwrap_or_else(|error| panic!("{error:#}\npeer log:\n{}", peer.log_text()));
    assert!(
        peer.log_text().contains("layout 800x600"),
        "{}",
        peer.log_text()
    );
    fixture.stop().await;
    peer.stop().await;
}

#[tokio::test]
async fn xrdp_resizes_through_display_control() {
    let (xrdp, fixture, mut desktop, display) = xrdp_session().await;
    let first = Xrdp::screen_size(&display).await.unwrap();
    assert_eq!(
        first,
        (
            u32::from(desktop.session.width()),
            u32::from(desktop.session.height())
        )
    );
    resize(&mut desktop, 800, 600)
        .await
        .unwrap_or_else(|error| panic!("{error:#}\nxrdp log:\n{}", xrdp.log_text()));
    // The session's X screen follows (xorgxrdp resizes it through RandR).
    tests::process::wait_for("the session's screen at 800x600", LIMIT, || async {
        (Xrdp::screen_size(&display).await.ok()? == (800, 600)).then_some(())
    })
    .await
    .unwrap();
    // And it keeps drawing at the new size.
    desktop.first_graphics(LIMIT).await.unwrap();
    fixture.stop().await;
    xrdp.stop().await;
}

#[tokio::test]
async fn text_clipboard_both_ways_with_xrdp() {
    let (xrdp, fixture, mut desktop, display) = xrdp_session().await;
    let xclip = |args: &[&str]| {
        let mut command = Xrdp::on_session(&display, "xclip");
        command
            .args(["-selection", "clipboard"])
            .args(args)
            .stdin(std::process::Stdio::piped());
        command
    };

    // Copied on the remote side: the client is told and fetches the text. xrdp's clipboard
    // helper starts with the session and sees only copies made after it, so copy again until
    // one arrives.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let mut arrived = false;
    while !arrived {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the remote copy never arrived\nxrdp log:\n{}",
            xrdp.log_text()
        );
        let mut owner = xclip(&["-i", "-quiet"]).spawn().unwrap();
        let mut stdin = owner.stdin.take().unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, "copied remotely ✓".as_bytes())
            .await
            .unwrap();
        drop(stdin);
        arrived = desktop
            .run_until(Duration::from_secs(3), |_, events| {
                events.iter().any(
                    |e| matches!(e, SessionEvent::ClipboardText(text) if text == "copied remotely ✓"),
                )
            })
            .await
            .is_ok();
        let _ = owner.kill().await;
    }

    // Copied in the browser: pasting remotely asks the client for it.
    let bytes = desktop
        .session
        .set_clipboard_text("copied locally ✓")
        .unwrap();
    desktop.send(&bytes).await.unwrap();
    let _ = desktop
        .run_until(Duration::from_millis(500), |_, _| false)
        .await;
    let mut paste = xclip(&["-o"]).spawn().unwrap();
    let mut stdout = paste.stdout.take().unwrap();
    let reader = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
            .await
            .map(|_| text)
    });
    // The session must keep running to answer the server's request for the data.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !reader.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the remote paste never finished"
        );
        let _ = desktop
            .run_until(Duration::from_millis(200), |_, _| false)
            .await;
    }
    let pasted = reader.await.unwrap().unwrap();
    assert_eq!(pasted, "copied locally ✓");
    fixture.stop().await;
    xrdp.stop().await;
}
