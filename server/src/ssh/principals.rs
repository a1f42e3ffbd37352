//! Which principals (remote usernames) a person may log in as on an SSH App: from the App's
//! [`PrincipalSource`], narrowed to names that are safe to put in a certificate.

use protocol::api::Decision;
use protocol::ssh::{PrincipalSource, SshSettings};

use crate::access::Identity;
use crate::access::policy::decide_user;

/// The longest principal accepted (Linux usernames are at most 32 bytes).
pub const MAX_PRINCIPAL_LEN: usize = 32;

/// Whether `name` can be a principal: 1-32 of `A-Z a-z 0-9 . _ -`, not starting with `-`.
pub fn is_valid_principal(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PRINCIPAL_LEN
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The principals `identity` may use under `settings`, in the App's order, without repeats.
/// `claims` are the user's ID-token claims. Service tokens get none: certificates are for
/// people.
pub fn allowed(
    settings: &SshSettings,
    identity: &Identity,
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    let Identity::User {
        username,
        email,
        groups,
        ..
    } = identity
    else {
        return Vec::new();
    };
    let candidates: Vec<String> = match &settings.principals {
        PrincipalSource::EmailLocalPart => email
            .as_deref()
            .and_then(|email| email.rsplit_once('@'))
            .map(|(local, _)| vec![local.to_owned()])
            .unwrap_or_default(),
        PrincipalSource::Claim { claim } => match claims.get(claim) {
            Some(serde_json::Value::String(value)) => vec![value.clone()],
            Some(serde_json::Value::Array(values)) => values
                .iter()
                .filter_map(|value| value.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        },
        PrincipalSource::List { principals } => principals
            .iter()
            .filter(|rule| match &rule.allow {
                None => true,
                Some(allow) => {
                    decide_user(allow, "", username, email.as_deref(), groups).decision
                        == Decision::Allow
                }
            })
            .map(|rule| rule.name.clone())
            .collect(),
    };
    let mut principals: Vec<String> = Vec::new();
    for candidate in candidates {
        if is_valid_principal(&candidate) && !principals.contains(&candidate) {
            principals.push(candidate);
        }
    }
    principals
}

/// Why no principal could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// The App's settings give this user none.
    #[error("the app gives you no principal to log in as ({0})")]
    None(String),
    /// Several are allowed and none was asked for.
    #[error("choose whom to log in as: one of {}", .0.join(", "))]
    Required(Vec<String>),
    /// The one asked for is not allowed.
    #[error("you may not log in as {asked}; you may use {}", allowed_words(.allowed))]
    NotAllowed {
        /// What was asked for.
        asked: String,
        /// What is allowed.
        allowed: Vec<String>,
    },
}

fn allowed_words(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "none".to_owned()
    } else {
        allowed.join(", ")
    }
}

/// Picks the principal: the one asked for if allowed, else the only one allowed.
pub fn choose(
    settings: &SshSettings,
    allowed: Vec<String>,
    asked: Option<&str>,
) -> Result<String, PrincipalError> {
    match asked {
        Some(asked) if allowed.iter().any(|name| name == asked) => Ok(asked.to_owned()),
        Some(asked) => Err(PrincipalError::NotAllowed {
            asked: asked.chars().take(64).collect(),
            allowed,
        }),
        None => match allowed.len() {
            0 => Err(PrincipalError::None(source_words(&settings.principals))),
            1 => Ok(allowed.into_iter().next().unwrap_or_default()),
            _ => Err(PrincipalError::Required(allowed)),
        },
    }
}

fn source_words(source: &PrincipalSource) -> String {
    match source {
        PrincipalSource::EmailLocalPart => "principals come from your email address".to_owned(),
        PrincipalSource::Claim { claim } => {
            format!("principals come from the {claim} claim of your sign-in")
        }
        PrincipalSource::List { .. } => {
            "no principal of the app's list is allowed for you".to_owned()
        }
    }
}

/// The claims of an ID token worth keeping for principals: strings and arrays of strings,
/// bounded in number and size.
pub fn string_claims(payload: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    const MAX_CLAIMS: usize = 64;
    const MAX_VALUES: usize = 64;
    const MAX_LEN: usize = 256;
    let mut kept = serde_json::Map::new();
    let Some(object) = payload.as_object() else {
        return kept;
    };
    for (name, value) in object.iter().take(256) {
        if kept.len() >= MAX_CLAIMS || name.len() > MAX_LEN {
            continue;
        }
        let value = match value {
            serde_json::Value::String(text) if text.len() <= MAX_LEN => value.clone(),
            serde_json::Value::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .filter(|item| item.as_str().is_some_and(|text| text.len() <= MAX_LEN))
                    .take(MAX_VALUES)
                    .cloned()
                    .collect(),
            ),
            _ => continue,
        };
        kept.insert(name.clone(), value);
    }
    kept
}

#[cfg(test)]
mod tests {
    use protocol::api::AllowList;
    use protocol::ssh::PrincipalRule;
    use serde_json::json;

    use super::*;

    fn ada(groups: &[&str]) -> Identity {
        Identity::User {
            username: "ada".into(),
            email: Some("Ada.L@example.com".into()),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            signed_in_at: 0,
        }
    }

    fn settings(principals: PrincipalSource) -> SshSettings {
        SshSettings {
            principals,
            record_input: false,
        }
    }

    #[test]
    fn email_local_part() {
        let none = serde_json::Map::new();
        assert_eq!(
            allowed(&SshSettings::default(), &ada(&[]), &none),
            ["Ada.L"]
        );
        let no_email = Identity::User {
            username: "x".into(),
            email: None,
            groups: vec![],
            signed_in_at: 0,
        };
        assert!(allowed(&SshSettings::default(), &no_email, &none).is_empty());
        let token = Identity::ServiceToken {
            id: "i".into(),
            name: "ci".into(),
            apps: vec![],
        };
        assert!(allowed(&SshSettings::default(), &token, &none).is_empty());
    }

    #[test]
    fn claims_give_strings_and_arrays_and_unsafe_names_are_dropped() {
        let claims = string_claims(&json!({
            "unix": ["ada", "root; rm -rf /", "-oProxyCommand", "ada", "ops"],
            "one": "deploy",
            "n": 7,
        }));
        let claim = |name: &str| {
            settings(PrincipalSource::Claim {
                claim: name.to_owned(),
            })
        };
        assert_eq!(allowed(&claim("unix"), &ada(&[]), &claims), ["ada", "ops"]);
        assert_eq!(allowed(&claim("one"), &ada(&[]), &claims), ["deploy"]);
        assert!(allowed(&claim("n"), &ada(&[]), &claims).is_empty());
        assert!(allowed(&claim("missing"), &ada(&[]), &claims).is_empty());
    }

    #[test]
    fn a_list_narrows_each_principal_by_its_own_rules() {
        let list = settings(PrincipalSource::List {
            principals: vec![
                PrincipalRule {
                    name: "deploy".into(),
                    allow: None,
                },
                PrincipalRule {
                    name: "root".into(),
                    allow: Some(AllowList {
                        groups: vec!["admins".into()],
                        ..AllowList::default()
                    }),
                },
            ],
        });
        let none = serde_json::Map::new();
        assert_eq!(allowed(&list, &ada(&[]), &none), ["deploy"]);
        assert_eq!(allowed(&list, &ada(&["admins"]), &none), ["deploy", "root"]);
    }

    #[test]
    fn choosing() {
        let s = SshSettings::default();
        let two = vec!["deploy".to_owned(), "root".to_owned()];
        assert_eq!(choose(&s, two.clone(), Some("root")).unwrap(), "root");
        assert_eq!(
            choose(&s, two.clone(), None).unwrap_err(),
            PrincipalError::Required(two.clone())
        );
        let refused = choose(&s, two, Some("admin")).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "you may not log in as admin; you may use deploy, root"
        );
        assert_eq!(choose(&s, vec!["ada".into()], None).unwrap(), "ada");
        assert!(matches!(
            choose(&s, vec![], None).unwrap_err(),
            PrincipalError::None(_)
        ));
    }

    #[test]
    fn principal_names() {
        for good in ["ada", "ada.l", "svc_ci-2", "A"] {
            assert!(is_valid_principal(good), "{good}");
        }
        for bad in ["", "-o", "a b", "a,b", "ä", &"x".repeat(33)] {
            assert!(!is_valid_principal(bad), "{bad}");
        }
    }
}
