//! Serves the web app built by Trunk: hashed assets from the web root, and `index.html` for
//! the app's pages (status 200) and for any other path (status 404, so the app renders its
//! not-found page and crawlers and scripts see the truth).

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::AppState;

/// Fallback handler for every path no other route claims.
pub async fn serve(State(state): State<AppState>, request: Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = request.uri().path();
    let root = &state.config.web_root;
    if let Some(file) = asset_path(root, path)
        && let Some(response) = asset(&file, request.headers()).await
    {
        return response;
    }
    let status = if protocol::routes::is_client_route(path) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    match tokio::fs::read_to_string(root.join("index.html")).await {
        Ok(index) => page_response(status, index),
        Err(error) => {
            tracing::error!(web_root = %root.display(), %error, "web app not found");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The Postern web app is not built: run `cargo xtask run`, or set web_root.\n",
            )
                .into_response()
        }
    }
}

/// The file a request path names inside `root`, if it is a plain relative path to a file
/// (no `..`, no hidden files, not `index.html`, which is served only as a page).
pub fn asset_path(root: &Path, request_path: &str) -> Option<PathBuf> {
    let relative = request_path.strip_prefix('/')?;
    if relative.is_empty() || relative == "index.html" || relative.contains('\\') {
        return None;
    }
    let relative = Path::new(relative);
    let plain = relative.components().all(|component| match component {
        Component::Normal(part) => !part.to_string_lossy().starts_with('.'),
        _ => false,
    });
    plain.then(|| root.join(relative))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|ext| ext.to_str()) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Serves `file`, or the `file.gz` beside it (written at build time) to clients that accept
/// gzip, with a validator so that a revisit of an unhashed asset costs a 304, not a download.
async fn asset(file: &Path, request: &HeaderMap) -> Option<Response> {
    let compressed = accepts_gzip(request)
        .then(|| PathBuf::from(format!("{}.gz", file.display())))
        .filter(|gz| gz.is_file());
    let served = compressed.as_deref().unwrap_or(file);
    let metadata = tokio::fs::metadata(served).await.ok()?;
    if !metadata.is_file() {
        return None;
    }
    let tag = entity_tag(&metadata, compressed.is_some());
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == tag));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset_response(file, tokio::fs::read(served).await.ok()?)
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if compressed.is_some() && !matches {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Some(response)
}

/// Whether `Accept-Encoding` allows gzip (and does not rule it out with `q=0`).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|parameter| {
                parameter
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// A weak validator from the file's size and modification time.
fn entity_tag(metadata: &std::fs::Metadata, gzip: bool) -> String {
    let modified = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_nanos());
    let encoding = if gzip { "-gz" } else { "" };
    format!("W/\"{:x}-{modified:x}{encoding}\"", metadata.len())
}

fn asset_response(path: &Path, bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    // Trunk puts a content hash in every asset name, so an asset never changes under its name.
    let hashed = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .and_then(|stem| stem.rsplit_once('-'))
        .is_some_and(|(_, hash)| hash.len() >= 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    let cache = if hashed {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn page_response(status: StatusCode, index: String) -> Response {
    let policy = content_security_policy(&index);
    let mut response = (status, axum::response::Html(index)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// A CSP that allows our own origin, WebAssembly, and exactly the inline scripts Trunk wrote
/// into `index.html` (by hash), and nothing else.
pub fn content_security_policy(index: &str) -> String {
    let hashes: String = inline_scripts(index)
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The bodies of `<script>` elements without `src`.
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.match_indices("<script").filter_map(move |(start, _)| {
        let rest = &html[start..];
        let tag_end = rest.find('>')?;
        let tag = &rest[..tag_end];
        let body_start = tag_end + 1;
        let body_end = rest.find("</script>")?;
        (!tag.contains("src=") && body_end > body_start).then(|| &rest[body_start..body_end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_stay_inside_the_root() {
        let root = Path::new("/srv/web");
        for (request, expected) in [
            (
                "/app-0123456789abcdef.wasm",
                Some("/srv/web/app-0123456789abcdef.wasm"),
            ),
            ("/snippets/x/y.js", Some("/srv/web/snippets/x/y.js")),
            ("/", None),
            ("/index.html", None),
            ("/../etc/passwd", None),
            ("/a/../../etc/passwd", None),
            ("/.env", None),
            ("/a\\..\\b", None),
            ("//etc/passwd", None),
        ] {
            assert_eq!(
                asset_path(root, request),
                expected.map(PathBuf::from),
                "{request}"
            );
        }
    }

    #[test]
    fn gzip_is_sent_only_to_clients_that_take_it() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate, br, zstd"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(with("*"));
        assert!(!with("br"));
        assert!(!with("gzip;q=0"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn csp_allows_only_the_inline_scripts_present() {
        let index = r#"<html><head><script type="module">init()</script><script src="/a.js"></script></head></html>"#;
        let policy = content_security_policy(index);
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"init()"));
        assert!(policy.contains(&format!("'sha256-{expected}'")), "{policy}");
        assert_eq!(policy.matches("'sha256-").count(), 1, "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"));
    }
}
