//! Postern's integration tests: one binary (to link once), each module a front door.

mod admin;
mod binary;
mod browser;
mod local;
mod oidc;
