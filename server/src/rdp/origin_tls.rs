//! TLS to an RDP origin. RDP hosts present self-signed certificates, so no CA can vouch for
//! them: the gateway checks that the host holds the key in its certificate (the handshake
//! signature is verified as usual) and pins that key per App on first use instead. The browser
//! never sees the host directly; it binds CredSSP to the key the gateway reports.

use std::sync::Arc;

use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

/// A client configuration for RDP origins: any certificate, verified handshake signatures, no
/// session resumption (CredSSP cannot resume).
pub fn client_config() -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate {
        provider: Arc::clone(&provider),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// `SHA256:…` (unpadded base64) of the leaf certificate's SubjectPublicKeyInfo: what the
/// gateway pins. Stays the same when a host renews its certificate with the same key.
pub fn key_fingerprint(leaf: &CertificateDer<'_>) -> Result<String, webpki::Error> {
    let certificate = webpki::EndEntityCert::try_from(leaf)?;
    let spki = certificate.subject_public_key_info();
    Ok(format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(spki.as_ref()))
    ))
}

/// The server name to present; RDP hosts are mostly addressed by IP, where no SNI is sent.
pub fn server_name(host: &str) -> ServerName<'static> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .unwrap_or_else(|_| ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()))
}

#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The certificate must at least parse: its key is what gets pinned.
        webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_follows_the_key_not_the_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let first = rcgen::CertificateParams::new(vec!["a.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let renewed = rcgen::CertificateParams::new(vec!["b.test".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let other = rcgen::CertificateParams::new(vec!["a.test".into()])
            .unwrap()
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let pin = key_fingerprint(first.der()).unwrap();
        assert!(pin.starts_with("SHA256:") && pin.len() == 7 + 43, "{pin}");
        assert_eq!(pin, key_fingerprint(renewed.der()).unwrap());
        assert_ne!(pin, key_fingerprint(other.der()).unwrap());
        assert!(key_fingerprint(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3])).is_err());
    }

    #[test]
    fn ip_hosts_get_ip_server_names() {
        assert!(matches!(server_name("10.0.0.5"), ServerName::IpAddress(_)));
        assert!(matches!(server_name("[::1]"), ServerName::IpAddress(_)));
        assert!(matches!(
            server_name("desk.internal"),
            ServerName::DnsName(_)
        ));
    }
}
