//! Policy as data: who may reach which App, decided by a pure function with a reason.

use protocol::api::{AllowList, AppKind, Decision};
use protocol::tunnel::Destination;

use crate::store::{App, UnixTime, User};

/// Who is asking for a Stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A person with a Session (browser or CLI).
    User {
        /// Username.
        username: String,
        /// Email, if known.
        email: Option<String>,
        /// Groups from the identity provider.
        groups: Vec<String>,
        /// When the Session proving this identity was created (the sign-in).
        signed_in_at: UnixTime,
    },
    /// Automation with a Service token.
    ServiceToken {
        /// The token's client id.
        id: String,
        /// The token's name.
        name: String,
        /// Apps it may reach, by name.
        apps: Vec<String>,
    },
}

impl Identity {
    /// The person `user`, signed in at `signed_in_at`.
    pub fn user(user: &User, signed_in_at: UnixTime) -> Identity {
        Identity::User {
            username: user.username.clone(),
            email: user.email.clone(),
            groups: user.groups.clone(),
            signed_in_at,
        }
    }

    /// How the Audit log names this identity.
    pub fn actor(&self) -> String {
        match self {
            Identity::User { username, .. } => format!("user:{username}"),
            Identity::ServiceToken { id, .. } => format!("service-token:{id}"),
        }
    }
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Allow or deny.
    pub decision: Decision,
    /// Why, in words.
    pub reason: String,
}

fn allow(reason: String) -> Verdict {
    Verdict {
        decision: Decision::Allow,
        reason,
    }
}

fn deny(reason: String) -> Verdict {
    Verdict {
        decision: Decision::Deny,
        reason,
    }
}

/// Decides whether `identity` may reach `app` at `now`. Deny unless a rule matches; a person
/// must also have signed in within the App's session duration.
pub fn decide(identity: &Identity, app: &App, now: UnixTime) -> Verdict {
    match identity {
        Identity::ServiceToken { name, apps, .. } => {
            if apps.contains(&app.name) {
                allow(format!("service token {name} may reach {}", app.name))
            } else {
                deny(format!(
                    "service token {name} is not granted app {}",
                    app.name
                ))
            }
        }
        Identity::User {
            username,
            email,
            groups,
            signed_in_at,
        } => {
            let verdict = decide_user(&app.allow, &app.name, username, email.as_deref(), groups);
            let age = now.saturating_sub(*signed_in_at);
            if verdict.decision == Decision::Allow && age >= app.session_duration_seconds {
                return deny(format!(
                    "app {} needs a sign-in from the last {}; this one is {} old: sign in again",
                    app.name,
                    duration_words(app.session_duration_seconds),
                    duration_words(age)
                ));
            }
            verdict
        }
    }
}

pub(crate) fn decide_user(
    rules: &AllowList,
    app: &str,
    username: &str,
    email: Option<&str>,
    groups: &[String],
) -> Verdict {
    if let Some(email) = email {
        let email = email.to_ascii_lowercase();
        if rules
            .emails
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(&email))
        {
            return allow(format!("email {email} is allowed on {app}"));
        }
        if let Some((_, domain)) = email.rsplit_once('@')
            && rules
                .email_domains
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(domain))
        {
            return allow(format!("email domain {domain} is allowed on {app}"));
        }
    }
    if let Some(group) = groups.iter().find(|group| rules.groups.contains(group)) {
        return allow(format!("group {group} is allowed on {app}"));
    }
    let who = email.unwrap_or(username);
    deny(format!("{who} matches no allow rule of app {app}"))
}

/// `90` → `1m 30s`, `28800` → `8h`: durations for people.
pub fn duration_words(seconds: i64) -> String {
    let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let parts: Vec<String> = [(hours, "h"), (minutes, "m"), (rest, "s")]
        .iter()
        .filter(|(value, _)| *value > 0)
        .map(|(value, unit)| format!("{value}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

/// Checks a service URL against its App kind and returns where the Connector must dial.
pub fn parse_service_url(kind: AppKind, service_url: &str) -> Result<Destination, String> {
    let (scheme, rest) = service_url.split_once("://").ok_or_else(|| {
        format!(
            "service URL {service_url:?} needs a scheme such as {}://",
            kind.as_str()
        )
    })?;
    if AppKind::from_scheme(scheme) != Some(kind) {
        return Err(format!(
            "an app of kind {} needs a {}:// service URL, not {scheme}://",
            kind.as_str(),
            kind.as_str()
        ));
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err("a service URL is only scheme://host:port".to_owned());
    }
    let has_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
        !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && (!host.contains(':') || host.ends_with(']'))
    });
    let with_port = match (has_port, kind.default_port()) {
        (true, _) => authority.to_owned(),
        (false, Some(port)) => format!("{authority}:{port}"),
        (false, None) => return Err(format!("a {}:// service URL needs a port", kind.as_str())),
    };
    Destination::parse(&with_port).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(allow: AllowList) -> App {
        App {
            id: "a".into(),
            name: "db".into(),
            kind: AppKind::Tcp,
            connector_id: "c".into(),
            connector_name: "office".into(),
            service_url: "tcp://db:5432".into(),
            session_duration_seconds: 3600,
            allow,
            ssh: None,
            host_key: None,
            created_at: 0,
        }
    }

    fn user(email: Option<&str>, groups: &[&str]) -> Identity {
        Identity::User {
            username: "ada".into(),
            email: email.map(str::to_owned),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            signed_in_at: 1_000,
        }
    }

    #[test]
    fn decisions_as_data() {
        let rules = AllowList {
            emails: vec!["Grace@Example.com".into()],
            email_domains: vec!["corp.example".into()],
            groups: vec!["dba".into()],
        };
        let cases = [
            (
                user(Some("grace@example.com"), &[]),
                Decision::Allow,
                "email grace@example.com",
            ),
            (
                user(Some("ada@CORP.example"), &[]),
                Decision::Allow,
                "email domain corp.example",
            ),
            (
                user(Some("ada@evil.example"), &["dba"]),
                Decision::Allow,
                "group dba",
            ),
            (
                user(Some("ada@corp.example.evil"), &[]),
                Decision::Deny,
                "matches no allow rule",
            ),
            (
                user(Some("ada@evil.example"), &["DBA"]),
                Decision::Deny,
                "ada@evil.example matches no",
            ),
            (
                user(None, &[]),
                Decision::Deny,
                "ada matches no allow rule of app db",
            ),
            (
                Identity::ServiceToken {
                    id: "t".into(),
                    name: "ci".into(),
                    apps: vec!["db".into()],
                },
                Decision::Allow,
                "service token ci may reach db",
            ),
            (
                Identity::ServiceToken {
                    id: "t".into(),
                    name: "ci".into(),
                    apps: vec!["web".into()],
                },
                Decision::Deny,
                "not granted app db",
            ),
        ];
        for (identity, expected, words) in cases {
            let verdict = decide(&identity, &app(rules.clone()), 2_000);
            assert_eq!(verdict.decision, expected, "{identity:?}");
            assert!(
                verdict.reason.contains(words),
                "{identity:?}: {}",
                verdict.reason
            );
        }
        // An empty allow list denies everyone.
        let verdict = decide(
            &user(Some("a@b.c"), &["x"]),
            &app(AllowList::default()),
            2_000,
        );
        assert_eq!(verdict.decision, Decision::Deny);
    }

    #[test]
    fn a_sign_in_older_than_the_app_allows_is_refused() {
        let rules = AllowList {
            groups: vec!["dba".into()],
            ..AllowList::default()
        };
        let app = app(rules);
        let identity = user(None, &["dba"]);
        assert_eq!(
            decide(&identity, &app, 1_000 + 3599).decision,
            Decision::Allow
        );
        let verdict = decide(&identity, &app, 1_000 + 3600);
        assert_eq!(verdict.decision, Decision::Deny);
        assert!(
            verdict
                .reason
                .contains("last 1h; this one is 1h old: sign in again"),
            "{}",
            verdict.reason
        );
        // Service tokens have their own expiry instead.
        let token = Identity::ServiceToken {
            id: "t".into(),
            name: "ci".into(),
            apps: vec!["db".into()],
        };
        assert_eq!(decide(&token, &app, i64::MAX).decision, Decision::Allow);
        assert_eq!(duration_words(5430), "1h 30m 30s");
        assert_eq!(duration_words(0), "0s");
    }

    #[test]
    fn service_urls() {
        let cases = [
            (AppKind::Ssh, "ssh://localhost", Ok("localhost:22")),
            (AppKind::Ssh, "ssh://10.0.0.5:2222/", Ok("10.0.0.5:2222")),
            (AppKind::Rdp, "rdp://[::1]", Ok("[::1]:3389")),
            (AppKind::Rdp, "rdp://[::1]:3390", Ok("[::1]:3390")),
            (AppKind::Tcp, "tcp://db:5432", Ok("db:5432")),
            (AppKind::Tcp, "tcp://db", Err("needs a port")),
            (AppKind::Tcp, "ssh://db:22", Err("needs a tcp://")),
            (AppKind::Ssh, "localhost:22", Err("needs a scheme")),
            (
                AppKind::Ssh,
                "ssh://user@host:22",
                Err("only scheme://host:port"),
            ),
            (
                AppKind::Ssh,
                "ssh://host:22/path",
                Err("only scheme://host:port"),
            ),
            (AppKind::Tcp, "tcp://host:0", Err("not a host:port")),
        ];
        for (kind, url, expected) in cases {
            let parsed = parse_service_url(kind, url).map(|d| d.to_string());
            match (parsed, expected) {
                (Ok(found), Ok(wanted)) => assert_eq!(found, wanted, "{url}"),
                (Err(found), Err(words)) => assert!(found.contains(words), "{url}: {found}"),
                (found, wanted) => panic!("{url}: {found:?} vs {wanted:?}"),
            }
        }
    }
}
