//! Who is asking: passwords, Sessions, the first-admin setup token and OIDC sign-in.
//!
//! The pure rules (password policy, Session validity, return paths) live here as plain
//! functions; the HTTP handlers in `http` call them and the store.

pub mod oidc;
pub mod password;
pub mod session;
