//! Session rules: the cookie, validity (revoked, absolute and idle expiry) and return paths.

use std::time::Duration;

use crate::store::{SessionRecord, UnixTime};

/// What a stored Session amounts to right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Usable.
    Live,
    /// Revoked by sign-out or an admin.
    Revoked,
    /// Past its absolute end.
    Expired,
    /// Unused for longer than the idle timeout.
    Idle,
}

/// Applies the Session rules at `now`.
pub fn validity(session: &SessionRecord, now: UnixTime, idle_timeout: Duration) -> Validity {
    if session.revoked_at.is_some() {
        Validity::Revoked
    } else if now >= session.expires_at {
        Validity::Expired
    } else if now - session.last_seen_at >= seconds(idle_timeout) {
        Validity::Idle
    } else {
        Validity::Live
    }
}

/// Whether last-seen should be written now. Writing on every request would turn each read into
/// a write; writing rarely would let an active Session fall idle. A tenth of the idle timeout,
/// at most a minute, keeps both small.
pub fn needs_touch(session: &SessionRecord, now: UnixTime, idle_timeout: Duration) -> bool {
    let step = (seconds(idle_timeout) / 10).clamp(0, 60);
    now - session.last_seen_at >= step.max(1)
}

/// Whole seconds of a duration, saturating.
pub fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// `Set-Cookie` value that installs a Session secret.
pub fn session_cookie(token: &str, max_age: Duration) -> String {
    format!(
        "{}={token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={}",
        protocol::routes::SESSION_COOKIE,
        max_age.as_secs()
    )
}

/// `Set-Cookie` value that removes the Session cookie.
pub fn clear_session_cookie() -> String {
    format!(
        "{}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0",
        protocol::routes::SESSION_COOKIE
    )
}

/// The value of cookie `name` in a `Cookie` header, if present once.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let mut found = header.split(';').filter_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    });
    let first = found.next()?;
    // Two cookies with our name mean someone planted one (for example from a sibling
    // subdomain); trust neither.
    found.next().is_none().then_some(first)
}

/// A same-site path to land on after sign-in, or `/`. Refuses anything a browser could read
/// as another origin (`//host`, `/\host`, schemes) so sign-in cannot be an open redirect.
pub fn safe_return_path(candidate: Option<&str>) -> String {
    let Some(path) = candidate else {
        return "/".to_owned();
    };
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 512
        && !path.chars().any(|c| c.is_control() || c == '\\');
    if ok { path.to_owned() } else { "/".to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::User;
    use protocol::api::Role;

    fn session(last_seen_at: UnixTime, expires_at: UnixTime, revoked: bool) -> SessionRecord {
        SessionRecord {
            id: "s".into(),
            source: "local".into(),
            created_at: 0,
            last_seen_at,
            expires_at,
            revoked_at: revoked.then_some(1),
            user_agent: None,
            address: None,
            user: User {
                id: "u".into(),
                source: "local".into(),
                subject: "a".into(),
                username: "a".into(),
                name: "A".into(),
                email: None,
                groups: vec![],
                role: Role::User,
                created_at: 0,
                last_sign_in_at: None,
            },
        }
    }

    #[test]
    fn validity_table() {
        let idle = Duration::from_secs(100);
        let cases = [
            (session(50, 1000, false), 60, Validity::Live),
            (session(50, 1000, true), 60, Validity::Revoked),
            (session(50, 1000, false), 1000, Validity::Expired),
            (session(50, 1000, false), 150, Validity::Idle),
            (session(50, 1000, false), 149, Validity::Live),
        ];
        for (record, now, expected) in cases {
            assert_eq!(validity(&record, now, idle), expected, "now {now}");
        }
    }

    #[test]
    fn touch_cadence() {
        assert!(!needs_touch(
            &session(100, 1000, false),
            100,
            Duration::from_secs(3600)
        ));
        assert!(!needs_touch(
            &session(100, 1000, false),
            159,
            Duration::from_secs(3600)
        ));
        assert!(needs_touch(
            &session(100, 1000, false),
            160,
            Duration::from_secs(3600)
        ));
        assert!(needs_touch(
            &session(100, 1000, false),
            101,
            Duration::from_secs(2)
        ));
    }

    #[test]
    fn cookie_parsing() {
        assert_eq!(
            cookie_value("a=1; postern_session=xyz; b=2", "postern_session"),
            Some("xyz")
        );
        assert_eq!(cookie_value("a=1", "postern_session"), None);
        assert_eq!(
            cookie_value("postern_session=x; postern_session=y", "postern_session"),
            None
        );
        assert_eq!(cookie_value("postern_sessionx=1", "postern_session"), None);
    }

    #[test]
    fn cookie_attributes() {
        let cookie = session_cookie("tok", Duration::from_secs(60));
        for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=60"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
    }

    #[test]
    fn return_paths() {
        for (input, expected) in [
            (None, "/"),
            (Some("/admin/users?x=1"), "/admin/users?x=1"),
            (Some("//evil.example"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("https://evil.example"), "/"),
            (Some("/a\nb"), "/"),
            (Some(""), "/"),
        ] {
            assert_eq!(safe_return_path(input), expected, "{input:?}");
        }
    }
}
