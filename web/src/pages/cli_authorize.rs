//! `/cli/authorize`: the signed-in user lets a `postern login` on some host act as them.
//!
//! The CLI opens this page with its PKCE `challenge`, its `state`, its `hostname` and, when it
//! listens on the loopback interface, its `callback`. Allowing mints a one-time code on the
//! server; the browser carries it to the callback, or shows it for pasting when the CLI runs
//! without a browser of its own.

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::api::{CliApproval, CliApproveRequest, Me};

use crate::api;
use crate::components::{AuthCard, CopyButton, Loading, WithSession, initials, set_title};
use crate::navigation::{load_page, login_url, query_value};

/// Host names up to this long are kept on one line.
const SHORT_HOST_NAME: usize = 24;

/// How long the server keeps a code for the CLI, as people read it.
const CODE_LIFETIME: &str = "2 minutes";

/// `/cli/authorize?challenge=…&state=…&hostname=…[&callback=…]`.
#[component]
pub fn CliAuthorize() -> impl IntoView {
    set_title("Sign in the Postern CLI");
    let location = window().location();
    let search = location.search().unwrap_or_default();
    let link = CliLink::from_query(
        query_value(&search, "challenge").as_deref(),
        query_value(&search, "state").as_deref(),
        query_value(&search, "callback").as_deref(),
        query_value(&search, "hostname").as_deref(),
    );
    // The whole address, query included: after sign-in the person must land back here with
    // the CLI's challenge and state.
    let return_to = format!("{}{search}", location.pathname().unwrap_or_default());
    match link {
        None => view! {
            <AuthCard wide=true testid="cli-authorize">
                <IncompleteLink />
            </AuthCard>
        }
        .into_any(),
        Some(link) => {
            let sign_in_return = return_to.clone();
            view! {
                <WithSession
                    return_to
                    render=move |me| {
                        let link = link.clone();
                        let return_to = sign_in_return.clone();
                        view! {
                            <AuthCard wide=true testid="cli-authorize">
                                <Approval me link return_to />
                            </AuthCard>
                        }
                            .into_any()
                    }
                />
            }
            .into_any()
        }
    }
}

#[component]
fn IncompleteLink() -> impl IntoView {
    view! {
        <p class="eyebrow">"Postern CLI sign-in"</p>
        <h1>"This sign-in link is incomplete"</h1>
        <div class="notice" role="status" data-testid="cli-link-incomplete">
            <p>
                "The link is missing part of what the CLI put in it, or that part is damaged, \
                 perhaps because only some of it was copied. Run " <code>"postern login"</code>
                " again in your terminal and open the new link it gives you."
            </p>
        </div>
        <p>
            <a href="/">"Go to your apps"</a>
        </p>
    }
}

/// Where the person is in the approval.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// The question is on screen.
    Asking,
    /// Allow was clicked; the server is minting the code.
    Approving,
    /// The browser is on its way to the CLI's loopback callback.
    Redirecting,
    /// The CLI waits for this code to be pasted.
    ShowCode(String),
    /// The person said no.
    Cancelled,
}

#[component]
fn Approval(me: Me, link: CliLink, return_to: String) -> impl IntoView {
    let step = RwSignal::new(Step::Asking);
    let error = RwSignal::new(None::<String>);
    let request = link.request();
    let sign_in_again = login_url(&return_to);

    let approve = Callback::new(move |()| {
        if step.get_untracked() != Step::Asking {
            return;
        }
        step.set(Step::Approving);
        error.set(None);
        let request = request.clone();
        let sign_in_again = sign_in_again.clone();
        spawn_local(async move {
            match api::approve_cli(&request).await {
                Ok(CliApproval {
                    redirect: Some(url),
                    ..
                }) if is_loopback_callback(&url) => {
                    step.set(Step::Redirecting);
                    load_page(&url);
                }
                Ok(CliApproval {
                    redirect: Some(_), ..
                }) => {
                    // The server checks the callback; this is the second lock on the door, so
                    // a code never leaves for another machine.
                    error.set(Some(
                        "The CLI's callback address is not on this computer, so Postern did not \
                         follow it. Run `postern login` again."
                            .to_owned(),
                    ));
                    step.set(Step::Asking);
                }
                Ok(CliApproval {
                    redirect: None,
                    code,
                }) => step.set(Step::ShowCode(code)),
                // The Session ended while the question was on screen.
                Err(failure) if failure.is_unauthenticated() => load_page(&sign_in_again),
                Err(failure) => {
                    error.set(Some(failure.message()));
                    step.set(Step::Asking);
                }
            }
        });
    });
    let deny = Callback::new(move |()| {
        if step.get_untracked() == Step::Asking {
            step.set(Step::Cancelled);
        }
    });

    // Asking and Approving show the same question (with its buttons disabled while the server
    // answers), so the screen changes only when the step really moves on.
    let screen = Memo::new(move |_| match step.get() {
        Step::Approving => Step::Asking,
        other => other,
    });
    let hostname = link.display_hostname();
    move || match screen.get() {
        Step::Asking | Step::Approving => view! {
            <Question
                me=me.clone()
                hostname=hostname.clone()
                return_to=return_to.clone()
                step
                error
                approve
                deny
            />
        }
        .into_any(),
        Step::Redirecting => view! {
            <p class="eyebrow">"Postern CLI sign-in"</p>
            <h1>"Returning to the CLI…"</h1>
            <Loading label="Handing the sign-in to your terminal…" />
            <p class="muted">
                "Your terminal takes it from here. You can close this tab once it says you are \
                 signed in."
            </p>
        }
        .into_any(),
        Step::ShowCode(code) => view! { <PasteCode code /> }.into_any(),
        Step::Cancelled => view! {
            <p class="eyebrow">"Postern CLI sign-in"</p>
            <h1>"Sign-in cancelled"</h1>
            <p class="muted" role="status" data-testid="cli-cancelled">
                "Sign-in cancelled. You can close this tab."
            </p>
        }
        .into_any(),
    }
}

/// "Allow the Postern CLI on H to reach your apps as N?", who N is, and the two buttons.
#[component]
fn Question(
    me: Me,
    hostname: Option<String>,
    return_to: String,
    step: RwSignal<Step>,
    error: RwSignal<Option<String>>,
    approve: Callback<()>,
    deny: Callback<()>,
) -> impl IntoView {
    let question = match hostname.clone() {
        Some(host) => {
            let short = host.len() <= SHORT_HOST_NAME;
            view! {
                "Allow the Postern CLI on "
                // Short names stay on one line: "ada-" and "laptop" on two lines read as two.
                <strong class="consent-host" class:nowrap=short data-testid="cli-hostname">
                    {host}
                </strong>
                " to reach your apps as "
                <strong>{me.name.clone()}</strong>
                "?"
            }
            .into_any()
        }
        None => view! {
            "Allow the Postern CLI to reach your apps as "
            <strong>{me.name.clone()}</strong>
            "?"
        }
        .into_any(),
    };
    let host_fact = if hostname.is_some() {
        "The host name is what the CLI reports about itself: check it is the computer you are \
         using."
    } else {
        "The CLI did not say which computer it runs on."
    };
    let account_line = match &me.email {
        Some(email) => format!("{email} · {}", me.username),
        None => me.username.clone(),
    };
    let avatar = initials(&me.name, &me.username);
    let asking = move || step.get() == Step::Asking;
    view! {
        <p class="eyebrow">"Postern CLI sign-in"</p>
        <h1 class="consent-question">{question}</h1>
        <div class="consent-account" data-testid="cli-account">
            <span class="avatar" aria-hidden="true">
                {avatar}
            </span>
            <div>
                <span class="cell-main">{me.name}</span>
                <span class="cell-sub">{account_line}</span>
            </div>
        </div>
        <ul class="consent-facts">
            <li>
                "The CLI gets a Session of its own, separate from this browser's, and reaches \
                 the apps you may use."
            </li>
            <li>{host_fact}</li>
        </ul>
        <p class="notice">
            <strong>"Only allow this if you just ran "</strong>
            <code>"postern login"</code>
            <strong>" yourself."</strong>
            " Whoever sent you this link could otherwise act as you."
        </p>
        {move || {
            error
                .get()
                .map(|message| {
                    view! {
                        <div class="error" role="alert">
                            <p>{message}</p>
                        </div>
                    }
                })
        }}
        <div class="consent-actions">
            <button
                id="cli-deny"
                type="button"
                class="button"
                disabled=move || !asking()
                on:click=move |_| deny.run(())
            >
                "Cancel"
            </button>
            <button
                id="cli-approve"
                type="button"
                class="button button-primary"
                disabled=move || !asking()
                on:click=move |_| approve.run(())
            >
                {move || if asking() { "Allow" } else { "Allowing…" }}
            </button>
        </div>
        <SwitchAccount return_to />
    }
}

/// The code for a CLI that runs without a browser of its own.
#[component]
fn PasteCode(code: String) -> impl IntoView {
    let copied = code.clone();
    view! {
        <p class="eyebrow">"Postern CLI sign-in"</p>
        <h1>"Paste this code into your terminal"</h1>
        <p class="muted">
            "Your terminal is waiting for it at the " <code>"postern login"</code> " prompt."
        </p>
        <div class="code-box-row">
            <code class="code-box selectable" data-testid="cli-code">
                {code}
            </code>
            <CopyButton value=copied what="the code" />
        </div>
        <p class="hint">
            {format!(
                "The code works once and expires in {CODE_LIFETIME}. After pasting it you can \
                 close this tab.",
            )}
        </p>
    }
}

/// Signs out and comes back here, for a person signed in as someone else.
#[component]
fn SwitchAccount(return_to: String) -> impl IntoView {
    let pending = RwSignal::new(false);
    let switch = move |_| {
        pending.set(true);
        let destination = login_url(&return_to);
        spawn_local(async move {
            // Whatever the answer, the sign-in page sorts it out: with the Session ended it
            // asks who you are, and with it still alive it brings you back here.
            let _ = api::sign_out().await;
            load_page(&destination);
        });
    };
    view! {
        <p class="consent-switch muted">
            "Not you? "
            <button
                id="cli-switch-account"
                type="button"
                class="link-button"
                disabled=move || pending.get()
                on:click=switch
            >
                "Sign in as someone else"
            </button>
        </p>
    }
}

/// The length of a base64url SHA-256 without padding.
const CHALLENGE_LEN: usize = 43;
/// The longest `state` the server accepts.
const MAX_STATE_LEN: usize = 128;

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// What the CLI put in the link.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CliLink {
    challenge: String,
    state: String,
    callback: Option<String>,
    hostname: Option<String>,
}

impl CliLink {
    /// The link's parts, or `None` when the ones the server needs are missing or blank.
    fn from_query(
        challenge: Option<&str>,
        state: Option<&str>,
        callback: Option<&str>,
        hostname: Option<&str>,
    ) -> Option<CliLink> {
        let present = |value: Option<&str>| {
            value
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let link = CliLink {
            challenge: present(challenge)?,
            state: present(state)?,
            callback: present(callback),
            hostname: present(hostname),
        };
        // The server's shape rules, checked first so nobody is asked to approve a link that
        // cannot work: a base64url SHA-256 (43 characters) and a base64url state.
        let well_formed = link.challenge.len() == CHALLENGE_LEN
            && is_base64url(&link.challenge)
            && link.state.len() <= MAX_STATE_LEN
            && is_base64url(&link.state);
        well_formed.then_some(link)
    }

    fn request(&self) -> CliApproveRequest {
        CliApproveRequest {
            challenge: self.challenge.clone(),
            state: self.state.clone(),
            callback: self.callback.clone(),
            hostname: self.hostname.clone(),
        }
    }

    /// The host name as the server records it: letters, digits, `.`, `-` and `_`, at most 64.
    /// Showing the same keeps a crafted name ("laptop (verified by IT)") off the page.
    fn display_hostname(&self) -> Option<String> {
        let shown: String = self
            .hostname
            .as_deref()?
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .take(64)
            .collect();
        (!shown.is_empty()).then_some(shown)
    }
}

/// Whether `url` is `http://` to this computer's loopback interface with a port: the only place
/// the browser may carry a CLI code.
fn is_loopback_callback(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err()
    {
        return false;
    }
    match host {
        "localhost" | "[::1]" => true,
        _ => host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_link_needs_challenge_and_state() {
        let challenge = Some(CHALLENGE);
        let state = Some("s");
        assert_eq!(
            CliLink::from_query(challenge, state, None, Some("laptop")),
            Some(CliLink {
                challenge: CHALLENGE.to_owned(),
                state: "s".to_owned(),
                callback: None,
                hostname: Some("laptop".to_owned()),
            })
        );
        assert!(CliLink::from_query(None, state, None, None).is_none());
        assert!(CliLink::from_query(challenge, None, None, None).is_none());
        assert!(CliLink::from_query(Some(" "), state, None, None).is_none());
        // Malformed: the server would refuse these, so the page says so before asking.
        assert!(CliLink::from_query(Some("short"), state, None, None).is_none());
        assert!(
            CliLink::from_query(Some(&CHALLENGE.replace('-', "+")), state, None, None).is_none()
        );
        assert!(CliLink::from_query(challenge, Some("a b"), None, None).is_none());
        let long_state = "s".repeat(MAX_STATE_LEN + 1);
        assert!(CliLink::from_query(challenge, Some(&long_state), None, None).is_none());
        let blank_callback = CliLink::from_query(challenge, state, Some(""), Some(""));
        assert_eq!(
            blank_callback.map(|link| (link.callback, link.hostname)),
            Some((None, None))
        );
    }

    #[test]
    fn the_request_carries_the_link() {
        let link = CliLink::from_query(
            Some(CHALLENGE),
            Some("s"),
            Some("http://127.0.0.1:5555/callback"),
            Some("laptop"),
        );
        assert_eq!(
            link.map(|link| link.request()),
            Some(CliApproveRequest {
                challenge: CHALLENGE.to_owned(),
                state: "s".to_owned(),
                callback: Some("http://127.0.0.1:5555/callback".to_owned()),
                hostname: Some("laptop".to_owned()),
            })
        );
    }

    #[test]
    fn host_names_are_shown_as_the_server_records_them() {
        let shown = |hostname: &str| {
            CliLink::from_query(Some(CHALLENGE), Some("s"), None, Some(hostname))
                .and_then(|link| link.display_hostname())
        };
        assert_eq!(
            shown("ada-laptop.local"),
            Some("ada-laptop.local".to_owned())
        );
        assert_eq!(
            shown("laptop (verified by IT)"),
            Some("laptopverifiedbyIT".to_owned())
        );
        assert_eq!(shown("<>!"), None);
        assert_eq!(shown(&"a".repeat(100)).map(|name| name.len()), Some(64));
    }

    #[test]
    fn only_loopback_callbacks_are_followed() {
        for (url, ok) in [
            ("http://127.0.0.1:5555/callback?code=x&state=y", true),
            ("http://127.1.2.3:5555/", true),
            ("http://localhost:5555/cb", true),
            ("http://[::1]:5555/cb", true),
            ("http://127.0.0.1:5555", true),
            ("https://127.0.0.1:5555/callback", false),
            ("http://127.0.0.1/callback", false),
            ("http://127.0.0.1:/callback", false),
            ("http://127.0.0.1:99999/callback", false),
            ("http://evil.example:5555/callback", false),
            ("http://127.0.0.1.evil.example:5555/", false),
            ("http://user@127.0.0.1:5555/", false),
            ("http://127.0.0.1:5555@evil.example/", false),
            ("javascript:alert(1)", false),
            ("", false),
        ] {
            assert_eq!(is_loopback_callback(url), ok, "{url}");
        }
    }
}
