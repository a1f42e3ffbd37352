//! The admin area: every endpoint refuses non-admins, and what admins can do works.

use protocol::api::{CreateLocalUserRequest, Role, SessionSummary, UserSummary, error_code};
use server::http::admin_endpoints;
use tests::server::{TestClient, TestServer, error_code as code_of};

const PASSWORD: &str = "correct horse battery staple";

fn concrete(path: &str) -> String {
    path.replace("{id}", "0123456789abcdef0123456789abcdef")
}

async fn call(client: &TestClient, method: &http::Method, path: &str) -> reqwest::Response {
    let body = serde_json::json!({
        "username": "mallory", "name": "Mallory", "password": PASSWORD, "role": "admin"
    });
    let mut request = client
        .http
        .request(method.clone(), client.url(&concrete(path)));
    if *method != http::Method::GET {
        let origin = client.url("");
        request = request
            .header("origin", origin.trim_end_matches('/'))
            .json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_admin_endpoint_refuses_non_admins() {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    let (user, _) = server
        .local_user(&admin, "bob", None, PASSWORD)
        .await
        .unwrap();
    let anonymous = server.client().unwrap();

    let endpoints = admin_endpoints();
    assert!(endpoints.len() >= 6, "the table lists the admin API");
    for endpoint in &endpoints {
        let response = call(&user, &endpoint.method, endpoint.path).await;
        assert_eq!(
            response.status(),
            403,
            "{} {}",
            endpoint.method,
            endpoint.path
        );
        assert_eq!(code_of(response).await.unwrap(), error_code::FORBIDDEN);
        let response = call(&anonymous, &endpoint.method, endpoint.path).await;
        assert_eq!(
            response.status(),
            401,
            "{} {}",
            endpoint.method,
            endpoint.path
        );
    }
    // Nothing the non-admin sent took effect.
    let users: Vec<UserSummary> = admin
        .get("/api/admin/users")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["root", "bob"]
    );
    assert_eq!(server.live_sessions().await.unwrap(), 2);
}

#[tokio::test]
async fn admins_manage_users_and_sessions() {
    let server = TestServer::start().await.unwrap();
    let admin = server.first_admin("root", PASSWORD).await.unwrap();
    let request = CreateLocalUserRequest {
        username: "breakglass".into(),
        name: "Break Glass".into(),
        email: Some("ops@example.test".into()),
        password: PASSWORD.into(),
        role: Role::Admin,
    };
    let response = admin.post_json("/api/admin/users", &request).await.unwrap();
    assert_eq!(response.status(), 201);
    let created: UserSummary = response.json().await.unwrap();
    assert_eq!(
        (created.role, created.source.as_str()),
        (Role::Admin, "local")
    );
    let response = admin.post_json("/api/admin/users", &request).await.unwrap();
    assert_eq!(response.status(), 409, "duplicate username");
    assert_eq!(code_of(response).await.unwrap(), error_code::CONFLICT);
    let weak = CreateLocalUserRequest {
        username: "weak".into(),
        password: "short".into(),
        ..request.clone()
    };
    assert_eq!(
        admin
            .post_json("/api/admin/users", &weak)
            .await
            .unwrap()
            .status(),
        400
    );

    let other = server.client().unwrap();
    assert_eq!(
        other
            .sign_in_local("breakglass", PASSWORD)
            .await
            .unwrap()
            .status(),
        200
    );
    let sessions: Vec<SessionSummary> = admin
        .get("/api/admin/sessions")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s.current).count(), 1);
    let theirs = sessions
        .iter()
        .find(|s| s.username == "breakglass")
        .unwrap();
    assert_eq!(theirs.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        admin
            .delete(&format!("/api/admin/sessions/{}", theirs.id))
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(other.me().await.unwrap(), Err(401));
    for bad in ["nothex", "../../etc", &"f".repeat(32)] {
        let response = admin
            .delete(&format!("/api/admin/sessions/{bad}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{bad}");
    }

    let overview: protocol::api::Overview = admin
        .get("/api/admin/overview")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((overview.users, overview.active_sessions), (2, 1));
    assert_eq!(overview.public_url, server.origin);
    let providers: Vec<protocol::api::ProviderSummary> = admin
        .get("/api/admin/providers")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(providers.is_empty());
}
