//! `postern connector …`: run the connector on an origin host.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use connector::{AllowList, Config, Token};
use tokio::sync::watch;
use tracing::{info, warn};
use url::Url;

/// Connector commands.
#[derive(clap::Subcommand)]
pub enum ConnectorCommand {
    /// Attach to the server and carry Streams to allowed destinations until stopped.
    ///
    /// SIGTERM or Ctrl-C drains: no new Streams, running ones get the grace period. A second
    /// signal stops at once.
    Run(RunArgs),
}

/// `postern connector run`. Deliberately not `Debug`: it holds the token.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The Postern server's public URL, such as https://postern.example.com.
    #[arg(long, value_name = "URL", value_parser = parse_server)]
    server: Url,

    /// The connector token an admin created. Prefer the environment variable: command-line
    /// arguments are visible to every user of this host (`ps`).
    #[arg(
        long,
        env = "POSTERN_CONNECTOR_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    // Parsed after clap, which would otherwise quote a malformed token in its error message.
    token: String,

    /// Independent connections to keep open to the server.
    #[arg(
        long,
        value_name = "N",
        default_value_t = connector::DEFAULT_HA_CONNECTIONS as u16,
        value_parser = clap::value_parser!(u16).range(1..=64),
    )]
    ha_connections: u16,

    /// Destinations this connector may dial; everything else is refused. Comma-separated
    /// HOST:PORT rules: HOST is a host name, an IP address ([::1] for IPv6) or a CIDR network
    /// (10.0.0.0/8); PORT is a number, a range (8000-8100) or *. Example:
    /// --allow localhost:22,10.0.0.0/8:3389
    #[arg(long, value_name = "RULES")]
    allow: Option<AllowList>,

    /// A PEM file of certificates to trust besides the system roots, such as the server's
    /// self-signed `tls/cert.pem` from its data directory.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,

    /// How long running Streams may finish after SIGTERM or Ctrl-C.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    grace: Duration,
}

/// A server URL, with a hint when the scheme was left out: `postern.example.com:443` parses
/// as a URL whose scheme is `postern.example.com`.
fn parse_server(text: &str) -> Result<Url, String> {
    const HINT: &str = "expected a url like https://postern.example.com";
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "https" | "http") => Ok(url),
        Ok(_) => Err(HINT.to_owned()),
        Err(error) => Err(format!("{error}: {HINT}")),
    }
}

/// Runs a connector command to its end.
pub fn run(command: ConnectorCommand) -> anyhow::Result<()> {
    match command {
        ConnectorCommand::Run(args) => run_connector(args),
    }
}

fn run_connector(args: RunArgs) -> anyhow::Result<()> {
    let config = config(args)?;
    crate::init_logging();
    crate::runtime()?.block_on(async move {
        let signals = count_signals();
        let mut first = signals.clone();
        let mut second = signals;
        let drain_requested = async move {
            let _ = first.wait_for(|count| *count >= 1).await;
        };
        tokio::select! {
            result = connector::run(config, drain_requested) => Ok(result?),
            _ = second.wait_for(|count| *count >= 2) => {
                warn!("second signal: stopping without waiting for running streams");
                Ok(())
            }
        }
    })
}

/// The connector's configuration from the command line, validated before anything starts.
fn config(args: RunArgs) -> anyhow::Result<Config> {
    // Deny by default, and say so: a connector that may dial nothing is useless, and one that
    // may dial everything is not what anyone should get by omission.
    let allow = args.allow.context(
        "--allow is required: the connector dials nothing it is not told to; list what it may \
         reach, such as --allow localhost:22,10.0.0.0/8:3389",
    )?;
    let token: Token = args.token.parse()?;
    let mut config = Config::new(args.server, token, allow);
    config.ha_connections = usize::from(args.ha_connections);
    config.ca_file = args.ca;
    config.grace = args.grace;
    Ok(config)
}

/// Counts SIGTERM and Ctrl-C (SIGINT) deliveries.
fn count_signals() -> watch::Receiver<u32> {
    let (sender, receiver) = watch::channel(0u32);
    tokio::spawn(async move {
        let mut signals = Signals::new();
        let mut count = 0u32;
        // Ends when signals cannot be watched; the connector then runs until killed.
        while signals.next().await {
            count += 1;
            if count == 1 {
                info!("stop requested: draining (signal again to stop at once)");
            }
            sender.send_replace(count);
        }
    });
    receiver
}

/// SIGTERM (what service managers send) and Ctrl-C.
struct Signals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        Signals {
            // Registered once, so no delivery between two waits is lost.
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .ok(),
        }
    }

    /// Waits for the next signal; false if none can be watched.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        if let Some(terminate) = self.terminate.as_mut() {
            return tokio::select! {
                result = tokio::signal::ctrl_c() => result.is_ok(),
                received = terminate.recv() => received.is_some(),
            };
        }
        tokio::signal::ctrl_c().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(subcommand)]
        command: ConnectorCommand,
    }

    fn parse(arguments: &[&str]) -> Result<RunArgs, String> {
        let all = ["connector", "run"].iter().chain(arguments);
        match Wrapper::try_parse_from(all).map_err(|error| error.to_string())? {
            Wrapper {
                command: ConnectorCommand::Run(args),
            } => Ok(args),
        }
    }

    #[test]
    fn flags_become_a_config() {
        let args = parse(&[
            "--server",
            "https://postern.example.com",
            "--token",
            "t0ken",
            "--allow",
            "localhost:22,10.0.0.0/8:3389",
            "--ha-connections",
            "2",
            "--ca",
            "/etc/postern/ca.pem",
            "--grace",
            "1m 30s",
        ])
        .unwrap();
        let config = config(args).unwrap();
        assert_eq!(config.server.as_str(), "https://postern.example.com/");
        assert_eq!(config.token, "t0ken".parse().unwrap());
        assert_eq!(config.allow.to_string(), "localhost:22,10.0.0.0/8:3389");
        assert_eq!(config.ha_connections, 2);
        assert_eq!(config.ca_file, Some(PathBuf::from("/etc/postern/ca.pem")));
        assert_eq!(config.grace, Duration::from_secs(90));
    }

    #[test]
    fn defaults() {
        let args = parse(&[
            "--server",
            "https://p.example",
            "--token",
            "t",
            "--allow",
            "a:1",
        ])
        .unwrap();
        let config = config(args).unwrap();
        assert_eq!(config.ha_connections, connector::DEFAULT_HA_CONNECTIONS);
        assert_eq!(config.grace, connector::DEFAULT_GRACE);
        assert_eq!(config.ca_file, None);
    }

    #[test]
    fn bad_flags_are_explained() {
        let missing_allow =
            config(parse(&["--server", "https://p.example", "--token", "t"]).unwrap())
                .unwrap_err()
                .to_string();
        assert!(
            missing_allow.starts_with("--allow is required"),
            "{missing_allow}"
        );

        let good_server = ["--server", "https://p.example"];
        let cases: [(&[&str], &str); 6] = [
            (
                &[&good_server[..], &["--allow", "a"]].concat(),
                "expected HOST:PORT",
            ),
            (
                &[
                    &good_server[..],
                    &["--allow", "a:1", "--ha-connections", "0"],
                ]
                .concat(),
                "0 is not in 1..=64",
            ),
            (
                &[&good_server[..], &["--allow", "a:1", "--grace", "soon"]].concat(),
                "--grace",
            ),
            (
                &["--server", "p.example:443", "--allow", "a:1"],
                "expected a url like https://",
            ),
            (
                &["--server", "127.0.0.1:443", "--allow", "a:1"],
                "expected a url like https://",
            ),
            (
                &[&good_server[..], &["--allow", "a:1", "--token", "x"]].concat(),
                "cannot be used multiple times",
            ),
        ];
        for (extra, expected) in cases {
            let arguments: Vec<&str> = ["--token", "t"]
                .iter()
                .chain(extra.iter())
                .copied()
                .collect();
            let error = parse(&arguments).err().unwrap_or_default();
            assert!(error.contains(expected), "{extra:?}: {error}");
        }
    }

    #[test]
    fn a_malformed_token_is_not_echoed() {
        let args = parse(&[
            "--server",
            "https://p.example",
            "--token",
            "secret with spaces",
            "--allow",
            "a:1",
        ])
        .unwrap();
        let error = config(args).unwrap_err().to_string();
        assert!(!error.contains("secret"), "{error}");
    }
}
