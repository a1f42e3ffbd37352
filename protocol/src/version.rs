//! Product and wire versions.
//!
//! History of the JSON API (bump [`API_VERSION`] on any change a client could notice):
//!
//! - 1 (2026-11-22): sign-in (OIDC and local), first-admin setup, `/api/me`, admin users and
//!   sessions.

/// The Postern release these types belong to.
pub const PRODUCT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Version of the JSON API under `/api`.
pub const API_VERSION: u32 = 1;
