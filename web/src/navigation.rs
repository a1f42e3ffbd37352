//! Where the app sends the browser: safe return paths, the sign-in redirect and full page loads.

use leptos::prelude::window;

/// The sign-in page.
pub const LOGIN: &str = "/login";

/// The path to return to after sign-in, if `next` is one of this site's paths.
///
/// Only a path that starts with a single `/` qualifies: `//host` and `/\host` are read by
/// browsers as another host, and control characters are dropped by URL parsers, which could
/// turn `/\t/host` into `//host`. Anything else falls back to `/`, so a crafted sign-in link
/// cannot send a person to a look-alike site after they sign in.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The sign-in page with `next` set to `return_to`.
pub fn login_url(return_to: &str) -> String {
    format!("{LOGIN}?next={}", encode_query_value(return_to))
}

/// Leaves the app and loads `url` from the server, so the next page starts from fresh state
/// (after sign-in, setup and sign-out the Session has changed under the app's feet).
pub fn load_page(url: &str) {
    // Assigning a same-origin URL cannot fail in practice; if it did, the person stays on the
    // page with the form still usable, which is the best we could offer anyway.
    let _ = window().location().assign(url);
}

/// Percent-encodes a query value, keeping `/` readable because paths are its usual content.
fn encode_query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_followed() {
        for (next, expected) in [
            (None, "/"),
            (Some(""), "/"),
            (Some("/"), "/"),
            (Some("/admin/users"), "/admin/users"),
            (Some("/admin?tab=1#x"), "/admin?tab=1#x"),
            (Some("//evil.example"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("/\t/evil.example"), "/"),
            (Some("https://evil.example/"), "/"),
            (Some("javascript:alert(1)"), "/"),
            (Some("admin"), "/"),
        ] {
            assert_eq!(safe_next(next), expected, "{next:?}");
        }
    }

    #[test]
    fn login_url_encodes_the_return_path() {
        assert_eq!(login_url("/"), "/login?next=/");
        assert_eq!(login_url("/admin/users"), "/login?next=/admin/users");
        assert_eq!(login_url("/a?b=c&d"), "/login?next=/a%3Fb%3Dc%26d");
    }
}
