//! The sign-in page: one button per OIDC provider and, when enabled, the local account form.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_location;
use protocol::api::{LocalSignInRequest, ProviderInfo, SignInOptions};

use crate::api;
use crate::components::{AuthCard, ErrorNotice, Loading, set_title};
use crate::navigation::{load_page, provider_start_url, query_value, safe_next};

/// `/login`.
#[component]
pub fn Login() -> impl IntoView {
    set_title("Sign in");
    let options = LocalResource::new(api::sign_in_options);
    let search = use_location().search;
    let next = Signal::derive(move || safe_next(query_value(&search.get(), "next").as_deref()));

    view! {
        <AuthCard>
            <h1>"Sign in"</h1>
            <p class="muted">"Reach your team's apps through one secure door."</p>
            {move || match options.get() {
                None => view! { <Loading label="Loading sign-in options…" /> }.into_any(),
                Some(Ok(options)) => view! { <SignInChoices options next /> }.into_any(),
                Some(Err(error)) => {
                    view! {
                        <ErrorNotice
                            message=error.message()
                            retry=Callback::new(move |()| options.refetch())
                        />
                    }
                        .into_any()
                }
            }}
        </AuthCard>
    }
}

/// Everything the server offers for signing in, plus the setup notice when there is no admin.
#[component]
fn SignInChoices(options: SignInOptions, next: Signal<String>) -> impl IntoView {
    let SignInOptions {
        providers,
        local_sign_in,
        setup_required,
    } = options;
    let nothing_offered = providers.is_empty() && !local_sign_in;
    let show_divider = !providers.is_empty() && local_sign_in;
    view! {
        {setup_required
            .then(|| {
                view! {
                    <div class="notice" role="status" data-testid="setup-required">
                        <strong>"This server has no admin yet."</strong>
                        " It printed a one-time setup link for the first admin in its log (its \
                         console output); open that link to create the admin account."
                    </div>
                }
            })}
        <div class="provider-list">
            {providers
                .into_iter()
                .map(|provider| view! { <ProviderButton provider next /> })
                .collect_view()}
        </div>
        {show_divider
            .then(|| {
                view! {
                    <div class="divider" role="separator">
                        <span>"or"</span>
                    </div>
                }
            })}
        {local_sign_in.then(|| view! { <LocalSignInForm next /> })}
        {nothing_offered
            .then(|| {
                view! {
                    <p class="notice">
                        "No sign-in method is configured on this server. Ask your administrator."
                    </p>
                }
            })}
    }
}

/// A full-page link: the server redirects to the provider and back, then sets the cookie and
/// sends the browser to `next`.
#[component]
fn ProviderButton(provider: ProviderInfo, next: Signal<String>) -> impl IntoView {
    let start_url = provider.start_url;
    let href = move || provider_start_url(&start_url, &next.get());
    view! {
        // `rel="external"` keeps the router from treating it as one of the app's pages.
        <a
            class="button button-provider"
            rel="external"
            data-provider=provider.id
            href=href
        >
            "Sign in with "
            {provider.name}
        </a>
    }
}

/// Username and password for local (break-glass) accounts.
#[component]
fn LocalSignInForm(next: Signal<String>) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let request = LocalSignInRequest {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
        };
        if request.username.is_empty() || request.password.is_empty() {
            error.set(Some("Enter your username and password.".to_owned()));
            return;
        }
        pending.set(true);
        error.set(None);
        let destination = next.get_untracked();
        spawn_local(async move {
            match api::sign_in_local(&request).await {
                // A full page load, so every page after sign-in starts from the new Session.
                Ok(_) => load_page(&destination),
                Err(failure) => {
                    error.set(Some(failure.message()));
                    pending.set(false);
                }
            }
        });
    };

    view! {
        <form id="local-sign-in" class="form" on:submit=submit novalidate>
            <div class="field">
                <label for="username">"Username"</label>
                <input
                    id="username"
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
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    bind:value=password
                />
            </div>
            {move || {
                error
                    .get()
                    .map(|message| {
                        view! {
                            <p class="error" role="alert">
                                {message}
                            </p>
                        }
                    })
            }}
            <button
                type="submit"
                class="button button-primary button-block"
                disabled=move || pending.get()
            >
                {move || if pending.get() { "Signing in…" } else { "Sign in" }}
            </button>
        </form>
    }
}
