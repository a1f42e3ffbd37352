//! The RDP client behind Postern's browser desktop.
//!
//! [`connect`] runs the RDCleanPath exchange with the server's gateway (see [`protocol::rdp`]),
//! then CredSSP when the origin chose it, then the rest of the RDP connection sequence, over
//! any [`ironrdp_async::Framed`] stream: the browser's WebSocket in `rdp-web`, a tokio
//! WebSocket in the native tests. The [`Session`] it returns is sans-I/O: the caller reads
//! PDUs and feeds them to [`Session::process`], and writes whatever bytes the session and its
//! input methods return.
//!
//! Only the newest IronRDP set is used (connector 0.12); nothing here pulls tokio or a TLS
//! library, so the crate builds for `wasm32-unknown-unknown`.

mod clipboard;
mod connect;
pub mod keymap;
mod session;

pub use connect::{ConnectError, Connected, connect};
pub use ironrdp_async;
pub use ironrdp_pdu::Action;
pub use session::{MouseButton, Pointer, Session, SessionError, SessionEvent};

/// Who to sign in as on the remote computer.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The account name, without the domain.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The Windows domain, if any.
    pub domain: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("domain", &self.domain)
            .finish()
    }
}

/// Everything [`connect`] needs.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// The account on the remote computer.
    pub credentials: Credentials,
    /// The desktop width asked for, in pixels.
    pub width: u16,
    /// The desktop height asked for, in pixels.
    pub height: u16,
    /// The single-use gateway ticket (`RdpTicket::ticket`), sent as RDCleanPath `proxy_auth`.
    pub ticket: String,
    /// The App's name; only a label for the gateway, which dials the App's own destination.
    pub destination: String,
    /// The computer name the remote computer sees (at most 15 characters are used).
    pub client_name: String,
}
