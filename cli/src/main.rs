//! `postern`: the one binary for origin hosts and laptops.
//!
//! Each command group lives in its own module; this file only parses the command line, sets up
//! logging and turns an error into a message and an exit code.

mod access;
mod access_cmd;
mod connector_cmd;
mod credentials;
mod login;
mod sign_in;
mod ssh_cert;
mod ssh_config;
mod upstream;

use std::process::ExitCode;

use clap::Parser;

/// Postern's agent and client.
// Not `Debug`: command arguments may hold secrets (the connector token).
#[derive(Parser)]
#[command(name = "postern", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Print the product version and the API version this binary speaks.
    Version,
    /// Run the connector that carries Streams from the server to services on this host's
    /// network.
    #[command(subcommand)]
    Connector(connector_cmd::ConnectorCommand),
    /// Sign in to a server through the browser and cache a token.
    Login {
        #[command(flatten)]
        server: access_cmd::ServerArgs,
        /// Print the sign-in link and read the code instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Revoke and forget the cached token for a server.
    Logout {
        #[command(flatten)]
        server: access_cmd::ServerArgs,
    },
    /// Reach an App from this machine.
    #[command(subcommand)]
    Access(access_cmd::AccessCommand),
    /// Print ssh_config blocks that reach SSH Apps through Postern.
    SshConfig {
        #[command(flatten)]
        server: access_cmd::ServerArgs,
        /// Only this App (otherwise every SSH App you may reach).
        #[arg(long)]
        app: Option<String>,
        /// Log in with short-lived certificates from the server's SSH CA, which
        /// `postern ssh-cert` renews before each connection (signs in first if needed).
        #[arg(long)]
        short_lived_cert: bool,
    },
    /// Get a short-lived SSH certificate for an App (reusing the cached one while it has more
    /// than a minute left), for a key pair kept in the config directory.
    SshCert {
        #[command(flatten)]
        server: access_cmd::ServerArgs,
        /// The SSH App.
        #[arg(long)]
        app: String,
        /// The remote user to log in as; needed when you may use several.
        #[arg(long)]
        principal: Option<String>,
        /// Print nothing on success (for ssh_config's `Match exec`); errors still go to stderr.
        #[arg(long)]
        quiet: bool,
        /// Print the sign-in link and read the code instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Version => {
            println!(
                "postern {} (api {}, tunnel protocol {})",
                protocol::version::PRODUCT_VERSION,
                protocol::version::API_VERSION,
                protocol::tunnel::PROTOCOL_VERSION,
            );
            Ok(())
        }
        Command::Connector(command) => connector_cmd::run(command),
        Command::Login { server, no_browser } => access_cmd::login(server, no_browser),
        Command::Logout { server } => access_cmd::logout(server),
        Command::Access(command) => access_cmd::access(command),
        Command::SshConfig {
            server,
            app,
            short_lived_cert,
        } => ssh_config::run(server, app, short_lived_cert),
        Command::SshCert {
            server,
            app,
            principal,
            quiet,
            no_browser,
        } => ssh_cert::run(server, &app, principal.as_deref(), quiet, no_browser),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), for long-running commands.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The async runtime for commands that need one: one thread. `postern access` relays each
/// local connection through tasks that wake one another for every message; on one thread that
/// is a function call, across threads a futex wake and a context switch each time (measured:
/// a third less CPU per 64-byte round trip). `connector run` gives each of its connections a
/// thread of its own (see the `connector` crate).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
