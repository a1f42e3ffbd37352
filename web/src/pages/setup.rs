//! First-admin setup: turns the one-time link from the server's log into the first admin account.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::api::{SetupRequest, error_code};

use crate::api;
use crate::components::{AuthCard, set_title};
use crate::navigation::load_page;
use crate::password::{MIN_PASSWORD_CHARS, check_new_password_pair};

/// `/setup#token=…`.
#[component]
pub fn Setup() -> impl IntoView {
    set_title("Set up Postern");
    // The token travels in the fragment so that it never reaches a server log or a `Referer`.
    let token = window()
        .location()
        .hash()
        .ok()
        .and_then(|hash| token_from_fragment(&hash));
    view! {
        <AuthCard wide=true>
            {match token {
                Some(token) => view! { <SetupForm token /> }.into_any(),
                None => view! { <MissingToken /> }.into_any(),
            }}
        </AuthCard>
    }
}

#[component]
fn MissingToken() -> impl IntoView {
    view! {
        <h1>"Setup link needed"</h1>
        <div class="notice" role="status" data-testid="setup-token-missing">
            <p>
                "To create the first admin, open the one-time setup link that the server printed \
                 in its log (its console output) when it started. It looks like "
                <code>"https://host:port/setup#token=…"</code> "."
            </p>
            <p>
                "The link works once and expires after a while; restart the server for a new \
                 one."
            </p>
        </div>
        <p>
            <a href="/login">"Back to sign-in"</a>
        </p>
    }
}

#[component]
fn SetupForm(token: String) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let setup_closed = RwSignal::new(false);

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let form = SetupFields {
            username: username.get_untracked(),
            name: name.get_untracked(),
            email: email.get_untracked(),
            password: password.get_untracked(),
            confirm: confirm.get_untracked(),
        };
        let request = match form.into_request(token.clone()) {
            Ok(request) => request,
            Err(message) => {
                error.set(Some(message));
                return;
            }
        };
        pending.set(true);
        error.set(None);
        spawn_local(async move {
            match api::setup(&request).await {
                // A full page load: the new Session cookie is set and the launcher starts fresh.
                Ok(_) => load_page("/"),
                Err(failure) => {
                    setup_closed.set(failure.code() == Some(error_code::SETUP_CLOSED));
                    error.set(Some(failure.message()));
                    pending.set(false);
                }
            }
        });
    };

    view! {
        <h1>"Create the first admin"</h1>
        <p class="muted">
            "This account manages Postern: users, Sessions and sign-in providers. \
             Keep its password somewhere safe; it also works when single sign-on is down."
        </p>
        <form id="setup" class="form" on:submit=submit novalidate>
            <div class="field">
                <label for="setup-username">"Username"</label>
                <input
                    id="setup-username"
                    name="username"
                    type="text"
                    autocomplete="username"
                    autocapitalize="none"
                    spellcheck="false"
                    required
                    bind:value=username
                />
            </div>
            <div class="field">
                <label for="setup-name">"Display name"</label>
                <input
                    id="setup-name"
                    name="name"
                    type="text"
                    autocomplete="name"
                    required
                    bind:value=name
                />
            </div>
            <div class="field">
                <label for="setup-email">
                    "Email " <span class="optional">"(optional)"</span>
                </label>
                <input
                    id="setup-email"
                    name="email"
                    type="email"
                    autocomplete="email"
                    bind:value=email
                />
            </div>
            <div class="field">
                <label for="setup-password">"Password"</label>
                <input
                    id="setup-password"
                    name="password"
                    type="password"
                    autocomplete="new-password"
                    aria-describedby="setup-password-hint"
                    required
                    bind:value=password
                />
                <p class="hint" id="setup-password-hint">
                    {format!(
                        "At least {MIN_PASSWORD_CHARS} characters. A passphrase of a few words \
                         works well."
                    )}
                </p>
            </div>
            <div class="field">
                <label for="setup-confirm">"Confirm password"</label>
                <input
                    id="setup-confirm"
                    name="confirm"
                    type="password"
                    autocomplete="new-password"
                    required
                    bind:value=confirm
                />
            </div>
            {move || {
                error
                    .get()
                    .map(|message| {
                        view! {
                            <div class="error" role="alert">
                                <p>{message}</p>
                                {setup_closed
                                    .get()
                                    .then(|| view! { <p><a href="/login">"Go to sign-in"</a></p> })}
                            </div>
                        }
                    })
            }}
            <button
                type="submit"
                class="button button-primary button-block"
                disabled=move || pending.get()
            >
                {move || {
                    if pending.get() { "Creating the admin…" } else { "Create admin and sign in" }
                }}
            </button>
        </form>
    }
}

/// The form as typed, before checking.
struct SetupFields {
    username: String,
    name: String,
    email: String,
    password: String,
    confirm: String,
}

impl SetupFields {
    /// The request to send, or the first thing the person has to fix.
    fn into_request(self, token: String) -> Result<SetupRequest, String> {
        let username = self.username.trim().to_owned();
        let name = self.name.trim().to_owned();
        let email = self.email.trim().to_owned();
        if username.is_empty() {
            return Err("Choose a username.".to_owned());
        }
        if name.is_empty() {
            return Err("Enter a display name.".to_owned());
        }
        check_new_password_pair(&self.password, &self.confirm)?;
        Ok(SetupRequest {
            token,
            username,
            name,
            email: if email.is_empty() { None } else { Some(email) },
            password: self.password,
        })
    }
}

/// The setup token from a URL fragment such as `#token=abc` (other `&`-separated keys are
/// ignored).
fn token_from_fragment(fragment: &str) -> Option<String> {
    fragment
        .trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_read_from_the_fragment() {
        for (fragment, expected) in [
            ("#token=abc123", Some("abc123")),
            ("token=abc123", Some("abc123")),
            ("#x=1&token=abc", Some("abc")),
            ("#token=abc&x=1", Some("abc")),
            ("#token=", None),
            ("#", None),
            ("", None),
            ("#tokens=abc", None),
        ] {
            assert_eq!(
                token_from_fragment(fragment).as_deref(),
                expected,
                "{fragment}"
            );
        }
    }

    #[test]
    fn fields_become_a_request() {
        let fields = |email: &str, name: &str| SetupFields {
            username: " admin ".to_owned(),
            name: name.to_owned(),
            email: email.to_owned(),
            password: "correct horse battery".to_owned(),
            confirm: "correct horse battery".to_owned(),
        };
        let request = fields("  ", "Ada").into_request("t".to_owned()).unwrap();
        assert_eq!(request.username, "admin");
        assert_eq!(request.email, None);
        let request = fields("a@example.com", "Ada")
            .into_request("t".to_owned())
            .unwrap();
        assert_eq!(request.email.as_deref(), Some("a@example.com"));
        assert_eq!(
            fields("", " ")
                .into_request("t".to_owned())
                .err()
                .as_deref(),
            Some("Enter a display name.")
        );
    }
}
