//! Paths that the server and the web app must agree on.
//!
//! The web app is a single-page application: the server answers each path in
//! [`CLIENT_ROUTES`] with the app's `index.html` and lets the app render the page. Any other
//! path that is not a static asset or an API route gets the same `index.html` with status 404,
//! and the app renders its not-found page.

/// The name of the cookie that carries a browser Session.
pub const SESSION_COOKIE: &str = "postern_session";

/// Client-side pages, as exact paths.
pub const CLIENT_ROUTES: &[&str] = &[
    "/",
    "/login",
    "/setup",
    "/admin",
    "/admin/users",
    "/admin/sessions",
    "/admin/providers",
    "/admin/connectors",
    "/admin/apps",
    "/admin/service-tokens",
    "/admin/audit",
    "/admin/recordings",
    "/cli/authorize",
];

/// Client-side pages with one path parameter, as the prefix before it: `/ssh/{app}`,
/// `/rdp/{app}` and `/admin/recordings/{id}`.
pub const CLIENT_ROUTE_PREFIXES: &[&str] = &["/ssh/", "/rdp/", "/admin/recordings/"];

/// The page where a signed-in user approves a CLI sign-in.
pub const CLI_AUTHORIZE: &str = "/cli/authorize";

/// Where the browser starts an OIDC sign-in with the provider whose id is `provider`.
pub fn oidc_start(provider: &str) -> String {
    format!("/auth/oidc/{provider}/start")
}

/// Where the OIDC provider `provider` sends the browser back with a code.
pub fn oidc_callback(provider: &str) -> String {
    format!("/auth/oidc/{provider}/callback")
}

/// Whether `path` is one of the web app's pages.
pub fn is_client_route(path: &str) -> bool {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    CLIENT_ROUTES.contains(&trimmed)
        || CLIENT_ROUTE_PREFIXES.iter().any(|prefix| {
            trimmed
                .strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_routes_match_exactly() {
        for (path, expected) in [
            ("/", true),
            ("/login", true),
            ("/login/", true),
            ("/admin/users", true),
            ("/admin/nope", false),
            ("/ssh/build-box", true),
            ("/ssh/", false),
            ("/ssh/a/b", false),
            ("/rdp/desk", true),
            ("/admin/recordings/r1", true),
            ("/loginx", false),
            ("/api/me", false),
            ("", false),
        ] {
            assert_eq!(is_client_route(path), expected, "{path}");
        }
    }
}
