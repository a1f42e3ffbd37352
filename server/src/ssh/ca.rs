//! Postern's SSH user CA: one Ed25519 key made on first start and kept in the data dir. It
//! signs short-lived user certificates for one principal each; origins trust it with
//! `TrustedUserCAKeys` (the line `postern-server ssh-ca` prints).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rand::RngCore;
use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::keys::ssh_key::{self, Certificate, LineEnding, PrivateKey, PublicKey};

use crate::store::UnixTime;

/// How far back a certificate's validity starts, so a slightly slow origin clock accepts it.
pub const BACKDATE: Duration = Duration::from_secs(60);

/// The CA key and where it lives.
pub struct SshCa {
    key: PrivateKey,
    public_line: String,
}

impl std::fmt::Debug for SshCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshCa")
            .field("public_key", &self.public_line)
            .finish_non_exhaustive()
    }
}

/// What to certify.
#[derive(Debug, Clone)]
pub struct CertRequest<'a> {
    /// The user's public key.
    pub public_key: &'a PublicKey,
    /// The one principal it is valid for.
    pub principal: &'a str,
    /// Names the certificate in sshd's log: who and which App.
    pub key_id: String,
    /// Start of validity (before backdating).
    pub now: UnixTime,
    /// How long it is valid.
    pub lifetime: Duration,
}

/// The CA's private key file in `data_dir`.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ssh").join("ca_ed25519")
}

impl SshCa {
    /// Loads the CA from `data_dir`, creating it on first start.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<SshCa> {
        let path = key_path(data_dir);
        let key = if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read the SSH CA key {}", path.display()))?;
            PrivateKey::from_openssh(text.as_bytes())
                .with_context(|| format!("the SSH CA key {} is not valid", path.display()))?
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("create {}", dir.display()))?;
            }
            let key = random_ed25519("postern-ssh-ca")?;
            let text = key
                .to_openssh(LineEnding::LF)
                .context("encode the SSH CA key")?;
            crate::tls::write_private(&path, text.as_bytes())?;
            let public = key.public_key().to_openssh().context("encode the CA key")?;
            std::fs::write(path.with_extension("pub"), format!("{public}\n"))
                .context("write the SSH CA public key")?;
            tracing::info!(path = %path.display(), "created the SSH user CA");
            key
        };
        SshCa::from_key(key)
    }

    fn from_key(key: PrivateKey) -> anyhow::Result<SshCa> {
        let public_line = key
            .public_key()
            .to_openssh()
            .context("encode the SSH CA public key")?;
        Ok(SshCa { key, public_line })
    }

    /// The line for an origin's `TrustedUserCAKeys` file.
    pub fn public_line(&self) -> &str {
        &self.public_line
    }

    /// Signs a user certificate for exactly one principal, valid from a minute ago until
    /// `now + lifetime`, with the usual interactive permissions.
    pub fn sign(&self, request: &CertRequest<'_>) -> anyhow::Result<Certificate> {
        let now = u64::try_from(request.now).context("time before 1970")?;
        let valid_after = now.saturating_sub(BACKDATE.as_secs());
        let valid_before = now + request.lifetime.as_secs();
        let mut nonce = [0u8; 32];
        rand::rng().fill_bytes(&mut nonce);
        let mut builder = Builder::new(
            nonce.to_vec(),
            request.public_key.key_data().clone(),
            valid_after,
            valid_before,
        )?;
        builder
            .serial(rand::rng().next_u64())?
            .cert_type(CertType::User)?
            .key_id(request.key_id.clone())?
            .valid_principal(request.principal)?
            .comment("postern")?;
        for extension in [
            "permit-pty",
            "permit-user-rc",
            "permit-port-forwarding",
            "permit-agent-forwarding",
        ] {
            builder.extension(extension, "")?;
        }
        Ok(builder.sign(&self.key)?)
    }
}

/// A fresh Ed25519 key (for the CA, and for each browser session's throwaway user key).
pub fn random_ed25519(comment: &str) -> anyhow::Result<PrivateKey> {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let keypair = Ed25519Keypair::from_seed(&seed);
    PrivateKey::new(KeypairData::Ed25519(keypair), comment).map_err(anyhow::Error::from)
}

/// `SHA256:…`, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_signs_one_principal_for_a_short_while() {
        let dir = tempfile::tempdir().unwrap();
        let ca = SshCa::load_or_create(dir.path()).unwrap();
        let again = SshCa::load_or_create(dir.path()).unwrap();
        assert_eq!(ca.public_line(), again.public_line());
        assert!(ca.public_line().starts_with("ssh-ed25519 "));
        let user = random_ed25519("browser").unwrap();
        let cert = ca
            .sign(&CertRequest {
                public_key: user.public_key(),
                principal: "ada",
                key_id: "user:ada app:build-box".to_owned(),
                now: 1_800_000_000,
                lifetime: Duration::from_secs(300),
            })
            .unwrap();
        assert_eq!(cert.valid_principals(), ["ada".to_owned()]);
        assert_eq!(cert.valid_after(), 1_800_000_000 - 60);
        assert_eq!(cert.valid_before(), 1_800_000_300);
        assert_eq!(cert.cert_type(), CertType::User);
        let ca_key = PublicKey::from_openssh(ca.public_line()).unwrap();
        assert_eq!(
            cert.signature_key().fingerprint(ssh_key::HashAlg::Sha256),
            ca_key.fingerprint(ssh_key::HashAlg::Sha256)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the CA key is private");
        }
    }

    #[test]
    fn a_damaged_ca_key_stops_the_start_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "not a key").unwrap();
        let error = SshCa::load_or_create(dir.path()).unwrap_err();
        assert!(format!("{error:#}").contains("ca_ed25519"), "{error:#}");
    }
}
