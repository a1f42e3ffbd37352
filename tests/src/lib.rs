//! The integration-test harness: real Postern processes and real peers, started on loopback
//! ports chosen by the OS, waited for by polling with a deadline, and stopped when dropped.
//!
//! - [`process`]: child processes that die with their owner, and polling with deadlines.
//! - [`server`]: a `postern-server` on port 0 with a client that speaks to it like a browser.
//! - [`idp`]: the OpenID-certified `oidc-provider` (Node), optionally behind a proxy that
//!   tampers with ID tokens to prove Postern refuses them.
//! - [`browser`]: headless Chromium driven over WebDriver.

pub mod app_fixture;
pub mod browser;
pub mod idp;
pub mod ironrdp_peer;
pub mod postern;
pub mod process;
pub mod rdp;
pub mod rdp_client;
pub mod server;
pub mod ssh_fixture;
pub mod sshd;
pub mod terminal;

/// The workspace root, for peer scripts and the built web app.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Routes harness and server logs to the test's captured output, once per process.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,server=info".into()),
        )
        .with_test_writer()
        .try_init();
    let _ = rustls::crypto::ring::default_provider().install_default();
}
