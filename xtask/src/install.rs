//! Installing what the build and the tests need: Debian packages, cargo tools, npm packages
//! and the wasm target. Each step checks first and does nothing when it is already there.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::tasks::{cmd, project_root, step};

/// The Trunk release that builds with the workspace's toolchain (0.22 needs a newer rustc).
const TRUNK_VERSION: &str = "0.21.14";

/// Debian packages the tests drive: the browser and its WebDriver, OpenSSH (client and
/// server), openssl for test keys, and the RDP peers.
const TEST_PACKAGES: &[&str] = &[
    "chromium",
    "chromium-driver",
    "openssl",
    "openssh-server",
    "openssh-client",
    // RDP: xrdp (TLS) with its Xorg backend, the FreeRDP shadow server (NLA), the xfreerdp
    // client, and a virtual display for them.
    "xrdp",
    "xorgxrdp",
    "freerdp2-x11",
    "freerdp2-shadow-x11",
    "xvfb",
    "xauth",
    // The browser desktop tests paint the remote screen (xsetroot), type into a remote xterm,
    // move windows on it (xdotool) and use its clipboard (xclip).
    "x11-xserver-utils",
    "xterm",
    "xdotool",
    "xclip",
];

/// Why tools are installed: running the server needs fewer than the test suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `cargo xtask run`.
    Run,
    /// `cargo xtask ci`.
    Ci,
}

/// Installs everything `purpose` needs.
pub fn all(purpose: Purpose) -> anyhow::Result<()> {
    step("install: wasm target", wasm_target)?;
    if purpose == Purpose::Ci {
        step("install: debian packages", || apt(TEST_PACKAGES))?;
    }
    step("install: node and npm", || {
        if which("npm") {
            Ok(())
        } else {
            apt(&["nodejs", "npm"])
        }
    })?;
    step("install: trunk", trunk)?;
    step("install: wasm-bindgen-cli", wasm_bindgen)?;
    step("install: npm packages (web build)", || {
        npm_ci(&project_root())
    })?;
    if purpose == Purpose::Ci {
        step("install: npm packages (test peers)", || {
            npm_ci(&project_root().join("tests/peers"))
        })?;
    }
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn wasm_target() -> anyhow::Result<()> {
    let installed = output_of("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed
        .lines()
        .any(|line| line.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    cmd("rustup", &["target", "add", "wasm32-unknown-unknown"]).run()
}

fn is_root() -> bool {
    output_of("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

/// Installs the Debian packages that are missing, with one `apt-get` call.
fn apt(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| {
            !output_of("dpkg-query", &["-W", "-f=${Status}", package])
                .is_some_and(|status| status.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !which("apt-get") {
        bail!("missing packages {missing:?} and no apt-get to install them with");
    }
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let run_apt = |args: &[&str]| {
        let mut full: Vec<&str> = sudo.to_vec();
        full.extend_from_slice(args);
        let (program, rest) = full.split_first().context("empty command")?;
        cmd(program, rest)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
    };
    run_apt(&["apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-qq"])?;
    let mut install = vec![
        "apt-get",
        "-o",
        "DPkg::Lock::Timeout=600",
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
    ];
    install.extend(missing);
    run_apt(&install)
}

fn trunk() -> anyhow::Result<()> {
    if output_of("trunk", &["--version"]).is_some_and(|version| version.contains(TRUNK_VERSION)) {
        return Ok(());
    }
    // A debug build of trunk takes minutes instead of the twenty of its LTO release profile,
    // and is plenty fast for building one app.
    cmd(
        "cargo",
        &[
            "install",
            "--debug",
            "--locked",
            "trunk",
            "--version",
            TRUNK_VERSION,
        ],
    )
    .run()
}

/// The `wasm-bindgen` version in Cargo.lock; the CLI must equal it exactly.
pub fn wasm_bindgen_version() -> anyhow::Result<String> {
    let lock =
        std::fs::read_to_string(project_root().join("Cargo.lock")).context("read Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            let version = lines.next().context("truncated Cargo.lock")?;
            let version = version
                .strip_prefix("version = \"")
                .and_then(|rest| rest.strip_suffix('"'))
                .context("unexpected Cargo.lock layout")?;
            return Ok(version.to_owned());
        }
    }
    bail!("Cargo.lock has no wasm-bindgen")
}

fn wasm_bindgen() -> anyhow::Result<()> {
    let version = wasm_bindgen_version()?;
    if output_of("wasm-bindgen", &["--version"])
        .is_some_and(|found| found.split_whitespace().nth(1) == Some(&version))
    {
        return Ok(());
    }
    // Not --locked: the CLI's own lockfile wants a crate version the registry no longer has.
    cmd(
        "cargo",
        &["install", "wasm-bindgen-cli", "--version", &version],
    )
    .run()
}

/// `npm ci` in `dir`, skipped when `node_modules` was installed from the same lockfile.
fn npm_ci(dir: &Path) -> anyhow::Result<()> {
    let lock = std::fs::read(dir.join("package-lock.json"))
        .with_context(|| format!("read {}/package-lock.json", dir.display()))?;
    let stamp = dir.join("node_modules/.postern-installed-lock");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return Ok(());
    }
    cmd(
        "npm",
        &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
    )
    .current_dir(dir)
    .run()?;
    std::fs::write(&stamp, lock).context("write install stamp")?;
    Ok(())
}
