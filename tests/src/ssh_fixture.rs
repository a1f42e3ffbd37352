//! A server with an SSH App in front of a real sshd that trusts only Postern's SSH CA, a
//! connector carrying it, and a signed-in person allowed to use it.

use protocol::api::{
    AllowList, AppKind, AppRequest, ConnectorToken, CreateConnectorRequest, CreateLocalUserRequest,
    Role,
};
use protocol::ssh::SshSettings;

use crate::postern::{self, Postern};
use crate::server::{TestClient, TestServer, session_token};
use crate::sshd::{Sshd, ensure_unix_user};

/// The admin's password.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// The person's password.
pub const USER_PASSWORD: &str = "a long enough password";
/// The SSH App's name.
pub const APP: &str = "box";

/// Everything running.
pub struct SshFixture {
    /// The server.
    pub server: TestServer,
    /// An admin client.
    pub admin: TestClient,
    /// The person's client, signed in.
    pub user: TestClient,
    /// The person's Session token (the cookie value).
    pub token: String,
    /// The origin's sshd.
    pub sshd: Sshd,
    /// The Unix account the person logs in as.
    pub unix_user: String,
    connector: Postern,
}

impl SshFixture {
    /// Starts it all. The person's email is `{unix_user}@example.test`, so by default the
    /// principal is `unix_user`; `ssh` overrides the App's SSH settings.
    pub async fn start(unix_user: &str, ssh: Option<SshSettings>) -> anyhow::Result<SshFixture> {
        let server = TestServer::start().await?;
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
        ensure_unix_user(unix_user)?;
        let ca = std::fs::read_to_string(server.data_dir().join("ssh/ca_ed25519.pub"))?;
        let sshd = Sshd::start_with_ca(&ca, unix_user).await?;
        let app = AppRequest {
            name: APP.into(),
            kind: AppKind::Ssh,
            connector: "office".into(),
            service_url: format!("ssh://127.0.0.1:{}", sshd.port),
            session_duration_seconds: None,
            allow: AllowList {
                email_domains: vec!["example.test".into()],
                ..AllowList::default()
            },
            ssh,
        };
        let response = admin.post_json("/api/admin/apps", &app).await?;
        anyhow::ensure!(
            response.status() == 201,
            "create app: {}",
            response.text().await?
        );
        let response = admin
            .post_json(
                "/api/admin/users",
                &CreateLocalUserRequest {
                    username: "ada".into(),
                    name: "Ada".into(),
                    email: Some(format!("{unix_user}@example.test")),
                    password: USER_PASSWORD.into(),
                    role: Role::User,
                },
            )
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "create user: {}",
            response.text().await?
        );
        let user = server.client()?;
        let signed_in = user.sign_in_local("ada", USER_PASSWORD).await?;
        anyhow::ensure!(signed_in.status() == 200, "sign in");
        let token = session_token(&signed_in)?;
        let connector = postern::connector(
            &server,
            &created.token,
            &format!("127.0.0.1:{}", sshd.port),
            1,
        )?;
        admin.wait_for_connector_links(1).await?;
        Ok(SshFixture {
            server,
            admin,
            user,
            token,
            sshd,
            unix_user: unix_user.to_owned(),
            connector,
        })
    }

    /// The upgrade a browser on the server's page makes.
    pub fn upgrade(&self) -> crate::terminal::Upgrade {
        crate::terminal::Upgrade {
            session: Some(self.token.clone()),
            origin: Some(self.server.origin.clone()),
            ..Default::default()
        }
    }

    /// Stops everything.
    pub async fn stop(self) {
        self.connector.kill().await;
        self.sshd.stop().await;
        let _ = self.server.stop().await;
    }
}
