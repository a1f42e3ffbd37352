//! OIDC sign-in against a real provider: the happy path over plain HTTP, and every way a
//! sign-in must be refused, each with a clear error page and no Session created.

use protocol::api::{Role, error_code};
use tests::idp::{ADA, GRACE, Idp, Tamper, authorize, authorize_from};
use tests::server::{Reserved, TestServer};

const PROVIDER: &str = "test";

async fn server_with_idp(tamper_proxy: bool) -> (TestServer, Idp) {
    let reserved = Reserved::bind().unwrap();
    let idp = Idp::start(
        &[reserved.callback_uri(PROVIDER)],
        &[ADA, GRACE],
        tamper_proxy,
    )
    .await
    .unwrap();
    let provider = idp.provider_config(PROVIDER);
    let server = TestServer::start_with(reserved, |config| config.oidc = vec![provider])
        .await
        .unwrap();
    (server, idp)
}

/// Asserts `response` is the sign-in error page with `code`, and sets no Session cookie.
async fn assert_refused(response: reqwest::Response, status: u16, code: &str, words: &str) {
    assert_eq!(response.status(), status, "expected {code} ({words})");
    let session_cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|cookie| {
            cookie
                .to_str()
                .unwrap_or("")
                .starts_with(protocol::routes::SESSION_COOKIE)
        });
    assert!(!session_cookie, "{code}: a session cookie was set");
    let page = response.text().await.unwrap();
    assert!(
        page.contains(&format!("data-error-code=\"{code}\"")),
        "{code}: {page}"
    );
    assert!(page.contains(words), "{code}: expected {words:?} in {page}");
}

#[tokio::test]
async fn sign_in_with_the_provider_over_http() {
    let (server, idp) = server_with_idp(false).await;
    let options: protocol::api::SignInOptions = server
        .client()
        .unwrap()
        .get("/api/auth/providers")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(options.providers.len(), 1);
    assert_eq!(options.providers[0].start_url, "/auth/oidc/test/start");

    let admin = server.client().unwrap();
    let callback = authorize(&admin, PROVIDER, &ADA).await.unwrap();
    assert!(
        callback
            .as_str()
            .starts_with(&server.url("/auth/oidc/test/callback")),
        "{callback}"
    );
    let response = admin.http.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    let me = admin.me().await.unwrap().unwrap();
    let me_id = me.id.clone();
    assert_eq!(me.name, "Ada Lovelace");
    assert_eq!(me.email.as_deref(), Some("ada@example.test"));
    assert_eq!(me.groups, ["admins", "engineering"]);
    assert_eq!((me.role, me.source.as_str()), (Role::Admin, PROVIDER));
    assert_eq!(admin.get("/api/admin/users").await.unwrap().status(), 200);

    let user = server.client().unwrap();
    let callback = authorize(&user, PROVIDER, &GRACE).await.unwrap();
    assert_eq!(user.http.get(callback).send().await.unwrap().status(), 303);
    let me = user.me().await.unwrap().unwrap();
    assert_eq!((me.name.as_str(), me.role), ("Grace Hopper", Role::User));
    assert_eq!(user.get("/api/admin/users").await.unwrap().status(), 403);

    // Signing in again updates the same user rather than creating another.
    let again = server.client().unwrap();
    let callback = authorize(&again, PROVIDER, &ADA).await.unwrap();
    assert_eq!(again.http.get(callback).send().await.unwrap().status(), 303);
    assert_eq!(server.store().count_users().await.unwrap(), 2);

    // The ID token's string claims are kept, so SSH principals can come from one.
    let claims = server.store().user_claims(&me_id).await.unwrap();
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(
        claims["groups"],
        serde_json::json!(["admins", "engineering"])
    );
    let store = server.store().as_ref();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    server::provision::create_connector(store, "test", "office", now)
        .await
        .unwrap();
    let app = protocol::api::AppRequest {
        name: "box".into(),
        kind: protocol::api::AppKind::Ssh,
        connector: "office".into(),
        service_url: "ssh://127.0.0.1:22".into(),
        session_duration_seconds: None,
        allow: protocol::api::AllowList {
            groups: vec!["engineering".into()],
            ..Default::default()
        },
        ssh: Some(protocol::ssh::SshSettings {
            principals: protocol::ssh::PrincipalSource::Claim {
                claim: "preferred_username".into(),
            },
            record_input: false,
        }),
    };
    server::provision::create_app(store, "test", app, now)
        .await
        .unwrap();
    let login: protocol::ssh::SshLogin = again
        .get(&protocol::ssh::login_path("box"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login.principals, ["ada"]);
    idp.stop().await;
}

#[tokio::test]
async fn sign_in_returns_to_the_page_it_started_from() {
    let (server, idp) = server_with_idp(false).await;
    // `next` is honoured for same-site paths only.
    for (next, expected) in [("/admin/users", "/admin/users"), ("//evil.example/x", "/")] {
        let client = server.client().unwrap();
        let start = format!("/auth/oidc/test/start?next={next}");
        let callback = authorize_from(&client, &start, &ADA).await.unwrap();
        let landed = client.http.get(callback).send().await.unwrap();
        assert_eq!(landed.headers()["location"], expected, "next={next}");
    }
    idp.stop().await;
}

#[tokio::test]
async fn refused_sign_ins_show_why_and_create_no_session() {
    let (server, idp) = server_with_idp(true).await;

    // Tampered state: the provider's answer carries a state Postern never issued.
    let client = server.client().unwrap();
    let mut callback = authorize(&client, PROVIDER, &ADA).await.unwrap();
    let tampered: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let value = if k == "state" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (k.into_owned(), value)
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(tampered);
    let response = client.http.get(callback).send().await.unwrap();
    assert_refused(response, 400, error_code::INVALID_STATE, "unknown").await;

    // Replayed state: a callback that succeeded once is refused the second time.
    let client = server.client().unwrap();
    let callback = authorize(&client, PROVIDER, &ADA).await.unwrap();
    assert_eq!(
        client
            .http
            .get(callback.clone())
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    let sessions_after_success = server.live_sessions().await.unwrap();
    let response = client.http.get(callback).send().await.unwrap();
    assert_refused(response, 400, error_code::INVALID_STATE, "used already").await;
    assert_eq!(
        server.live_sessions().await.unwrap(),
        sessions_after_success
    );

    // Another browser: the callback URL arrives without the cookie of the browser that began.
    let client = server.client().unwrap();
    let callback = authorize(&client, PROVIDER, &ADA).await.unwrap();
    let elsewhere = server.client().unwrap();
    let response = elsewhere.http.get(callback).send().await.unwrap();
    assert_refused(response, 400, error_code::INVALID_STATE, "another browser").await;

    // ID tokens a correct provider would never issue.
    let cases = [
        (Tamper::WrongNonce, "nonce does not match"),
        (Tamper::OtherKey, "signature is not valid"),
        (Tamper::AlgNone, "signature is not valid"),
        (Tamper::WrongAudience, "issued for another client"),
        (Tamper::Expired, "has expired"),
    ];
    for (tamper, words) in cases {
        idp.set_tamper(tamper);
        let client = server.client().unwrap();
        let callback = authorize(&client, PROVIDER, &ADA).await.unwrap();
        let response = client.http.get(callback).send().await.unwrap();
        assert_refused(response, 400, error_code::INVALID_ID_TOKEN, words).await;
        assert_eq!(client.me().await.unwrap(), Err(401), "{tamper:?}");
        assert_eq!(
            server.live_sessions().await.unwrap(),
            sessions_after_success,
            "{tamper:?}"
        );
    }
    idp.set_tamper(Tamper::None);

    let metrics = server.metrics().await.unwrap();
    assert!(
        metrics.contains("postern_sign_ins_total{method=\"oidc\",outcome=\"failure\"} 8"),
        "{metrics}"
    );
    assert!(
        metrics.contains("postern_sign_ins_total{method=\"oidc\",outcome=\"success\"} 1"),
        "{metrics}"
    );
    idp.stop().await;
}

#[tokio::test]
async fn provider_errors_and_junk_callbacks_are_refused() {
    let (server, idp) = server_with_idp(false).await;
    let client = server.client().unwrap();
    let cases = [
        ("/auth/oidc/test/callback", 400, error_code::INVALID_STATE),
        (
            "/auth/oidc/test/callback?code=abc",
            400,
            error_code::INVALID_STATE,
        ),
        (
            "/auth/oidc/test/callback?state=&code=abc",
            400,
            error_code::INVALID_STATE,
        ),
        (
            "/auth/oidc/test/callback?state=forged&code=abc",
            400,
            error_code::INVALID_STATE,
        ),
        (
            "/auth/oidc/nope/callback?state=x&code=y",
            404,
            error_code::UNKNOWN_PROVIDER,
        ),
        ("/auth/oidc/nope/start", 404, error_code::UNKNOWN_PROVIDER),
    ];
    for (path, status, code) in cases {
        let response = client.get(path).await.unwrap();
        assert_refused(response, status, code, "").await;
    }
    let long_state = format!("/auth/oidc/test/callback?state={}&code=x", "s".repeat(4096));
    assert_refused(
        client.get(&long_state).await.unwrap(),
        400,
        error_code::INVALID_STATE,
        "",
    )
    .await;

    // The provider redirects back with an error (for example the user cancelled): shown, and
    // the markup in its description is escaped.
    let start = client.get("/auth/oidc/test/start").await.unwrap();
    let location = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let mut callback = url::Url::parse(&server.url("/auth/oidc/test/callback")).unwrap();
    callback
        .query_pairs_mut()
        .append_pair("state", &state)
        .append_pair("error", "access_denied")
        .append_pair("error_description", "<script>alert(1)</script>");
    let response = client.http.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("access_denied") && page.contains("&lt;script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert_eq!(server.live_sessions().await.unwrap(), 0);
    idp.stop().await;
}

#[tokio::test]
async fn unreachable_provider_is_reported_and_the_server_still_serves() {
    // A port that was just free: nothing listens there.
    let dead_port = tests::process::free_port().unwrap();
    let reserved = Reserved::bind().unwrap();
    let server = TestServer::start_with(reserved, |config| {
        config.oidc = vec![server::config::OidcProviderConfig {
            id: "down".into(),
            name: "Down".into(),
            issuer: format!("http://127.0.0.1:{dead_port}"),
            client_id: "postern".into(),
            client_secret: Some("s".into()),
            client_secret_file: None,
            scopes: vec!["openid".into()],
            groups_claim: "groups".into(),
            admin_groups: vec![],
            ca_file: None,
        }];
    })
    .await
    .unwrap();
    let client = server.client().unwrap();
    let response = client.get("/auth/oidc/down/start").await.unwrap();
    assert_refused(
        response,
        502,
        error_code::PROVIDER_UNREACHABLE,
        "could not be reached",
    )
    .await;
    assert_eq!(client.get("/healthz").await.unwrap().status(), 200);
    assert_eq!(server.live_sessions().await.unwrap(), 0);
}
