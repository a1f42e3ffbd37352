//! The tasks themselves, and the small command runner they share.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use sha2::Digest as _;

use crate::install::{self, Purpose};

/// The workspace root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// A command that runs in the workspace root and fails loudly.
pub struct Cmd {
    command: Command,
    display: String,
}

/// Starts a [`Cmd`].
pub fn cmd(program: &str, args: &[&str]) -> Cmd {
    let mut command = Command::new(program);
    command.args(args).current_dir(project_root());
    Cmd {
        command,
        display: format!("{program} {}", args.join(" ")),
    }
}

impl Cmd {
    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        self.command.env(key, value);
        self
    }

    /// Runs somewhere else than the root.
    pub fn current_dir(mut self, dir: &Path) -> Cmd {
        self.command.current_dir(dir);
        self
    }

    /// Runs to completion; a non-zero exit is an error naming the command.
    pub fn run(mut self) -> anyhow::Result<()> {
        eprintln!("$ {}", self.display);
        let status = self
            .command
            .status()
            .with_context(|| format!("cannot run {}", self.display))?;
        if !status.success() {
            bail!("`{}` failed ({status})", self.display);
        }
        Ok(())
    }
}

/// Runs `body` as a named step and reports how long it took.
pub fn step(name: &str, body: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let started = Instant::now();
    let result = body().with_context(|| format!("step `{name}`"));
    eprintln!(
        "xtask: {name}: {} in {:.1}s",
        if result.is_ok() { "done" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    result
}

/// `PATH` with the npm tools (binaryen's wasm-opt) first, as Trunk needs.
fn path_with_node_tools() -> std::ffi::OsString {
    let mut paths = vec![project_root().join("node_modules/.bin")];
    if let Some(path) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(paths).unwrap_or_default()
}

/// Builds the web app into `dist/` with Trunk, offline, after the RDP module it copies in.
pub fn build_web() -> anyhow::Result<()> {
    cmd("cargo", &["fetch", "--quiet"]).run()?;
    step("build rdp module", build_rdp_module)?;
    cmd("trunk", &["build", "--release"])
        .env("PATH", path_with_node_tools())
        .env("TRUNK_SKIP_VERSION_CHECK", "true")
        .run()?;
    step("precompress web assets", || {
        precompress(&project_root().join("dist"))
    })
}

/// Writes `FILE.gz` (gzip -9) beside each script, stylesheet and WebAssembly file under `dir`
/// that has none or an older one; the server sends it to browsers that accept gzip.
fn precompress(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            precompress(&path)?;
            continue;
        }
        let compressible = path
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| matches!(ext, "wasm" | "js" | "css"));
        if !compressible {
            continue;
        }
        let gz = path.with_extension(format!(
            "{}.gz",
            path.extension()
                .and_then(|ext| ext.to_str())
                .unwrap_or_default()
        ));
        let modified = |file: &Path| file.metadata().and_then(|meta| meta.modified()).ok();
        if modified(&gz).is_some_and(|gz| modified(&path).is_some_and(|file| gz >= file)) {
            continue;
        }
        cmd(
            "gzip",
            &[
                "-9",
                "--keep",
                "--force",
                "--no-name",
                &path.to_string_lossy(),
            ],
        )
        .run()?;
    }
    Ok(())
}

/// Where [`build_rdp_module`] leaves the desktop page's module; `web/index.html` has Trunk
/// copy this directory to `dist/rdp/`.
const RDP_MODULE_DIR: &str = "target/rdp-module";

/// Builds `rdp-web`, the WebAssembly module only the desktop page loads, into
/// [`RDP_MODULE_DIR`]: `cargo build` with the size-tuned `wasm-release` profile, then
/// `wasm-bindgen --target web` (an ES module the page imports) and npm binaryen's
/// `wasm-opt -Oz`. Trunk cannot do this for a second crate without also loading it on every
/// page and re-running wasm-opt (a minute) on every build, so it only copies the result.
/// When the compiled module is the one already processed, only `cargo build` runs.
pub fn build_rdp_module() -> anyhow::Result<()> {
    cmd(
        "cargo",
        &[
            "build",
            "--package",
            "rdp-web",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm-release",
        ],
    )
    .run()?;
    let root = project_root();
    let compiled = target_dir().join("wasm32-unknown-unknown/wasm-release/rdp_web.wasm");
    let bytes = std::fs::read(&compiled).with_context(|| format!("read {}", compiled.display()))?;
    let bindgen = install::wasm_bindgen_version()?;
    let fingerprint = format!(
        "{:x} wasm-bindgen {bindgen} wasm-opt -Oz\n",
        sha2::Sha256::digest(&bytes)
    );
    let out = root.join(RDP_MODULE_DIR);
    let stamp = root.join(format!("{RDP_MODULE_DIR}.stamp"));
    let complete = ["rdp_web.js", "rdp_web_bg.wasm"]
        .iter()
        .all(|file| out.join(file).is_file());
    if complete && std::fs::read_to_string(&stamp).is_ok_and(|built| built == fingerprint) {
        eprintln!("xtask: rdp module unchanged");
        return Ok(());
    }
    // Built aside and moved into place, so an interrupted build never looks complete.
    let staging = root.join(format!("{RDP_MODULE_DIR}.partial"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).context("clear the rdp module's staging directory")?;
    }
    let staging_arg = staging.to_string_lossy().into_owned();
    let compiled_arg = compiled.to_string_lossy().into_owned();
    cmd(
        "wasm-bindgen",
        &[
            "--target",
            "web",
            "--no-typescript",
            "--out-name",
            "rdp_web",
            "--out-dir",
            &staging_arg,
            &compiled_arg,
        ],
    )
    .run()?;
    let optimised = staging
        .join("rdp_web_bg.wasm")
        .to_string_lossy()
        .into_owned();
    // npm's binaryen, as for Trunk: Debian's wasm-opt breaks wasm-bindgen's output.
    let wasm_opt = root.join("node_modules/.bin/wasm-opt");
    cmd(
        &wasm_opt.to_string_lossy(),
        &["-Oz", &format!("--output={optimised}"), &optimised],
    )
    .run()?;
    let _ = std::fs::remove_file(&stamp);
    if out.exists() {
        std::fs::remove_dir_all(&out).context("remove the old rdp module")?;
    }
    std::fs::rename(&staging, &out).context("move the rdp module into place")?;
    std::fs::write(&stamp, fingerprint).context("write the rdp module's stamp")?;
    Ok(())
}

/// The Cargo target directory: `CARGO_TARGET_DIR` (relative to the root, where cargo runs) or
/// `target/`.
pub fn target_dir() -> PathBuf {
    let root = project_root();
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// Builds the `ironrdp-server` test peer, a workspace of its own, into `ironrdp-peer/` under
/// the target directory, where the test harness looks for it.
pub fn build_ironrdp_peer() -> anyhow::Result<()> {
    cmd(
        "cargo",
        &[
            "build",
            "--manifest-path",
            "tests/peers/ironrdp-peer/Cargo.toml",
            "--locked",
        ],
    )
    .env("CARGO_TARGET_DIR", target_dir().join("ironrdp-peer"))
    .run()
}

/// `cargo xtask run`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let (ours, server_args) = match args.iter().position(|arg| arg == "--") {
        Some(split) => (&args[..split], &args[split + 1..]),
        None => (args, &[][..]),
    };
    let release = ours.iter().any(|arg| arg == "--release");
    if let Some(unknown) = ours.iter().find(|arg| *arg != "--release") {
        bail!("unknown option {unknown} (server options go after `--`)");
    }
    step("install", || install::all(Purpose::Run))?;
    step("build web app", build_web)?;
    let mut build = vec!["build", "--package", "server", "--bin", "postern-server"];
    if release {
        build.push("--release");
    }
    step("build server", || cmd("cargo", &build).run())?;
    let root = project_root();
    let binary = root
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("postern-server");
    let data_dir = root.join(".postern");
    let mut server = Command::new(&binary);
    server.current_dir(&root);
    // Defaults first; anything after `--` comes later on the command line and wins.
    let has = |flag: &str| {
        server_args
            .iter()
            .any(|arg| arg == flag || arg.starts_with(&format!("{flag}=")))
    };
    if !has("--data-dir") && std::env::var_os("POSTERN_DATA_DIR").is_none() {
        server.arg("--data-dir").arg(&data_dir);
    }
    if !has("--web-root") && std::env::var_os("POSTERN_WEB_ROOT").is_none() {
        server.arg("--web-root").arg(root.join("dist"));
    }
    server.args(server_args);
    eprintln!("xtask: starting {}", binary.display());
    let status = server
        .status()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    if !status.success() {
        bail!("postern-server exited with {status}");
    }
    Ok(())
}

/// `cargo xtask ci`.
pub fn ci() -> anyhow::Result<()> {
    let started = Instant::now();
    step("install", || install::all(Purpose::Ci))?;
    step("fmt", || cmd("cargo", &["fmt", "--all", "--check"]).run())?;
    step("clippy", || {
        cmd(
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        )
        .run()
    })?;
    step("clippy (wasm32)", || {
        cmd(
            "cargo",
            &[
                "clippy",
                "--package",
                "web",
                "--package",
                "rdp",
                "--package",
                "rdp-web",
                "--target",
                "wasm32-unknown-unknown",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        )
        .run()
    })?;
    step("build web app", build_web)?;
    // The integration tests start the real binaries (server, and `postern` for connectors and
    // access), so they must be built first.
    step("build binaries", || {
        cmd(
            "cargo",
            &[
                "build",
                "--package",
                "server",
                "--package",
                "cli",
                "--bins",
                "--locked",
            ],
        )
        .run()
    })?;
    step("build: ironrdp-peer", build_ironrdp_peer)?;
    step("test", || {
        cmd("cargo", &["test", "--workspace", "--locked"]).run()
    })?;
    eprintln!(
        "xtask: ci passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
