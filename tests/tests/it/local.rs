//! Local accounts, first-admin setup, Sessions and the API's answers to bad input.

use std::time::Duration;

use protocol::api::{LocalSignInRequest, Role, SetupRequest, error_code};
use tests::server::{METRICS_TOKEN, Reserved, TestServer, error_code as code_of};

const ADMIN_PASSWORD: &str = "correct horse battery staple";

fn setup_request(token: &str, username: &str) -> SetupRequest {
    SetupRequest {
        token: token.to_owned(),
        username: username.to_owned(),
        name: "First Admin".to_owned(),
        email: Some("admin@example.test".to_owned()),
        password: ADMIN_PASSWORD.to_owned(),
    }
}

#[tokio::test]
async fn setup_link_creates_the_first_admin_once() {
    let server = TestServer::start().await.unwrap();
    let token = server.setup_token().unwrap();
    let anonymous = server.client().unwrap();
    let options: protocol::api::SignInOptions = anonymous
        .get("/api/auth/providers")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(options.setup_required && options.local_sign_in && options.providers.is_empty());

    let client = server.client().unwrap();
    let response = client
        .post_json("/api/setup", &setup_request(&token, "root"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let me = client.me().await.unwrap().unwrap();
    assert_eq!(
        (me.username.as_str(), me.role, me.source.as_str()),
        ("root", Role::Admin, "local")
    );

    // Single use: the same link again changes nothing, even for another username.
    let again = server.client().unwrap();
    let response = again
        .post_json("/api/setup", &setup_request(&token, "intruder"))
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    assert_eq!(code_of(response).await.unwrap(), error_code::SETUP_CLOSED);
    assert_eq!(again.me().await.unwrap(), Err(401));
    assert_eq!(server.store().count_users().await.unwrap(), 1);
    let options: protocol::api::SignInOptions = anonymous
        .get("/api/auth/providers")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!options.setup_required);
}

#[tokio::test]
async fn setup_link_refuses_bad_tokens_and_weak_input() {
    let server = TestServer::start().await.unwrap();
    let token = server.setup_token().unwrap();
    let client = server.client().unwrap();
    let wrong_token = tests_token_like(&token);
    let cases = [
        (
            setup_request(&wrong_token, "root"),
            400,
            error_code::INVALID_SETUP_TOKEN,
        ),
        (
            setup_request("short", "root"),
            400,
            error_code::INVALID_SETUP_TOKEN,
        ),
        (
            setup_request(&token, "bad name"),
            400,
            error_code::BAD_REQUEST,
        ),
        (
            SetupRequest {
                password: "too short".into(),
                ..setup_request(&token, "root")
            },
            400,
            error_code::BAD_REQUEST,
        ),
        (
            SetupRequest {
                email: Some("not-an-email".into()),
                ..setup_request(&token, "root")
            },
            400,
            error_code::BAD_REQUEST,
        ),
        (
            SetupRequest {
                name: "  ".into(),
                ..setup_request(&token, "root")
            },
            400,
            error_code::BAD_REQUEST,
        ),
    ];
    for (request, status, code) in cases {
        let response = client.post_json("/api/setup", &request).await.unwrap();
        assert_eq!(response.status(), status, "{request:?}");
        assert_eq!(code_of(response).await.unwrap(), code, "{request:?}");
    }
    // None of that consumed the token or created anything.
    assert_eq!(server.store().count_users().await.unwrap(), 0);
    assert_eq!(server.live_sessions().await.unwrap(), 0);
    let response = client
        .post_json("/api/setup", &setup_request(&token, "root"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A well-formed token that is not `token`.
fn tests_token_like(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn setup_link_expires() {
    let server = TestServer::start_with(Reserved::bind().unwrap(), |config| {
        config.setup.link_ttl = Duration::from_secs(1);
    })
    .await
    .unwrap();
    let token = server.setup_token().unwrap();
    // The link's lifetime is the behaviour under test, so this waits it out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = server.client().unwrap();
    let response = client
        .post_json("/api/setup", &setup_request(&token, "root"))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        code_of(response).await.unwrap(),
        error_code::INVALID_SETUP_TOKEN
    );
    assert_eq!(server.store().count_users().await.unwrap(), 0);
}

#[tokio::test]
async fn restart_without_admin_prints_a_new_link_and_voids_the_old() {
    let data_dir = tempfile::tempdir().unwrap();
    let on_shared_dir = |config: &mut server::config::Config| {
        config.data_dir = data_dir.path().to_owned();
    };
    let first = TestServer::start_with(Reserved::bind().unwrap(), on_shared_dir)
        .await
        .unwrap();
    let old_token = first.setup_token().unwrap();
    first.stop().await.unwrap();
    let second = TestServer::start_with(Reserved::bind().unwrap(), on_shared_dir)
        .await
        .unwrap();
    let new_token = second.setup_token().unwrap();
    assert_ne!(old_token, new_token);
    let client = second.client().unwrap();
    let response = client
        .post_json("/api/setup", &setup_request(&old_token, "root"))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = client
        .post_json("/api/setup", &setup_request(&new_token, "root"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn local_sign_in_checks_the_password_and_sets_a_strict_cookie() {
    let server = TestServer::start().await.unwrap();
    server.first_admin("root", ADMIN_PASSWORD).await.unwrap();
    let before = server.live_sessions().await.unwrap();

    let client = server.client().unwrap();
    for (username, password) in [
        ("root", "wrong password!"),
        ("nobody", ADMIN_PASSWORD),
        ("", ""),
        ("root", ""),
    ] {
        let response = client.sign_in_local(username, password).await.unwrap();
        assert_eq!(response.status(), 401, "{username}");
        assert!(response.headers().get("set-cookie").is_none());
        assert_eq!(
            code_of(response).await.unwrap(),
            error_code::INVALID_CREDENTIALS
        );
    }
    assert_eq!(server.live_sessions().await.unwrap(), before);
    assert_eq!(client.me().await.unwrap(), Err(401));

    let response = client.sign_in_local("root", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with(&format!("{}=", protocol::routes::SESSION_COOKIE)),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.split("; ").any(|part| part == attribute),
            "{attribute} missing: {cookie}"
        );
    }
    assert_eq!(client.me().await.unwrap().unwrap().username, "root");
    assert_eq!(server.live_sessions().await.unwrap(), before + 1);

    let metrics = server.metrics().await.unwrap();
    assert!(
        metrics.contains("postern_sign_ins_total{method=\"local\",outcome=\"failure\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("postern_sign_ins_total{method=\"local\",outcome=\"success\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn revoked_and_signed_out_sessions_get_401() {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", ADMIN_PASSWORD).await.unwrap();
    let other = server.client().unwrap();
    assert_eq!(
        other
            .sign_in_local("root", ADMIN_PASSWORD)
            .await
            .unwrap()
            .status(),
        200
    );
    let other_session = other.me().await.unwrap().unwrap().session.id;

    // An admin revokes the other Session: its next request is refused.
    let response = admin
        .delete(&format!("/api/admin/sessions/{other_session}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(other.me().await.unwrap(), Err(401));
    let response = admin
        .delete(&format!("/api/admin/sessions/{other_session}"))
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "revoking twice");

    // Signing out revokes the caller's own Session and clears the cookie.
    let response = admin
        .post_json("/api/auth/logout", &serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(admin.me().await.unwrap(), Err(401));
    assert_eq!(server.live_sessions().await.unwrap(), 0);
}

#[tokio::test]
async fn stolen_cookie_stops_working_after_sign_out() {
    let server = TestServer::start().await.unwrap();
    let client = server.first_admin("root", ADMIN_PASSWORD).await.unwrap();
    let response = client.sign_in_local("root", ADMIN_PASSWORD).await.unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    client
        .post_json("/api/auth/logout", &serde_json::json!({}))
        .await
        .unwrap();
    // A copy of the cookie replayed from elsewhere is dead too: the row is revoked.
    let replay = server.client().unwrap();
    let response = replay
        .http
        .get(replay.url("/api/me"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn idle_and_absolute_timeouts_end_sessions() {
    let server = TestServer::start_with(Reserved::bind().unwrap(), |config| {
        config.session.idle_timeout = Duration::from_secs(2);
        config.session.absolute_timeout = Duration::from_secs(5);
    })
    .await
    .unwrap();
    let client = server.first_admin("root", ADMIN_PASSWORD).await.unwrap();
    // Activity keeps it alive past the idle timeout...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(client.me().await.unwrap().is_ok());
    }
    // ...until the absolute end, however busy.
    tokio::time::sleep(Duration::from_secs(2) + Duration::from_millis(100)).await;
    assert_eq!(client.me().await.unwrap(), Err(401));

    let idle = server.client().unwrap();
    assert_eq!(
        idle.sign_in_local("root", ADMIN_PASSWORD)
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(idle.me().await.unwrap(), Err(401));
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let server = TestServer::start().await.unwrap();
    server.first_admin("root", ADMIN_PASSWORD).await.unwrap();
    let client = server.client().unwrap();
    let url = client.url("/api/auth/local");
    let http = &client.http;
    let origin = server.origin.as_str();
    let valid = serde_json::to_vec(&LocalSignInRequest {
        username: "root".into(),
        password: ADMIN_PASSWORD.into(),
    })
    .unwrap();

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "no origin",
            http.post(&url)
                .header("content-type", "application/json")
                .body(valid.clone()),
            403,
            error_code::BAD_ORIGIN,
        ),
        (
            "foreign origin",
            http.post(&url)
                .header("origin", "https://evil.example")
                .header("content-type", "application/json")
                .body(valid.clone()),
            403,
            error_code::BAD_ORIGIN,
        ),
        (
            "origin on another port",
            http.post(&url)
                .header("origin", "https://localhost:1")
                .header("content-type", "application/json")
                .body(valid.clone()),
            403,
            error_code::BAD_ORIGIN,
        ),
        (
            "malformed json",
            http.post(&url)
                .header("origin", origin)
                .header("content-type", "application/json")
                .body("{\"username\":"),
            400,
            error_code::BAD_REQUEST,
        ),
        (
            "wrong type",
            http.post(&url)
                .header("origin", origin)
                .header("content-type", "application/json")
                .body("{\"username\":1,\"password\":2}"),
            400,
            error_code::BAD_REQUEST,
        ),
        (
            "unknown field",
            http.post(&url)
                .header("origin", origin)
                .header("content-type", "application/json")
                .body("{\"username\":\"root\",\"password\":\"x\",\"role\":\"admin\"}"),
            400,
            error_code::BAD_REQUEST,
        ),
        (
            "not json",
            http.post(&url)
                .header("origin", origin)
                .header("content-type", "text/plain")
                .body(valid.clone()),
            400,
            error_code::BAD_REQUEST,
        ),
        (
            "oversized",
            http.post(&url)
                .header("origin", origin)
                .header("content-type", "application/json")
                .body(vec![b' '; 200 * 1024]),
            413,
            error_code::PAYLOAD_TOO_LARGE,
        ),
        (
            "unknown api path",
            http.get(client.url("/api/nope")),
            404,
            error_code::NOT_FOUND,
        ),
    ];
    for (name, request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{name}");
        assert!(response.headers().get("set-cookie").is_none(), "{name}");
        assert_eq!(code_of(response).await.unwrap(), code, "{name}");
    }
    assert_eq!(
        server.live_sessions().await.unwrap(),
        1,
        "only the setup Session exists"
    );

    // A garbage or oversized cookie is simply not a Session.
    for cookie in [
        "postern_session=garbage",
        &format!("postern_session={}", "a".repeat(4000)),
    ] {
        let response = http
            .get(client.url("/api/me"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = TestServer::start().await.unwrap();
    let client = server.client().unwrap();
    let health = client.get("/healthz").await.unwrap();
    assert_eq!(
        (
            health.status().as_u16(),
            health.text().await.unwrap().as_str()
        ),
        (200, "ok\n")
    );
    assert_eq!(client.get("/readyz").await.unwrap().status(), 200);
    let scrape = |token: &str| {
        client
            .http
            .get(server.url("/metrics"))
            .bearer_auth(token)
            .send()
    };
    let metrics = scrape(METRICS_TOKEN).await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("# TYPE postern_http_responses_total counter"),
        "{text}"
    );
    assert!(text.contains("postern_users 0"), "{text}");
    // The counters describe the deployment: nobody else reads them.
    assert_eq!(client.get("/metrics").await.unwrap().status(), 401);
    for wrong in [&METRICS_TOKEN[1..], "", &format!("{METRICS_TOKEN}x")] {
        assert_eq!(scrape(wrong).await.unwrap().status(), 401, "{wrong:?}");
    }
    // Security headers ride on every response.
    let response = client.get("/healthz").await.unwrap();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn metrics_are_for_admins_and_the_scrape_token() {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", ADMIN_PASSWORD).await.unwrap();
    let (user, _) = server
        .local_user(&admin, "bob", None, ADMIN_PASSWORD)
        .await
        .unwrap();

    let metrics = admin.get("/metrics").await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("postern_users 2"));
    assert_eq!(user.get("/metrics").await.unwrap().status(), 403);

    // Without a token file only admins read it.
    let bare = TestServer::start_with(Reserved::bind().unwrap(), |config| {
        config.metrics.token_file = None;
    })
    .await
    .unwrap();
    let refused = bare
        .client()
        .unwrap()
        .http
        .get(bare.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let admin = bare.first_admin("root", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(admin.get("/metrics").await.unwrap().status(), 200);
}

#[tokio::test]
async fn web_pages_and_not_found() {
    let server = TestServer::start().await.unwrap();
    let client = server.client().unwrap();
    for (path, status) in [
        ("/", 200),
        ("/login", 200),
        ("/admin/users", 200),
        ("/no/such/page", 404),
    ] {
        let response = client.get(path).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        let body = response.text().await.unwrap();
        assert!(body.contains("<html"), "{path}: {body}");
    }
    for path in ["/../Cargo.toml", "/.gitignore", "/index.html/.."] {
        let response = client.get(path).await.unwrap();
        let body = response.text().await.unwrap();
        assert!(!body.contains("[workspace]"), "{path} escaped the web root");
    }
}
