//! The `postern-server` binary: parse flags, load configuration, start, print what the
//! operator needs, serve until SIGTERM or Ctrl-C.

mod admin_cli;

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use server::config::{Config, LogFormat, Overrides};
use server::{Server, StartupReport};
use tracing_subscriber::EnvFilter;

/// Postern's server: sign-in, policy and the gateways behind one HTTPS port.
#[derive(Debug, Parser)]
#[command(name = "postern-server", version, about)]
struct Args {
    /// TOML configuration file.
    #[arg(long, short, env = "POSTERN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Provision Connectors, Apps and Service tokens in the data directory.
    Admin(Box<admin_cli::AdminArgs>),
    /// Print the SSH user CA's public key, for `TrustedUserCAKeys` on origin hosts (the CA is
    /// created in the data directory if it does not exist yet).
    SshCa {
        /// The server's data directory (else the configured one).
        #[arg(long, env = "POSTERN_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let ssh_ca = match args.command {
        Some(Command::Admin(admin)) => return run_admin(*admin),
        Some(Command::SshCa { data_dir }) => Some(data_dir),
        None => None,
    };
    let config = match Config::load(args.config.as_deref(), std::env::vars(), &args.overrides) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("postern-server: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(data_dir) = ssh_ca {
        let data_dir = data_dir.unwrap_or_else(|| config.data_dir.clone());
        return match server::ssh::ca::SshCa::load_or_create(&data_dir) {
            Ok(ca) => {
                println!("{}", ca.public_line());
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("postern-server ssh-ca: {error:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if args.check_config {
        // The one file the server reads and checks at start besides the config itself.
        if let Some(path) = &config.metrics.token_file
            && let Err(error) = server::metrics::load_scrape_token(path)
        {
            eprintln!("postern-server: {error:#}");
            return std::process::ExitCode::from(2);
        }
        println!("configuration is valid");
        return std::process::ExitCode::SUCCESS;
    }
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("postern-server: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("postern-server: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_admin(admin: admin_cli::AdminArgs) -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(admin_cli::run(admin)),
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("postern-server admin: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = Server::start(config, None).await?;
    print_report(server.report());
    server.serve(shutdown_signal()).await.context("serve")
}

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.log.filter.clone()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// The banner goes to stdout, not to the log: it carries the one-time setup link, which must
/// not end up in a log pipeline.
#[allow(clippy::print_stdout)]
fn print_report(report: &StartupReport) {
    println!();
    println!("  Postern is listening on {}", report.public_origin);
    println!("  (bound to {})", report.local_addr);
    if report.self_signed {
        println!(
            "  TLS: self-signed certificate {}",
            report.cert_path.display()
        );
    } else {
        println!("  TLS: certificate {}", report.cert_path.display());
    }
    println!("  SHA-256 fingerprint: {}", report.fingerprint);
    match &report.setup_url {
        Some(url) => {
            println!();
            println!("  No admin exists yet. Open this one-time link to create the first admin:");
            println!();
            println!("    {url}");
        }
        None => println!("  Sign in at {}/login", report.public_origin),
    }
    println!();
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
