//! A server with one App behind a running connector, and a signed-in person allowed to use it:
//! the common start of the SSH and RDP gateway tests.

use protocol::api::{AllowList, AppKind, AppRequest, ConnectorToken, CreateConnectorRequest};

use crate::postern::{self, Postern};
use crate::server::{TestClient, TestServer, session_token};

/// The admin's password.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// The person's password.
pub const USER_PASSWORD: &str = "a long enough password";
/// The person's email domain, which the App allows.
pub const USER_DOMAIN: &str = "example.test";

/// What to create.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// The App's name.
    pub name: String,
    /// Its kind.
    pub kind: AppKind,
    /// Its service URL.
    pub service_url: String,
    /// The connector's `--allow` list.
    pub connector_allow: String,
    /// The person's email (in [`USER_DOMAIN`], so the App allows them).
    pub user_email: String,
    /// SSH settings, for SSH Apps.
    pub ssh: Option<protocol::ssh::SshSettings>,
}

/// Everything running.
pub struct AppFixture {
    /// The server.
    pub server: TestServer,
    /// An admin client.
    pub admin: TestClient,
    /// The person's client, signed in as `ada`.
    pub user: TestClient,
    /// The person's Session token (the cookie value).
    pub token: String,
    connector: Postern,
    /// The App as created.
    app: AppRequest,
}

impl AppFixture {
    /// Starts a server, then [`AppFixture::on`].
    pub async fn start(spec: AppSpec) -> anyhow::Result<AppFixture> {
        AppFixture::on(TestServer::start().await?, spec).await
    }

    /// Creates the first admin, the connector, the App and the person on `server`, signs the
    /// person in and waits until the connector is attached.
    pub async fn on(server: TestServer, spec: AppSpec) -> anyhow::Result<AppFixture> {
        let admin = server.first_admin("root", ADMIN_PASSWORD).await?;
        let created: ConnectorToken = admin
            .post_json(
                "/api/admin/connectors",
                &CreateConnectorRequest {
                    name: "office".into(),
                },
            )
            .await?
            .json()
            .await?;
        let app = AppRequest {
            name: spec.name,
            kind: spec.kind,
            connector: "office".into(),
            service_url: spec.service_url,
            session_duration_seconds: None,
            allow: AllowList {
                email_domains: vec![USER_DOMAIN.into()],
                ..AllowList::default()
            },
            ssh: spec.ssh,
        };
        let response = admin.post_json("/api/admin/apps", &app).await?;
        let created_app = app;
        anyhow::ensure!(
            response.status() == 201,
            "create app: {}",
            response.text().await?
        );
        let (user, token) = server
            .local_user(&admin, "ada", Some(&spec.user_email), USER_PASSWORD)
            .await?;
        let connector = postern::connector(&server, &created.token, &spec.connector_allow, 1)?;
        admin.wait_for_connector_links(1).await?;
        Ok(AppFixture {
            server,
            admin,
            user,
            token,
            connector,
            app: created_app,
        })
    }

    /// Has the admin change the App's allow list so that it admits only
    /// `someone@elsewhere.test`, not the person, as an admin would take someone off an App.
    pub async fn withdraw_access(&self) -> anyhow::Result<()> {
        let app = AppRequest {
            allow: AllowList {
                emails: vec!["someone@elsewhere.test".into()],
                ..AllowList::default()
            },
            ..self.app.clone()
        };
        let response = self
            .admin
            .put_json(&format!("/api/admin/apps/{}", app.name), &app)
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "update app: {}",
            response.text().await?
        );
        Ok(())
    }

    /// Creates a person who may not use the App (`{username}@elsewhere.test`) and signs them in;
    /// returns their client and Session token.
    pub async fn outsider(&self, username: &str) -> anyhow::Result<(TestClient, String)> {
        let email = format!("{username}@elsewhere.test");
        self.server
            .local_user(&self.admin, username, Some(&email), USER_PASSWORD)
            .await
    }

    /// A new browser signed in as `username` (password [`USER_PASSWORD`]), with its Session
    /// token.
    pub async fn signed_in(&self, username: &str) -> anyhow::Result<(TestClient, String)> {
        sign_in(&self.server, username).await
    }

    /// A browser RDP ticket for `app`, asked for by `client`.
    pub async fn rdp_ticket(
        &self,
        client: &TestClient,
        app: &str,
    ) -> anyhow::Result<protocol::rdp::RdpTicket> {
        let response = client
            .post_json(&protocol::rdp::ticket_path(app), &())
            .await?;
        anyhow::ensure!(
            response.status() == 200,
            "ticket: {}",
            response.text().await?
        );
        Ok(response.json().await?)
    }

    /// Revokes `username`'s first live Session, as an admin does in the admin area.
    pub async fn revoke_session_of(&self, username: &str) -> anyhow::Result<()> {
        let sessions: Vec<protocol::api::SessionSummary> =
            self.admin.get("/api/admin/sessions").await?.json().await?;
        let session = sessions
            .iter()
            .find(|session| session.username == username)
            .ok_or_else(|| anyhow::anyhow!("{username} has no session"))?;
        let revoked = self
            .admin
            .delete(&format!("/api/admin/sessions/{}", session.id))
            .await?;
        anyhow::ensure!(revoked.status() == 204, "revoke: {}", revoked.status());
        Ok(())
    }

    /// Asserts that the Audit log holds a denial whose reason contains each of `expected`.
    pub async fn assert_denials_audited(&self, expected: &[&str]) -> anyhow::Result<()> {
        let audit: Vec<protocol::api::AuditEvent> =
            self.admin.get("/api/admin/audit").await?.json().await?;
        for expected in expected {
            anyhow::ensure!(
                audit.iter().any(|event| {
                    event.decision == Some(protocol::api::Decision::Deny)
                        && event.reason.contains(expected)
                }),
                "no audited denial containing {expected:?}: {audit:#?}"
            );
        }
        Ok(())
    }

    /// Asserts that `reason` (a close frame's) says the person was taken off the App, and that
    /// the Audit log recorded it.
    pub async fn assert_withdrawn(&self, reason: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            reason.contains("your access was withdrawn")
                && reason.contains("matches no allow rule of app"),
            "not a withdrawal: {reason}"
        );
        self.assert_denials_audited(&["access withdrawn while connected"])
            .await
    }

    /// The upgrade a browser on the server's page makes.
    pub fn upgrade(&self) -> crate::terminal::Upgrade {
        crate::terminal::Upgrade {
            session: Some(self.token.clone()),
            origin: Some(self.server.origin.clone()),
            ..Default::default()
        }
    }

    /// Stops the connector and the server.
    pub async fn stop(self) {
        self.connector.kill().await;
        let _ = self.server.stop().await;
    }
}

async fn sign_in(server: &TestServer, username: &str) -> anyhow::Result<(TestClient, String)> {
    let client = server.client()?;
    let response = client.sign_in_local(username, USER_PASSWORD).await?;
    anyhow::ensure!(response.status() == 200, "sign in as {username}");
    let token = session_token(&response)?;
    Ok((client, token))
}

/// Publishes `service_url` (on 127.0.0.1:`port`) as App `name` of `kind` for the IdP group
/// `group` through a new connector, which it starts and waits for; the first admin (`root`)
/// is created on the way. For browser tests whose person signs in through the IdP.
pub async fn publish_for_group(
    server: &TestServer,
    name: &str,
    kind: AppKind,
    service_url: &str,
    port: u16,
    group: &str,
) -> anyhow::Result<Postern> {
    let store = server.store().as_ref();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = server::provision::create_connector(store, "test", "office", now).await?;
    let request = AppRequest {
        name: name.into(),
        kind,
        connector: "office".into(),
        service_url: service_url.into(),
        session_duration_seconds: None,
        allow: AllowList {
            groups: vec![group.into()],
            ..AllowList::default()
        },
        ssh: None,
    };
    server::provision::create_app(store, "test", request, now).await?;
    let connector = postern::connector(server, &token.token, &format!("127.0.0.1:{port}"), 1)?;
    let admin = server.first_admin("root", ADMIN_PASSWORD).await?;
    admin.wait_for_connector_links(1).await?;
    Ok(connector)
}
