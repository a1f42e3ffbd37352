//! `/rdp/{app}`: a remote desktop in the browser for an RDP App.
//!
//! The page loads the RDP module (`live`) while it asks for the credentials of the remote
//! computer, then asks the server for a single-use gateway ticket (`protocol::rdp`) and starts
//! an `RdpSession` on the gateway WebSocket of the same host. A slim bar above the desktop
//! says what is happening and offers Ctrl+Alt+Del, Fullscreen, Disconnect and Reconnect.
//!
//! **The password** goes to the module and is kept in this page's memory only, so that
//! Reconnect does not ask again; it is forgotten when the page goes away or the remote
//! computer refuses it, and never stored. The user name and domain are remembered per App.
//!
//! For tests: the page's root carries `data-phase` (`prompt`, `starting`, `connecting`,
//! `connected`, `closed`) and `data-module` (`loading`, `loaded`, `failed`); the screen
//! element (`data-testid="rdp-screen"`) gets the module's `data-state`, `data-close-reason`
//! and `data-frames`. The live `RdpSession` is `window.posternDesktop`.

mod live;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_location, use_params_map};
use protocol::rdp::{desktop_page, gateway_path};
use wasm_bindgen::JsCast;

use self::live::Live;
use crate::api::{self, encode_path_segment};
use crate::components::{BrandMark, WithSession, set_title};
use crate::navigation::login_url;

/// `data-close-reason` of the module when the remote computer refused the credentials.
const AUTHENTICATION_FAILED: &str = "authentication";

/// Where the user name and domain last used for an App are remembered, per App.
const USERNAME_KEY_PREFIX: &str = "postern.rdp.username.";
const DOMAIN_KEY_PREFIX: &str = "postern.rdp.domain.";

/// Who to sign in as on the remote computer.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
    domain: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// What the desktop is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Asking for the credentials.
    Prompt,
    /// Getting the ticket (and the module, if it is not loaded yet).
    Starting,
    /// The module is connecting.
    Connecting,
    /// The desktop is live, at this size.
    Connected { width: u32, height: u32 },
    /// The session is over; `reason` is the module's `data-close-reason`.
    Closed { reason: String, message: String },
}

impl Phase {
    fn as_str(&self) -> &'static str {
        match self {
            Phase::Prompt => "prompt",
            Phase::Starting => "starting",
            Phase::Connecting => "connecting",
            Phase::Connected { .. } => "connected",
            Phase::Closed { .. } => "closed",
        }
    }
}

/// Why the prompt is showing again.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PromptError {
    message: String,
    /// The Postern Session is gone: signing in again is the way out.
    signed_out: bool,
}

/// `/rdp/:app`.
#[component]
pub fn DesktopPage() -> impl IntoView {
    let params = use_params_map();
    let return_to = use_location().pathname.get_untracked();
    view! {
        <WithSession
            return_to
            render=move |_me| {
                (move || {
                    let app = params.read().get("app").unwrap_or_default();
                    view! { <DesktopScreen app /> }
                })
                    .into_any()
            }
        />
    }
}

#[component]
fn DesktopScreen(app: String) -> impl IntoView {
    set_title(&format!("{app} desktop"));
    // Fetched while the person types, so that Connect does not wait for it.
    let module = LocalResource::new(live::load_module);
    let phase = RwSignal::new(Phase::Prompt);
    let prompt_error = RwSignal::new(None::<PromptError>);
    let kept = StoredValue::new_local(None::<Credentials>);
    let live = StoredValue::new_local(None::<Live>);
    let screen = NodeRef::<leptos::html::Div>::new();

    let open = {
        let app = app.clone();
        move |credentials: Credentials| {
            let Some(element) = screen.get_untracked() else {
                return;
            };
            let element: web_sys::HtmlElement = element.unchecked_into();
            // The old session goes first: it disconnects and takes its canvas away.
            drop(live.try_update_value(Option::take).flatten());
            kept.set_value(Some(credentials.clone()));
            prompt_error.set(None);
            phase.set(Phase::Starting);
            let app = app.clone();
            spawn_local(async move {
                let started = start(&app, element, &credentials, phase).await;
                match started {
                    // If the page went away meanwhile, the session comes back and is dropped.
                    Ok(running) => drop(live.try_set_value(Some(running))),
                    Err(error) => {
                        let _ = phase.try_set(Phase::Prompt);
                        let _ = prompt_error.try_set(Some(error));
                    }
                }
            });
        }
    };
    // A refused password is forgotten and asked for again.
    Effect::new(move || {
        if let Phase::Closed { reason, message } = phase.get()
            && reason == AUTHENTICATION_FAILED
        {
            kept.set_value(None);
            prompt_error.set(Some(PromptError {
                message,
                signed_out: false,
            }));
            phase.set(Phase::Prompt);
        }
    });
    on_cleanup(move || {
        drop(live.try_update_value(Option::take).flatten());
    });

    let reconnect = {
        let open = open.clone();
        move |_| match kept.get_value() {
            Some(credentials) => open(credentials),
            None => phase.set(Phase::Prompt),
        }
    };
    let with_live = move |action: fn(&Live)| {
        live.with_value(|live| {
            if let Some(live) = live {
                action(live);
            }
        });
    };
    let fullscreen = move |_| {
        if let Some(element) = screen.get_untracked() {
            enter_fullscreen(&element);
        }
        with_live(Live::focus);
    };

    let module_state = move || match module.get() {
        None => "loading",
        Some(Ok(_)) => "loaded",
        Some(Err(_)) => "failed",
    };
    let is_live = move || matches!(phase.get(), Phase::Connecting | Phase::Connected { .. });
    let connected = move || matches!(phase.get(), Phase::Connected { .. });
    let closed = move || matches!(phase.get(), Phase::Closed { .. });

    let header_app = app.clone();
    let root_app = app.clone();
    let prompt_app = app.clone();
    view! {
        <div
            class="terminal-page desktop-page"
            data-testid="desktop-page"
            data-app=root_app
            data-phase=move || phase.get().as_str()
            data-module=module_state
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
                <p class="terminal-status" role="status" data-testid="desktop-status">
                    {move || status_line(&phase.get())}
                </p>
                <div class="terminal-actions" role="toolbar" aria-label="Remote desktop">
                    <button
                        type="button"
                        class="button button-small"
                        data-testid="rdp-ctrl-alt-del"
                        title="Send Ctrl+Alt+Del to the remote computer"
                        disabled=move || !connected()
                        on:click=move |_| with_live(Live::ctrl_alt_del)
                    >
                        "Ctrl+Alt+Del"
                    </button>
                    <button
                        type="button"
                        class="button button-small"
                        data-testid="rdp-fullscreen"
                        title="Show the desktop on the whole screen (hold Esc to leave)"
                        disabled=move || !is_live()
                        on:click=fullscreen
                    >
                        "Fullscreen"
                    </button>
                    {move || {
                        is_live()
                            .then(|| {
                                view! {
                                    <button
                                        type="button"
                                        class="button button-small"
                                        data-testid="rdp-disconnect"
                                        on:click=move |_| with_live(Live::disconnect)
                                    >
                                        "Disconnect"
                                    </button>
                                }
                            })
                    }}
                    {move || {
                        closed()
                            .then(|| {
                                view! {
                                    <button
                                        type="button"
                                        class="button button-small button-primary"
                                        data-testid="rdp-reconnect"
                                        on:click=reconnect.clone()
                                    >
                                        "Reconnect"
                                    </button>
                                }
                            })
                    }}
                </div>
            </header>
            <main class="desktop-main" id="main">
                <div class="desktop-screen" data-testid="rdp-screen" node_ref=screen></div>
                {move || match phase.get() {
                    Phase::Prompt => {
                        view! {
                            <div class="desktop-overlay">
                                <CredentialsPrompt
                                    app=prompt_app.clone()
                                    error=prompt_error
                                    module_failed=Signal::derive(move || {
                                        matches!(module.get(), Some(Err(_)))
                                    })
                                    on_submit=Callback::new({
                                        let open = open.clone();
                                        move |credentials| open(credentials)
                                    })
                                />
                            </div>
                        }
                            .into_any()
                    }
                    Phase::Closed { reason, message } => {
                        view! {
                            <div class="desktop-overlay desktop-overlay-closed">
                                <ClosedNotice
                                    reason
                                    message
                                    on_change=Callback::new(move |()| {
                                        kept.set_value(None);
                                        phase.set(Phase::Prompt);
                                    })
                                />
                            </div>
                        }
                            .into_any()
                    }
                    Phase::Starting | Phase::Connecting | Phase::Connected { .. } => {
                        ().into_any()
                    }
                }}
            </main>
        </div>
    }
}

/// Gets a ticket and starts the session; `Err` is what the prompt shows.
async fn start(
    app: &str,
    screen: web_sys::HtmlElement,
    credentials: &Credentials,
    phase: RwSignal<Phase>,
) -> Result<Live, PromptError> {
    let failed = |message: String| PromptError {
        message,
        signed_out: false,
    };
    let module = live::load_module()
        .await
        .map_err(|error| failed(error.message()))?;
    let ticket = api::rdp_ticket(app).await.map_err(|error| PromptError {
        message: error.message(),
        signed_out: error.is_unauthenticated(),
    })?;
    let location = window().location();
    let path = if ticket.gateway_path.starts_with('/') {
        ticket.gateway_path.clone()
    } else {
        gateway_path(&encode_path_segment(app))
    };
    let url = socket_url(
        &location.protocol().unwrap_or_default(),
        &location.host().unwrap_or_default(),
        &path,
    );
    Live::start(
        &module,
        screen,
        app,
        &url,
        &ticket.ticket,
        credentials,
        phase,
    )
    .map_err(failed)
}

/// The credentials form.
#[component]
fn CredentialsPrompt(
    app: String,
    error: RwSignal<Option<PromptError>>,
    module_failed: Signal<bool>,
    on_submit: Callback<Credentials>,
) -> impl IntoView {
    let username = RwSignal::new(remembered(USERNAME_KEY_PREFIX, &app).unwrap_or_default());
    let domain = RwSignal::new(remembered(DOMAIN_KEY_PREFIX, &app).unwrap_or_default());
    let password = RwSignal::new(String::new());
    let missing = RwSignal::new(false);
    let submit = {
        let app = app.clone();
        move |event: SubmitEvent| {
            event.prevent_default();
            let credentials = Credentials {
                username: username.get_untracked().trim().to_owned(),
                password: password.get_untracked(),
                domain: domain.get_untracked().trim().to_owned(),
            };
            if credentials.username.is_empty() {
                missing.set(true);
                return;
            }
            missing.set(false);
            remember(USERNAME_KEY_PREFIX, &app, &credentials.username);
            remember(DOMAIN_KEY_PREFIX, &app, &credentials.domain);
            on_submit.run(credentials);
        }
    };
    let return_to = desktop_page(&encode_path_segment(&app));
    // The field that needs typing first.
    let first_field = NodeRef::<leptos::html::Input>::new();
    let password_field = NodeRef::<leptos::html::Input>::new();
    Effect::new(move || {
        let field = if username.get_untracked().is_empty() {
            first_field.get()
        } else {
            password_field.get()
        };
        if let Some(field) = field {
            let _ = field.focus();
        }
    });
    view! {
        <section
            class="card desktop-prompt"
            data-testid="rdp-prompt"
            aria-labelledby="rdp-prompt-heading"
        >
            <h2 id="rdp-prompt-heading">{format!("Sign in to {app}")}</h2>
            <p class="muted">
                "Your account on the remote computer. The password goes only to it and is \
                 kept in this page until you leave, for Reconnect; it is never stored."
            </p>
            <form class="form" on:submit=submit novalidate>
                <div class="field">
                    <label for="rdp-username">"User name"</label>
                    <input
                        id="rdp-username"
                        name="username"
                        type="text"
                        autocomplete="username"
                        autocapitalize="none"
                        spellcheck="false"
                        required
                        data-testid="rdp-username"
                        node_ref=first_field
                        bind:value=username
                    />
                </div>
                <div class="field">
                    <label for="rdp-password">"Password"</label>
                    <input
                        id="rdp-password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        data-testid="rdp-password"
                        node_ref=password_field
                        bind:value=password
                    />
                </div>
                <div class="field">
                    <label for="rdp-domain">"Domain " <span class="muted">"(optional)"</span></label>
                    <input
                        id="rdp-domain"
                        name="domain"
                        type="text"
                        autocapitalize="none"
                        spellcheck="false"
                        data-testid="rdp-domain"
                        bind:value=domain
                    />
                </div>
                {move || {
                    missing
                        .get()
                        .then(|| {
                            view! {
                                <p class="error" role="alert">
                                    "Enter the user name to sign in as."
                                </p>
                            }
                        })
                }}
                {move || {
                    module_failed
                        .get()
                        .then(|| {
                            view! {
                                <p class="error" role="alert" data-testid="rdp-module-error">
                                    "The remote desktop part of this page could not be loaded. \
                                     Connect tries again."
                                </p>
                            }
                        })
                }}
                {move || {
                    error
                        .get()
                        .map(|error| {
                            let sign_in = error
                                .signed_out
                                .then(|| {
                                    view! {
                                        <a href=login_url(&return_to)>"Sign in again"</a>
                                    }
                                });
                            view! {
                                <div class="error" role="alert" data-testid="rdp-prompt-error">
                                    <p>{error.message}</p>
                                    {sign_in}
                                </div>
                            }
                        })
                }}
                <div class="form-actions">
                    <button
                        type="submit"
                        class="button button-primary"
                        data-testid="rdp-connect"
                    >
                        "Connect"
                    </button>
                </div>
            </form>
        </section>
    }
}

/// Why the session ended, over the desktop it leaves behind.
#[component]
fn ClosedNotice(reason: String, message: String, on_change: Callback<()>) -> impl IntoView {
    // Disconnecting was the person's choice: no alarm for that.
    let (class, role) = if reason == "disconnected" {
        ("card desktop-closed", "status")
    } else {
        ("card desktop-closed error", "alert")
    };
    view! {
        <section
            class=class
            role=role
            data-testid="rdp-closed"
            data-reason=reason
        >
            <p data-testid="rdp-close-message">{message}</p>
            <button type="button" class="button button-small" on:click=move |_| on_change.run(())>
                "Use other credentials"
            </button>
        </section>
    }
}

/// The status bar's text.
fn status_line(phase: &Phase) -> AnyView {
    let (dot, text) = match phase {
        Phase::Prompt => ("status-dot", "Not connected".to_owned()),
        Phase::Starting => ("status-dot status-busy", "Getting a ticket…".to_owned()),
        Phase::Connecting => ("status-dot status-busy", "Connecting…".to_owned()),
        Phase::Connected { width, height } => (
            "status-dot status-live",
            format!("Connected, {width} × {height}"),
        ),
        Phase::Closed { message, .. } => ("status-dot status-closed", format!("Closed: {message}")),
    };
    view! {
        <span class=dot aria-hidden="true"></span>
        <span class="terminal-close-reason">{text}</span>
    }
    .into_any()
}

/// Puts `element` on the whole screen and, where the browser offers it, captures the keys
/// the browser would otherwise keep (Esc, Alt+Tab) until fullscreen ends.
fn enter_fullscreen(element: &web_sys::Element) {
    let Some(entered) = call_for_promise(element, "requestFullscreen") else {
        return;
    };
    spawn_local(async move {
        if wasm_bindgen_futures::JsFuture::from(entered).await.is_err() {
            return;
        }
        // `navigator.keyboard.lock()` exists in Chromium only; elsewhere Esc leaves at once.
        let keyboard = js_sys::Reflect::get(&window().navigator(), &"keyboard".into());
        if let Ok(keyboard) = keyboard
            && let Some(locked) = call_for_promise(&keyboard, "lock")
        {
            let _ = wasm_bindgen_futures::JsFuture::from(locked).await;
        }
    });
}

/// Calls the method `name` of `target` without arguments, if it has one, for the promise it
/// returns.
fn call_for_promise(target: &wasm_bindgen::JsValue, name: &str) -> Option<js_sys::Promise> {
    let method: js_sys::Function = js_sys::Reflect::get(target, &name.into())
        .ok()?
        .dyn_into()
        .ok()?;
    method.call0(target).ok()?.dyn_into().ok()
}

/// The gateway WebSocket's URL on the page's own host: `wss:` from an `https:` page.
fn socket_url(page_protocol: &str, host: &str, path: &str) -> String {
    let scheme = if page_protocol == "http:" {
        "ws"
    } else {
        "wss"
    };
    format!("{scheme}://{host}{path}")
}

fn remembered(prefix: &str, app: &str) -> Option<String> {
    let storage = window().local_storage().ok().flatten()?;
    storage.get_item(&format!("{prefix}{app}")).ok().flatten()
}

fn remember(prefix: &str, app: &str, value: &str) {
    // Storage may be unavailable or full (private windows); the value is then not remembered.
    if let Some(storage) = window().local_storage().ok().flatten() {
        let key = format!("{prefix}{app}");
        let _ = if value.is_empty() {
            storage.remove_item(&key)
        } else {
            storage.set_item(&key, value)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_urls_follow_the_page() {
        assert_eq!(
            socket_url("https:", "postern.example.com", "/gw/rdp/desk"),
            "wss://postern.example.com/gw/rdp/desk"
        );
        assert_eq!(
            socket_url("http:", "127.0.0.1:8443", "/gw/rdp/desk"),
            "ws://127.0.0.1:8443/gw/rdp/desk"
        );
    }

    #[test]
    fn the_password_stays_out_of_debug_output() {
        let credentials = Credentials {
            username: "ada".to_owned(),
            password: "hunter2".to_owned(),
            domain: String::new(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    #[test]
    fn the_module_url_is_what_the_build_copies() {
        // `cargo xtask` writes rdp_web.js into the directory Trunk copies to dist/rdp.
        let index = include_str!("../../index.html");
        assert!(
            index.contains(r#"rel="copy-dir" href="../target/rdp-module" data-target-path="rdp""#)
        );
        assert_eq!(live::MODULE_URL, "/rdp/rdp_web.js");
    }
}
