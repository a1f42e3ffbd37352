//! `cargo xtask bench rdp`: browser RDP through the gateway on this machine (click to first
//! frame in Chromium and with the native client, frames and bytes per second while a window
//! moves, next to `xfreerdp` straight to the origin), the server's CPU per session, and the
//! download size of the page's RDP module. Written as a markdown table to
//! `target/bench/rdp.md`.
//!
//! A benchmark, not a test: it asserts nothing, and `cargo xtask ci` does not run it. As with
//! [`super::ssh_bench`], the measuring needs the test harness (the shadow server, Chromium),
//! so it lives in an ignored test target, `tests/tests/bench_rdp`, which this builds and runs
//! in release mode; it writes raw results as JSON ([`exchange`]) and this renders them with
//! the module sizes it reads from `dist/`. Needs what `cargo xtask ci` installs (Trunk,
//! Chromium, FreeRDP) and `xterm` and `xdotool`.

mod exchange;
mod report;

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{command_output, machine, measure_in_release, sizes};
use crate::tasks::project_root;
use exchange::{OUTPUT_ENV, Results, SIZES_ENV, Sizes};
use report::{Asset, Compressed, Download};

const USAGE: &str = "usage: cargo xtask bench rdp [--quick]";

/// `cargo xtask bench rdp [--quick]`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let sizes = sizes(args, (Sizes::FULL, Sizes::QUICK), USAGE)?;
    let root = project_root();
    let sizes_json = serde_json::to_string(&sizes)?;
    let results: Results = measure_in_release("bench_rdp", (SIZES_ENV, &sizes_json), OUTPUT_ENV)?;
    let download = download(&root.join("dist"));
    let markdown = report::render(
        &report::Context {
            date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            machine: machine(),
        },
        &results,
        &download,
    );
    println!("{markdown}");
    let out = root.join("target/bench/rdp.md");
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    std::fs::write(&out, &markdown).with_context(|| format!("write {}", out.display()))?;
    eprintln!("bench: written to {}", out.display());
    Ok(())
}

/// The files a browser downloads for the desktop page, from the built web app.
fn download(dist: &Path) -> Download {
    let brotli = std::process::Command::new("brotli")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    let main_app = |suffix: &str| -> Option<PathBuf> {
        std::fs::read_dir(dist)
            .ok()?
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with("web-") && name.ends_with(suffix))
            })
    };
    let asset = |name: &str, path: Option<PathBuf>| -> Asset {
        let Some(path) = path else {
            return Asset {
                name: name.to_owned(),
                sizes: Err(format!("no {name} in {}", dist.display())),
            };
        };
        Asset {
            name: name.to_owned(),
            sizes: compressed(&path, brotli).map_err(|error| format!("{error:#}")),
        }
    };
    Download {
        rdp_wasm: asset("rdp_web_bg.wasm", Some(dist.join("rdp/rdp_web_bg.wasm"))),
        rdp_js: asset("rdp_web.js", Some(dist.join("rdp/rdp_web.js"))),
        app_wasm: asset("web-…_bg.wasm", main_app("_bg.wasm")),
        app_js: asset("web-….js", main_app(".js")),
        brotli,
    }
}

/// The size of `path` as is, after `gzip -9` and, when `brotli` is on, after `brotli -q 11`:
/// what a server that compresses static files would send.
fn compressed(path: &Path, brotli: bool) -> anyhow::Result<Compressed> {
    let raw = std::fs::metadata(path)
        .with_context(|| format!("read {}", path.display()))?
        .len();
    let size_through = |program: &str, args: &[&str]| -> anyhow::Result<u64> {
        let output = std::process::Command::new(program)
            .args(args)
            .arg(path)
            .output()
            .with_context(|| format!("run {program}"))?;
        anyhow::ensure!(
            output.status.success(),
            "{program} failed on {}",
            path.display()
        );
        Ok(output.stdout.len() as u64)
    };
    let gzip = size_through("gzip", &["-9", "-c"])?;
    let brotli = if brotli {
        Some(size_through("brotli", &["-q", "11", "-c"])?)
    } else {
        None
    };
    Ok(Compressed { raw, gzip, brotli })
}
