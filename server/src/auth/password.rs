//! Local-account passwords: argon2id hashes in PHC form, and the policy for new passwords.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Fewest characters a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes a password may have; longer input is refused before hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn argon2() -> Argon2<'static> {
    // OWASP's first recommended argon2id setting: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash of a password nobody knows, verified against when a username does not exist so the
/// answer takes as long as for a real account.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password(&crate::secret::random_token()).unwrap_or_else(|_| String::from("$invalid"))
    })
}

/// Why a new password is refused, in words for the person choosing it.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password must have at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    if password.trim().is_empty() {
        return Err("the password must not be blank".to_owned());
    }
    Ok(())
}

/// Why a username is refused: 1–64 characters of letters, digits, `.`, `_`, `-` and `@`.
pub fn check_username(username: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if username.is_empty() || username.len() > 64 || !username.chars().all(allowed) {
        return Err(
            "the username must be 1-64 letters, digits, dots, dashes, underscores or @".to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_right_password() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterx", &hash));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert!(!verify_password(&"x".repeat(MAX_PASSWORD_BYTES + 1), &hash));
        assert!(!verify_password("anything", decoy_hash()));
    }

    #[test]
    fn new_password_policy() {
        for (password, ok) in [
            ("short", false),
            ("exactly12chr", true),
            ("            ", false),
            (&"y".repeat(MAX_PASSWORD_BYTES + 1), false),
            ("ünïcödé-pässwörd", true),
        ] {
            assert_eq!(check_new_password(password).is_ok(), ok, "{password}");
        }
    }

    #[test]
    fn username_policy() {
        for (username, ok) in [
            ("admin", true),
            ("ada.lovelace@example.com", true),
            ("", false),
            ("with space", false),
            ("<script>", false),
            (&"a".repeat(65), false),
        ] {
            assert_eq!(check_username(username).is_ok(), ok, "{username}");
        }
    }
}
