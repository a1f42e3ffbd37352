//! One module per area of the app; each page sets its own document title.

pub mod admin;
pub mod cli_authorize;
pub mod desktop;
pub mod launcher;
pub mod login;
pub mod not_found;
pub mod setup;
pub mod terminal;
