//! The local allow-list: which destinations this connector dials, whatever the server asks.
//!
//! The server's policy decides who may reach an App; this list is the origin operator's own
//! fence, checked on the connector before any dial, so a compromised or misconfigured server
//! still cannot reach past it. Deny by default: an empty list is an error, not "allow all".
//!
//! Rules are `HOST:PORT`, comma-separated. HOST is a host name (exact, case-insensitive), an IP
//! address (IPv6 in brackets: `[::1]:22`) or a CIDR network (`10.0.0.0/8`, `[fd00::/8]` or
//! `fd00::/8`); PORT is a number, a range `8000-8100` or `*`.
//!
//! A host name that only network rules could allow is resolved once, and only the resolved
//! addresses inside those networks are dialled, so DNS cannot swap the target after the check.
//! IPv4-mapped IPv6 addresses (`::ffff:10.0.0.5`) are treated as the IPv4 address they reach.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use protocol::tunnel::Destination;

/// The destinations this connector may dial. Parse it with [`str::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    // INVARIANT: never empty; `FromStr` refuses an empty list.
    rules: Vec<Rule>,
}

/// One `HOST:PORT` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    host: HostPattern,
    ports: PortRange,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// A host name, lowercase, compared exactly.
    Name(String),
    /// An IP address (a full-length prefix) or a CIDR network.
    Network(Network),
}

/// An IP network with its host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    // INVARIANT: bits past `prefix` are zero, and `prefix` fits the address family.
    address: IpAddr,
    prefix: u8,
}

/// An inclusive port range; a single port is `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PortRange {
    first: u16,
    last: u16,
}

/// Why an allow-list does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowListError {
    /// No rule at all.
    #[error(
        "the allow-list is empty: name at least one HOST:PORT rule, such as localhost:22 or \
         10.0.0.0/8:3389"
    )]
    Empty,
    /// One rule is malformed.
    #[error("bad allow rule {rule:?}: {reason}")]
    BadRule {
        /// The rule as written (shortened when very long).
        rule: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// What the allow-list says about a destination, before any resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The destination is an IP address a rule allows: dial exactly this.
    Address(SocketAddr),
    /// A host-name rule allows the destination's name: resolve it and dial any of its
    /// addresses.
    Name,
    /// No host-name rule allows the name, but network rules cover its port: resolve it and
    /// dial only the addresses those rules allow.
    NameWithinNetworks,
    /// Nothing allows it.
    Refused,
}

impl AllowList {
    /// Judges a destination. Names may need resolving; see [`AllowList::admit`].
    pub fn verdict(&self, destination: &Destination) -> Verdict {
        let port = destination.port;
        if let Ok(ip) = destination.host.parse::<IpAddr>() {
            let address = SocketAddr::new(ip.to_canonical(), port);
            return if self.permits(address) {
                Verdict::Address(address)
            } else {
                Verdict::Refused
            };
        }
        let host = destination.host.to_ascii_lowercase();
        let by_name = self.rules.iter().any(|rule| {
            matches!(&rule.host, HostPattern::Name(name) if *name == host)
                && rule.ports.contains(port)
        });
        if by_name {
            return Verdict::Name;
        }
        let by_network = self
            .rules
            .iter()
            .any(|rule| matches!(rule.host, HostPattern::Network(_)) && rule.ports.contains(port));
        if by_network {
            Verdict::NameWithinNetworks
        } else {
            Verdict::Refused
        }
    }

    /// Whether an address is inside a network rule (host-name rules never match an address).
    pub fn permits(&self, address: SocketAddr) -> bool {
        let ip = address.ip().to_canonical();
        self.rules.iter().any(|rule| match rule.host {
            HostPattern::Network(network) => {
                network.contains(ip) && rule.ports.contains(address.port())
            }
            HostPattern::Name(_) => false,
        })
    }

    /// The resolved addresses of a name that may be dialled under `verdict`, in resolver order.
    pub fn admit(&self, verdict: Verdict, resolved: &[SocketAddr]) -> Vec<SocketAddr> {
        let canonical = resolved
            .iter()
            .map(|address| SocketAddr::new(address.ip().to_canonical(), address.port()));
        match verdict {
            Verdict::Name => canonical.collect(),
            Verdict::NameWithinNetworks => {
                canonical.filter(|address| self.permits(*address)).collect()
            }
            Verdict::Address(address) => vec![address],
            Verdict::Refused => Vec::new(),
        }
    }
}

impl FromStr for AllowList {
    type Err = AllowListError;

    fn from_str(text: &str) -> Result<AllowList, AllowListError> {
        // Empty items (a trailing comma) add nothing and widen nothing, so they are skipped.
        let rules = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                parse_rule(item).map_err(|reason| AllowListError::BadRule {
                    rule: item.chars().take(100).collect(),
                    reason,
                })
            })
            .collect::<Result<Vec<Rule>, AllowListError>>()?;
        if rules.is_empty() {
            return Err(AllowListError::Empty);
        }
        Ok(AllowList { rules })
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, rule) in self.rules.iter().enumerate() {
            if index > 0 {
                formatter.write_str(",")?;
            }
            write!(formatter, "{rule}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostPattern::Name(name) => write!(formatter, "{name}")?,
            HostPattern::Network(network) => {
                let full = network.family_bits();
                match (network.address, network.prefix == full) {
                    (IpAddr::V4(address), true) => write!(formatter, "{address}")?,
                    (IpAddr::V4(address), false) => {
                        write!(formatter, "{address}/{}", network.prefix)?
                    }
                    (IpAddr::V6(address), true) => write!(formatter, "[{address}]")?,
                    (IpAddr::V6(address), false) => {
                        write!(formatter, "[{address}/{}]", network.prefix)?
                    }
                }
            }
        }
        match (self.ports.first, self.ports.last) {
            (1, u16::MAX) => write!(formatter, ":*"),
            (first, last) if first == last => write!(formatter, ":{first}"),
            (first, last) => write!(formatter, ":{first}-{last}"),
        }
    }
}

impl Network {
    fn family_bits(&self) -> u8 {
        match self.address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = mask_u32(self.prefix);
                u32::from(ip) & mask == u32::from(network)
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = mask_u128(self.prefix);
                u128::from(ip) & mask == u128::from(network)
            }
            _ => false,
        }
    }
}

impl PortRange {
    fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

fn mask_u32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_u128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

const IPV6_BRACKETS: &str = "write IPv6 addresses in brackets, like [::1]:22";

fn parse_rule(item: &str) -> Result<Rule, String> {
    let (host, ports) = if let Some(rest) = item.strip_prefix('[') {
        let (host, ports) = rest
            .split_once("]:")
            .ok_or_else(|| "expected [IPV6]:PORT".to_owned())?;
        if !host.contains(':') {
            return Err("brackets are only for IPv6 addresses".to_owned());
        }
        (host, ports)
    } else {
        let (host, ports) = item
            .rsplit_once(':')
            .ok_or_else(|| "expected HOST:PORT".to_owned())?;
        // `fd00::/8:22` is unambiguous (the port follows the prefix length), but `::1:22`
        // could be an address without a port.
        if host.contains(':') && !host.contains('/') {
            return Err(IPV6_BRACKETS.to_owned());
        }
        (host, ports)
    };
    Ok(Rule {
        host: parse_host(host)?,
        ports: parse_ports(ports)?,
    })
}

fn parse_host(host: &str) -> Result<HostPattern, String> {
    if host.is_empty() {
        return Err("the host is empty".to_owned());
    }
    if let Some((address, prefix)) = host.split_once('/') {
        return parse_network(address, prefix).map(HostPattern::Network);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        let ip = ip.to_canonical();
        let prefix = match ip {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        return Ok(HostPattern::Network(Network {
            address: ip,
            prefix,
        }));
    }
    if host.contains('*') {
        return Err(
            "wildcard hosts are not supported: name a host, an IP address or a CIDR network"
                .to_owned(),
        );
    }
    let valid = host.len() <= 253
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_'));
    if !valid {
        return Err(
            "a host name may hold only letters, digits, dots, dashes and underscores".to_owned(),
        );
    }
    Ok(HostPattern::Name(host.to_ascii_lowercase()))
}

fn parse_network(address: &str, prefix: &str) -> Result<Network, String> {
    let ip: IpAddr = address
        .parse()
        .map_err(|_| format!("{address} is not an IP address"))?;
    let bits = match ip {
        IpAddr::V4(_) => 32u8,
        IpAddr::V6(_) => 128u8,
    };
    let prefix: u8 = if !prefix.is_empty() && prefix.bytes().all(|byte| byte.is_ascii_digit()) {
        prefix.parse().ok().filter(|length| *length <= bits)
    } else {
        None
    }
    .ok_or_else(|| format!("the prefix length must be a number from 0 to {bits}"))?;
    let masked = match ip {
        IpAddr::V4(v4) => IpAddr::from((u32::from(v4) & mask_u32(prefix)).to_be_bytes()),
        IpAddr::V6(v6) => IpAddr::from((u128::from(v6) & mask_u128(prefix)).to_be_bytes()),
    };
    // A rule like 10.0.0.1/8 is almost always a typo for an address or for the network; say
    // which network it would mean rather than guess.
    if masked != ip {
        return Err(format!(
            "{address}/{prefix} has host bits set: did you mean {masked}/{prefix}"
        ));
    }
    Ok(Network {
        address: ip,
        prefix,
    })
}

fn parse_ports(ports: &str) -> Result<PortRange, String> {
    const PORT_FORMS: &str =
        "the port must be a number from 1 to 65535, a range like 8000-8100, or *";
    if ports == "*" {
        return Ok(PortRange {
            first: 1,
            last: u16::MAX,
        });
    }
    let port = |text: &str| -> Result<u16, String> {
        // Digits only: `u16::from_str` would also take a leading `+`.
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(PORT_FORMS.to_owned());
        }
        text.parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| PORT_FORMS.to_owned())
    };
    match ports.split_once('-') {
        Some((first, last)) => {
            let (first, last) = (port(first)?, port(last)?);
            if first > last {
                return Err(format!("the port range {first}-{last} runs backwards"));
            }
            Ok(PortRange { first, last })
        }
        None => {
            let single = port(ports)?;
            Ok(PortRange {
                first: single,
                last: single,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(text: &str) -> Destination {
        Destination::parse(text).unwrap()
    }

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn good_rules_parse_to_their_canonical_form() {
        let cases = [
            ("localhost:22", "localhost:22"),
            ("DB.Example.com:5432", "db.example.com:5432"),
            ("10.0.0.5:3389", "10.0.0.5:3389"),
            ("10.0.0.0/8:*", "10.0.0.0/8:*"),
            ("0.0.0.0/0:443", "0.0.0.0/0:443"),
            ("[::1]:22", "[::1]:22"),
            ("[fd00::/8]:8000-8100", "[fd00::/8]:8000-8100"),
            ("fd00::/8:22", "[fd00::/8]:22"),
            ("::1/128:22", "[::1]:22"),
            ("[::ffff:10.0.0.5]:22", "10.0.0.5:22"),
            ("host_1:1-65535", "host_1:*"),
            ("a:22, b:80 ,", "a:22,b:80"),
            ("a:22,,b:80", "a:22,b:80"),
            ("a:7-7", "a:7"),
        ];
        for (text, canonical) in cases {
            let parsed: AllowList = text
                .parse()
                .unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(parsed.to_string(), canonical, "{text}");
        }
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let cases = [
            ("", "the allow-list is empty"),
            (" , ,", "the allow-list is empty"),
            ("localhost", "expected HOST:PORT"),
            (":22", "the host is empty"),
            ("localhost:", "the port must be a number"),
            ("localhost:0", "the port must be a number"),
            ("localhost:65536", "the port must be a number"),
            ("localhost:+22", "the port must be a number"),
            ("localhost:ssh", "the port must be a number"),
            (
                "localhost:9000-8000",
                "the port range 9000-8000 runs backwards",
            ),
            ("localhost:-80", "the port must be a number"),
            ("localhost:80-", "the port must be a number"),
            ("::1:22", "write IPv6 addresses in brackets"),
            ("[::1:22", "expected [IPV6]:PORT"),
            ("[localhost]:22", "brackets are only for IPv6 addresses"),
            (
                "10.0.0.1/8:22",
                "has host bits set: did you mean 10.0.0.0/8",
            ),
            (
                "10.0.0.0/33:22",
                "the prefix length must be a number from 0 to 32",
            ),
            (
                "[fd00::/129]:22",
                "the prefix length must be a number from 0 to 128",
            ),
            ("10.0.0.0/:22", "the prefix length must be a number"),
            ("10.0.0.0/+8:22", "the prefix length must be a number"),
            ("example.com/8:22", "example.com is not an IP address"),
            ("*:22", "wildcard hosts are not supported"),
            ("*.example.com:22", "wildcard hosts are not supported"),
            ("a b:22", "a host name may hold only"),
            ("host/x:22", "host is not an IP address"),
            ("ok:22,bad", "bad allow rule \"bad\": expected HOST:PORT"),
        ];
        for (text, expected) in cases {
            let error = text.parse::<AllowList>().expect_err(text).to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.ends_with('.'), "{error}");
        }
    }

    #[test]
    fn verdicts() {
        let allow: AllowList =
            "localhost:22,db.internal:5432,10.0.0.0/8:3389,[fd00::/8]:8000-8100,192.168.1.7:7000-7100"
                .parse()
                .unwrap();
        let cases = [
            ("localhost:22", Verdict::Name),
            ("LOCALHOST:22", Verdict::Name),
            ("localhost:23", Verdict::Refused),
            ("db.internal:5432", Verdict::Name),
            ("db.internal.evil:5432", Verdict::Refused),
            ("evil:22", Verdict::Refused),
            // A name no host rule allows, on a port some network rule covers.
            ("rdp-host:3389", Verdict::NameWithinNetworks),
            ("web:8080", Verdict::NameWithinNetworks),
            ("anything:7050", Verdict::NameWithinNetworks),
            ("anything:1234", Verdict::Refused),
            ("10.1.2.3:3389", Verdict::Address(address("10.1.2.3:3389"))),
            ("10.1.2.3:22", Verdict::Refused),
            ("11.0.0.1:3389", Verdict::Refused),
            (
                "[::ffff:10.1.2.3]:3389",
                Verdict::Address(address("10.1.2.3:3389")),
            ),
            (
                "[fd12::1]:8000",
                Verdict::Address(address("[fd12::1]:8000")),
            ),
            ("[fd12::1]:8101", Verdict::Refused),
            ("[fe80::1]:8000", Verdict::Refused),
            (
                "192.168.1.7:7000",
                Verdict::Address(address("192.168.1.7:7000")),
            ),
            ("192.168.1.7:1", Verdict::Refused),
            ("192.168.1.8:7000", Verdict::Refused),
            // An address never matches a host-name rule, even one that names it.
            ("127.0.0.1:22", Verdict::Refused),
        ];
        for (text, expected) in cases {
            assert_eq!(allow.verdict(&destination(text)), expected, "{text}");
        }
    }

    #[test]
    fn mapped_addresses_do_not_slip_through_ipv6_networks() {
        // `::/0` means every IPv6 address; `::ffff:127.0.0.1` reaches IPv4 loopback, which
        // the operator did not list.
        let allow: AllowList = "[::/0]:*".parse().unwrap();
        assert_eq!(
            allow.verdict(&destination("[::ffff:127.0.0.1]:22")),
            Verdict::Refused
        );
        assert_eq!(
            allow.verdict(&destination("[2001:db8::1]:22")),
            Verdict::Address(address("[2001:db8::1]:22"))
        );
    }

    #[test]
    fn resolved_names_are_admitted_only_inside_networks() {
        let allow: AllowList = "127.0.0.0/8:22,trusted:22".parse().unwrap();
        let resolved = [
            address("[::1]:22"),
            address("127.0.0.1:22"),
            address("10.0.0.1:22"),
            address("[::ffff:127.0.0.2]:22"),
        ];
        assert_eq!(
            allow.admit(Verdict::NameWithinNetworks, &resolved),
            [address("127.0.0.1:22"), address("127.0.0.2:22")]
        );
        // The operator named this host: whatever it resolves to is what they meant.
        assert_eq!(
            allow.admit(Verdict::Name, &resolved),
            [
                address("[::1]:22"),
                address("127.0.0.1:22"),
                address("10.0.0.1:22"),
                address("127.0.0.2:22"),
            ]
        );
        assert!(allow.admit(Verdict::Refused, &resolved).is_empty());
    }

    #[test]
    fn zero_prefix_covers_the_family() {
        let allow: AllowList = "0.0.0.0/0:22".parse().unwrap();
        assert!(allow.permits(address("203.0.113.9:22")));
        assert!(!allow.permits(address("[2001:db8::1]:22")));
        assert!(!allow.permits(address("203.0.113.9:23")));
    }
}
