//! A server with an SSH App in front of a real sshd that trusts only Postern's SSH CA, a
//! connector carrying it, and a signed-in person allowed to use it.

use protocol::api::AppKind;
use protocol::ssh::SshSettings;

pub use crate::app_fixture::{ADMIN_PASSWORD, USER_PASSWORD};
use crate::app_fixture::{AppFixture, AppSpec, USER_DOMAIN};
use crate::server::TestServer;
use crate::sshd::{Sshd, ensure_unix_user};

/// The SSH App's name.
pub const APP: &str = "box";

/// Everything running.
pub struct SshFixture {
    /// The origin's sshd.
    pub sshd: Sshd,
    /// The Unix account the person logs in as.
    pub unix_user: String,
    app: AppFixture,
}

impl std::ops::Deref for SshFixture {
    type Target = AppFixture;

    fn deref(&self) -> &AppFixture {
        &self.app
    }
}

impl SshFixture {
    /// Starts it all. The person's email is `{unix_user}@example.test`, so by default the
    /// principal is `unix_user`; `ssh` overrides the App's SSH settings.
    pub async fn start(unix_user: &str, ssh: Option<SshSettings>) -> anyhow::Result<SshFixture> {
        let server = TestServer::start().await?;
        ensure_unix_user(unix_user)?;
        let ca = std::fs::read_to_string(server.data_dir().join("ssh/ca_ed25519.pub"))?;
        let sshd = Sshd::start_with_ca(&ca, unix_user).await?;
        let spec = AppSpec {
            name: APP.into(),
            kind: AppKind::Ssh,
            service_url: format!("ssh://127.0.0.1:{}", sshd.port),
            connector_allow: format!("127.0.0.1:{}", sshd.port),
            user_email: format!("{unix_user}@{USER_DOMAIN}"),
            ssh,
        };
        let app = AppFixture::on(server, spec).await?;
        Ok(SshFixture {
            sshd,
            unix_user: unix_user.to_owned(),
            app,
        })
    }

    /// Stops everything.
    pub async fn stop(self) {
        self.app.stop().await;
        self.sshd.stop().await;
    }
}
