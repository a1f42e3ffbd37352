//! The attach handshake as data: the server endpoint, the upgrade request, and what the
//! server's answer means. No I/O, so every answer is tested without a server.

use std::net::IpAddr;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, HOST, UPGRADE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::Empty;
use protocol::api::{ErrorBody, error_code};
use protocol::tunnel::{
    HEADER_HOSTNAME, HEADER_REPLICA, HEADER_VERSION, PROTOCOL_VERSION, TUNNEL_PATH,
    UPGRADE_PROTOCOL,
};
use url::Url;

use crate::config::Token;
use crate::error::Error;

/// Where the server listens, taken apart from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// What to resolve and dial, and the TLS server name.
    pub host: EndpointHost,
    /// TCP port.
    pub port: u16,
    /// The `Host` header: the host as written in the URL, with the port when not 443.
    pub authority: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EndpointHost {
    Name(String),
    Address(IpAddr),
}

impl Endpoint {
    /// Checks a server URL: `https://host[:port]`, nothing else.
    pub fn from_url(url: &Url) -> Result<Endpoint, Error> {
        let bad = |reason| Error::ServerUrl {
            url: url.to_string(),
            reason,
        };
        if url.scheme() != "https" {
            return Err(bad("the connector only speaks https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials do not belong in the url; pass the token instead",
            ));
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(bad(
                "give only https://host[:port]; the connector path is fixed",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("give only https://host[:port], without ? or #"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => EndpointHost::Name(name.to_owned()),
            Some(url::Host::Ipv4(address)) => EndpointHost::Address(address.into()),
            Some(url::Host::Ipv6(address)) => EndpointHost::Address(address.into()),
            None => return Err(bad("the url names no host")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| bad("the url names no port"))?;
        let host_text = url.host_str().ok_or_else(|| bad("the url names no host"))?;
        let authority = match url.port() {
            Some(port) => format!("{host_text}:{port}"),
            None => host_text.to_owned(),
        };
        Ok(Endpoint {
            host,
            port,
            authority,
        })
    }
}

/// Who this process is, as the server's admin area shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// Random per process; the server groups Connections by it.
    pub replica: String,
    /// This host's name, made safe for a header.
    pub hostname: String,
}

impl Identity {
    /// A fresh Replica id and the given host name.
    pub fn new(raw_hostname: &str) -> Identity {
        Identity {
            replica: format!("{:032x}", rand::random::<u128>()),
            hostname: header_safe(raw_hostname),
        }
    }
}

/// A host name reduced to what a header carries: visible ASCII, at most 253 characters.
fn header_safe(raw: &str) -> String {
    let safe: String = raw
        .chars()
        .filter(char::is_ascii_graphic)
        .take(253)
        .collect();
    if safe.is_empty() {
        "unknown".to_owned()
    } else {
        safe
    }
}

/// The `GET /connector` upgrade request.
pub(crate) fn attach_request(
    endpoint: &Endpoint,
    token: &Token,
    identity: &Identity,
) -> Result<Request<Empty<Bytes>>, http::Error> {
    let mut authorization = HeaderValue::try_from(format!("Bearer {}", token.secret()))?;
    // Keeps the value out of HPACK tables and out of `Debug` output of the header map.
    authorization.set_sensitive(true);
    Request::builder()
        .method(Method::GET)
        .uri(TUNNEL_PATH)
        .header(HOST, endpoint.authority.as_str())
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, UPGRADE_PROTOCOL)
        .header(AUTHORIZATION, authorization)
        .header(HEADER_VERSION, PROTOCOL_VERSION.to_string())
        .header(HEADER_REPLICA, identity.replica.as_str())
        .header(HEADER_HOSTNAME, identity.hostname.as_str())
        .body(Empty::new())
}

/// What the server's answer to the upgrade means.
#[derive(Debug)]
pub(crate) enum Answer {
    /// `101` to our protocol: the tunnel is up.
    Attached,
    /// A refusal retrying cannot cure.
    Fatal(Error),
    /// Anything else: try again after a backoff.
    Retry {
        /// The status.
        status: StatusCode,
        /// The server's message, or a description of what came back.
        message: String,
    },
}

/// Reads the server's answer: status, headers and (for refusals) the `ErrorBody`.
pub(crate) fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Answer {
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let protocol_ok = headers.get(UPGRADE).is_some_and(|value| {
            value
                .as_bytes()
                .eq_ignore_ascii_case(UPGRADE_PROTOCOL.as_bytes())
        });
        return if protocol_ok {
            Answer::Attached
        } else {
            Answer::Retry {
                status,
                message: format!("the server switched to a protocol other than {UPGRADE_PROTOCOL}"),
            }
        };
    }
    let error = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|body| body.error);
    let code = error.as_ref().map(|error| error.code.as_str());
    let message = error.as_ref().map(|error| error.message.clone());
    if code == Some(error_code::BAD_CONNECTOR_TOKEN) || status == StatusCode::UNAUTHORIZED {
        return Answer::Fatal(Error::BadToken {
            message: message.unwrap_or_else(|| "the token is unknown or revoked".to_owned()),
        });
    }
    if code == Some(error_code::VERSION_MISMATCH) || status == StatusCode::UPGRADE_REQUIRED {
        return Answer::Fatal(Error::VersionMismatch {
            message: message.unwrap_or_else(|| {
                format!(
                    "this connector speaks tunnel protocol {PROTOCOL_VERSION}, which the server \
                     does not"
                )
            }),
        });
    }
    // Anything else may be a restarting server, a proxy in front of it, or a server too old to
    // know the endpoint; none is proof that retrying is useless, so back off and retry.
    Answer::Retry {
        status,
        message: message.unwrap_or_else(|| describe_body(body)),
    }
}

/// A short, printable description of a body that is not an `ErrorBody`.
fn describe_body(body: &[u8]) -> String {
    if body.is_empty() {
        return "no error body".to_owned();
    }
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|character| {
            if character.is_control() {
                ' '
            } else {
                character
            }
        })
        .take(200)
        .collect();
    format!("unexpected body: {}", text.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Result<Endpoint, String> {
        Endpoint::from_url(&Url::parse(url).unwrap()).map_err(|error| error.to_string())
    }

    #[test]
    fn server_urls() {
        let good = [
            (
                "https://postern.example.com",
                EndpointHost::Name("postern.example.com".into()),
                443,
                "postern.example.com",
            ),
            (
                "https://postern.example.com:8443/",
                EndpointHost::Name("postern.example.com".into()),
                8443,
                "postern.example.com:8443",
            ),
            (
                "https://127.0.0.1:9000",
                EndpointHost::Address("127.0.0.1".parse().unwrap()),
                9000,
                "127.0.0.1:9000",
            ),
            (
                "https://[::1]:9000",
                EndpointHost::Address("::1".parse().unwrap()),
                9000,
                "[::1]:9000",
            ),
        ];
        for (url, host, port, authority) in good {
            let parsed = endpoint(url).unwrap_or_else(|error| panic!("{url}: {error}"));
            assert_eq!(
                parsed,
                Endpoint {
                    host,
                    port,
                    authority: authority.into()
                },
                "{url}"
            );
        }
        let bad = [
            ("http://postern.example.com", "only speaks https"),
            ("https://user:pw@postern.example.com", "credentials"),
            ("https://postern.example.com/connector", "path is fixed"),
            ("https://postern.example.com/?x=1", "without ? or #"),
            ("https://postern.example.com/#x", "without ? or #"),
        ];
        for (url, expected) in bad {
            let error = endpoint(url).unwrap_err();
            assert!(error.contains(expected), "{url}: {error}");
        }
    }

    #[test]
    fn the_upgrade_request_carries_every_header() {
        let endpoint = endpoint("https://postern.example.com:8443").unwrap();
        let identity = Identity {
            replica: "r1".into(),
            hostname: "origin-1".into(),
        };
        let token: Token = "s3cret".parse().unwrap();
        let request = attach_request(&endpoint, &token, &identity).unwrap();
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri(), "/connector");
        let expected = [
            ("host", "postern.example.com:8443"),
            ("connection", "upgrade"),
            ("upgrade", "postern-tunnel"),
            ("authorization", "Bearer s3cret"),
            ("postern-protocol-version", "1"),
            ("postern-replica", "r1"),
            ("postern-hostname", "origin-1"),
        ];
        for (name, value) in expected {
            assert_eq!(request.headers()[name], value, "{name}");
        }
        assert!(request.headers()["authorization"].is_sensitive());
        assert!(!format!("{request:?}").contains("s3cret"));
    }

    #[test]
    fn identities_are_random_and_header_safe() {
        let first = Identity::new("origin-1");
        let second = Identity::new("origin-1");
        assert_ne!(first.replica, second.replica);
        assert_eq!(first.replica.len(), 32);
        assert_eq!(first.hostname, "origin-1");
        assert_eq!(Identity::new("héllo wörld\n").hostname, "hllowrld");
        assert_eq!(Identity::new("").hostname, "unknown");
        assert_eq!(Identity::new(&"a".repeat(300)).hostname.len(), 253);
    }

    fn body(code: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody {
            error: protocol::api::ErrorDetail {
                code: code.into(),
                message: message.into(),
            },
        })
        .unwrap()
    }

    #[test]
    fn answers() {
        let mut upgrade = HeaderMap::new();
        upgrade.insert(UPGRADE, HeaderValue::from_static("Postern-Tunnel"));
        let mut websocket = HeaderMap::new();
        websocket.insert(UPGRADE, HeaderValue::from_static("websocket"));
        let none = HeaderMap::new();
        let revoked = body(
            error_code::BAD_CONNECTOR_TOKEN,
            "the connector token is revoked",
        );
        let too_new = body(
            error_code::VERSION_MISMATCH,
            "this connector speaks tunnel protocol 2 but the server speaks at most 1: upgrade \
             the server",
        );
        let busy = body(error_code::INTERNAL, "something failed");
        let cases: [(StatusCode, &HeaderMap, &[u8], &str); 9] = [
            (StatusCode::SWITCHING_PROTOCOLS, &upgrade, b"", "attached"),
            (
                StatusCode::SWITCHING_PROTOCOLS,
                &websocket,
                b"",
                "retry 101: the server switched to a protocol other than postern-tunnel",
            ),
            (
                StatusCode::UNAUTHORIZED,
                &none,
                &revoked,
                "fatal: the server refused the connector token: the connector token is revoked",
            ),
            (
                StatusCode::UNAUTHORIZED,
                &none,
                b"",
                "fatal: the server refused the connector token: the token is unknown or revoked",
            ),
            (
                StatusCode::UPGRADE_REQUIRED,
                &none,
                &too_new,
                "fatal: the server refused this connector's tunnel version: this connector \
                 speaks tunnel protocol 2 but the server speaks at most 1: upgrade the server",
            ),
            (
                StatusCode::UPGRADE_REQUIRED,
                &none,
                b"nope",
                "fatal: the server refused this connector's tunnel version: this connector \
                 speaks tunnel protocol 1, which the server does not",
            ),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                &none,
                &busy,
                "retry 503: something failed",
            ),
            (
                StatusCode::BAD_GATEWAY,
                &none,
                b"<html>\n<b>bad gateway</b>",
                "retry 502: unexpected body: <html> <b>bad gateway</b>",
            ),
            (
                StatusCode::NOT_FOUND,
                &none,
                b"",
                "retry 404: no error body",
            ),
        ];
        for (status, headers, body, expected) in cases {
            let shown = match classify(status, headers, body) {
                Answer::Attached => "attached".to_owned(),
                Answer::Fatal(error) => format!("fatal: {error}"),
                Answer::Retry { status, message } => {
                    format!("retry {}: {message}", status.as_u16())
                }
            };
            assert_eq!(shown, expected, "{status}");
        }
    }
}
