//! What a connector process needs to run, validated once before the first dial.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use url::Url;

use crate::allow::AllowList;
use crate::backoff::Backoff;

/// HA connections per process when none are asked for.
pub const DEFAULT_HA_CONNECTIONS: usize = 4;
/// How long running Streams may finish after a shutdown request, when not configured.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Everything [`crate::run`] needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The server's public URL, `https://host[:port]`.
    pub server: Url,
    /// The Connector's secret.
    pub token: Token,
    /// Independent connections to keep open, each with its own reconnect loop.
    pub ha_connections: usize,
    /// Destinations this connector may dial.
    pub allow: AllowList,
    /// A PEM file of extra trust anchors (such as the server's self-signed certificate), on
    /// top of the system roots.
    pub ca_file: Option<PathBuf>,
    /// How long running Streams may finish after shutdown is asked for.
    pub grace: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
}

impl Config {
    /// A configuration with the default HA connections, grace period and backoff, trusting
    /// only the system roots.
    pub fn new(server: Url, token: Token, allow: AllowList) -> Config {
        Config {
            server,
            token,
            ha_connections: DEFAULT_HA_CONNECTIONS,
            allow,
            ca_file: None,
            grace: DEFAULT_GRACE,
            backoff: Backoff::default(),
        }
    }
}

/// A Connector token. Its `Debug` output is redacted and it has no `Display`, so it cannot
/// end up in a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// A token that could not travel in an HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Nothing was given.
    #[error("the connector token is empty")]
    Empty,
    /// Spaces, control characters or non-ASCII text: not a token an admin was given.
    #[error(
        "the connector token holds characters a token never has (spaces, control characters or non-ASCII)"
    )]
    BadCharacters,
}

impl Token {
    /// The secret, for the `Authorization` header only.
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl FromStr for Token {
    type Err = TokenError;

    fn from_str(text: &str) -> Result<Token, TokenError> {
        // Tolerate the newline a token file or `$(cat …)` brings along.
        let text = text.trim();
        if text.is_empty() {
            return Err(TokenError::Empty);
        }
        if !text.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(TokenError::BadCharacters);
        }
        Ok(Token(text.to_owned()))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_validated_and_never_shown() {
        let token: Token = " s3cret-token \n".parse().unwrap();
        assert_eq!(token.secret(), "s3cret-token");
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        assert_eq!("".parse::<Token>(), Err(TokenError::Empty));
        assert_eq!(" \n".parse::<Token>(), Err(TokenError::Empty));
        assert_eq!("a b".parse::<Token>(), Err(TokenError::BadCharacters));
        assert_eq!("a\u{7f}".parse::<Token>(), Err(TokenError::BadCharacters));
        assert_eq!("jetón".parse::<Token>(), Err(TokenError::BadCharacters));
    }

    #[test]
    fn config_debug_hides_the_token() {
        let config = Config::new(
            Url::parse("https://postern.example.com").unwrap(),
            "s3cret".parse().unwrap(),
            "localhost:22".parse().unwrap(),
        );
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
