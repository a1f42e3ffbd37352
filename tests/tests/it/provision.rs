//! Provisioning Connectors, Apps and Service tokens through the admin API and through
//! `postern-server admin`, and the Audit trail both leave.

use protocol::api::{
    AllowList, AppKind, AppRequest, AppSummary, AuditEvent, ConnectorSummary, ConnectorToken,
    CreateConnectorRequest, CreateServiceTokenRequest, ServiceTokenCreated, error_code,
};
use tests::server::{TestServer, error_code as code_of};

const PASSWORD: &str = "correct horse battery staple";

fn app_request(name: &str, connector: &str, url: &str) -> AppRequest {
    AppRequest {
        name: name.to_owned(),
        kind: AppKind::Tcp,
        connector: connector.to_owned(),
        service_url: url.to_owned(),
        session_duration_seconds: None,
        allow: AllowList {
            emails: vec!["ada@example.test".into()],
            ..AllowList::default()
        },
        ssh: None,
    }
}

#[tokio::test]
async fn admin_api_provisions_connectors_apps_and_service_tokens() {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();

    let response = admin
        .post_json(
            "/api/admin/connectors",
            &CreateConnectorRequest {
                name: "office".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: ConnectorToken = response.json().await.unwrap();
    assert_eq!(created.connector.name, "office");
    assert_eq!(created.token.len(), 43);
    // The token is stored hashed: the database file never contains it.
    let database = std::fs::read(server.data_dir().join("postern.db")).unwrap();
    assert!(!database.windows(43).any(|w| w == created.token.as_bytes()));

    for (body, status) in [
        (
            CreateConnectorRequest {
                name: "office".into(),
            },
            409,
        ),
        (
            CreateConnectorRequest {
                name: "Bad Name".into(),
            },
            400,
        ),
    ] {
        assert_eq!(
            admin
                .post_json("/api/admin/connectors", &body)
                .await
                .unwrap()
                .status(),
            status,
            "{body:?}"
        );
    }

    let response = admin
        .post_json(
            "/api/admin/apps",
            &app_request("db", "office", "tcp://127.0.0.1:5432"),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let app: AppSummary = response.json().await.unwrap();
    assert_eq!(
        (app.connector.as_str(), app.session_duration_seconds),
        ("office", 8 * 3600)
    );
    let bad_apps = [
        (app_request("db", "office", "tcp://127.0.0.1:5432"), 409),
        (app_request("nope", "missing", "tcp://127.0.0.1:1"), 404),
        (app_request("nope", "office", "tcp://127.0.0.1"), 400),
        (app_request("nope", "office", "ssh://127.0.0.1:22"), 400),
        (
            AppRequest {
                session_duration_seconds: Some(1),
                ..app_request("nope", "office", "tcp://h:1")
            },
            400,
        ),
        (
            AppRequest {
                allow: AllowList {
                    email_domains: vec!["@x".into()],
                    ..AllowList::default()
                },
                ..app_request("nope", "office", "tcp://h:1")
            },
            400,
        ),
        // SSH settings only for SSH apps, and only safe principal names.
        (
            AppRequest {
                ssh: Some(protocol::ssh::SshSettings::default()),
                ..app_request("nope", "office", "tcp://h:1")
            },
            400,
        ),
        (
            AppRequest {
                ssh: Some(protocol::ssh::SshSettings {
                    principals: protocol::ssh::PrincipalSource::List {
                        principals: vec![protocol::ssh::PrincipalRule {
                            name: "-oProxyCommand=x".into(),
                            allow: None,
                        }],
                    },
                    record_input: false,
                }),
                ..app_request("nope", "office", "ssh://h:22")
            },
            400,
        ),
    ];
    for (request, status) in bad_apps {
        assert_eq!(
            admin
                .post_json("/api/admin/apps", &request)
                .await
                .unwrap()
                .status(),
            status,
            "{request:?}"
        );
    }
    let updated = admin
        .put_json(
            "/api/admin/apps/db",
            &AppRequest {
                service_url: "tcp://127.0.0.1:6543".into(),
                ..app_request("db", "office", "")
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let apps: Vec<AppSummary> = admin
        .get("/api/admin/apps")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].service_url, "tcp://127.0.0.1:6543");

    let response = admin
        .post_json(
            "/api/admin/service-tokens",
            &CreateServiceTokenRequest {
                name: "ci".into(),
                apps: vec!["db".into()],
                expires_in_seconds: Some(3600),
            },
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let token: ServiceTokenCreated = response.json().await.unwrap();
    assert_eq!(token.token.apps, ["db"]);
    let response = admin
        .post_json(
            "/api/admin/service-tokens",
            &CreateServiceTokenRequest {
                name: "ci2".into(),
                apps: vec!["nope".into()],
                expires_in_seconds: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let rotated = admin
        .post_json(
            "/api/admin/connectors/office/rotate",
            &serde_json::json!({}),
        )
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    let rotated: ConnectorToken = rotated.json().await.unwrap();
    assert_ne!(rotated.token, created.token);
    assert_eq!(
        admin
            .delete("/api/admin/connectors/office")
            .await
            .unwrap()
            .status(),
        204
    );
    let connectors: Vec<ConnectorSummary> = admin
        .get("/api/admin/connectors")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(connectors[0].revoked);
    assert_eq!(
        admin
            .delete(&format!("/api/admin/service-tokens/{}", token.token.id))
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        admin.delete("/api/admin/apps/db").await.unwrap().status(),
        204
    );
    assert_eq!(
        admin.delete("/api/admin/apps/db").await.unwrap().status(),
        404
    );

    let audit: Vec<AuditEvent> = admin.get_json("/api/admin/audit?limit=50").await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    for action in [
        "connector.create",
        "app.create",
        "app.update",
        "service-token.create",
        "connector.rotate",
        "connector.revoke",
        "service-token.revoke",
        "app.delete",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    assert!(audit.iter().all(|e| e.actor == "user:root"));
    // Newest first, and paging goes back in time.
    assert!(audit.windows(2).all(|pair| pair[0].id > pair[1].id));
    let older: Vec<AuditEvent> = admin
        .get(&format!("/api/admin/audit?before={}", audit[0].id))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(older[0].id, audit[1].id);
}

fn server_binary() -> std::path::PathBuf {
    tests::process::workspace_binary("postern-server").unwrap()
}

async fn admin_cli(data_dir: &std::path::Path, args: &[&str]) -> (bool, serde_json::Value, String) {
    let output = tokio::process::Command::new(server_binary())
        .arg("admin")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--json")
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        output.status.success(),
        json,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn admin_cli_provisions_against_the_data_dir_of_a_running_server() {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    let dir = server.data_dir();

    let (ok, created, _) = admin_cli(dir, &["connector", "create", "office"]).await;
    assert!(ok);
    assert_eq!(created["token"].as_str().unwrap().len(), 43);
    let (ok, app, stderr) = admin_cli(
        dir,
        &[
            "app",
            "create",
            "db",
            "--kind",
            "tcp",
            "--connector",
            "office",
            "--url",
            "tcp://127.0.0.1:5201",
            "--allow-email",
            "a@b.c",
            "--allow-group",
            "dba",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(app["allow"]["groups"][0], "dba");
    let (ok, token, _) = admin_cli(
        dir,
        &[
            "service-token",
            "create",
            "ci",
            "--app",
            "db",
            "--expires-in",
            "30d",
        ],
    )
    .await;
    assert!(ok);
    assert_eq!(token["secret"].as_str().unwrap().len(), 43);

    // Refusals are clear and change nothing.
    for (args, words) in [
        (vec!["connector", "create", "office"], "exists already"),
        (
            vec![
                "app",
                "create",
                "x",
                "--kind",
                "tcp",
                "--connector",
                "ghost",
                "--url",
                "tcp://h:1",
            ],
            "no connector is called ghost",
        ),
        (
            vec![
                "app",
                "create",
                "x",
                "--kind",
                "tcp",
                "--connector",
                "office",
                "--url",
                "tcp://h",
            ],
            "needs a port",
        ),
        (
            vec!["service-token", "create", "t", "--app", "ghost"],
            "no app is called ghost",
        ),
        (
            vec!["connector", "revoke", "ghost"],
            "no connector is called ghost",
        ),
    ] {
        let (ok, _, stderr) = admin_cli(dir, &args).await;
        assert!(!ok, "{args:?}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }

    // The running server sees what the CLI wrote.
    let apps: Vec<AppSummary> = admin
        .get("/api/admin/apps")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["db"]
    );
    let (ok, audit, _) = admin_cli(dir, &["audit", "--limit", "10"]).await;
    assert!(ok);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "service-token.create"
                && e["actor"] == "cli:postern-server-admin")
    );

    // Against the running server's admin API with an admin's token, from anywhere.
    let response = admin.sign_in_local("root", PASSWORD).await.unwrap();
    let admin_token = tests::server::session_token(&response).unwrap();
    let remote = |token: &str, args: &[&str]| {
        let mut command = tokio::process::Command::new(server_binary());
        command
            .args(["admin", "--server", &server.origin, "--ca"])
            .arg(&server.report.cert_path)
            .args(["--token", token, "--json"])
            .args(args);
        command.output()
    };
    let output = remote(&admin_token, &["connector", "create", "branch"])
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["connector"]["name"], "branch");
    let output = remote(&admin_token, &["app", "list"]).await.unwrap();
    let apps: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(apps[0]["name"], "db");
    let (_, bob_token) = server
        .local_user(&admin, "bob", None, PASSWORD)
        .await
        .unwrap();
    let output = remote(&bob_token, &["connector", "create", "sneaky"])
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("admin role"));

    let missing = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = admin_cli(missing.path(), &["app", "list"]).await;
    assert!(!ok && stderr.contains("no Postern database"), "{stderr}");
}

#[tokio::test]
async fn gateway_refuses_missing_bad_and_unauthorized_credentials_and_audits_them() {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    admin
        .post_json(
            "/api/admin/connectors",
            &CreateConnectorRequest {
                name: "office".into(),
            },
        )
        .await
        .unwrap();
    admin
        .post_json(
            "/api/admin/apps",
            &app_request("db", "office", "tcp://127.0.0.1:5432"),
        )
        .await
        .unwrap();
    admin
        .post_json(
            "/api/admin/apps",
            &app_request("other", "office", "tcp://127.0.0.1:5433"),
        )
        .await
        .unwrap();
    let token: ServiceTokenCreated = admin
        .post_json(
            "/api/admin/service-tokens",
            &CreateServiceTokenRequest {
                name: "ci".into(),
                apps: vec!["db".into()],
                expires_in_seconds: Some(3600),
            },
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let revoked: ServiceTokenCreated = admin
        .post_json(
            "/api/admin/service-tokens",
            &CreateServiceTokenRequest {
                name: "old".into(),
                apps: vec!["db".into()],
                expires_in_seconds: Some(3600),
            },
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    admin
        .delete(&format!("/api/admin/service-tokens/{}", revoked.token.id))
        .await
        .unwrap();

    let client = server.client().unwrap();
    let gateway = |app: &str| {
        client
            .http
            .post(client.url(&protocol::gateway::tcp_path(app)))
            .version(http::Version::HTTP_2)
    };
    let id = protocol::gateway::HEADER_SERVICE_TOKEN_ID;
    let secret = protocol::gateway::HEADER_SERVICE_TOKEN_SECRET;
    let cases = [
        (
            "no credentials",
            gateway("db"),
            401,
            error_code::UNAUTHENTICATED,
            "not signed in",
        ),
        (
            "garbage bearer",
            gateway("db").header("authorization", "Bearer nope"),
            401,
            error_code::UNAUTHENTICATED,
            "malformed",
        ),
        (
            "unknown bearer",
            gateway("db").bearer_auth("A".repeat(43)),
            401,
            error_code::UNAUTHENTICATED,
            "not valid",
        ),
        (
            "wrong secret",
            gateway("db")
                .header(id, &token.token.id)
                .header(secret, "B".repeat(43)),
            401,
            error_code::UNAUTHENTICATED,
            "not valid",
        ),
        (
            "revoked token",
            gateway("db")
                .header(id, &revoked.token.id)
                .header(secret, &revoked.secret),
            401,
            error_code::UNAUTHENTICATED,
            "revoked",
        ),
        (
            "app not granted",
            gateway("other")
                .header(id, &token.token.id)
                .header(secret, &token.secret),
            403,
            error_code::ACCESS_DENIED,
            "not granted app other",
        ),
        (
            "unknown app",
            gateway("ghost")
                .header(id, &token.token.id)
                .header(secret, &token.secret),
            404,
            error_code::UNKNOWN_APP,
            "ghost",
        ),
        (
            "connector offline",
            gateway("db")
                .header(id, &token.token.id)
                .header(secret, &token.secret),
            503,
            error_code::CONNECTOR_OFFLINE,
            "offline",
        ),
    ];
    for (name, request, status, code, words) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{name}");
        let body: protocol::api::ErrorBody = response.json().await.unwrap();
        assert_eq!(body.error.code, code, "{name}");
        assert!(
            body.error.message.contains(words),
            "{name}: {}",
            body.error.message
        );
    }
    // A user whose email is not on the allow list is refused with the reason.
    let (_, session_token) = server
        .local_user(&admin, "eve", Some("eve@example.test"), PASSWORD)
        .await
        .unwrap();
    let response = gateway("db")
        .bearer_auth(&session_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let message = code_of(response).await.unwrap();
    assert_eq!(message, error_code::ACCESS_DENIED);

    // HTTP/1.1 cannot carry both directions at once: refused up front.
    let mut tls = tests::server::trusting(&server.report.cert_path).unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let http1 = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .http1_only()
        .build()
        .unwrap();
    let response = http1
        .post(client.url("/gw/tcp/db"))
        .header(id, &token.token.id)
        .header(secret, &token.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let audit: Vec<AuditEvent> = admin
        .get("/api/admin/audit?limit=100")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let denials: Vec<&AuditEvent> = audit
        .iter()
        .filter(|e| e.action == "stream.open" && e.decision == Some(protocol::api::Decision::Deny))
        .collect();
    for reason in [
        "not signed in",
        "malformed",
        "revoked",
        "not granted app other",
        "no app is called ghost",
        "offline",
        "eve@example.test matches no allow rule",
    ] {
        assert!(
            denials.iter().any(|e| e.reason.contains(reason)),
            "no audited denial with {reason:?}: {denials:#?}"
        );
    }
    // The offline attempt passed policy first: its allow decision is audited too.
    assert!(
        audit
            .iter()
            .any(|e| e.decision == Some(protocol::api::Decision::Allow)
                && e.actor == format!("service-token:{}", token.token.id))
    );
}

#[tokio::test]
async fn connector_attach_refusals_say_why_and_are_audited() {
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
    let mut tls = tests::server::trusting(&server.report.cert_path).unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let http1 = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .http1_only()
        .build()
        .unwrap();
    let attach = |token: &str, version: &str, replica: &str| {
        http1
            .get(format!(
                "{}{}",
                server.origin,
                protocol::tunnel::TUNNEL_PATH
            ))
            .header("connection", "upgrade")
            .header("upgrade", protocol::tunnel::UPGRADE_PROTOCOL)
            .header("authorization", format!("Bearer {token}"))
            .header(protocol::tunnel::HEADER_VERSION, version)
            .header(protocol::tunnel::HEADER_REPLICA, replica)
            .send()
    };
    let replica = "0123456789abcdef";
    let cases = [
        (
            "newer connector",
            created.token.clone(),
            "99",
            replica,
            426,
            "upgrade the server",
        ),
        (
            "older connector",
            created.token.clone(),
            "0",
            replica,
            426,
            "upgrade the connector",
        ),
        (
            "garbage version",
            created.token.clone(),
            "one",
            replica,
            400,
            "postern-protocol-version",
        ),
        (
            "unknown token",
            "A".repeat(43),
            "1",
            replica,
            401,
            "not valid",
        ),
        (
            "malformed token",
            "short".to_owned(),
            "1",
            replica,
            401,
            "missing or malformed",
        ),
        (
            "bad replica id",
            created.token.clone(),
            "1",
            "x",
            400,
            "postern-replica",
        ),
    ];
    for (name, token, version, replica, status, words) in cases {
        let response = attach(&token, version, replica).await.unwrap();
        assert_eq!(response.status(), status, "{name}");
        let body: protocol::api::ErrorBody = response.json().await.unwrap();
        assert!(
            body.error.message.contains(words),
            "{name}: {}",
            body.error.message
        );
    }
    // A rotated token stops working; the new one attaches.
    let rotated: ConnectorToken = admin
        .post_json(
            "/api/admin/connectors/office/rotate",
            &serde_json::json!({}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        attach(&created.token, "1", replica).await.unwrap().status(),
        401
    );
    assert_eq!(
        attach(&rotated.token, "1", replica).await.unwrap().status(),
        101
    );
    let audit: Vec<AuditEvent> = admin.get_json("/api/admin/audit?limit=50").await.unwrap();
    let refusals = audit
        .iter()
        .filter(|e| e.action == "connector.attach")
        .count();
    assert!(refusals >= 3, "attach refusals are audited: {audit:#?}");
}

#[tokio::test]
async fn an_expired_token_is_refused_at_the_gateway_and_audited() {
    let server = TestServer::start_with(tests::server::Reserved::bind().unwrap(), |config| {
        config.session.idle_timeout = std::time::Duration::from_secs(2);
        config.session.absolute_timeout = std::time::Duration::from_secs(2);
    })
    .await
    .unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    admin
        .post_json(
            "/api/admin/connectors",
            &CreateConnectorRequest {
                name: "office".into(),
            },
        )
        .await
        .unwrap();
    admin
        .post_json(
            "/api/admin/apps",
            &app_request("db", "office", "tcp://127.0.0.1:5432"),
        )
        .await
        .unwrap();
    let cli = server.client().unwrap();
    let token =
        tests::server::session_token(&cli.sign_in_local("root", PASSWORD).await.unwrap()).unwrap();
    // The token's lifetime is the behaviour under test, so this waits it out.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let response = cli
        .http
        .post(cli.url(&protocol::gateway::tcp_path("db")))
        .version(http::Version::HTTP_2)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: protocol::api::ErrorBody = response.json().await.unwrap();
    assert!(
        body.error.message.contains("expired"),
        "{}",
        body.error.message
    );
    // The admin's own Session expired too: read the Audit log from the store.
    let audit = server.store().list_audit(20, None).await.unwrap();
    assert!(audit.iter().any(|record| record.event.actor == "user:root"
        && record.event.decision == Some(protocol::api::Decision::Deny)
        && record.event.reason.contains("expired")));
}

#[tokio::test]
async fn admin_cli_sets_ssh_principals_prints_the_ca_and_unpins_host_keys() {
    let server = TestServer::start().await.unwrap();
    let dir = server.data_dir();
    let (ok, _, _) = admin_cli(dir, &["connector", "create", "office"]).await;
    assert!(ok);
    let (ok, app, stderr) = admin_cli(
        dir,
        &[
            "app",
            "create",
            "shell",
            "--kind",
            "ssh",
            "--connector",
            "office",
            "--url",
            "ssh://127.0.0.1:22",
            "--allow-domain",
            "example.test",
            "--principal",
            "deploy",
            "--principal",
            "root=group:admins,email:ada@example.test",
            "--record-input",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(app["ssh"]["principals"]["source"], "list");
    assert_eq!(app["ssh"]["principals"]["principals"][0]["name"], "deploy");
    assert!(app["ssh"]["principals"]["principals"][0]["allow"].is_null());
    assert_eq!(
        app["ssh"]["principals"]["principals"][1]["allow"]["groups"][0],
        "admins"
    );
    assert_eq!(app["ssh"]["record_input"], true);
    // A TCP app has no SSH settings to show.
    let (ok, tcp, _) = admin_cli(
        dir,
        &[
            "app",
            "create",
            "db",
            "--kind",
            "tcp",
            "--connector",
            "office",
            "--url",
            "tcp://h:1",
        ],
    )
    .await;
    assert!(ok);
    assert!(tcp.get("ssh").is_none());

    for (args, words) in [
        (
            vec![
                "app",
                "update",
                "shell",
                "--kind",
                "ssh",
                "--connector",
                "office",
                "--url",
                "ssh://h:22",
                "--principal",
                "root=team:x",
            ],
            "use group:NAME, email:ADDRESS or domain:DOMAIN",
        ),
        (
            vec![
                "app",
                "update",
                "shell",
                "--kind",
                "ssh",
                "--connector",
                "office",
                "--url",
                "ssh://h:22",
                "--principal=-oProxyCommand",
            ],
            "not a valid principal",
        ),
        (
            vec![
                "app",
                "update",
                "db",
                "--kind",
                "tcp",
                "--connector",
                "office",
                "--url",
                "tcp://h:1",
                "--principal-claim",
                "unix",
            ],
            "only for apps of kind ssh",
        ),
        (
            vec!["app", "unpin-host-key", "ghost"],
            "no app is called ghost",
        ),
    ] {
        let (ok, _, stderr) = admin_cli(dir, &args).await;
        assert!(!ok, "{args:?}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }
    // Unpinning an App that has no pin is harmless and audited.
    let (ok, unpinned, stderr) = admin_cli(dir, &["app", "unpin-host-key", "shell"]).await;
    assert!(ok, "{stderr}");
    assert!(unpinned.get("host_key_fingerprint").is_none());

    // The CA line for TrustedUserCAKeys: the same key the running server signs with.
    let output = tokio::process::Command::new(server_binary())
        .arg("ssh-ca")
        .arg("--data-dir")
        .arg(dir)
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let line = String::from_utf8(output.stdout).unwrap();
    assert!(line.starts_with("ssh-ed25519 "), "{line}");
    assert_eq!(
        line,
        std::fs::read_to_string(dir.join("ssh/ca_ed25519.pub")).unwrap()
    );
}
