//! Why the connector stops: bad configuration or a refusal that retrying cannot cure.
//!
//! Everything transient (network errors, 5xx, a dropped connection) is retried inside the
//! connection loops and never reaches this type.

use std::path::PathBuf;

/// Why [`crate::run`] returned an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server does not know the connector token or has revoked it.
    #[error("the server refused the connector token: {message}")]
    BadToken {
        /// The server's explanation.
        message: String,
    },
    /// The connector and server speak incompatible tunnel versions.
    #[error("the server refused this connector's tunnel version: {message}")]
    VersionMismatch {
        /// The server's explanation, which says which side to upgrade.
        message: String,
    },
    /// The server URL is unusable.
    #[error("bad server url {url}: {reason}")]
    ServerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Zero HA connections were asked for.
    #[error("at least one connection to the server is needed")]
    NoConnections,
    /// The CA file cannot be read or parsed.
    #[error("cannot read certificates from the ca file {path}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The CA file holds a certificate rustls refuses as a trust anchor.
    #[error("the ca file {path} holds an unusable certificate")]
    CaCertificate {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The CA file holds no certificate at all.
    #[error("the ca file {path} holds no certificate")]
    CaFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// Neither the system nor a CA file supplies a trust anchor, so no server could be
    /// verified.
    #[error("no trusted root certificates: the system has none and no ca file was given")]
    NoTrustRoots,
    /// rustls refused the client configuration.
    #[error("tls configuration")]
    Tls(#[source] rustls::Error),
    /// A connection's thread or its runtime could not be started.
    #[error("cannot start a connection thread")]
    Runtime(#[source] std::io::Error),
    /// A connection's thread died (a panic).
    #[error("a connection thread failed")]
    ConnectionThread,
}

/// An error and its causes on one line, `outer: inner: innermost`, for logs.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some libraries repeat their source's message in their own; say it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_joins_causes() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&error), "outer: inner");
    }
}
