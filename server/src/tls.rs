//! The HTTPS certificate: the configured one, or a self-signed one kept in the data directory.
//!
//! The self-signed certificate lives in `{data_dir}/tls/` as PEM so that the CLI and the
//! connector can be pointed at it (`--ca`), and is reused across restarts so its fingerprint
//! stays stable. It is made anew only when the host names it must cover change or it nears
//! expiry.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::TlsConfig;

const SELF_SIGNED_DAYS: i64 = 365;
const RENEW_BEFORE_DAYS: i64 = 30;

/// The server's certificate, ready for the listener, and what to tell the operator about it.
pub struct Certificate {
    /// rustls configuration with ALPN for HTTP/2 and HTTP/1.1.
    pub server_config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate, as colon-separated hex.
    pub fingerprint: String,
    /// Where the certificate's PEM is.
    pub cert_path: PathBuf,
    /// Whether Postern made it (clients must be told to trust it).
    pub self_signed: bool,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SelfSignedMeta {
    names: Vec<String>,
    not_after: i64,
}

/// Loads the configured certificate, or creates or reuses the self-signed one for
/// `public_host`.
pub fn load_or_create(
    tls: &TlsConfig,
    data_dir: &Path,
    public_host: &str,
) -> anyhow::Result<Certificate> {
    let (cert_path, key_path, self_signed) = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), false),
        _ => {
            let (cert, key) = ensure_self_signed(data_dir, public_host)?;
            (cert, key, true)
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .with_context(|| format!("cannot read certificate {}", cert_path.display()))?;
    let leaf = chain
        .first()
        .with_context(|| format!("no certificate in {}", cert_path.display()))?;
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .with_context(|| format!("cannot read private key {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server_config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("tls protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("certificate and key do not match")?;
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Certificate {
        server_config: Arc::new(server_config),
        fingerprint,
        cert_path,
        self_signed,
    })
}

/// SHA-256 of a DER certificate as `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The host names a self-signed certificate must cover.
pub fn self_signed_names(public_host: &str) -> Vec<String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    let host = public_host.trim_matches(['[', ']']);
    if !names.iter().any(|name| name == host) {
        names.push(host.to_owned());
    }
    names
}

/// The host part of the public origin (`https://host:port`).
pub fn public_host(public_origin: &str, bound: SocketAddr) -> String {
    url::Url::parse(public_origin)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| bound.ip().to_string())
}

fn ensure_self_signed(data_dir: &Path, public_host: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    let meta_path = dir.join("self-signed.json");
    let names = self_signed_names(public_host);
    let now = time::OffsetDateTime::now_utc();
    let current = std::fs::read(&meta_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<SelfSignedMeta>(&bytes).ok());
    let reusable = current.as_ref().is_some_and(|meta| {
        meta.names == names
            && meta.not_after - now.unix_timestamp() > RENEW_BEFORE_DAYS * 86_400
            && cert_path.exists()
            && key_path.exists()
    });
    if reusable {
        return Ok((cert_path, key_path));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut params = rcgen::CertificateParams::new(names.clone()).context("certificate names")?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Postern self-signed");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Postern");
    // Backdate a little so a client whose clock runs behind still accepts it.
    params.not_before = now - time::Duration::hours(1);
    let not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
    params.not_after = not_after;
    let key = rcgen::KeyPair::generate().context("generate key")?;
    let cert = params.self_signed(&key).context("sign certificate")?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    let meta = SelfSignedMeta {
        names,
        not_after: not_after.unix_timestamp(),
    };
    std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta)?)
        .with_context(|| format!("cannot write {}", meta_path.display()))?;
    tracing::info!(path = %cert_path.display(), "created self-signed certificate");
    Ok((cert_path, key_path))
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_loopback_and_the_public_host_once() {
        assert_eq!(
            self_signed_names("localhost"),
            ["localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(
            self_signed_names("postern.example.com"),
            ["localhost", "127.0.0.1", "::1", "postern.example.com"]
        );
        assert_eq!(
            self_signed_names("[::1]"),
            ["localhost", "127.0.0.1", "::1"]
        );
    }

    #[test]
    fn self_signed_is_kept_across_restarts_and_renewed_for_a_new_host() {
        let dir = tempfile::tempdir().unwrap();
        let config = TlsConfig::default();
        let first = load_or_create(&config, dir.path(), "localhost").unwrap();
        assert!(first.self_signed);
        let again = load_or_create(&config, dir.path(), "localhost").unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
        let renamed = load_or_create(&config, dir.path(), "postern.example.com").unwrap();
        assert_ne!(first.fingerprint, renamed.fingerprint);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("tls/key.pem"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn configured_files_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let config = TlsConfig {
            cert: Some(dir.path().join("missing.pem")),
            key: Some(dir.path().join("missing-key.pem")),
        };
        let error = load_or_create(&config, dir.path(), "localhost")
            .err()
            .unwrap();
        assert!(format!("{error:#}").contains("missing.pem"), "{error:#}");
    }
}
