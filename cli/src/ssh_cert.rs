//! `postern ssh-cert`: one ed25519 key pair per server and App in the config directory, and a
//! short-lived certificate for it from the server's SSH CA, asked for again only when the
//! cached one is about to expire.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use protocol::ssh::{CERT_PATH, SshCertRequest, SshCertificate, SshLogin, login_path};
use ssh_key::public::KeyData;
use ssh_key::rand_core::OsRng;
use ssh_key::{Algorithm, Certificate, LineEnding, PrivateKey};
use url::Url;

use crate::access_cmd::{ServerArgs, upstream};
use crate::credentials::{config_dir, create_private_dir, write_private_file};
use crate::sign_in::SignIn;
use crate::upstream::RequestError;

/// A cached certificate is asked for again when it has less than this left.
pub const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// One App's files: `<config>/ssh/<host>_<port>/<app>` (the private key), `<app>.pub` and
/// `<app>-cert.pub`, the names OpenSSH looks for next to each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    /// The private key (OpenSSH format, no passphrase).
    pub key: PathBuf,
    /// Its public key line.
    pub public_key: PathBuf,
    /// The latest certificate line.
    pub certificate: PathBuf,
}

impl KeyFiles {
    /// The files for `app` on `server` under `config_dir`.
    pub fn in_dir(config_dir: &Path, server: &Url, app: &str) -> anyhow::Result<KeyFiles> {
        check_app_name(app)?;
        let dir = config_dir.join("ssh").join(server_dir_name(server)?);
        Ok(KeyFiles {
            key: dir.join(app),
            public_key: dir.join(format!("{app}.pub")),
            certificate: dir.join(format!("{app}-cert.pub")),
        })
    }

    /// The files for `app` on `server` in the CLI's config directory.
    pub fn for_app(server: &Url, app: &str) -> anyhow::Result<KeyFiles> {
        // Absolute, for the paths printed into ssh_config.
        let config_dir = std::path::absolute(config_dir()?)
            .context("cannot tell where the config directory is")?;
        KeyFiles::in_dir(&config_dir, server, app)
    }
}

/// `host_port`, with anything but letters, digits, dots and dashes replaced (IPv6 colons).
fn server_dir_name(server: &Url) -> anyhow::Result<String> {
    let host = server.host_str().context("--server names no host")?;
    let port = server.port_or_known_default().unwrap_or(443);
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    Ok(format!("{host}_{port}"))
}

/// App names become file names, so nothing that could leave the directory gets through.
fn check_app_name(app: &str) -> anyhow::Result<()> {
    let well_formed = !app.is_empty()
        && app.len() <= 128
        && !app.starts_with(['.', '-'])
        && app
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !well_formed {
        bail!("{app:?} is not an App name (letters, digits and dashes)");
    }
    Ok(())
}

fn parse_key(path: &Path, bytes: &[u8]) -> anyhow::Result<PrivateKey> {
    let key = PrivateKey::from_openssh(bytes).map_err(|error| {
        anyhow::anyhow!(
            "cannot read the key {}: {error}; delete it to let postern make a new one",
            path.display()
        )
    })?;
    if key.is_encrypted() {
        bail!(
            "the key {} is protected by a passphrase; postern keeps its own unprotected key \
             there: delete it to let postern make a new one",
            path.display()
        );
    }
    Ok(key)
}

fn create_key(path: &Path, comment: &str) -> anyhow::Result<PrivateKey> {
    let mut key =
        PrivateKey::random(&mut OsRng, Algorithm::Ed25519).context("cannot generate a key")?;
    key.set_comment(comment);
    let pem = key
        .to_openssh(LineEnding::LF)
        .context("cannot encode the key")?;
    // Written aside, then linked into place: of two `ssh-cert` racing (two ssh started at once),
    // one key wins and the other process reads it, never half a file.
    let name = path
        .file_name()
        .context("a key path has no file name")?
        .to_string_lossy();
    let aside = path.with_file_name(format!(".{name}.{}.new", std::process::id()));
    write_private_file(&aside, pem.as_bytes())?;
    let linked = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(key),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            parse_key(path, &bytes)
        }
        Err(error) => Err(error).with_context(|| format!("cannot write {}", path.display())),
    }
}

/// The App's key pair, created (mode 0600) the first time, with its `.pub` beside it.
pub fn load_or_create_key(files: &KeyFiles, comment: &str) -> anyhow::Result<PrivateKey> {
    let dir = files.key.parent().context("a key path has no directory")?;
    create_private_dir(dir)?;
    let key = match std::fs::read(&files.key) {
        Ok(bytes) => parse_key(&files.key, &bytes)?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            create_key(&files.key, comment)?
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", files.key.display()));
        }
    };
    let public = format!(
        "{}\n",
        key.public_key()
            .to_openssh()
            .context("cannot encode the public key")?
    );
    if std::fs::read_to_string(&files.public_key).ok().as_deref() != Some(public.as_str()) {
        write_private_file(&files.public_key, public.as_bytes())?;
    }
    Ok(key)
}

/// The certificate in `path`, if there is one that parses.
pub fn read_certificate(path: &Path) -> Option<Certificate> {
    let text = std::fs::read_to_string(path).ok()?;
    Certificate::from_openssh(text.trim()).ok()
}

/// Whether a cached `certificate` still serves `key` as `principal` (any, when `None`) at
/// `now` (Unix seconds), with more than [`RENEW_BEFORE`] to go.
pub fn still_usable(
    certificate: &Certificate,
    key: &KeyData,
    principal: Option<&str>,
    now: u64,
) -> bool {
    certificate.public_key() == key
        && certificate.cert_type().is_user()
        && certificate.valid_after() <= now
        && certificate.valid_before() > now.saturating_add(RENEW_BEFORE.as_secs())
        && principal.is_none_or(|wanted| {
            certificate
                .valid_principals()
                .iter()
                .any(|name| name == wanted)
        })
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// What `ssh-cert` ended with.
pub struct Obtained {
    /// Where the key and certificate are.
    pub files: KeyFiles,
    /// The certificate.
    pub certificate: Certificate,
    /// Whether it is the cached one (no request was made).
    pub reused: bool,
}

/// Makes sure the App's key has a certificate with more than [`RENEW_BEFORE`] left, asking the
/// server for one (and signing in first if needed) only when the cached one will not do.
pub async fn obtain(
    sign_in: &SignIn,
    app: &str,
    principal: Option<&str>,
) -> anyhow::Result<Obtained> {
    let upstream = sign_in.upstream();
    let server = upstream.server();
    let files = KeyFiles::for_app(server, app)?;
    let comment = format!(
        "postern {app} on {}",
        server.host_str().unwrap_or("the server")
    );
    let key = load_or_create_key(&files, &comment)?;
    if let Some(cached) = read_certificate(&files.certificate)
        && still_usable(&cached, key.public_key().key_data(), principal, unix_now())
    {
        return Ok(Obtained {
            files,
            certificate: cached,
            reused: true,
        });
    }
    let request = SshCertRequest {
        app: app.to_owned(),
        public_key: key
            .public_key()
            .to_openssh()
            .context("cannot encode the public key")?,
        principal: principal.map(str::to_owned),
    };
    let issued: SshCertificate = match sign_in
        .send(|credentials| {
            let request = &request;
            async move {
                upstream
                    .post_json(CERT_PATH, request, Some(&credentials))
                    .await
            }
        })
        .await
    {
        Ok(issued) => issued,
        Err(error) => return Err(explain(sign_in, app, error).await),
    };
    let line = issued.certificate.trim();
    let certificate = Certificate::from_openssh(line)
        .context("the server sent a certificate that cannot be read")?;
    anyhow::ensure!(
        certificate.public_key() == key.public_key().key_data(),
        "the server sent a certificate for a key other than {}",
        files.public_key.display()
    );
    write_private_file(&files.certificate, format!("{line}\n").as_bytes())?;
    Ok(Obtained {
        files,
        certificate,
        reused: false,
    })
}

/// Turns a refusal of an SSH request for `app` into a message for a person; when it is about
/// principals, the ones the person may use are looked up and named.
pub async fn explain(sign_in: &SignIn, app: &str, error: anyhow::Error) -> anyhow::Error {
    let Some(RequestError::Refused {
        status,
        code,
        message,
    }) = error.downcast_ref::<RequestError>()
    else {
        return error;
    };
    let allowed = if matches!(status, 400 | 403) {
        allowed_principals(sign_in, app).await
    } else {
        None
    };
    anyhow::anyhow!(refusal_message(
        sign_in.upstream().server().as_str().trim_end_matches('/'),
        app,
        *status,
        code,
        message,
        allowed.as_deref(),
    ))
}

/// The principals the signed-in person may use on `app`, if the server tells.
async fn allowed_principals(sign_in: &SignIn, app: &str) -> Option<Vec<String>> {
    let upstream = sign_in.upstream();
    let path = login_path(app);
    let login: SshLogin = sign_in
        .send(|credentials| {
            let path = &path;
            async move { upstream.get_json(path, Some(&credentials)).await }
        })
        .await
        .ok()?;
    Some(login.principals)
}

/// The message for a refused SSH request: what went wrong for `app`, in the server's words,
/// and the principals the person may use when the server's message does not name them all.
pub fn refusal_message(
    server: &str,
    app: &str,
    status: u16,
    code: &str,
    message: &str,
    allowed: Option<&[String]>,
) -> String {
    use protocol::api::error_code;
    let mut text = match (status, code) {
        (401, _) => {
            format!("not signed in to {server} ({message}): run `postern login --server {server}`")
        }
        (403, error_code::ACCESS_DENIED) => {
            let reason = message.strip_prefix("access denied: ").unwrap_or(message);
            format!("access to {app} denied: {reason}")
        }
        (404, error_code::UNKNOWN_APP) => format!("{message} on {server}"),
        _ => message.to_owned(),
    };
    match allowed {
        Some([]) => text.push_str(&format!("; you may log in to {app} as no one")),
        Some(allowed) if allowed.iter().any(|name| !message.contains(name.as_str())) => {
            text.push_str(&format!(
                "; you may log in to {app} as: {}",
                allowed.join(", ")
            ));
        }
        _ => {}
    }
    text
}

/// Runs `postern ssh-cert`.
pub fn run(
    server: ServerArgs,
    app: &str,
    principal: Option<&str>,
    quiet: bool,
    no_browser: bool,
) -> anyhow::Result<()> {
    let runtime = crate::runtime()?;
    let obtained = runtime.block_on(async {
        let sign_in = SignIn::new(upstream(&server)?, None, no_browser, "the certificate");
        obtain(&sign_in, app, principal).await
    })?;
    if !quiet {
        print!("{}", summary(&obtained, app, unix_now()));
    }
    Ok(())
}

/// What `ssh-cert` prints: which certificate, until when, and where the files are.
pub fn summary(obtained: &Obtained, app: &str, now: u64) -> String {
    let certificate = &obtained.certificate;
    let until = humantime::format_rfc3339_seconds(certificate.valid_before_time());
    let left = humantime::format_duration(Duration::from_secs(
        certificate.valid_before().saturating_sub(now),
    ));
    let principals = certificate.valid_principals().join(", ");
    let headline = if obtained.reused {
        format!("Cached certificate for {principals} on {app} is valid until {until} (in {left}).")
    } else {
        format!("New certificate for {principals} on {app}, valid until {until} (in {left}).")
    };
    format!(
        "{headline}\n  key:         {}\n  certificate: {}\n",
        obtained.files.key.display(),
        obtained.files.certificate.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::certificate::Builder;
    use std::os::unix::fs::PermissionsExt;

    fn certificate(key: &PrivateKey, principal: &str, after: u64, before: u64) -> Certificate {
        let ca = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let mut builder =
            Builder::new_with_random_nonce(&mut OsRng, key.public_key(), after, before).unwrap();
        builder.valid_principal(principal).unwrap();
        builder.key_id("test").unwrap();
        builder.sign(&ca).unwrap()
    }

    #[test]
    fn files_are_kept_per_server_and_app() {
        let server: Url = "https://Postern.Example:8443/some/path".parse().unwrap();
        let files = KeyFiles::in_dir(Path::new("/c"), &server, "web-1").unwrap();
        assert_eq!(files.key, Path::new("/c/ssh/postern.example_8443/web-1"));
        assert_eq!(
            files.public_key,
            Path::new("/c/ssh/postern.example_8443/web-1.pub")
        );
        assert_eq!(
            files.certificate,
            Path::new("/c/ssh/postern.example_8443/web-1-cert.pub")
        );
        let default_port: Url = "https://[::1]".parse().unwrap();
        assert_eq!(
            KeyFiles::in_dir(Path::new("/c"), &default_port, "db")
                .unwrap()
                .key,
            Path::new("/c/ssh/___1__443/db")
        );
        for bad in ["", "../x", "a/b", ".hidden", "-rf", "a b", "é"] {
            assert!(
                KeyFiles::in_dir(Path::new("/c"), &server, bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_key_is_made_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let server: Url = "https://p.example".parse().unwrap();
        let files = KeyFiles::in_dir(dir.path(), &server, "shell").unwrap();
        let first = load_or_create_key(&files, "postern shell").unwrap();
        let again = load_or_create_key(&files, "postern shell").unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(first.algorithm(), Algorithm::Ed25519);
        for path in [&files.key, &files.public_key] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        let dir_mode = std::fs::metadata(files.key.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let public = std::fs::read_to_string(&files.public_key).unwrap();
        assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
        assert!(public.trim_end().ends_with("postern shell"), "{public}");
        // No half-written leftovers beside the files.
        let names: Vec<String> = std::fs::read_dir(files.key.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        // A damaged key is reported, not silently replaced.
        std::fs::write(&files.key, "not a key").unwrap();
        let error = load_or_create_key(&files, "x").unwrap_err().to_string();
        assert!(error.contains("delete it"), "{error}");
    }

    #[test]
    fn a_cached_certificate_is_reused_only_while_it_fits() {
        let key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let other = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let now = 1_800_000_000;
        let cert = certificate(&key, "ada", now - 30, now + 300);
        let data = key.public_key().key_data();
        assert!(still_usable(&cert, data, None, now));
        assert!(still_usable(&cert, data, Some("ada"), now));
        assert!(!still_usable(&cert, data, Some("root"), now));
        assert!(!still_usable(
            &cert,
            other.public_key().key_data(),
            None,
            now
        ));
        // Less than a minute left, or already past: ask again.
        assert!(still_usable(&cert, data, None, now + 239));
        assert!(!still_usable(&cert, data, None, now + 240));
        assert!(!still_usable(&cert, data, None, now + 400));
        // Not yet valid (the clock moved back).
        assert!(!still_usable(&cert, data, None, now - 60));
    }

    #[test]
    fn certificates_are_read_back_from_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let cert = certificate(&key, "ada", 100, 200);
        let path = dir.path().join("shell-cert.pub");
        assert!(read_certificate(&path).is_none());
        std::fs::write(&path, format!("{}\n", cert.to_openssh().unwrap())).unwrap();
        assert_eq!(read_certificate(&path).unwrap(), cert);
        std::fs::write(&path, "ssh-ed25519-cert-v01@openssh.com AAAAbroken\n").unwrap();
        assert!(read_certificate(&path).is_none());
    }

    /// One refusal and the sentence it becomes.
    struct Refusal {
        status: u16,
        code: &'static str,
        message: &'static str,
        allowed: Option<&'static [&'static str]>,
        expected: &'static str,
    }

    #[test]
    fn refusals_read_as_sentences_and_name_the_principals() {
        const ALLOWED: &[&str] = &["deploy", "ada"];
        let cases = [
            Refusal {
                status: 401,
                code: "unauthenticated",
                message: "sign in first",
                allowed: None,
                expected: "not signed in to https://p.example (sign in first): run `postern login --server https://p.example`",
            },
            Refusal {
                status: 403,
                code: "access_denied",
                message: "access denied: outside the allowed email domains",
                allowed: None,
                expected: "access to shell denied: outside the allowed email domains",
            },
            Refusal {
                status: 404,
                code: "unknown_app",
                message: "no SSH app is called shell",
                allowed: None,
                expected: "no SSH app is called shell on https://p.example",
            },
            Refusal {
                status: 400,
                code: "bad_request",
                message: "choose whom to log in as: one of deploy, ada",
                allowed: Some(ALLOWED),
                expected: "choose whom to log in as: one of deploy, ada",
            },
            Refusal {
                status: 403,
                code: "access_denied",
                message: "you may not log in as root; you may use deploy, ada",
                allowed: Some(ALLOWED),
                expected: "access to shell denied: you may not log in as root; you may use deploy, ada",
            },
            Refusal {
                status: 403,
                code: "access_denied",
                message: "principal root is not allowed",
                allowed: Some(ALLOWED),
                expected: "access to shell denied: principal root is not allowed; you may log in to shell as: deploy, ada",
            },
            Refusal {
                status: 400,
                code: "bad_request",
                message: "principal root is not allowed",
                allowed: Some(&[]),
                expected: "principal root is not allowed; you may log in to shell as no one",
            },
        ];
        for case in cases {
            let allowed: Option<Vec<String>> = case
                .allowed
                .map(|names| names.iter().map(|name| (*name).to_owned()).collect());
            assert_eq!(
                refusal_message(
                    "https://p.example",
                    "shell",
                    case.status,
                    case.code,
                    case.message,
                    allowed.as_deref(),
                ),
                case.expected
            );
        }
    }

    #[test]
    fn the_summary_says_until_when_and_where() {
        let key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap();
        let obtained = Obtained {
            files: KeyFiles::in_dir(
                Path::new("/c"),
                &"https://p.example".parse().unwrap(),
                "shell",
            )
            .unwrap(),
            certificate: certificate(&key, "ada", 1_800_000_000, 1_800_000_300),
            reused: false,
        };
        assert_eq!(
            summary(&obtained, "shell", 1_800_000_000),
            "New certificate for ada on shell, valid until 2027-01-15T08:05:00Z (in 5m).\n  \
             key:         /c/ssh/p.example_443/shell\n  \
             certificate: /c/ssh/p.example_443/shell-cert.pub\n"
        );
    }
}
