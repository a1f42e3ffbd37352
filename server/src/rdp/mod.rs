//! Browser RDP: the RDCleanPath gateway (`/gw/rdp/{app}`), TLS to RDP origins with per-App key
//! pinning, and desktop recordings.

pub mod cleanpath;
pub mod gateway;
pub mod origin_tls;
pub mod recording;
