//! The connector: dials out from an origin host to the Postern server and carries streams.
//!
//! This first cut holds the pure reconnect policy; the transport arrives with the tunnel work
//! (see ARCHITECTURE.md).

pub mod backoff;
