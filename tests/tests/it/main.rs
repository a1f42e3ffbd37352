//! Postern's integration tests: one binary (to link once), each module a front door.

// Everything in this binary is test code, helpers included: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod binary;
mod browser;
mod cli_login;
mod local;
mod oidc;
mod provision;
mod rdp;
mod rdp_browser;
mod rdp_desktop;
mod rdp_gateway;
mod ssh_browser;
mod ssh_gateway;
mod ssh_native;
mod tunnel;
