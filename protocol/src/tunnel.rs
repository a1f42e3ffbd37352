//! The connector tunnel: how a connector attaches to the server and how streams open on it.
//!
//! 1. The connector opens TLS to the server's public HTTPS port and asks to upgrade:
//!    `GET /connector` with `Connection: upgrade`, `Upgrade: postern-tunnel`,
//!    `Authorization: Bearer {connector token}`, [`HEADER_VERSION`], [`HEADER_REPLICA`] and
//!    [`HEADER_HOSTNAME`].
//! 2. The server answers `101 Switching Protocols` (attached) or an error status whose JSON
//!    body is an [`crate::api::ErrorBody`]; a version mismatch says which side to upgrade.
//! 3. On the upgraded byte stream the roles reverse: the server is the HTTP/2 client and the
//!    connector the HTTP/2 server, because streams are opened by the server. Each Stream is one
//!    request, `POST /stream` with [`HEADER_DESTINATION`] (`host:port`) and [`HEADER_STREAM`];
//!    the connector answers `200` and both bodies carry the bytes, or an error status with an
//!    `ErrorBody` (destination outside its allow-list, origin refused the connection).
//! 4. HTTP/2 PINGs are the heartbeat; a draining connector sends GOAWAY so no new Stream opens
//!    while running ones finish.

use std::fmt;

/// Path of the upgrade request.
pub const TUNNEL_PATH: &str = "/connector";
/// Value of the `Upgrade` header.
pub const UPGRADE_PROTOCOL: &str = "postern-tunnel";
/// Path of each Stream request on the tunnel.
pub const STREAM_PATH: &str = "/stream";

/// Header carrying the tunnel protocol version of the sender.
pub const HEADER_VERSION: &str = "postern-protocol-version";
/// Header carrying the Replica id (one per connector process, random at start).
pub const HEADER_REPLICA: &str = "postern-replica";
/// Header carrying the connector host's name, for the admin area.
pub const HEADER_HOSTNAME: &str = "postern-hostname";
/// Header carrying a Stream's destination, `host:port`.
pub const HEADER_DESTINATION: &str = "postern-destination";
/// Header carrying a Stream's id, for logs and audit on both sides.
pub const HEADER_STREAM: &str = "postern-stream";

/// Tunnel protocol version this build speaks.
///
/// History:
/// - 1 (2026-11-22): HTTP/1.1 upgrade, then HTTP/2 with reversed roles; one request per Stream.
pub const PROTOCOL_VERSION: u32 = 1;
/// Oldest version this build still accepts from a peer.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Why two tunnel versions cannot talk, phrased for the operator who must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionMismatch {
    /// The connector is older than the server accepts.
    UpgradeConnector {
        /// The connector's version.
        connector: u32,
        /// The oldest the server accepts.
        minimum: u32,
    },
    /// The connector is newer than this server understands.
    UpgradeServer {
        /// The connector's version.
        connector: u32,
        /// The newest the server speaks.
        server: u32,
    },
}

impl fmt::Display for VersionMismatch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionMismatch::UpgradeConnector { connector, minimum } => write!(
                formatter,
                "this connector speaks tunnel protocol {connector} but the server needs at least \
                 {minimum}: upgrade the connector"
            ),
            VersionMismatch::UpgradeServer { connector, server } => write!(
                formatter,
                "this connector speaks tunnel protocol {connector} but the server speaks at most \
                 {server}: upgrade the server"
            ),
        }
    }
}

/// The server's check of a connector's announced version.
pub fn check_connector_version(connector: u32) -> Result<(), VersionMismatch> {
    if connector < MIN_PROTOCOL_VERSION {
        Err(VersionMismatch::UpgradeConnector {
            connector,
            minimum: MIN_PROTOCOL_VERSION,
        })
    } else if connector > PROTOCOL_VERSION {
        Err(VersionMismatch::UpgradeServer {
            connector,
            server: PROTOCOL_VERSION,
        })
    } else {
        Ok(())
    }
}

/// Where a Stream goes, as the connector dials it: a host name or IP address and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Host name, IPv4 address, or IPv6 address without brackets.
    pub host: String,
    /// TCP port, never 0.
    pub port: u16,
}

/// A `host:port` that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadDestination(pub String);

impl fmt::Display for BadDestination {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "not a host:port destination: {}", self.0)
    }
}

impl std::error::Error for BadDestination {}

impl Destination {
    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<Destination, BadDestination> {
        let bad = || BadDestination(text.chars().take(100).collect());
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, port) = rest.split_once("]:").ok_or_else(bad)?;
            if !host.contains(':') {
                return Err(bad());
            }
            (host, port)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
            if host.contains(':') {
                return Err(bad());
            }
            (host, port)
        };
        // Digits only: `u16::from_str` would also take a leading `+`.
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
        if port == 0 || !host_ok {
            return Err(bad());
        }
        Ok(Destination {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(formatter, "[{}]:{}", self.host, self.port)
        } else {
            write!(formatter, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_check_names_the_side_to_upgrade() {
        assert_eq!(check_connector_version(PROTOCOL_VERSION), Ok(()));
        let old = check_connector_version(MIN_PROTOCOL_VERSION - 1).unwrap_err();
        assert!(old.to_string().ends_with("upgrade the connector"), "{old}");
        let new = check_connector_version(PROTOCOL_VERSION + 1).unwrap_err();
        assert!(new.to_string().ends_with("upgrade the server"), "{new}");
    }

    #[test]
    fn destinations() {
        let cases = [
            ("localhost:22", Some(("localhost", 22))),
            ("10.0.0.5:3389", Some(("10.0.0.5", 3389))),
            ("[::1]:5432", Some(("::1", 5432))),
            ("DB.Example.com:5432", Some(("db.example.com", 5432))),
            ("localhost", None),
            ("localhost:0", None),
            ("localhost:65536", None),
            ("localhost:+22", None),
            (":22", None),
            ("::1:22", None),
            ("[localhost]:22", None),
            ("a b:22", None),
            ("host/x:22", None),
        ];
        for (text, expected) in cases {
            let parsed = Destination::parse(text).ok();
            let parsed = parsed.as_ref().map(|d| (d.host.as_str(), d.port));
            assert_eq!(parsed, expected, "{text}");
        }
        assert_eq!(
            Destination::parse("[::1]:22").unwrap().to_string(),
            "[::1]:22"
        );
    }
}
