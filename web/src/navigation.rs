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

/// An OIDC provider's start URL (which has no query of its own) carrying the path to return
/// to after sign-in, so that the server brings the person back there, query string and all.
pub fn provider_start_url(start_url: &str, return_to: &str) -> String {
    if return_to == "/" {
        start_url.to_owned()
    } else {
        format!("{start_url}?next={}", encode_query_value(return_to))
    }
}

/// Leaves the app and loads `url` from the server, so the next page starts from fresh state
/// (after sign-in, setup and sign-out the Session has changed under the app's feet).
pub fn load_page(url: &str) {
    // Assigning a same-origin URL cannot fail in practice; if it did, the person stays on the
    // page with the form still usable, which is the best we could offer anyway.
    let _ = window().location().assign(url);
}

/// The first value of `name` in the query string `search` (with or without its leading `?`),
/// decoded once, as browsers do (`+` is a space).
///
/// The router's query map decodes values a second time, which would strip a level of
/// encoding from a `next` path that carries a query of its own; pages that pass values on
/// read them here instead.
pub fn query_value(search: &str, name: &str) -> Option<String> {
    search
        .strip_prefix('?')
        .unwrap_or(search)
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| decode_query_component(key) == name)
        .map(|(_, value)| decode_query_component(value))
}

/// Decodes `%XX` escapes and `+`; a malformed escape stays as it is.
fn decode_query_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let escaped = (byte == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (byte, escaped) {
            (_, Some(value)) => {
                decoded.push(value);
                index += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                index += 1;
            }
            (other, None) => {
                decoded.push(other);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
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

    #[test]
    fn query_values_are_decoded_once() {
        let search = "?next=/cli/authorize%3Fchallenge%3Dc%26callback%3Dhttp%253A%252F%252Fh&x=a+b";
        assert_eq!(
            query_value(search, "next").as_deref(),
            Some("/cli/authorize?challenge=c&callback=http%3A%2F%2Fh")
        );
        assert_eq!(query_value(search, "x").as_deref(), Some("a b"));
        assert_eq!(query_value(search, "missing"), None);
        assert_eq!(query_value("flag", "flag").as_deref(), Some(""));
        assert_eq!(query_value("a=1&a=2", "a").as_deref(), Some("1"));
        assert_eq!(query_value("a=%zz%4", "a").as_deref(), Some("%zz%4"));
        assert_eq!(query_value("a=%C3%A9", "a").as_deref(), Some("é"));
        assert_eq!(query_value("%61=1", "a").as_deref(), Some("1"));
        assert_eq!(query_value("", "a"), None);
        // Round trip with the encoder the sign-in link uses.
        let path = "/cli/authorize?challenge=c&state=s&callback=http%3A%2F%2F127.0.0.1%3A5%2Fcb";
        let login = login_url(path);
        let search = login
            .split_once('?')
            .map(|(_, search)| search)
            .unwrap_or_default();
        assert_eq!(query_value(search, "next").as_deref(), Some(path));
    }

    #[test]
    fn provider_sign_in_returns_to_the_full_path() {
        let start = "/auth/oidc/corp/start";
        assert_eq!(provider_start_url(start, "/"), start);
        assert_eq!(
            provider_start_url(start, "/admin/users"),
            "/auth/oidc/corp/start?next=/admin/users"
        );
        assert_eq!(
            provider_start_url(
                start,
                "/cli/authorize?challenge=c&state=s&callback=http%3A%2F%2F127.0.0.1%3A5555%2Fcb"
            ),
            "/auth/oidc/corp/start?next=/cli/authorize%3Fchallenge%3Dc%26state%3Ds%26callback%3D\
             http%253A%252F%252F127.0.0.1%253A5555%252Fcb"
        );
    }
}
