//! `/admin/service-tokens`: create and revoke Service tokens for scripts and CI jobs.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use protocol::api::{
    AppSummary, CreateServiceTokenRequest, ServiceTokenCreated, ServiceTokenSummary,
};

use super::{ConfirmAction, EmptyState, OneTimeSecret, SectionHead, action_error, fetched};
use crate::api::{self, ApiError};
use crate::components::{CommandBlock, CopyableValue, Timestamp, parse_timestamp, set_title};
use crate::names::check_name;

const DAY: u64 = 86_400;
/// The lifetimes offered, in seconds; the server allows a minute to five years.
const LIFETIMES: [(u64, &str); 5] = [
    (30 * DAY, "30 days"),
    (90 * DAY, "90 days"),
    (365 * DAY, "1 year"),
    (2 * 365 * DAY, "2 years"),
    (5 * 365 * DAY, "5 years"),
];
/// The server's default.
const DEFAULT_LIFETIME: u64 = 365 * DAY;

/// `/admin/service-tokens`.
#[component]
pub fn AdminServiceTokens() -> impl IntoView {
    set_title("Service tokens");
    let tokens = LocalResource::new(api::service_tokens);
    let apps = LocalResource::new(api::apps);
    let created = RwSignal::new(None::<ServiceTokenCreated>);
    let revoking = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);

    let revoke = Callback::new(move |id: String| {
        revoking.set(Some(id.clone()));
        error.set(None);
        spawn_local(async move {
            match api::revoke_service_token(&id).await {
                Ok(()) => {
                    if created
                        .get_untracked()
                        .is_some_and(|shown| shown.token.id == id)
                    {
                        created.set(None);
                    }
                    tokens.refetch();
                }
                Err(failure) => error.set(Some(failure.message())),
            }
            revoking.set(None);
        });
    });
    let on_created = Callback::new(move |token: ServiceTokenCreated| {
        created.set(Some(token));
        tokens.refetch();
    });

    view! {
        <SectionHead
            title="Service tokens"
            summary="Credentials for scripts and CI jobs that reach chosen apps without a browser \
                     or a person's account."
        />
        {move || {
            created
                .get()
                .map(|token| {
                    view! {
                        <CreatedTokenPanel
                            token
                            on_dismiss=Callback::new(move |()| created.set(None))
                        />
                    }
                })
        }}
        {action_error(error)}
        {move || {
            fetched(
                tokens.get(),
                move || tokens.refetch(),
                move |tokens| view! { <TokensTable tokens revoking revoke /> }.into_any(),
            )
        }}
        <CreateTokenForm apps on_created />
    }
}

/// The id and the secret, shown once, and how a job uses them.
#[component]
fn CreatedTokenPanel(token: ServiceTokenCreated, on_dismiss: Callback<()>) -> impl IntoView {
    let ServiceTokenCreated { token, secret } = token;
    let first_app = token
        .apps
        .first()
        .cloned()
        .unwrap_or_else(|| "APP".to_owned());
    let command = access_command(&first_app, &token.id, &secret);
    let other_apps = (token.apps.len() > 1).then(|| {
        view! {
            <p class="muted">
                "It may reach " {token.apps.join(", ")} "; put the one a job needs after "
                <code>"--app"</code> "."
            </p>
        }
    });
    view! {
        <OneTimeSecret
            testid="service-token-secret"
            title=format!("Service token {} created", token.name)
            on_dismiss
        >
            <CopyableValue label="Client id" value=token.id testid="service-token-id" />
            <CopyableValue label="Secret" value=secret testid="service-token-secret-value" />
            <p>
                "A job passes both to the CLI in place of a person's sign-in, followed by the \
                 usual " <code>"postern access tcp"</code> " options:"
            </p>
            <CommandBlock command testid="service-token-command" />
            {other_apps}
            <p class="muted">
                "Keep the secret in your CI system's secret store, not in a repository."
            </p>
        </OneTimeSecret>
    }
}

/// How a job reaches `app` with a Service token.
fn access_command(app: &str, id: &str, secret: &str) -> String {
    format!(
        "postern access tcp --app {app} --service-token-id {id} --service-token-secret {secret}"
    )
}

#[component]
fn TokensTable(
    tokens: Vec<ServiceTokenSummary>,
    revoking: RwSignal<Option<String>>,
    revoke: Callback<String>,
) -> impl IntoView {
    if tokens.is_empty() {
        return view! {
            <EmptyState testid="service-tokens-empty" title="No service tokens yet">
                <p>
                    "Create one below for the apps a script or CI job needs. It can reach those \
                     apps and nothing else, until it expires or you revoke it."
                </p>
            </EmptyState>
        }
        .into_any();
    }
    let now = js_sys::Date::now() as i64;
    view! {
        <div class="table-wrap card">
            <table data-testid="service-tokens-table">
                <thead>
                    <tr>
                        <th scope="col">"Token"</th>
                        <th scope="col">"Apps"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>
                    {tokens
                        .into_iter()
                        .map(|token| view! { <TokenRow token now revoking revoke /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Whether a Service token still works, as its badge says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    fn of(token: &ServiceTokenSummary, now_millis: i64) -> TokenStatus {
        if token.revoked {
            TokenStatus::Revoked
        } else if parse_timestamp(&token.expires_at).is_some_and(|expires| expires <= now_millis) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    fn badge(self) -> (&'static str, &'static str) {
        match self {
            TokenStatus::Active => ("badge badge-online", "Active"),
            TokenStatus::Expired => ("badge badge-offline", "Expired"),
            TokenStatus::Revoked => ("badge badge-revoked", "Revoked"),
        }
    }
}

#[component]
fn TokenRow(
    token: ServiceTokenSummary,
    now: i64,
    revoking: RwSignal<Option<String>>,
    revoke: Callback<String>,
) -> impl IntoView {
    let status = TokenStatus::of(&token, now);
    let (badge_class, badge_label) = status.badge();
    let id = token.id.clone();
    let busy = {
        let id = id.clone();
        Signal::derive(move || revoking.get().as_deref() == Some(id.as_str()))
    };
    let name = token.name.clone();
    let action = (status != TokenStatus::Revoked).then(|| {
        let id = id.clone();
        view! {
            <ConfirmAction
                action="revoke"
                label="Revoke"
                busy_label="Revoking…"
                aria_label=format!("Revoke {name}")
                question=format!("Revoke {name}? Jobs using it stop working at once.")
                busy
                on_confirm=Callback::new(move |()| revoke.run(id.clone()))
            />
        }
    });
    view! {
        <tr data-service-token=id class:revoked=token.revoked>
            <td>
                <span class="cell-main nowrap">{token.name}</span>
                <span class="cell-sub mono">{token.id}</span>
            </td>
            <td>
                <ul class="chips chips-compact">
                    {token
                        .apps
                        .into_iter()
                        .map(|app| view! { <li class="chip">{app}</li> })
                        .collect_view()}
                </ul>
            </td>
            <td>
                <span class=badge_class>{badge_label}</span>
            </td>
            <td>
                <Timestamp value=token.expires_at />
            </td>
            <td>
                <Timestamp value=token.created_at />
            </td>
            <td class="cell-actions">{action}</td>
        </tr>
    }
}

/// Creates a Service token; `on_created` receives its secret.
#[component]
fn CreateTokenForm(
    apps: LocalResource<Result<Vec<AppSummary>, ApiError>>,
    on_created: Callback<ServiceTokenCreated>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<String>::new());
    let lifetime = RwSignal::new(DEFAULT_LIFETIME);
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let request = CreateServiceTokenRequest {
            name: name.get_untracked().trim().to_owned(),
            apps: chosen.get_untracked(),
            expires_in_seconds: Some(lifetime.get_untracked()),
        };
        let problem = check_name("service token", &request.name)
            .err()
            .or_else(|| {
                request
                    .apps
                    .is_empty()
                    .then(|| "Choose at least one app the token may reach.".to_owned())
            });
        if let Some(problem) = problem {
            error.set(Some(problem));
            return;
        }
        pending.set(true);
        error.set(None);
        spawn_local(async move {
            match api::create_service_token(&request).await {
                Ok(created) => {
                    name.set(String::new());
                    chosen.set(Vec::new());
                    lifetime.set(DEFAULT_LIFETIME);
                    on_created.run(created);
                }
                Err(failure) => error.set(Some(failure.message())),
            }
            pending.set(false);
        });
    };

    let app_choices = move || match apps.get() {
        None => view! { <p class="hint">"Loading apps…"</p> }.into_any(),
        Some(Err(failure)) => view! {
            <p class="hint hint-error">
                {format!("The apps could not be loaded: {}", failure.message())}
            </p>
        }
        .into_any(),
        Some(Ok(list)) if list.is_empty() => view! {
            <p class="hint" data-testid="service-token-no-apps">
                "No apps yet: " <A href="/admin/apps">"publish one"</A> " first."
            </p>
        }
        .into_any(),
        Some(Ok(list)) => view! {
            <div class="checkbox-list">
                {list
                    .into_iter()
                    .map(|app| {
                        let app_name = app.name;
                        let checked_name = app_name.clone();
                        let toggled_name = app_name.clone();
                        let input_id = format!("service-token-app-{app_name}");
                        let label_for = input_id.clone();
                        view! {
                            <label class="checkbox" for=label_for>
                                <input
                                    id=input_id
                                    type="checkbox"
                                    name="apps"
                                    value=app_name.clone()
                                    prop:checked=move || {
                                        chosen.with(|chosen| chosen.contains(&checked_name))
                                    }
                                    on:change=move |event| {
                                        let on = event_target_checked(&event);
                                        chosen
                                            .update(|chosen| {
                                                chosen.retain(|name| *name != toggled_name);
                                                if on {
                                                    chosen.push(toggled_name.clone());
                                                }
                                            });
                                    }
                                />
                                <span class="mono">{app_name}</span>
                                <span class="cell-sub">{app.kind.as_str()}</span>
                            </label>
                        }
                    })
                    .collect_view()}
            </div>
        }
        .into_any(),
    };

    view! {
        <section class="card form-card" aria-labelledby="service-token-form-heading">
            <h2 id="service-token-form-heading">"Create a service token"</h2>
            <p class="muted">
                "The token reaches only the apps you tick, whoever their allow rules name."
            </p>
            <form id="service-token-form" class="form form-grid" on:submit=submit novalidate>
                <div class="field">
                    <label for="service-token-name">"Name"</label>
                    <input
                        id="service-token-name"
                        name="name"
                        type="text"
                        autocomplete="off"
                        autocapitalize="none"
                        spellcheck="false"
                        placeholder="nightly-backup"
                        aria-describedby="service-token-name-hint"
                        required
                        bind:value=name
                    />
                    <p class="hint" id="service-token-name-hint">
                        "Say what uses it. Lowercase letters, digits and dashes."
                    </p>
                </div>
                <div class="field">
                    <label for="service-token-lifetime">"Expires after"</label>
                    <select
                        id="service-token-lifetime"
                        name="lifetime"
                        on:change=move |event| {
                            if let Ok(seconds) = event_target_value(&event).parse() {
                                lifetime.set(seconds);
                            }
                        }
                    >
                        {LIFETIMES
                            .into_iter()
                            .map(|(seconds, label)| {
                                view! {
                                    <option
                                        value=seconds.to_string()
                                        prop:selected=move || lifetime.get() == seconds
                                    >
                                        {label}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
                <fieldset class="field-group">
                    <legend>"Apps it may reach"</legend>
                    {app_choices}
                </fieldset>
                {move || {
                    error
                        .get()
                        .map(|message| {
                            view! {
                                <p class="error form-feedback" role="alert">
                                    {message}
                                </p>
                            }
                        })
                }}
                <div class="form-actions">
                    <button
                        type="submit"
                        class="button button-primary"
                        disabled=move || pending.get()
                    >
                        {move || if pending.get() { "Creating…" } else { "Create token" }}
                    </button>
                </div>
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_line_names_app_id_and_secret() {
        assert_eq!(
            access_command("db", "id1", "s3cret"),
            "postern access tcp --app db --service-token-id id1 --service-token-secret s3cret"
        );
    }

    #[test]
    fn status_follows_revocation_then_expiry() {
        let now = parse_timestamp("2026-06-01T00:00:00Z").unwrap_or_default();
        let token = |expires_at: &str, revoked: bool| ServiceTokenSummary {
            id: "id".to_owned(),
            name: "ci".to_owned(),
            apps: vec!["db".to_owned()],
            expires_at: expires_at.to_owned(),
            created_at: "2026-01-01T00:00:00Z".to_owned(),
            revoked,
        };
        for (expires_at, revoked, status) in [
            ("2027-01-01T00:00:00Z", false, TokenStatus::Active),
            ("2026-05-31T23:59:59Z", false, TokenStatus::Expired),
            ("2026-05-31T23:59:59Z", true, TokenStatus::Revoked),
            ("2027-01-01T00:00:00Z", true, TokenStatus::Revoked),
            ("not a time", false, TokenStatus::Active),
        ] {
            assert_eq!(
                TokenStatus::of(&token(expires_at, revoked), now),
                status,
                "{expires_at} {revoked}"
            );
        }
    }

    #[test]
    fn lifetimes_stay_within_what_the_server_allows() {
        assert!(
            LIFETIMES
                .iter()
                .any(|(seconds, _)| *seconds == DEFAULT_LIFETIME)
        );
        assert!(
            LIFETIMES
                .iter()
                .all(|(seconds, _)| (60..=5 * 365 * DAY).contains(seconds))
        );
    }
}
