//! The server's rule for Connector, App and Service-token names, checked in forms so people
//! hear about a bad name before the round trip.
//!
//! The server checks again and has the last word.

/// The longest name the server accepts, in bytes (all allowed characters are one byte).
pub const MAX_NAME_LEN: usize = 63;

/// What is wrong with `name` as the name of a `what` ("connector", "app", …), in words for the
/// person typing it.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("Choose a name for the {what}."));
    }
    let allowed = name
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if !allowed || name.len() > MAX_NAME_LEN || name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "Use 1–{MAX_NAME_LEN} lowercase letters, digits and dashes for the {what} name, \
             with no dash first or last."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_server_rule() {
        let long = "a".repeat(MAX_NAME_LEN);
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        for (name, ok) in [
            ("office-lan", true),
            ("db1", true),
            ("a", true),
            (long.as_str(), true),
            ("", false),
            (too_long.as_str(), false),
            ("Office", false),
            ("office lan", false),
            ("office_lan", false),
            ("-office", false),
            ("office-", false),
            ("café", false),
        ] {
            assert_eq!(check_name("app", name).is_ok(), ok, "{name:?}");
        }
        assert_eq!(
            check_name("connector", "").err().as_deref(),
            Some("Choose a name for the connector.")
        );
    }
}
