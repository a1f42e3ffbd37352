//! The TLS client configuration: system roots plus an optional CA file, ALPN `http/1.1`.
//!
//! Verification is never off: without a trust anchor that vouches for the server, attaching
//! fails and is retried. `http/1.1` is the only ALPN offered because the tunnel starts as an
//! HTTP/1.1 upgrade, which HTTP/2 does not have.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::Error;

/// Builds the client configuration every connection shares.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        // A broken system store is worth a line in the log, not a refusal to start: the CA
        // file may be all this connector needs.
        tracing::debug!(error = %error, "skipped part of the system certificate store");
    }
    let (_added, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        tracing::debug!(ignored, "skipped unparsable system root certificates");
    }
    if let Some(path) = ca_file {
        add_ca_file(&mut roots, path)?;
    }
    if roots.is_empty() {
        return Err(Error::NoTrustRoots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), Error> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect())
        .map_err(|source| Error::CaFile {
            path: path.to_owned(),
            source,
        })?;
    if certificates.is_empty() {
        return Err(Error::CaFileEmpty {
            path: path.to_owned(),
        });
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|source| Error::CaCertificate {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temporary_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "postern-connector-tls-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn ca_file_problems_are_named() {
        let missing = Path::new("/nonexistent/postern/ca.pem");
        let error = client_config(Some(missing)).unwrap_err().to_string();
        assert_eq!(
            error,
            "cannot read certificates from the ca file /nonexistent/postern/ca.pem"
        );
        let empty = temporary_file("empty.pem", b"no pem here\n");
        let error = client_config(Some(&empty)).unwrap_err().to_string();
        assert!(error.ends_with("holds no certificate"), "{error}");
        let garbage = temporary_file(
            "garbage.pem",
            b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        );
        let error = client_config(Some(&garbage)).unwrap_err().to_string();
        assert!(error.ends_with("holds an unusable certificate"), "{error}");
    }
}
