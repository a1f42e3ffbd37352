//! `/ssh/{app}`: a terminal in the browser for an SSH App.
//!
//! The page asks the server which principals the person may log in as, lets them choose when
//! there are several (remembering the choice per App), loads xterm.js, and connects the
//! terminal WebSocket of `protocol::ssh` (the running part is in `live`). A slim bar above
//! the terminal says what is happening and offers Reconnect once the session is over.
//!
//! For tests, the page's root element carries `data-state` (`connecting`, `choosing`,
//! `connected` or `closed`) and, when closed, `data-close-code`: a `protocol::ssh::close_code`
//! from the server, an API error code when the page could not even start, or
//! [`CONNECTION_LOST`] when the socket dropped without saying why. The live xterm.js
//! `Terminal` is `window.posternTerminal`.

mod live;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_location, use_params_map};
use protocol::ssh::{MAX_TERMINAL_CELLS, SshLogin, close_code, terminal_path};

use self::live::Live;
use crate::api::{self, encode_path_segment};
use crate::components::{BrandMark, Loading, WithSession, set_title};
use crate::navigation::login_url;
use crate::vendor::{self, Bundle};

/// `data-close-code` when the socket closed without the server's `Closed` message.
pub const CONNECTION_LOST: &str = "connection_lost";
/// `data-close-code` when the page could not start (xterm.js or the API unavailable).
const PAGE_FAILED: &str = "unavailable";

/// Where the last principal chosen for an App is remembered, per App.
const PRINCIPAL_KEY_PREFIX: &str = "postern.ssh.principal.";

/// What the terminal is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// The socket is opening, or the server is reaching the origin.
    Connecting,
    /// The shell is open.
    Connected {
        principal: String,
        host_key_fingerprint: String,
        pinned_now: bool,
        recorded: bool,
    },
    /// The session is over.
    Closed { code: String, reason: String },
}

/// Which App to connect to, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    app: String,
    principal: Option<String>,
}

/// `/ssh/:app`.
#[component]
pub fn TerminalPage() -> impl IntoView {
    let params = use_params_map();
    let return_to = use_location().pathname.get_untracked();
    view! {
        <WithSession
            return_to
            render=move |_me| {
                (move || {
                    let app = params.read().get("app").unwrap_or_default();
                    view! { <TerminalScreen app /> }
                })
                    .into_any()
            }
        />
    }
}

/// What the page shows under its bar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Screen {
    Loading,
    Failed { code: String, message: String },
    Choosing { principals: Vec<String> },
    Terminal { principal: String },
}

#[component]
fn TerminalScreen(app: String) -> impl IntoView {
    set_title(&format!("{app} terminal"));
    let login = LocalResource::new({
        let app = app.clone();
        move || {
            let app = app.clone();
            async move { api::ssh_login(&app).await }
        }
    });
    let libraries = LocalResource::new(|| vendor::load(Bundle::Terminal));
    let chosen = RwSignal::new(None::<String>);
    let phase = RwSignal::new(Phase::Connecting);
    let catching_up = RwSignal::new(false);
    let live = StoredValue::new_local(None::<Live>);

    let screen = Memo::new(move |_| {
        let login = match login.get() {
            None => return Screen::Loading,
            Some(Err(error)) => {
                return Screen::Failed {
                    code: error.code().unwrap_or(PAGE_FAILED).to_owned(),
                    message: error.message(),
                };
            }
            Some(Ok(login)) => login,
        };
        match libraries.get() {
            None => return Screen::Loading,
            Some(Err(error)) => {
                return Screen::Failed {
                    code: PAGE_FAILED.to_owned(),
                    message: error.message(),
                };
            }
            Some(Ok(())) => {}
        }
        screen_for(&login, chosen.get())
    });
    let retry = move || {
        login.refetch();
        libraries.refetch();
    };
    let reconnect = move |_| {
        live.with_value(|live| {
            if let Some(live) = live {
                live.connect();
            }
        });
    };
    let several = Memo::new(move |_| {
        login
            .get()
            .and_then(Result::ok)
            .is_some_and(|login| login.principals.len() > 1)
    });

    let state = move || match screen.get() {
        Screen::Loading => "connecting",
        Screen::Failed { .. } => "closed",
        Screen::Choosing { .. } => "choosing",
        Screen::Terminal { .. } => match phase.get() {
            Phase::Connecting => "connecting",
            Phase::Connected { .. } => "connected",
            Phase::Closed { .. } => "closed",
        },
    };
    let close_code = move || match screen.get() {
        Screen::Failed { code, .. } => Some(code),
        Screen::Terminal { .. } => match phase.get() {
            Phase::Closed { code, .. } => Some(code),
            Phase::Connecting | Phase::Connected { .. } => None,
        },
        Screen::Loading | Screen::Choosing { .. } => None,
    };
    let closed = move || state() == "closed" && matches!(screen.get(), Screen::Terminal { .. });
    let sign_in = {
        let app = app.clone();
        move || {
            let signed_out = matches!(
                close_code().as_deref(),
                Some(close_code::SIGNED_OUT | close_code::REVOKED)
            ) || login
                .get()
                .is_some_and(|login| login.is_err_and(|error| error.is_unauthenticated()));
            signed_out.then(|| {
                view! {
                    <a class="button button-small" href=login_url(&terminal_page_path(&app))>
                        "Sign in again"
                    </a>
                }
            })
        }
    };

    let header_app = app.clone();
    let root_app = app.clone();
    view! {
        <div
            class="terminal-page"
            data-testid="terminal-page"
            data-app=root_app
            data-state=state
            data-close-code=close_code
        >
            <header class="terminal-bar">
                <A href="/" attr:class="terminal-home" attr:title="Back to your apps">
                    <BrandMark />
                    <span class="terminal-home-label">"Apps"</span>
                </A>
                <span class="terminal-separator" aria-hidden="true">
                    "/"
                </span>
                <h1 class="terminal-app">{header_app}</h1>
                <p class="terminal-status" role="status" data-testid="terminal-status">
                    {move || status_line(&screen.get(), &phase.get(), catching_up.get())}
                </p>
                <div class="terminal-actions">
                    {move || {
                        closed()
                            .then(|| {
                                view! {
                                    <button
                                        type="button"
                                        id="terminal-reconnect"
                                        class="button button-small button-primary"
                                        on:click=reconnect
                                    >
                                        "Reconnect"
                                    </button>
                                }
                            })
                    }}
                    {move || {
                        (closed() && several.get())
                            .then(|| {
                                view! {
                                    <button
                                        type="button"
                                        id="terminal-change-principal"
                                        class="button button-small"
                                        on:click=move |_| chosen.set(None)
                                    >
                                        "Log in as someone else"
                                    </button>
                                }
                            })
                    }}
                    {sign_in}
                </div>
            </header>
            <main class="terminal-main" id="main">
                {move || match screen.get() {
                    Screen::Loading => {
                        view! {
                            <div class="terminal-message">
                                <Loading label="Opening the terminal…" />
                            </div>
                        }
                            .into_any()
                    }
                    Screen::Failed { message, .. } => {
                        view! {
                            <div class="terminal-message">
                                <div class="error" role="alert">
                                    <p>{message}</p>
                                    <button
                                        type="button"
                                        class="button button-small"
                                        on:click=move |_| retry()
                                    >
                                        "Try again"
                                    </button>
                                </div>
                            </div>
                        }
                            .into_any()
                    }
                    Screen::Choosing { principals } => {
                        view! {
                            <PrincipalPicker
                                app=app.clone()
                                principals
                                on_choose=Callback::new(move |principal| {
                                    chosen.set(Some(principal))
                                })
                            />
                        }
                            .into_any()
                    }
                    Screen::Terminal { principal } => {
                        let connection = Connection {
                            app: app.clone(),
                            principal: Some(principal),
                        };
                        view! { <TerminalView connection phase catching_up live /> }.into_any()
                    }
                }}
            </main>
        </div>
    }
}

/// What the page shows once the login answer and the libraries are in.
fn screen_for(login: &SshLogin, chosen: Option<String>) -> Screen {
    match (login.principals.as_slice(), chosen) {
        ([], _) => Screen::Failed {
            code: close_code::PRINCIPAL_NOT_ALLOWED.to_owned(),
            message: format!(
                "You may not log in to {} as any user. Ask an admin to give you a principal on \
                 it.",
                login.app
            ),
        },
        ([only], _) => Screen::Terminal {
            principal: only.clone(),
        },
        (_, Some(principal)) => Screen::Terminal { principal },
        (several, None) => Screen::Choosing {
            principals: several.to_vec(),
        },
    }
}

/// The status bar's text.
fn status_line(screen: &Screen, phase: &Phase, catching_up: bool) -> AnyView {
    match (screen, phase) {
        (Screen::Loading, _) => view! {
            <span class="status-dot status-busy" aria-hidden="true"></span>
            "Connecting…"
        }
        .into_any(),
        (Screen::Failed { .. }, _) => view! {
            <span class="status-dot status-closed" aria-hidden="true"></span>
            "Not connected"
        }
        .into_any(),
        (Screen::Choosing { .. }, _) => view! {
            <span class="status-dot" aria-hidden="true"></span>
            "Choose who to log in as"
        }
        .into_any(),
        (Screen::Terminal { principal }, Phase::Connecting) => view! {
            <span class="status-dot status-busy" aria-hidden="true"></span>
            {format!("Connecting as {principal}…")}
        }
        .into_any(),
        (
            Screen::Terminal { .. },
            Phase::Connected {
                principal,
                host_key_fingerprint,
                pinned_now,
                recorded,
            },
        ) => {
            let host_key_title = if *pinned_now {
                "The origin's host key, trusted on this first connection and pinned from now on"
            } else {
                "The origin's host key, which matches the pinned one"
            };
            view! {
                <span class="status-dot status-live" aria-hidden="true"></span>
                <span>
                    "Connected as "
                    <strong data-testid="terminal-principal">{principal.clone()}</strong>
                </span>
                <span class="terminal-host-key" title=host_key_title>
                    <span class="visually-hidden">"Host key "</span>
                    <code data-testid="terminal-host-key">{host_key_fingerprint.clone()}</code>
                    {pinned_now.then(|| view! { <span class="badge">"Pinned now"</span> })}
                </span>
                {recorded
                    .then(|| {
                        view! {
                            <span
                                class="badge badge-recorded"
                                data-testid="terminal-recorded"
                                title="An admin can replay this session"
                            >
                                "Recorded"
                            </span>
                        }
                    })}
                {catching_up
                    .then(|| {
                        view! { <span class="terminal-catching-up">"Catching up on output…"</span> }
                    })}
            }
            .into_any()
        }
        (Screen::Terminal { .. }, Phase::Closed { reason, .. }) => view! {
            <span class="status-dot status-closed" aria-hidden="true"></span>
            <span class="terminal-close-reason" data-testid="terminal-close-reason">
                {format!("Closed: {reason}")}
            </span>
        }
        .into_any(),
    }
}

/// The choice of principal when the person may use several.
#[component]
fn PrincipalPicker(
    app: String,
    principals: Vec<String>,
    on_choose: Callback<String>,
) -> impl IntoView {
    let initial = preferred_principal(&principals, remembered_principal(&app).as_deref());
    let choice = RwSignal::new(initial.unwrap_or_default());
    let submit = {
        let app = app.clone();
        move |event: SubmitEvent| {
            event.prevent_default();
            let principal = choice.get_untracked();
            if principal.is_empty() {
                return;
            }
            remember_principal(&app, &principal);
            on_choose.run(principal);
        }
    };
    view! {
        <div class="terminal-message">
            <section
                class="card terminal-picker"
                data-testid="principal-picker"
                aria-labelledby="principal-heading"
            >
                <h2 id="principal-heading">{format!("Log in to {app}")}</h2>
                <p class="muted">"You may log in as any of these users. Choose one:"</p>
                <form on:submit=submit>
                    <fieldset class="principal-list">
                        <legend class="visually-hidden">"User to log in as"</legend>
                        {principals
                            .into_iter()
                            .map(|principal| {
                                let value = principal.clone();
                                let checked = principal.clone();
                                view! {
                                    <label class="checkbox">
                                        <input
                                            type="radio"
                                            name="principal"
                                            value=principal.clone()
                                            prop:checked=move || choice.get() == checked
                                            on:change=move |_| choice.set(value.clone())
                                        />
                                        <span class="mono">{principal}</span>
                                    </label>
                                }
                            })
                            .collect_view()}
                    </fieldset>
                    <div class="form-actions">
                        <button type="submit" id="principal-connect" class="button button-primary">
                            "Connect"
                        </button>
                    </div>
                </form>
            </section>
        </div>
    }
}

/// The terminal's element; the terminal starts once it is in the page and stops with it.
#[component]
fn TerminalView(
    connection: Connection,
    phase: RwSignal<Phase>,
    catching_up: RwSignal<bool>,
    live: StoredValue<Option<Live>, LocalStorage>,
) -> impl IntoView {
    let host = NodeRef::<leptos::html::Div>::new();
    phase.set(Phase::Connecting);
    catching_up.set(false);
    Effect::new(move || {
        let Some(element) = host.get() else {
            return;
        };
        if live.with_value(Option::is_some) {
            return;
        }
        match Live::start(element.into(), connection.clone(), phase, catching_up) {
            Ok(started) => live.set_value(Some(started)),
            Err(reason) => phase.set(Phase::Closed {
                code: PAGE_FAILED.to_owned(),
                reason,
            }),
        }
    });
    on_cleanup(move || {
        if let Some(running) = live.try_update_value(Option::take).flatten() {
            running.shutdown();
        }
    });
    view! { <div class="terminal-host" data-testid="terminal" node_ref=host></div> }
}

/// The page of the terminal for `app`, to come back to after signing in.
fn terminal_page_path(app: &str) -> String {
    protocol::ssh::terminal_page(&encode_path_segment(app))
}

/// The terminal WebSocket's URL on the page's own host: `wss:` from an `https:` page.
fn socket_url(
    page_protocol: &str,
    host: &str,
    app: &str,
    (cols, rows): (u16, u16),
    principal: Option<&str>,
) -> String {
    let scheme = if page_protocol == "http:" {
        "ws"
    } else {
        "wss"
    };
    let path = terminal_path(&encode_path_segment(app));
    let mut url = format!("{scheme}://{host}{path}?cols={cols}&rows={rows}");
    if let Some(principal) = principal {
        url.push_str("&principal=");
        url.push_str(&encode_path_segment(principal));
    }
    url
}

/// A terminal size the gateway accepts: 1 to [`MAX_TERMINAL_CELLS`] each way.
fn clamp_size(cols: u32, rows: u32) -> (u16, u16) {
    let clamp = |cells: u32| {
        u16::try_from(cells)
            .unwrap_or(MAX_TERMINAL_CELLS)
            .clamp(1, MAX_TERMINAL_CELLS)
    };
    (clamp(cols), clamp(rows))
}

/// The principal to offer first: the one chosen last time if it is still allowed.
fn preferred_principal(principals: &[String], remembered: Option<&str>) -> Option<String> {
    remembered
        .and_then(|remembered| principals.iter().find(|principal| *principal == remembered))
        .or_else(|| principals.first())
        .cloned()
}

fn remembered_principal(app: &str) -> Option<String> {
    let storage = window().local_storage().ok().flatten()?;
    storage
        .get_item(&format!("{PRINCIPAL_KEY_PREFIX}{app}"))
        .ok()
        .flatten()
}

fn remember_principal(app: &str, principal: &str) {
    // Storage may be unavailable or full (private windows); the choice is then not remembered.
    if let Some(storage) = window().local_storage().ok().flatten() {
        let _ = storage.set_item(&format!("{PRINCIPAL_KEY_PREFIX}{app}"), principal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(principals: &[&str]) -> SshLogin {
        SshLogin {
            app: "build-box".to_owned(),
            principals: principals.iter().map(|name| (*name).to_owned()).collect(),
            host_key_fingerprint: None,
        }
    }

    #[test]
    fn socket_urls_follow_the_page() {
        assert_eq!(
            socket_url(
                "https:",
                "postern.example.com",
                "build-box",
                (120, 40),
                None
            ),
            "wss://postern.example.com/gw/ssh/build-box?cols=120&rows=40"
        );
        assert_eq!(
            socket_url("http:", "127.0.0.1:8443", "db", (80, 24), Some("deploy")),
            "ws://127.0.0.1:8443/gw/ssh/db?cols=80&rows=24&principal=deploy"
        );
        assert_eq!(
            socket_url("https:", "h", "a/b", (1, 1), Some("x&y=z")),
            "wss://h/gw/ssh/a%2Fb?cols=1&rows=1&principal=x%26y%3Dz"
        );
    }

    #[test]
    fn sizes_stay_within_the_gateway_limit() {
        assert_eq!(clamp_size(80, 24), (80, 24));
        assert_eq!(clamp_size(0, 0), (1, 1));
        assert_eq!(clamp_size(1000, 1001), (1000, 1000));
        assert_eq!(clamp_size(u32::MAX, 70_000), (1000, 1000));
    }

    #[test]
    fn the_remembered_principal_is_offered_while_allowed() {
        let principals = vec!["ada".to_owned(), "deploy".to_owned()];
        assert_eq!(
            preferred_principal(&principals, Some("deploy")).as_deref(),
            Some("deploy")
        );
        assert_eq!(
            preferred_principal(&principals, Some("root")).as_deref(),
            Some("ada")
        );
        assert_eq!(
            preferred_principal(&principals, None).as_deref(),
            Some("ada")
        );
        assert_eq!(preferred_principal(&[], Some("ada")), None);
    }

    #[test]
    fn one_principal_connects_and_several_ask() {
        assert!(matches!(
            screen_for(&login(&[]), None),
            Screen::Failed { code, .. } if code == close_code::PRINCIPAL_NOT_ALLOWED
        ));
        assert_eq!(
            screen_for(&login(&["ada"]), None),
            Screen::Terminal {
                principal: "ada".to_owned()
            }
        );
        assert_eq!(
            screen_for(&login(&["ada", "root"]), None),
            Screen::Choosing {
                principals: vec!["ada".to_owned(), "root".to_owned()]
            }
        );
        assert_eq!(
            screen_for(&login(&["ada", "root"]), Some("root".to_owned())),
            Screen::Terminal {
                principal: "root".to_owned()
            }
        );
    }
}
