//! `postern`: the one binary for origin hosts and laptops.
//!
//! The connector and access commands arrive with the tunnel work; today the binary reports the
//! versions it speaks, which support scripts use to check an install.

use clap::Parser;

/// Postern's agent and client.
#[derive(Debug, Parser)]
#[command(name = "postern", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the product version and the API version this binary speaks.
    Version,
}

fn main() {
    let args = Args::parse();
    match args.command {
        Command::Version => {
            println!(
                "postern {} (api {})",
                protocol::version::PRODUCT_VERSION,
                protocol::version::API_VERSION
            );
        }
    }
}
