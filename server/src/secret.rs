//! Random secrets and their at-rest form.
//!
//! Every bearer secret (Session cookie, setup token, OIDC `state`, browser binding) is 32
//! random bytes in URL-safe base64, and is stored only as its SHA-256 in hex. Lookups go by
//! hash, so comparing a presented secret never touches the clear value in the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh 256-bit secret in URL-safe base64 without padding. It never starts with `-`, so
/// pasting it after a command-line flag cannot turn it into an option.
pub fn random_token() -> String {
    loop {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        if !token.starts_with('-') {
            return token;
        }
    }
}

/// A fresh 128-bit identifier in hex, for ids that are public but must not be guessable.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The at-rest form of a secret: SHA-256, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether a presented secret has the shape of one we issued. Checked before hashing so junk
/// input is refused without touching the store.
pub fn is_well_formed_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_well_formed() {
        let first = random_token();
        let second = random_token();
        assert_ne!(first, second);
        assert!(is_well_formed_token(&first), "{first}");
        assert!((0..200).all(|_| !random_token().starts_with('-')));
        assert_eq!(random_id().len(), 32);
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        for token in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"é".repeat(22),
        ] {
            assert!(!is_well_formed_token(token), "{token}");
        }
    }

    #[test]
    fn hash_is_stable_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
