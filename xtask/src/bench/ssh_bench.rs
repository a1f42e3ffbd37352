//! `cargo xtask bench ssh`: browser SSH next to native OpenSSH on this machine (time to render
//! a flood of output in the browser terminal, keystroke-to-echo latency added over `ssh`), and
//! what one idle or busy terminal costs the server process. Written as a markdown table to
//! `target/bench/ssh.md`.
//!
//! A benchmark, not a test: it asserts nothing, and `cargo xtask ci` does not run it. The
//! measuring needs the test harness (sshd, Chromium), so it lives in an ignored test target,
//! `tests/tests/bench_ssh`, which this builds and runs in release mode with the sizes in an
//! environment variable; it writes raw results as JSON ([`exchange`]) and this renders them.
//! Everything measured runs as its own release process, so server figures are the server's
//! alone. Needs what `cargo xtask ci` installs (Trunk, Chromium, OpenSSH).

mod exchange;
mod report;

use std::path::Path;

use anyhow::Context;

use super::{command_output, machine, measure_in_release, sizes};
use crate::tasks::project_root;
use exchange::{OUTPUT_ENV, Results, SIZES_ENV, Sizes};

const USAGE: &str = "usage: cargo xtask bench ssh [--quick]";

/// `cargo xtask bench ssh [--quick]`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let sizes = sizes(args, (Sizes::FULL, Sizes::QUICK), USAGE)?;
    let root = project_root();
    let sizes_json = serde_json::to_string(&sizes)?;
    let results: Results = measure_in_release("bench_ssh", (SIZES_ENV, &sizes_json), OUTPUT_ENV)?;
    let markdown = report::render(
        &report::Context {
            date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            machine: machine(),
        },
        &results,
    );
    println!("{markdown}");
    write(&root.join("target/bench/ssh.md"), &markdown)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
    eprintln!("bench: written to {}", path.display());
    Ok(())
}
