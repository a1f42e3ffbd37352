//! Native RDP through Postern: `xfreerdp` → `postern access rdp` → server → connector → the
//! FreeRDP shadow server (NLA) and xrdp (TLS).

use std::time::Duration;

use protocol::api::{
    AllowList, AppKind, AppRequest, ConnectorToken, CreateConnectorRequest,
    CreateServiceTokenRequest, ServiceTokenCreated,
};
use tests::ironrdp_peer::IronRdpPeer;
use tests::postern;
use tests::process::wait_for;
use tests::rdp::{RDP_PASSWORD, RDP_USER, Shadow, Xrdp, ensure_user, xfreerdp};
use tests::server::TestServer;

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn xfreerdp_reaches_the_shadow_server_with_nla_and_xrdp_with_tls() {
    ensure_user().unwrap();
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    let created: ConnectorToken = admin
        .post_json(
            "/api/admin/connectors",
            &CreateConnectorRequest {
                name: "office".into(),
            },
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shadow = Shadow::start_nla().await.unwrap();
    let xrdp = Xrdp::start().await.unwrap();
    for (name, port) in [("desktop", shadow.port), ("xrdp", xrdp.port)] {
        let request = AppRequest {
            name: name.into(),
            kind: AppKind::Rdp,
            connector: "office".into(),
            service_url: format!("rdp://127.0.0.1:{port}"),
            session_duration_seconds: None,
            allow: AllowList::default(),
            ssh: None,
        };
        assert_eq!(
            admin
                .post_json("/api/admin/apps", &request)
                .await
                .unwrap()
                .status(),
            201
        );
    }
    let token: ServiceTokenCreated = admin
        .post_json(
            "/api/admin/service-tokens",
            &CreateServiceTokenRequest {
                name: "rdp".into(),
                apps: vec!["desktop".into(), "xrdp".into()],
                expires_in_seconds: None,
            },
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connector = postern::connector(
        &server,
        &created.token,
        &format!("127.0.0.1:{},127.0.0.1:{}", shadow.port, xrdp.port),
        2,
    )
    .unwrap();
    admin.wait_for_connector_links(2).await.unwrap();
    let access = |app: &'static str| {
        let mut command =
            tokio::process::Command::new(tests::process::workspace_binary("postern").unwrap());
        command
            .env("POSTERN_SERVICE_TOKEN_ID", &token.token.id)
            .env("POSTERN_SERVICE_TOKEN_SECRET", &token.secret);
        postern::access_with(&server, "rdp", app, command)
    };

    // Shadow server, NLA: CredSSP runs end to end through the tunnel.
    let (desktop, port) = access("desktop").await.unwrap();
    let mut wrong = xfreerdp(port, "not-the-password", "nla").unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), wrong.wait())
        .await
        .expect("xfreerdp hung on a wrong password")
        .unwrap();
    assert!(!status.success(), "a wrong password was accepted");
    let mut session = xfreerdp(port, RDP_PASSWORD, "nla").unwrap();
    // A refused or broken session ends by itself within seconds; this one must stay up.
    let ended = tokio::time::timeout(Duration::from_secs(8), session.wait()).await;
    assert!(ended.is_err(), "the NLA session ended early: {ended:?}");
    session.kill().await;
    desktop.kill().await;

    // xrdp, TLS: xrdp checks the password itself, after TLS, and says so in its log.
    let (xrdp_access, port) = access("xrdp").await.unwrap();
    let wrong = xfreerdp(port, "not-the-password", "tls").unwrap();
    wait_for(
        "xrdp to refuse the password",
        Duration::from_secs(30),
        || async { xrdp.log_text().contains("login failed").then_some(()) },
    )
    .await
    .unwrap();
    wrong.kill().await;
    assert!(!xrdp.log_text().contains("login successful"));
    let mut session = xfreerdp(port, RDP_PASSWORD, "tls").unwrap();
    wait_for(
        "xrdp to accept the password",
        Duration::from_secs(30),
        || async { xrdp.log_text().contains("login successful").then_some(()) },
    )
    .await
    .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), session.wait()).await;
    assert!(ended.is_err(), "the xrdp session ended early: {ended:?}");
    session.kill().await;
    xrdp_access.kill().await;

    connector.stop().await;
    xrdp.stop().await;
    shadow.stop().await;
}

#[tokio::test]
async fn ironrdp_peer_authenticates_with_nla() {
    let peer = IronRdpPeer::start(RDP_USER, RDP_PASSWORD).await.unwrap();
    // `+auth-only` stops after CredSSP and exits 0 only if the server accepted the password.
    let auth_only = |password: &str| {
        tokio::process::Command::new("xvfb-run")
            .args([
                "-a",
                "xfreerdp",
                &format!("/v:127.0.0.1:{}", peer.port),
                &format!("/u:{RDP_USER}"),
                &format!("/p:{password}"),
                "/sec:nla",
                "/cert:ignore",
                "+auth-only",
                "/log-level:ERROR",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status()
    };
    let status = tokio::time::timeout(Duration::from_secs(30), auth_only(RDP_PASSWORD))
        .await
        .expect("xfreerdp hung")
        .unwrap();
    assert!(status.success(), "the right password was refused: {status}");
    let status = tokio::time::timeout(Duration::from_secs(30), auth_only("not-the-password"))
        .await
        .expect("xfreerdp hung on a wrong password")
        .unwrap();
    assert!(!status.success(), "a wrong password was accepted");
    wait_for(
        "the peer to log the refusal",
        Duration::from_secs(10),
        || async { peer.log_text().contains("LogonDenied").then_some(()) },
    )
    .await
    .unwrap();
    peer.stop().await;
}
