//! Wire types shared by the Postern server, the web app, the CLI and the connector.
//!
//! This crate is the one place where a byte layout or a JSON shape that crosses a process
//! boundary is defined. It does no I/O and depends on nothing but `serde`, so it builds for
//! `wasm32-unknown-unknown` and for every native target alike.
//!
//! - [`api`]: request and response bodies of the JSON API under `/api`.
//! - [`gateway`]: how native clients open Streams through the server.
//! - [`rdp`]: browser RDP tickets, the RDCleanPath gateway's path and error codes.
//! - [`routes`]: paths the server and the web app must agree on.
//! - [`ssh`]: the browser terminal, short-lived SSH certificates and recordings.
//! - [`tunnel`]: how connectors attach to the server and how Streams open on them.
//! - [`version`]: the product version and the dated history of wire-format changes.

pub mod api;
pub mod gateway;
pub mod rdp;
pub mod routes;
pub mod ssh;
pub mod tunnel;
pub mod version;
