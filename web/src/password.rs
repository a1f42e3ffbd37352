//! The server's rules for new passwords, checked in forms so people hear about them sooner.
//!
//! The server checks again and has the last word; these only save a round trip.

/// The minimum password length, counted in characters as the server counts them.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// What is wrong with a new password, in words for the person choosing it.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "The password must have at least {MIN_PASSWORD_CHARS} characters."
        ));
    }
    if password.trim().is_empty() {
        return Err("The password must not be only spaces.".to_owned());
    }
    Ok(())
}

/// Checks a new password and its confirmation.
pub fn check_new_password_pair(password: &str, confirm: &str) -> Result<(), String> {
    check_new_password(password)?;
    if password != confirm {
        return Err("The passwords do not match.".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_passwords_are_checked() {
        for (password, confirm, expected) in [
            ("exactly12chr", "exactly12chr", None),
            (
                "short",
                "short",
                Some("The password must have at least 12 characters."),
            ),
            // Counted in characters, like the server: twelve two-byte characters are enough.
            ("éééééééééééé", "éééééééééééé", None),
            (
                "            ",
                "            ",
                Some("The password must not be only spaces."),
            ),
            (
                "exactly12chr",
                "exactly12chx",
                Some("The passwords do not match."),
            ),
        ] {
            assert_eq!(
                check_new_password_pair(password, confirm).err().as_deref(),
                expected,
                "{password}"
            );
        }
    }
}
