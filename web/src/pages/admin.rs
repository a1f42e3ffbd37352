//! The admin area: the frame and role check, overview figures, users, Sessions and sign-in
//! providers here; Connectors, Apps, Service tokens, the audit log and terminal recordings in
//! the submodules.

mod apps;
mod audit;
mod connectors;
mod recordings;
mod service_tokens;

pub use apps::AdminApps;
pub use audit::AdminAudit;
pub use connectors::AdminConnectors;
pub use recordings::{AdminRecording, AdminRecordings};
pub use service_tokens::AdminServiceTokens;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Outlet};
use leptos_router::hooks::use_location;
use protocol::api::{
    CreateLocalUserRequest, Me, Overview, ProviderSummary, Role, SessionSummary, UserSummary,
};
use protocol::routes::oidc_callback;

use crate::api::{self, ApiError};
use crate::components::{
    ErrorNotice, Loading, Timestamp, TopBar, WithSession, set_title, source_label,
};
use crate::navigation::{LOGIN, load_page, login_url};
use crate::password::{MIN_PASSWORD_CHARS, check_new_password};

/// The frame around every admin page (`/admin/*`): top bar, sidebar and the role check.
#[component]
pub fn AdminShell() -> impl IntoView {
    let return_to = use_location().pathname.get_untracked();
    view! { <WithSession return_to render=|me| view! { <AdminFrame me /> }.into_any() /> }
}

#[component]
fn AdminFrame(me: Me) -> impl IntoView {
    let is_admin = me.role == Role::Admin;
    view! {
        <TopBar me />
        {if is_admin {
            view! {
                <div class="admin-layout">
                    <nav class="sidebar" aria-label="Admin">
                        <p class="sidebar-title">"Admin"</p>
                        <A href="/admin" exact=true>
                            "Overview"
                        </A>
                        <A href="/admin/users">"Users"</A>
                        <A href="/admin/sessions">"Sessions"</A>
                        <A href="/admin/providers">"Sign-in providers"</A>
                        <p class="sidebar-title sidebar-group">"Access"</p>
                        <A href="/admin/connectors">"Connectors"</A>
                        <A href="/admin/apps">"Apps"</A>
                        <A href="/admin/service-tokens">"Service tokens"</A>
                        <A href="/admin/audit">"Audit log"</A>
                        <A href="/admin/recordings">"Recordings"</A>
                    </nav>
                    <main class="admin-main" id="main">
                        <Outlet />
                    </main>
                </div>
            }
                .into_any()
        } else {
            view! {
                <main class="page" id="main">
                    <Forbidden />
                </main>
            }
                .into_any()
        }}
    }
}

/// Shown to signed-in users without the admin role, whether `/api/me` or the server said so.
#[component]
fn Forbidden() -> impl IntoView {
    set_title("Admin role needed");
    view! {
        <section class="card forbidden" data-testid="forbidden">
            <h1>"You need the admin role"</h1>
            <p>
                "This area is for Postern admins. Your account has the user role; ask an admin \
                 if you need access."
            </p>
            <A href="/" attr:class="button">
                "Back to your apps"
            </A>
        </section>
    }
}

/// Renders one admin fetch: loading, the data, or what went wrong.
fn fetched<T>(
    result: Option<Result<T, ApiError>>,
    retry: impl Fn() + Send + Sync + 'static,
    render: impl FnOnce(T) -> AnyView,
) -> AnyView {
    match result {
        None => view! { <Loading label="Loading…" /> }.into_any(),
        Some(Ok(data)) => render(data),
        Some(Err(error)) if error.is_forbidden() => view! { <Forbidden /> }.into_any(),
        Some(Err(error)) if error.is_unauthenticated() => {
            let sign_in = login_url(&use_location().pathname.get_untracked());
            view! {
                <div class="error" role="alert">
                    <p>{error.message()}</p>
                    <p>
                        <a href=sign_in>"Sign in again"</a>
                    </p>
                </div>
            }
            .into_any()
        }
        Some(Err(error)) => {
            view! { <ErrorNotice message=error.message() retry=Callback::new(move |()| retry()) /> }
                .into_any()
        }
    }
}

/// An error from an action on a page (revoke, rotate, delete), shown above its table.
fn action_error(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error.get().map(|message| {
            view! {
                <p class="error" role="alert">
                    {message}
                </p>
            }
        })
    }
}

/// A destructive action behind a second click: the first click asks the question next to a
/// confirming button and a way out, so a stray click never revokes anything.
#[component]
fn ConfirmAction(
    /// `data-action` of the first button and `data-confirm` of the confirming one, such as
    /// `revoke`; the row around them names the thing acted on.
    action: &'static str,
    /// The buttons' label, such as "Revoke".
    label: &'static str,
    /// The first button's label while the request runs, such as "Revoking…".
    busy_label: &'static str,
    /// The first button's accessible name, naming what it acts on.
    #[prop(into)]
    aria_label: String,
    /// The question, such as "Revoke office-lan?".
    #[prop(into)]
    question: String,
    /// Whether this action's request is in flight.
    #[prop(into)]
    busy: Signal<bool>,
    /// Runs the action.
    on_confirm: Callback<()>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    let keep = NodeRef::<leptos::html::Button>::new();
    // The safe choice takes the focus, so Enter after the first click does not confirm.
    Effect::new(move || {
        if let Some(button) = keep.get() {
            let _ = button.focus();
        }
    });
    move || {
        if asking.get() {
            view! {
                <span class="confirm" role="group" aria-label=question.clone()>
                    <span class="confirm-question">{question.clone()}</span>
                    <button
                        type="button"
                        class="button button-small button-danger-solid"
                        data-confirm=action
                        on:click=move |_| {
                            asking.set(false);
                            on_confirm.run(());
                        }
                    >
                        {label}
                    </button>
                    <button
                        type="button"
                        class="button button-small"
                        data-cancel=action
                        node_ref=keep
                        on:click=move |_| asking.set(false)
                    >
                        "Cancel"
                    </button>
                </span>
            }
            .into_any()
        } else {
            view! {
                <button
                    type="button"
                    class="button button-small button-danger"
                    data-action=action
                    aria-label=aria_label.clone()
                    disabled=move || busy.get()
                    on:click=move |_| asking.set(true)
                >
                    {move || if busy.get() { busy_label } else { label }}
                </button>
            }
            .into_any()
        }
    }
}

/// A secret the server returns once (a Connector token, a Service-token secret), with what to
/// do with it. It takes the focus when it appears, so the person (and their screen reader)
/// lands on it wherever they clicked.
#[component]
fn OneTimeSecret(
    /// The panel's `data-testid`.
    testid: &'static str,
    /// The panel's heading.
    #[prop(into)]
    title: String,
    /// Hides the panel; the secret is gone for good.
    on_dismiss: Callback<()>,
    children: Children,
) -> impl IntoView {
    let panel = NodeRef::<leptos::html::Section>::new();
    Effect::new(move || {
        if let Some(panel) = panel.get() {
            let _ = panel.focus();
        }
    });
    let heading_id = format!("{testid}-heading");
    let labelled_by = heading_id.clone();
    view! {
        <section
            class="card secret-panel"
            data-testid=testid
            tabindex="-1"
            aria-labelledby=labelled_by
            node_ref=panel
        >
            <div class="secret-panel-head">
                <h2 id=heading_id>{title}</h2>
                <button
                    type="button"
                    class="button button-small"
                    data-dismiss=testid
                    on:click=move |_| on_dismiss.run(())
                >
                    "Done"
                </button>
            </div>
            <p class="notice">
                <strong>"Copy it now."</strong>
                " Postern keeps only a hash of it and cannot show it again."
            </p>
            {children()}
        </section>
    }
}

/// What a page shows instead of an empty table: what is missing and what to do next.
#[component]
fn EmptyState(
    /// The block's `data-testid`.
    testid: &'static str,
    /// What is missing, such as "No connectors yet".
    title: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <div class="empty-state" data-testid=testid>
            <h3>{title}</h3>
            {children()}
        </div>
    }
}

#[component]
fn SectionHead(#[prop(into)] title: String, #[prop(into)] summary: String) -> impl IntoView {
    view! {
        <header class="section-head">
            <h1>{title}</h1>
            <p class="muted">{summary}</p>
        </header>
    }
}

/// `/admin`.
#[component]
pub fn AdminOverview() -> impl IntoView {
    set_title("Admin overview");
    let overview = LocalResource::new(api::overview);
    view! {
        <SectionHead title="Overview" summary="This Postern server at a glance." />
        {move || {
            fetched(
                overview.get(),
                move || overview.refetch(),
                |overview| view! { <OverviewCards overview /> }.into_any(),
            )
        }}
    }
}

#[component]
fn OverviewCards(overview: Overview) -> impl IntoView {
    view! {
        <div class="stat-grid">
            <A href="/admin/users" attr:class="stat card" attr:data-testid="overview-users">
                <span class="stat-label">"Users"</span>
                <span class="stat-value">{overview.users}</span>
            </A>
            <A href="/admin/sessions" attr:class="stat card" attr:data-testid="overview-sessions">
                <span class="stat-label">"Active Sessions"</span>
                <span class="stat-value">{overview.active_sessions}</span>
            </A>
            <A href="/admin/providers" attr:class="stat card" attr:data-testid="overview-providers">
                <span class="stat-label">"Sign-in providers"</span>
                <span class="stat-value">{overview.providers}</span>
            </A>
            <div class="stat card" data-testid="overview-version">
                <span class="stat-label">"Server version"</span>
                <span class="stat-value">{overview.version}</span>
            </div>
        </div>
        <div class="card detail">
            <h2 class="section-label">"Public URL"</h2>
            <p>
                <code class="selectable" data-testid="overview-public-url">
                    {overview.public_url}
                </code>
            </p>
            <p class="muted">
                "People, connectors and the CLI reach Postern here. Redirect URIs registered with \
                 identity providers start with it."
            </p>
        </div>
    }
}

/// `/admin/users`.
#[component]
pub fn AdminUsers() -> impl IntoView {
    set_title("Users");
    let users = LocalResource::new(api::users);
    view! {
        <SectionHead
            title="Users"
            summary="Everyone who has signed in through a provider, and the local accounts."
        />
        {move || {
            fetched(
                users.get(),
                move || users.refetch(),
                |users| view! { <UsersTable users /> }.into_any(),
            )
        }}
        <CreateUserForm on_created=Callback::new(move |()| users.refetch()) />
    }
}

#[component]
fn UsersTable(users: Vec<UserSummary>) -> impl IntoView {
    if users.is_empty() {
        return view! {
            <div class="empty-state">
                <h3>"No users yet"</h3>
            </div>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap card">
            <table data-testid="users-table">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Source"</th>
                        <th scope="col">"Groups"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last sign-in"</th>
                    </tr>
                </thead>
                <tbody>
                    {users
                        .into_iter()
                        .map(|user| {
                            let row_key = user.username.clone();
                            view! {
                                <tr data-user=row_key>
                                    <td>
                                        <span class="cell-main nowrap">{user.name}</span>
                                        <span class="cell-sub">{user.username}</span>
                                    </td>
                                    <td>{user.email.unwrap_or_else(|| "—".to_owned())}</td>
                                    <td>
                                        <span class=format!(
                                            "badge badge-{}",
                                            user.role.as_str(),
                                        )>{user.role.as_str()}</span>
                                    </td>
                                    <td class="nowrap">{source_label(&user.source)}</td>
                                    <td>
                                        {if user.groups.is_empty() {
                                            view! { <span class="muted">"—"</span> }.into_any()
                                        } else {
                                            view! {
                                                <ul class="chips chips-compact">
                                                    {user
                                                        .groups
                                                        .into_iter()
                                                        .map(|group| {
                                                            view! { <li class="chip">{group}</li> }
                                                        })
                                                        .collect_view()}
                                                </ul>
                                            }
                                                .into_any()
                                        }}
                                    </td>
                                    <td>
                                        <Timestamp value=user.created_at />
                                    </td>
                                    <td>
                                        {match user.last_sign_in_at {
                                            Some(at) => view! { <Timestamp value=at /> }.into_any(),
                                            None => {
                                                view! { <span class="muted">"Never"</span> }
                                                    .into_any()
                                            }
                                        }}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// Adds a local account; `on_created` refreshes the table.
#[component]
fn CreateUserForm(on_created: Callback<()>) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let role = RwSignal::new(Role::User);
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<String>);

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if pending.get_untracked() {
            return;
        }
        created.set(None);
        let request = CreateLocalUserRequest {
            username: username.get_untracked().trim().to_owned(),
            name: name.get_untracked().trim().to_owned(),
            email: Some(email.get_untracked().trim().to_owned()).filter(|email| !email.is_empty()),
            password: password.get_untracked(),
            role: role.get_untracked(),
        };
        let problem = if request.username.is_empty() {
            Some("Choose a username.".to_owned())
        } else if request.name.is_empty() {
            Some("Enter a display name.".to_owned())
        } else {
            check_new_password(&request.password).err()
        };
        if let Some(problem) = problem {
            error.set(Some(problem));
            return;
        }
        pending.set(true);
        error.set(None);
        spawn_local(async move {
            match api::create_user(&request).await {
                Ok(user) => {
                    created.set(Some(format!("Added {} ({}).", user.name, user.username)));
                    username.set(String::new());
                    name.set(String::new());
                    email.set(String::new());
                    password.set(String::new());
                    role.set(Role::User);
                    on_created.run(());
                }
                Err(failure) => error.set(Some(failure.message())),
            }
            pending.set(false);
        });
    };

    view! {
        <section class="card form-card" aria-labelledby="create-user-heading">
            <h2 id="create-user-heading">"Add a local account"</h2>
            <p class="muted">
                "Local accounts sign in with a password. Keep them for break-glass access; \
                 everyone else should use single sign-on."
            </p>
            <form id="create-user" class="form form-grid" on:submit=submit novalidate>
                <div class="field">
                    <label for="create-username">"Username"</label>
                    <input
                        id="create-username"
                        name="username"
                        type="text"
                        autocomplete="off"
                        autocapitalize="none"
                        spellcheck="false"
                        required
                        bind:value=username
                    />
                </div>
                <div class="field">
                    <label for="create-name">"Display name"</label>
                    <input
                        id="create-name"
                        name="name"
                        type="text"
                        autocomplete="off"
                        required
                        bind:value=name
                    />
                </div>
                <div class="field">
                    <label for="create-email">
                        "Email " <span class="optional">"(optional)"</span>
                    </label>
                    <input
                        id="create-email"
                        name="email"
                        type="email"
                        autocomplete="off"
                        bind:value=email
                    />
                </div>
                <div class="field">
                    <label for="create-password">"Initial password"</label>
                    <input
                        id="create-password"
                        name="password"
                        type="password"
                        autocomplete="new-password"
                        aria-describedby="create-password-hint"
                        required
                        bind:value=password
                    />
                    <p class="hint" id="create-password-hint">
                        {format!("At least {MIN_PASSWORD_CHARS} characters.")}
                    </p>
                </div>
                <div class="field">
                    <label for="create-role">"Role"</label>
                    <select
                        id="create-role"
                        name="role"
                        prop:value=move || role.get().as_str()
                        on:change=move |event| {
                            role.set(role_from_value(&event_target_value(&event)));
                        }
                    >
                        <option value=Role::User.as_str()>"User"</option>
                        <option value=Role::Admin.as_str()>"Admin"</option>
                    </select>
                </div>
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
                {move || {
                    created
                        .get()
                        .map(|message| {
                            view! {
                                <p class="success form-feedback" role="status">
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
                        {move || if pending.get() { "Adding…" } else { "Add account" }}
                    </button>
                </div>
            </form>
        </section>
    }
}

/// The role a `<select>` value names; anything unexpected is the less powerful role.
fn role_from_value(value: &str) -> Role {
    if value == Role::Admin.as_str() {
        Role::Admin
    } else {
        Role::User
    }
}

/// `/admin/sessions`.
#[component]
pub fn AdminSessions() -> impl IntoView {
    set_title("Sessions");
    let sessions = LocalResource::new(api::sessions);
    let revoking = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    let revoke = Callback::new(move |summary: SessionSummary| {
        revoking.set(Some(summary.id.clone()));
        error.set(None);
        spawn_local(async move {
            match api::revoke_session(&summary.id).await {
                // The cookie in this browser is now worthless; start over at sign-in.
                Ok(()) if summary.current => load_page(LOGIN),
                Ok(()) => sessions.refetch(),
                Err(failure) => error.set(Some(failure.message())),
            }
            revoking.set(None);
        });
    });
    view! {
        <SectionHead
            title="Sessions"
            summary="Browsers and CLIs signed in right now. Revoking one signs it out at once."
        />
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
        {move || {
            fetched(
                sessions.get(),
                move || sessions.refetch(),
                move |sessions| view! { <SessionsTable sessions revoking revoke /> }.into_any(),
            )
        }}
    }
}

#[component]
fn SessionsTable(
    sessions: Vec<SessionSummary>,
    revoking: RwSignal<Option<String>>,
    revoke: Callback<SessionSummary>,
) -> impl IntoView {
    if sessions.is_empty() {
        return view! {
            <div class="empty-state">
                <h3>"No active Sessions"</h3>
            </div>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap card">
            <table data-testid="sessions-table">
                <thead>
                    <tr>
                        <th scope="col">"User"</th>
                        <th scope="col">"Signed in"</th>
                        <th scope="col">"Last seen"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Client"</th>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>
                    {sessions
                        .into_iter()
                        .map(|summary| view! { <SessionRow summary revoking revoke /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn SessionRow(
    summary: SessionSummary,
    revoking: RwSignal<Option<String>>,
    revoke: Callback<SessionSummary>,
) -> impl IntoView {
    let id = summary.id.clone();
    let busy = {
        let id = id.clone();
        move || revoking.get().as_deref() == Some(id.as_str())
    };
    let busy_label = busy.clone();
    let label = format!(
        "Revoke the Session of {} ({})",
        summary.name, summary.username
    );
    let user_line = format!("{} · {}", summary.username, source_label(&summary.source));
    let client = summary
        .user_agent
        .clone()
        .unwrap_or_else(|| "Unknown client".to_owned());
    let address = summary.address.clone().unwrap_or_default();
    let client_title = client.clone();
    let row_key = id.clone();
    let row = summary.clone();
    view! {
        <tr data-session=row_key class:current=summary.current>
            <td>
                <span class="cell-main nowrap">{summary.name}</span>
                <span class="cell-sub">{user_line}</span>
                {summary
                    .current
                    .then(|| view! { <span class="badge badge-current">"This Session"</span> })}
            </td>
            <td>
                <Timestamp value=summary.created_at />
            </td>
            <td>
                <Timestamp value=summary.last_seen_at />
            </td>
            <td>
                <Timestamp value=summary.expires_at />
            </td>
            <td>
                <span class="cell-main truncate" title=client_title>
                    {client}
                </span>
                <span class="cell-sub mono">{address}</span>
            </td>
            <td class="cell-actions">
                <button
                    type="button"
                    class="button button-small button-danger"
                    data-revoke=id
                    aria-label=label
                    disabled=busy
                    on:click=move |_| revoke.run(row.clone())
                >
                    {move || if busy_label() { "Revoking…" } else { "Revoke" }}
                </button>
            </td>
        </tr>
    }
}

/// `/admin/providers`.
#[component]
pub fn AdminProviders() -> impl IntoView {
    set_title("Sign-in providers");
    let providers = LocalResource::new(api::providers);
    view! {
        <SectionHead
            title="Sign-in providers"
            summary="OpenID Connect identity providers people sign in with."
        />
        {move || {
            fetched(
                providers.get(),
                move || providers.refetch(),
                |providers| view! { <ProvidersTable providers /> }.into_any(),
            )
        }}
    }
}

#[component]
fn ProvidersTable(providers: Vec<ProviderSummary>) -> impl IntoView {
    if providers.is_empty() {
        return view! { <NoProviders /> }.into_any();
    }
    view! {
        <div class="table-wrap card">
            <table data-testid="providers-table">
                <thead>
                    <tr>
                        <th scope="col">"Provider"</th>
                        <th scope="col">"Issuer and client id"</th>
                        <th scope="col">"Groups"</th>
                        <th scope="col">"Redirect URI to register"</th>
                    </tr>
                </thead>
                <tbody>
                    {providers
                        .into_iter()
                        .map(|provider| view! { <ProviderRow provider /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <p class="muted">
            "Providers are set in the server's configuration file; changes take effect when the \
             server restarts."
        </p>
    }
    .into_any()
}

#[component]
fn ProviderRow(provider: ProviderSummary) -> impl IntoView {
    let admin_groups = if provider.admin_groups.is_empty() {
        view! { <span class="cell-sub">"No admin groups"</span> }.into_any()
    } else {
        view! {
            <span class="cell-sub">"Admins: "</span>
            <ul class="chips chips-compact">
                {provider
                    .admin_groups
                    .into_iter()
                    .map(|group| view! { <li class="chip">{group}</li> })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    let row_key = provider.id.clone();
    view! {
        <tr data-provider=row_key>
            <td>
                <span class="cell-main nowrap">{provider.name}</span>
                <span class="cell-sub mono">{provider.id}</span>
            </td>
            <td>
                <span class="cell-plain mono wrap-anywhere">{provider.issuer}</span>
                <span class="cell-sub">"Client id " <code>{provider.client_id}</code></span>
            </td>
            <td>
                <span class="cell-plain">"Claim " <code>{provider.groups_claim}</code></span>
                {admin_groups}
            </td>
            <td class="cell-uri">
                <code class="selectable" data-testid="redirect-uri">
                    {provider.redirect_uri}
                </code>
            </td>
        </tr>
    }
}

/// How to add the first provider, with this server's redirect URI filled in.
#[component]
fn NoProviders() -> impl IntoView {
    let origin = window().location().origin().unwrap_or_default();
    let example_id = "corp";
    let example = format!(
        "[[oidc]]\n\
         id = \"{example_id}\"\n\
         name = \"Corp SSO\"\n\
         issuer = \"https://id.example.com\"\n\
         client_id = \"postern\"\n\
         client_secret_file = \"/etc/postern/corp-secret\"\n\
         admin_groups = [\"postern-admins\"]"
    );
    let redirect_uri = format!("{origin}{}", oidc_callback(example_id));
    view! {
        <div class="empty-state empty-state-left" data-testid="providers-empty">
            <h3>"No sign-in providers yet"</h3>
            <p>
                "People sign in with local accounts only. To add single sign-on, register Postern \
                 as an OpenID Connect client with your identity provider, add an "
                <code>"[[oidc]]"</code>
                " section to the server's configuration file and restart the server:"
            </p>
            <pre class="code-block selectable"><code>{example}</code></pre>
            <p>
                "Register this redirect URI with the provider, with your "
                <code>"id"</code>
                " in place of "
                <code>{example_id}</code>
                ":"
            </p>
            <p>
                <code class="selectable">{redirect_uri}</code>
            </p>
            <p class="muted">
                "The client secret can also come from the environment variable "
                <code>"POSTERN_OIDC_SECRET_CORP"</code>
                ". Members of the "
                <code>"admin_groups"</code>
                " get the admin role."
            </p>
        </div>
    }
}
