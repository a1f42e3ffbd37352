//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask run [--release] [-- SERVER ARGS]`: install the build tools, build the web app
//!   and the server, and start the server with embedded defaults.
//! - `cargo xtask ci`: install everything the tests use, then fmt, clippy (native and wasm),
//!   the web build, and every unit and integration test with their real peers.
//! - `cargo xtask install`: only the installation step.
//! - `cargo xtask bench tunnel [--quick]`: the tunnel benchmark (direct, `ssh -L`, postern),
//!   printed and written to `target/bench/tunnel.md`. Not part of `ci`.
//! - `cargo xtask bench ssh [--quick]`: the browser SSH benchmark (render time, keystroke echo
//!   against native `ssh`, server memory and CPU per idle and busy terminal), printed and
//!   written to `target/bench/ssh.md`. Not part of `ci`.
//! - `cargo xtask bench rdp [--quick]`: the browser RDP benchmark (click to first frame,
//!   frames and bytes per second of a moving window against `xfreerdp`, server CPU per
//!   session, the RDP module's download size), printed and written to `target/bench/rdp.md`.
//!   Not part of `ci`.
//!
//! Every install is guarded by a version check, so a machine that has the tool skips it.

mod bench;
mod install;
mod tasks;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => tasks::run(&args[1..]),
        Some("ci") => tasks::ci(),
        Some("install") => install::all(install::Purpose::Ci),
        Some("web") => tasks::build_web(),
        Some("bench") => bench::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 run [--release] [-- SERVER ARGS]   build everything and start postern-server\n  \
                 ci                                 install test peers, then fmt, clippy, web build, all tests\n  \
                 install                            install the tools and peers only\n  \
                 web                                build the web app (with the RDP module) into dist/\n  \
                 bench tunnel [--quick]             benchmark direct, ssh -L and postern; writes target/bench/tunnel.md\n  \
                 bench ssh [--quick]                benchmark browser SSH against native ssh; writes target/bench/ssh.md\n  \
                 bench rdp [--quick]                benchmark browser RDP through the gateway; writes target/bench/rdp.md"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}
