//! The client commands: `login`, `logout` and `access tcp|rdp|ssh`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use url::Url;

use crate::access::{Access, serve_listener};
use crate::credentials::TokenCache;
use crate::upstream::{Credentials, Upstream};

/// Where the server is and how to trust it.
#[derive(Args)]
pub struct ServerArgs {
    /// The Postern server, such as https://postern.example.com.
    #[arg(long, env = "POSTERN_SERVER", value_name = "URL")]
    pub server: Url,
    /// PEM file of a CA (or the server's own self-signed certificate) to trust.
    #[arg(long, env = "POSTERN_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// How to sign in for `access`.
#[derive(Args)]
pub struct CredentialArgs {
    /// Service token id, for automation (no browser).
    #[arg(
        long,
        env = "POSTERN_SERVICE_TOKEN_ID",
        requires = "service_token_secret"
    )]
    service_token_id: Option<String>,
    /// Service token secret.
    #[arg(
        long,
        env = "POSTERN_SERVICE_TOKEN_SECRET",
        hide_env_values = true,
        requires = "service_token_id"
    )]
    service_token_secret: Option<String>,
    /// Print the sign-in link instead of opening a browser (for hosts without one).
    #[arg(long)]
    no_browser: bool,
}

/// `postern access …`.
#[derive(clap::Subcommand)]
pub enum AccessCommand {
    /// Forward a local TCP port to an App.
    Tcp {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        credentials: CredentialArgs,
        /// The App.
        #[arg(long)]
        app: String,
        /// Local address to listen on (port 0 picks one).
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
    },
    /// Forward a local RDP port (127.0.0.1:3389 by default) to an App.
    Rdp {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        credentials: CredentialArgs,
        /// The App.
        #[arg(long)]
        app: String,
        /// Local address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3389")]
        listen: SocketAddr,
    },
    /// Carry stdin and stdout to an App, for ssh's ProxyCommand.
    Ssh {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        credentials: CredentialArgs,
        /// The App.
        #[arg(long)]
        app: String,
    },
}

/// The connection to the server `server` names.
pub fn upstream(server: &ServerArgs) -> anyhow::Result<Arc<Upstream>> {
    Ok(Arc::new(Upstream::new(
        &server.server,
        server.ca.as_deref(),
    )?))
}

fn explicit(credentials: &CredentialArgs) -> Option<Credentials> {
    match (
        &credentials.service_token_id,
        &credentials.service_token_secret,
    ) {
        (Some(id), Some(secret)) => Some(Credentials::ServiceToken {
            id: id.clone(),
            secret: secret.clone(),
        }),
        _ => None,
    }
}

/// Runs an `access` command.
pub fn access(command: AccessCommand) -> anyhow::Result<()> {
    let runtime = crate::runtime()?;
    runtime.block_on(async move {
        match command {
            AccessCommand::Tcp {
                server,
                credentials,
                app,
                listen,
            }
            | AccessCommand::Rdp {
                server,
                credentials,
                app,
                listen,
            } => {
                let upstream = upstream(&server)?;
                let access = Arc::new(Access::new(
                    upstream,
                    app.clone(),
                    explicit(&credentials),
                    credentials.no_browser,
                ));
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let bound = listener.local_addr()?;
                // Scripts (and tests) read this line to learn the port.
                println!("listening on {bound} for app {app}");
                tokio::select! {
                    result = serve_listener(access, listener) => result,
                    _ = tokio::signal::ctrl_c() => Ok(()),
                }
            }
            AccessCommand::Ssh {
                server,
                credentials,
                app,
            } => {
                let upstream = upstream(&server)?;
                let access = Access::new(
                    upstream,
                    app,
                    explicit(&credentials),
                    credentials.no_browser,
                );
                access.carry(tokio::io::stdin(), tokio::io::stdout()).await
            }
        }
    })
}

/// Runs `postern login`.
pub fn login(server: ServerArgs, no_browser: bool) -> anyhow::Result<()> {
    let runtime = crate::runtime()?;
    runtime.block_on(async move {
        let upstream = upstream(&server)?;
        crate::login::login(&upstream, no_browser).await.map(|_| ())
    })
}

/// Runs `postern logout`: revokes the cached token on the server and forgets it.
pub fn logout(server: ServerArgs) -> anyhow::Result<()> {
    let runtime = crate::runtime()?;
    runtime.block_on(async move {
        let cache = TokenCache::open()?;
        let Some(cached) = cache.get(&server.server) else {
            eprintln!("Not signed in to {}.", server.server);
            return Ok(());
        };
        let upstream = upstream(&server)?;
        let credentials = Credentials::Session(cached.token);
        // Revoking is best effort: the local copy goes either way.
        let revoked: Result<serde_json::Value, _> = upstream
            .post_json(
                "/api/auth/logout",
                &serde_json::json!({}),
                Some(&credentials),
            )
            .await;
        if let Err(error) = revoked {
            tracing::debug!(%error, "server-side sign-out did not complete");
        }
        cache.remove(&server.server)?;
        eprintln!("Signed out of {}.", server.server);
        Ok(())
    })
}
