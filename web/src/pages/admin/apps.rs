//! `/admin/apps`: publish, edit and delete Apps, say who may use them and, for SSH Apps, whom
//! people log in as, whether their keystrokes are recorded, and the pinned host key.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use protocol::api::{AllowList, AppKind, AppRequest, AppSummary, ConnectorSummary};
use protocol::ssh::{PrincipalRule, PrincipalSource, SshSettings};

use super::{ConfirmAction, EmptyState, SectionHead, action_error, fetched};
use crate::api::{self, ApiError};
use crate::components::set_title;
use crate::names::check_name;

/// How long access to a new App lasts unless the admin says otherwise (the server's default).
const DEFAULT_HOURS: &str = "8";
/// The shortest and longest access the server grants, in seconds: a minute and 30 days.
const DURATION_SECONDS: std::ops::RangeInclusive<u64> = 60..=30 * 86_400;

const KINDS: [AppKind; 3] = [AppKind::Ssh, AppKind::Rdp, AppKind::Tcp];

/// `/admin/apps`.
#[component]
pub fn AdminApps() -> impl IntoView {
    set_title("Apps");
    let apps = LocalResource::new(api::apps);
    let connectors = LocalResource::new(api::connectors);
    let form = AppForm::new();
    let deleting = RwSignal::new(None::<String>);
    let repinning = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);

    let delete = Callback::new(move |name: String| {
        deleting.set(Some(name.clone()));
        error.set(None);
        spawn_local(async move {
            match api::delete_app(&name).await {
                Ok(()) => {
                    if form.editing.get_untracked().as_deref() == Some(name.as_str()) {
                        form.reset();
                    }
                    apps.refetch();
                }
                Err(failure) => error.set(Some(failure.message())),
            }
            deleting.set(None);
        });
    });
    let repin = Callback::new(move |name: String| {
        repinning.set(Some(name.clone()));
        error.set(None);
        spawn_local(async move {
            match api::forget_host_key(&name).await {
                Ok(_) => apps.refetch(),
                Err(failure) => error.set(Some(failure.message())),
            }
            repinning.set(None);
        });
    });
    let edit = Callback::new(move |app: AppSummary| form.edit(&app));
    let actions = RowActions {
        deleting,
        repinning,
        edit,
        delete,
        repin,
    };
    let has_connectors = Signal::derive(move || {
        connectors
            .get()
            .and_then(Result::ok)
            .is_none_or(|connectors| connectors.iter().any(|connector| !connector.revoked))
    });

    view! {
        <SectionHead
            title="Apps"
            summary="SSH, RDP and TCP services behind your connectors, and who may use each."
        />
        {action_error(error)}
        {move || {
            fetched(
                apps.get(),
                move || apps.refetch(),
                move |apps| view! { <AppsTable apps has_connectors actions /> }.into_any(),
            )
        }}
        <AppFormCard form connectors on_saved=Callback::new(move |()| apps.refetch()) />
    }
}

#[component]
fn AppsTable(
    apps: Vec<AppSummary>,
    has_connectors: Signal<bool>,
    actions: RowActions,
) -> impl IntoView {
    if apps.is_empty() {
        return view! {
            <EmptyState testid="admin-apps-empty" title="No apps yet">
                {move || {
                    if has_connectors.get() {
                        view! {
                            <p>
                                "Publish an SSH, RDP or TCP service that one of your connectors \
                                 can reach with the form below, and choose who may use it."
                            </p>
                        }
                            .into_any()
                    } else {
                        view! {
                            <p>
                                "Apps reach their services through a connector. Create a \
                                 connector and run it on a host that can reach your services, \
                                 then publish apps through it here."
                            </p>
                            <A href="/admin/connectors" attr:class="button button-primary">
                                "Create a connector"
                            </A>
                        }
                            .into_any()
                    }
                }}
            </EmptyState>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap card">
            <table data-testid="apps-table">
                <thead>
                    <tr>
                        <th scope="col">"App"</th>
                        <th scope="col">"Service"</th>
                        <th scope="col">"Access lasts"</th>
                        <th scope="col">"Who may use it"</th>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>
                    {apps
                        .into_iter()
                        .map(|app| view! { <AppRow app actions /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// What a row of the table can do, and which rows are busy doing it.
#[derive(Clone, Copy)]
struct RowActions {
    /// The App being deleted.
    deleting: RwSignal<Option<String>>,
    /// The SSH App whose host key is being forgotten.
    repinning: RwSignal<Option<String>>,
    edit: Callback<AppSummary>,
    delete: Callback<String>,
    /// Forgets an SSH App's pinned host key.
    repin: Callback<String>,
}

#[component]
fn AppRow(app: AppSummary, actions: RowActions) -> impl IntoView {
    let RowActions {
        deleting,
        repinning,
        edit,
        delete,
        repin,
    } = actions;
    let name = app.name.clone();
    let busy = {
        let name = name.clone();
        Signal::derive(move || deleting.get().as_deref() == Some(name.as_str()))
    };
    let repin_busy = {
        let name = name.clone();
        Signal::derive(move || repinning.get().as_deref() == Some(name.as_str()))
    };
    let is_ssh = app.kind == AppKind::Ssh;
    let login = is_ssh.then(|| login_summary(&app.ssh.clone().unwrap_or_default()));
    let record_input = app.ssh.as_ref().is_some_and(|ssh| ssh.record_input);
    let host_key = is_ssh.then(|| match app.host_key_fingerprint.clone() {
        Some(fingerprint) => view! {
            <span class="cell-sub host-key" data-testid="host-key">
                "Host key " <code class="selectable">{fingerprint}</code>
            </span>
        }
        .into_any(),
        None => view! {
            <span class="cell-sub host-key" data-testid="host-key-unpinned">
                "Host key pinned at the first connection"
            </span>
        }
        .into_any(),
    });
    let repin_action = (is_ssh && app.host_key_fingerprint.is_some()).then(|| {
        let repin_name = name.clone();
        view! {
            <ConfirmAction
                action="repin"
                label="Re-pin"
                busy_label="Forgetting…"
                aria_label=format!("Re-pin the host key of {name}")
                question=format!(
                    "Forget the host key of {name}? The next connection trusts whatever key \
                     the host presents and pins it.",
                )
                busy=repin_busy
                on_confirm=Callback::new(move |()| repin.run(repin_name.clone()))
            />
        }
    });
    let duration = format!("{} h", hours_text(app.session_duration_seconds));
    let via = format!("via {}", app.connector);
    let row = app.clone();
    let delete_name = name.clone();
    let row_key = name.clone();
    view! {
        <tr data-app=row_key>
            <td>
                <span class="cell-main nowrap">{app.name}</span>
                <span class=format!("badge badge-kind badge-{}", app.kind.as_str())>
                    {app.kind.as_str()}
                </span>
                {login.map(|login| view! { <span class="cell-sub">{login}</span> })}
                {record_input
                    .then(|| {
                        view! {
                            <span class="badge badge-input" data-testid="records-input">
                                "Keystrokes recorded"
                            </span>
                        }
                    })}
            </td>
            <td>
                <span class="cell-plain mono nowrap">{app.service_url}</span>
                <span class="cell-sub">{via}</span>
                {host_key}
            </td>
            <td class="nowrap">{duration}</td>
            <td>
                <AllowChips allow=app.allow />
            </td>
            <td class="cell-actions">
                <div class="row-actions">
                    <button
                        type="button"
                        class="button button-small"
                        data-action="edit"
                        aria-label=format!("Edit {name}")
                        on:click=move |_| edit.run(row.clone())
                    >
                        "Edit"
                    </button>
                    {repin_action}
                    <ConfirmAction
                        action="delete"
                        label="Delete"
                        busy_label="Deleting…"
                        aria_label=format!("Delete {name}")
                        question=format!("Delete {name}? People lose access to it at once.")
                        busy
                        on_confirm=Callback::new(move |()| delete.run(delete_name.clone()))
                    />
                </div>
            </td>
        </tr>
    }
}

/// The allow rules, compactly: emails as they are, domains as `*@domain`, groups marked.
#[component]
fn AllowChips(allow: AllowList) -> impl IntoView {
    let AllowList {
        emails,
        email_domains,
        groups,
    } = allow;
    if emails.is_empty() && email_domains.is_empty() && groups.is_empty() {
        return view! {
            <span class="cell-sub" data-testid="allow-nobody">
                "No one: add an email, domain or group"
            </span>
        }
        .into_any();
    }
    view! {
        <ul class="chips chips-compact">
            {emails
                .into_iter()
                .map(|email| view! { <li class="chip" title="Email">{email}</li> })
                .collect_view()}
            {email_domains
                .into_iter()
                .map(|domain| {
                    view! {
                        <li class="chip" title="Email domain">
                            {format!("*@{domain}")}
                        </li>
                    }
                })
                .collect_view()}
            {groups
                .into_iter()
                .map(|group| {
                    view! {
                        <li class="chip chip-group" title="Group">
                            <span class="chip-kind">"group"</span>
                            {group}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

/// The form's fields, shared by the page (which fills them for Edit) and the form.
#[derive(Clone, Copy)]
struct AppForm {
    name: RwSignal<String>,
    kind: RwSignal<AppKind>,
    connector: RwSignal<String>,
    service_url: RwSignal<String>,
    hours: RwSignal<String>,
    emails: RwSignal<String>,
    email_domains: RwSignal<String>,
    groups: RwSignal<String>,
    principal_source: RwSignal<SourceChoice>,
    claim: RwSignal<String>,
    principals: RwSignal<String>,
    record_input: RwSignal<bool>,
    /// The name of the App being edited, or `None` when the form adds one.
    editing: RwSignal<Option<String>>,
    /// Focused when Edit fills the form, which also scrolls it into view.
    name_input: NodeRef<leptos::html::Input>,
    error: RwSignal<Option<String>>,
    saved: RwSignal<Option<String>>,
}

impl AppForm {
    fn new() -> AppForm {
        let blank = AppFields::blank();
        AppForm {
            name: RwSignal::new(blank.name),
            kind: RwSignal::new(blank.kind),
            connector: RwSignal::new(blank.connector),
            service_url: RwSignal::new(blank.service_url),
            hours: RwSignal::new(blank.hours),
            emails: RwSignal::new(blank.emails),
            email_domains: RwSignal::new(blank.email_domains),
            groups: RwSignal::new(blank.groups),
            principal_source: RwSignal::new(blank.principal_source),
            claim: RwSignal::new(blank.claim),
            principals: RwSignal::new(blank.principals),
            record_input: RwSignal::new(blank.record_input),
            editing: RwSignal::new(None),
            name_input: NodeRef::new(),
            error: RwSignal::new(None),
            saved: RwSignal::new(None),
        }
    }

    fn fields(&self) -> AppFields {
        AppFields {
            name: self.name.get_untracked(),
            kind: self.kind.get_untracked(),
            connector: self.connector.get_untracked(),
            service_url: self.service_url.get_untracked(),
            hours: self.hours.get_untracked(),
            emails: self.emails.get_untracked(),
            email_domains: self.email_domains.get_untracked(),
            groups: self.groups.get_untracked(),
            principal_source: self.principal_source.get_untracked(),
            claim: self.claim.get_untracked(),
            principals: self.principals.get_untracked(),
            record_input: self.record_input.get_untracked(),
        }
    }

    fn fill(&self, fields: AppFields) {
        self.name.set(fields.name);
        self.kind.set(fields.kind);
        self.connector.set(fields.connector);
        self.service_url.set(fields.service_url);
        self.hours.set(fields.hours);
        self.emails.set(fields.emails);
        self.email_domains.set(fields.email_domains);
        self.groups.set(fields.groups);
        self.principal_source.set(fields.principal_source);
        self.claim.set(fields.claim);
        self.principals.set(fields.principals);
        self.record_input.set(fields.record_input);
    }

    fn edit(&self, app: &AppSummary) {
        self.fill(AppFields::from_summary(app));
        self.editing.set(Some(app.name.clone()));
        self.error.set(None);
        self.saved.set(None);
        if let Some(input) = self.name_input.get_untracked() {
            let _ = input.focus();
        }
    }

    /// Back to adding an App; the connector stays chosen, as the next App likely uses it too.
    fn reset(&self) {
        let connector = self.connector.get_untracked();
        self.fill(AppFields {
            connector,
            ..AppFields::blank()
        });
        self.editing.set(None);
        self.error.set(None);
    }
}

/// Adds an App or, after Edit, replaces one; `on_saved` refreshes the table.
#[component]
fn AppFormCard(
    form: AppForm,
    connectors: LocalResource<Result<Vec<ConnectorSummary>, ApiError>>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let pending = RwSignal::new(false);
    // With no connector chosen yet, take the first live one: most servers have just one.
    Effect::new(move || {
        if let Some(Ok(list)) = connectors.get()
            && form.connector.get_untracked().is_empty()
            && let Some(first) = list.iter().find(|connector| !connector.revoked)
        {
            form.connector.set(first.name.clone());
        }
    });

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if pending.get_untracked() {
            return;
        }
        form.saved.set(None);
        let request = match form.fields().into_request() {
            Ok(request) => request,
            Err(problem) => {
                form.error.set(Some(problem));
                return;
            }
        };
        pending.set(true);
        form.error.set(None);
        let editing = form.editing.get_untracked();
        spawn_local(async move {
            let outcome = match &editing {
                Some(name) => api::update_app(name, &request).await,
                None => api::create_app(&request).await,
            };
            match outcome {
                Ok(app) => {
                    let message = if editing.is_some() {
                        format!("Saved {}.", app.name)
                    } else {
                        format!("Added {}.", app.name)
                    };
                    form.reset();
                    form.saved.set(Some(message));
                    on_saved.run(());
                }
                Err(failure) => form.error.set(Some(failure.message())),
            }
            pending.set(false);
        });
    };
    let cancel_edit = move |_| {
        form.reset();
        form.saved.set(None);
    };
    let heading = move || match form.editing.get() {
        Some(name) => format!("Edit {name}"),
        None => "Add an app".to_owned(),
    };
    let submit_label = move || match (pending.get(), form.editing.get().is_some()) {
        (true, true) => "Saving…",
        (true, false) => "Adding…",
        (false, true) => "Save changes",
        (false, false) => "Add app",
    };

    view! {
        <section
            class="card form-card"
            class:editing=move || form.editing.get().is_some()
            aria-labelledby="app-form-heading"
        >
            <h2 id="app-form-heading">{heading}</h2>
            <p class="muted">
                "Postern reaches the service through the connector; nobody may use the app until \
                 an email, domain or group below allows them."
            </p>
            <form id="app-form" class="form form-grid" on:submit=submit novalidate>
                <div class="field">
                    <label for="app-name">"Name"</label>
                    <input
                        id="app-name"
                        name="name"
                        type="text"
                        autocomplete="off"
                        autocapitalize="none"
                        spellcheck="false"
                        placeholder="build-box"
                        aria-describedby="app-name-hint"
                        required
                        node_ref=form.name_input
                        bind:value=form.name
                    />
                    <p class="hint" id="app-name-hint">
                        "Lowercase letters, digits and dashes; people type it in "
                        <code>"--app"</code>
                        "."
                    </p>
                </div>
                <div class="field">
                    <label for="app-kind">"Kind"</label>
                    <select
                        id="app-kind"
                        name="kind"
                        on:change=move |event| {
                            let kind = kind_from_value(&event_target_value(&event));
                            form.kind.set(kind);
                            form.service_url.update(|url| *url = with_scheme(url, kind));
                        }
                    >
                        {KINDS
                            .into_iter()
                            .map(|kind| {
                                view! {
                                    <option
                                        value=kind.as_str()
                                        prop:selected=move || form.kind.get() == kind
                                    >
                                        {kind_label(kind)}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="app-connector">"Connector"</label>
                    <ConnectorSelect form connectors />
                </div>
                <div class="field">
                    <label for="app-service-url">"Service URL"</label>
                    <input
                        id="app-service-url"
                        name="service_url"
                        type="text"
                        autocomplete="off"
                        autocapitalize="none"
                        spellcheck="false"
                        placeholder=move || service_url_placeholder(form.kind.get())
                        aria-describedby="app-service-url-hint"
                        required
                        bind:value=form.service_url
                    />
                    <p class="hint" id="app-service-url-hint">
                        "Where the connector dials, as seen from its host."
                    </p>
                </div>
                <div class="field">
                    <label for="app-hours">"Access lasts (hours)"</label>
                    <input
                        id="app-hours"
                        name="hours"
                        type="text"
                        inputmode="decimal"
                        autocomplete="off"
                        aria-describedby="app-hours-hint"
                        bind:value=form.hours
                    />
                    <p class="hint" id="app-hours-hint">
                        "How long a sign-in to this app lasts, up to 720 hours (30 days)."
                    </p>
                </div>
                <fieldset class="field-group">
                    <legend>"Who may use it"</legend>
                    <p class="hint">
                        "Anyone matching any entry. Separate entries with commas or new lines."
                    </p>
                    <div class="form-grid">
                        <div class="field">
                            <label for="app-emails">"Emails"</label>
                            <textarea
                                id="app-emails"
                                name="emails"
                                rows="3"
                                spellcheck="false"
                                placeholder="ada@example.com"
                                bind:value=form.emails
                            ></textarea>
                        </div>
                        <div class="field">
                            <label for="app-email-domains">"Email domains"</label>
                            <textarea
                                id="app-email-domains"
                                name="email_domains"
                                rows="3"
                                spellcheck="false"
                                placeholder="example.com"
                                bind:value=form.email_domains
                            ></textarea>
                        </div>
                        <div class="field">
                            <label for="app-groups">"Groups"</label>
                            <textarea
                                id="app-groups"
                                name="groups"
                                rows="3"
                                spellcheck="false"
                                placeholder="engineering"
                                bind:value=form.groups
                            ></textarea>
                        </div>
                    </div>
                </fieldset>
                {move || (form.kind.get() == AppKind::Ssh).then(|| view! { <SshFields form /> })}
                {move || {
                    form.error
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
                    form.saved
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
                    {move || {
                        form.editing
                            .get()
                            .is_some()
                            .then(|| {
                                view! {
                                    <button
                                        type="button"
                                        id="app-form-cancel"
                                        class="button"
                                        on:click=cancel_edit
                                    >
                                        "Cancel"
                                    </button>
                                }
                            })
                    }}
                    <button
                        type="submit"
                        class="button button-primary"
                        disabled=move || pending.get()
                    >
                        {submit_label}
                    </button>
                </div>
            </form>
        </section>
    }
}

/// The SSH App's settings: whom people log in as, and whether their keystrokes are recorded.
#[component]
fn SshFields(form: AppForm) -> impl IntoView {
    view! {
        <fieldset class="field-group" data-testid="app-ssh-settings">
            <legend>"Log in as"</legend>
            <p class="hint">
                "Postern signs a short-lived certificate for the user people log in as on the \
                 host; its sshd must trust Postern's SSH CA."
            </p>
            <div class="choice-list">
                {SourceChoice::ALL
                    .into_iter()
                    .map(|choice| {
                        let id = format!("app-principal-source-{}", choice.value());
                        let hint_id = format!("{id}-hint");
                        let label_for = id.clone();
                        view! {
                            <label class="checkbox choice" for=label_for>
                                <input
                                    type="radio"
                                    id=id
                                    name="principal_source"
                                    value=choice.value()
                                    aria-describedby=hint_id.clone()
                                    prop:checked=move || form.principal_source.get() == choice
                                    on:change=move |_| form.principal_source.set(choice)
                                />
                                <span>
                                    <span class="choice-label">{choice.label()}</span>
                                    <span class="cell-sub" id=hint_id>
                                        {choice.hint()}
                                    </span>
                                </span>
                            </label>
                        }
                    })
                    .collect_view()}
            </div>
            {move || match form.principal_source.get() {
                SourceChoice::EmailLocalPart => ().into_any(),
                SourceChoice::Claim => {
                    view! {
                        <div class="field field-narrow">
                            <label for="app-principal-claim">"Claim"</label>
                            <input
                                id="app-principal-claim"
                                name="claim"
                                type="text"
                                autocomplete="off"
                                autocapitalize="none"
                                spellcheck="false"
                                placeholder="preferred_username"
                                aria-describedby="app-principal-claim-hint"
                                bind:value=form.claim
                            />
                            <p class="hint" id="app-principal-claim-hint">
                                "A claim of the ID token holding one user name or a list of them."
                            </p>
                        </div>
                    }
                        .into_any()
                }
                SourceChoice::List => {
                    view! {
                        <div class="field">
                            <label for="app-principals">"Users"</label>
                            <textarea
                                id="app-principals"
                                name="principals"
                                rows="4"
                                spellcheck="false"
                                class="mono"
                                placeholder="deploy\nroot: group:admins, email:ada@example.com"
                                aria-describedby="app-principals-hint"
                                bind:value=form.principals
                            ></textarea>
                            <p class="hint" id="app-principals-hint">
                                "One user a line, in the order offered. A user alone is for \
                                 everyone who may use the app; after a colon, narrow it with "
                                <code>"group:NAME"</code>
                                ", "
                                <code>"email:ADDRESS"</code>
                                " and "
                                <code>"domain:NAME"</code>
                                ", separated by commas."
                            </p>
                        </div>
                    }
                        .into_any()
                }
            }}
            <label class="checkbox record-input" for="app-record-input">
                <input
                    type="checkbox"
                    id="app-record-input"
                    name="record_input"
                    aria-describedby="app-record-input-warning"
                    prop:checked=move || form.record_input.get()
                    on:change=move |event| form.record_input.set(event_target_checked(&event))
                />
                <span class="choice-label">"Record keystrokes"</span>
            </label>
            <p
                class="hint"
                class:notice=move || form.record_input.get()
                id="app-record-input-warning"
            >
                "The server records browser sessions as the screen showed them (unless its \
                 configuration turns recording off). Recording keystrokes as well stores \
                 everything people type, which can include passwords typed at prompts that do \
                 not echo them (sudo, su, ssh)."
            </p>
        </fieldset>
    }
}

/// The live Connectors to choose from; a revoked one stays listed only while the App being
/// edited still names it, so the form shows the truth.
#[component]
fn ConnectorSelect(
    form: AppForm,
    connectors: LocalResource<Result<Vec<ConnectorSummary>, ApiError>>,
) -> impl IntoView {
    let choices = move || {
        let chosen = form.connector.get();
        let mut names: Vec<(String, bool)> = match connectors.get() {
            Some(Ok(list)) => list
                .into_iter()
                .filter(|connector| !connector.revoked || connector.name == chosen)
                .map(|connector| (connector.name, connector.revoked))
                .collect(),
            _ => Vec::new(),
        };
        if !chosen.is_empty() && !names.iter().any(|(name, _)| *name == chosen) {
            names.push((chosen.clone(), false));
        }
        names
    };
    let hint = move || match connectors.get() {
        None => view! { <p class="hint">"Loading connectors…"</p> }.into_any(),
        Some(Err(error)) => view! {
            <p class="hint hint-error">
                {format!("The connectors could not be loaded: {}", error.message())}
            </p>
        }
        .into_any(),
        Some(Ok(list)) if list.iter().all(|connector| connector.revoked) => view! {
            <p class="hint" data-testid="app-form-no-connector">
                "No connector yet: " <A href="/admin/connectors">"create one"</A> " first."
            </p>
        }
        .into_any(),
        Some(Ok(_)) => ().into_any(),
    };
    view! {
        <select
            id="app-connector"
            name="connector"
            on:change=move |event| form.connector.set(event_target_value(&event))
        >
            <option value="" disabled=true prop:selected=move || form.connector.get().is_empty()>
                "Choose a connector"
            </option>
            {move || {
                choices()
                    .into_iter()
                    .map(|(name, revoked)| {
                        let label = if revoked {
                            format!("{name} (revoked)")
                        } else {
                            name.clone()
                        };
                        let selected_name = name.clone();
                        view! {
                            <option
                                value=name
                                prop:selected=move || form.connector.get() == selected_name
                            >
                                {label}
                            </option>
                        }
                    })
                    .collect_view()
            }}
        </select>
        {hint}
    }
}

/// The form's text as typed, before it becomes an [`AppRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct AppFields {
    name: String,
    kind: AppKind,
    connector: String,
    service_url: String,
    hours: String,
    emails: String,
    email_domains: String,
    groups: String,
    principal_source: SourceChoice,
    claim: String,
    /// One principal a line, as [`parse_principal_lines`] reads them.
    principals: String,
    record_input: bool,
}

/// Where an SSH App's principals come from, as the form offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceChoice {
    EmailLocalPart,
    Claim,
    List,
}

impl SourceChoice {
    const ALL: [SourceChoice; 3] = [
        SourceChoice::EmailLocalPart,
        SourceChoice::Claim,
        SourceChoice::List,
    ];

    /// The radio button's value and the end of its id.
    fn value(self) -> &'static str {
        match self {
            SourceChoice::EmailLocalPart => "email",
            SourceChoice::Claim => "claim",
            SourceChoice::List => "list",
        }
    }

    fn label(self) -> &'static str {
        match self {
            SourceChoice::EmailLocalPart => "The local part of their email",
            SourceChoice::Claim => "A claim from the identity provider",
            SourceChoice::List => "A list of users",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            SourceChoice::EmailLocalPart => "ada@example.com logs in as ada.",
            SourceChoice::Claim => "Such as preferred_username; a claim with a list offers each.",
            SourceChoice::List => "Named users, each for everyone or for some people only.",
        }
    }
}

impl AppFields {
    fn blank() -> AppFields {
        AppFields {
            name: String::new(),
            kind: AppKind::Ssh,
            connector: String::new(),
            service_url: String::new(),
            hours: DEFAULT_HOURS.to_owned(),
            emails: String::new(),
            email_domains: String::new(),
            groups: String::new(),
            principal_source: SourceChoice::EmailLocalPart,
            claim: String::new(),
            principals: String::new(),
            record_input: false,
        }
    }

    fn from_summary(app: &AppSummary) -> AppFields {
        let ssh = app.ssh.clone().unwrap_or_default();
        let (principal_source, claim, principals) = match ssh.principals {
            PrincipalSource::EmailLocalPart => {
                (SourceChoice::EmailLocalPart, String::new(), String::new())
            }
            PrincipalSource::Claim { claim } => (SourceChoice::Claim, claim, String::new()),
            PrincipalSource::List { principals } => (
                SourceChoice::List,
                String::new(),
                principal_lines(&principals),
            ),
        };
        AppFields {
            name: app.name.clone(),
            kind: app.kind,
            connector: app.connector.clone(),
            service_url: app.service_url.clone(),
            hours: hours_text(app.session_duration_seconds),
            emails: app.allow.emails.join("\n"),
            email_domains: app.allow.email_domains.join("\n"),
            groups: app.allow.groups.join("\n"),
            principal_source,
            claim,
            principals,
            record_input: ssh.record_input,
        }
    }

    /// The request, or what to fix first. The server checks everything again; this catches
    /// the slips a person makes while typing.
    fn into_request(self) -> Result<AppRequest, String> {
        let name = self.name.trim().to_owned();
        check_name("app", &name)?;
        if self.connector.is_empty() {
            return Err("Choose the connector that reaches the service.".to_owned());
        }
        let service_url = self.service_url.trim().to_owned();
        if service_url.is_empty() {
            return Err(format!(
                "Enter the service URL, such as {}.",
                service_url_placeholder(self.kind)
            ));
        }
        let session_duration_seconds = seconds_from_hours(&self.hours)?;
        let ssh = match self.kind {
            AppKind::Ssh => Some(self.ssh_settings()?),
            AppKind::Rdp | AppKind::Tcp => None,
        };
        let email_domains = split_list(&self.email_domains)
            .into_iter()
            // People write domains the way they appear in addresses.
            .map(|domain| domain.trim_start_matches('@').to_owned())
            .collect();
        Ok(AppRequest {
            name,
            kind: self.kind,
            connector: self.connector,
            service_url,
            session_duration_seconds: Some(session_duration_seconds),
            allow: AllowList {
                emails: split_list(&self.emails),
                email_domains,
                groups: split_list(&self.groups),
            },
            ssh,
        })
    }

    fn ssh_settings(&self) -> Result<SshSettings, String> {
        let principals = match self.principal_source {
            SourceChoice::EmailLocalPart => PrincipalSource::EmailLocalPart,
            SourceChoice::Claim => {
                let claim = self.claim.trim();
                if claim.is_empty() || claim.chars().any(char::is_whitespace) {
                    return Err(
                        "Enter the name of the claim that holds the users to log in as, such as \
                         preferred_username."
                            .to_owned(),
                    );
                }
                PrincipalSource::Claim {
                    claim: claim.to_owned(),
                }
            }
            SourceChoice::List => {
                let principals = parse_principal_lines(&self.principals)?;
                if principals.is_empty() {
                    return Err(
                        "Add at least one user to log in as, or choose another source.".to_owned(),
                    );
                }
                PrincipalSource::List { principals }
            }
        };
        Ok(SshSettings {
            principals,
            record_input: self.record_input,
        })
    }
}

/// Reads the principal list: one per line, `name` alone for everyone the App allows, or
/// `name: group:admins, email:ada@example.com, domain:example.com` for only those people
/// (`name=…` works too, as `postern-server admin app` writes it). Blank lines are skipped; the
/// first mistake comes back naming its line.
fn parse_principal_lines(text: &str) -> Result<Vec<PrincipalRule>, String> {
    let mut rules: Vec<PrincipalRule> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let number = index + 1;
        let (name, entries) = line.split_once([':', '=']).unwrap_or((line, ""));
        let name = name.trim();
        if name.is_empty()
            || name.chars().any(|character| {
                character.is_whitespace() || character.is_control() || character == ','
            })
        {
            return Err(format!(
                "Line {number}: start with the user name, without spaces, then a colon before \
                 who may use it."
            ));
        }
        if rules.iter().any(|rule| rule.name == name) {
            return Err(format!("Line {number}: {name} is listed twice."));
        }
        let mut allow = AllowList::default();
        for entry in entries
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let (kind, value) = entry.split_once(':').unwrap_or(("", entry));
            let value = value.trim();
            let list = match kind.trim().to_ascii_lowercase().as_str() {
                _ if value.is_empty() => None,
                "group" => Some((&mut allow.groups, value)),
                "email" => Some((&mut allow.emails, value)),
                // People write domains the way they appear in addresses.
                "domain" => Some((&mut allow.email_domains, value.trim_start_matches('@'))),
                _ => None,
            };
            let Some((list, value)) = list else {
                return Err(format!(
                    "Line {number}: write \"{entry}\" as group:NAME, email:ADDRESS or \
                     domain:NAME."
                ));
            };
            if !list.iter().any(|seen| seen == value) {
                list.push(value.to_owned());
            }
        }
        let everyone = allow == AllowList::default();
        rules.push(PrincipalRule {
            name: name.to_owned(),
            allow: (!everyone).then_some(allow),
        });
    }
    Ok(rules)
}

/// The principal list as the form shows it; [`parse_principal_lines`] reads it back.
fn principal_lines(rules: &[PrincipalRule]) -> String {
    rules
        .iter()
        .map(|rule| {
            let entries: Vec<String> = rule
                .allow
                .iter()
                .flat_map(|allow| {
                    let groups = allow.groups.iter().map(|group| format!("group:{group}"));
                    let emails = allow.emails.iter().map(|email| format!("email:{email}"));
                    let domains = allow
                        .email_domains
                        .iter()
                        .map(|domain| format!("domain:{domain}"));
                    groups.chain(emails).chain(domains).collect::<Vec<_>>()
                })
                .collect();
            if entries.is_empty() {
                rule.name.clone()
            } else {
                format!("{}: {}", rule.name, entries.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How people log in to an SSH App, in a few words for the table.
fn login_summary(ssh: &SshSettings) -> String {
    match &ssh.principals {
        PrincipalSource::EmailLocalPart => "Logs in as the email's local part".to_owned(),
        PrincipalSource::Claim { claim } => format!("Logs in as claim {claim}"),
        PrincipalSource::List { principals } => {
            let names: Vec<&str> = principals.iter().map(|rule| rule.name.as_str()).collect();
            format!("Logs in as {}", names.join(", "))
        }
    }
}

/// Entries separated by commas or new lines, trimmed, without blanks or repeats.
fn split_list(text: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for entry in text.split([',', '\n']).map(str::trim) {
        if !entry.is_empty() && !entries.iter().any(|seen| seen == entry) {
            entries.push(entry.to_owned());
        }
    }
    entries
}

/// Seconds as hours for the form: whole hours plainly, others to four decimals, which turn
/// back into the same whole number of seconds.
fn hours_text(seconds: u64) -> String {
    if seconds.is_multiple_of(3600) {
        return (seconds / 3600).to_string();
    }
    let text = format!("{:.4}", seconds as f64 / 3600.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The hours typed in the form as seconds, within what the server accepts.
fn seconds_from_hours(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(parse_hours(DEFAULT_HOURS).unwrap_or(8 * 3600));
    }
    parse_hours(&text.replace(',', "."))
        .filter(|seconds| DURATION_SECONDS.contains(seconds))
        .ok_or_else(|| {
            "Access must last between 1 minute and 720 hours (30 days); enter hours such as 8 \
             or 0.5."
                .to_owned()
        })
}

fn parse_hours(text: &str) -> Option<u64> {
    let hours: f64 = text.parse().ok()?;
    if !hours.is_finite() || hours <= 0.0 || hours > 1e6 {
        return None;
    }
    // In range by the check above, so the cast neither truncates nor saturates.
    Some((hours * 3600.0).round() as u64)
}

/// `url` with its scheme switched to `kind`'s when it starts with another App kind's scheme,
/// so changing the kind after typing the URL keeps host and port.
fn with_scheme(url: &str, kind: AppKind) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if AppKind::from_scheme(scheme).is_some_and(|old| old != kind) => {
            format!("{}://{rest}", kind.as_str())
        }
        _ => url.to_owned(),
    }
}

fn service_url_placeholder(kind: AppKind) -> &'static str {
    match kind {
        AppKind::Ssh => "ssh://10.0.0.5:22",
        AppKind::Rdp => "rdp://10.0.0.5:3389",
        AppKind::Tcp => "tcp://db:5432",
    }
}

fn kind_label(kind: AppKind) -> &'static str {
    match kind {
        AppKind::Ssh => "SSH",
        AppKind::Rdp => "RDP (remote desktop)",
        AppKind::Tcp => "TCP (any service)",
    }
}

/// The kind a `<select>` value names; anything unexpected is SSH, the first choice.
fn kind_from_value(value: &str) -> AppKind {
    AppKind::from_scheme(value).unwrap_or(AppKind::Ssh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> AppFields {
        AppFields {
            name: " build-box ".to_owned(),
            connector: "office".to_owned(),
            service_url: " ssh://10.0.0.5:22 ".to_owned(),
            emails: "ada@example.com, grace@example.com\n\nada@example.com".to_owned(),
            email_domains: "@example.com\nexample.org,".to_owned(),
            groups: "eng\n ops ".to_owned(),
            ..AppFields::blank()
        }
    }

    #[test]
    fn the_form_becomes_a_request() {
        let request = fields().into_request();
        assert_eq!(
            request,
            Ok(AppRequest {
                name: "build-box".to_owned(),
                kind: AppKind::Ssh,
                connector: "office".to_owned(),
                service_url: "ssh://10.0.0.5:22".to_owned(),
                session_duration_seconds: Some(8 * 3600),
                allow: AllowList {
                    emails: vec!["ada@example.com".to_owned(), "grace@example.com".to_owned()],
                    email_domains: vec!["example.com".to_owned(), "example.org".to_owned()],
                    groups: vec!["eng".to_owned(), "ops".to_owned()],
                },
                ssh: Some(SshSettings::default()),
            })
        );
        let tcp = AppFields {
            kind: AppKind::Tcp,
            service_url: "tcp://db:5432".to_owned(),
            record_input: true,
            ..fields()
        };
        assert_eq!(tcp.into_request().map(|request| request.ssh), Ok(None));
    }

    #[test]
    fn the_form_names_the_first_problem() {
        for (change, problem) in [
            (
                (|f: &mut AppFields| f.name = "Build Box".to_owned()) as fn(&mut AppFields),
                "for the app name",
            ),
            (|f| f.connector.clear(), "Choose the connector"),
            (|f| f.service_url = " ".to_owned(), "ssh://10.0.0.5:22"),
            (|f| f.hours = "0".to_owned(), "between 1 minute"),
            (|f| f.hours = "721".to_owned(), "between 1 minute"),
            (|f| f.hours = "eight".to_owned(), "between 1 minute"),
            (
                |f| {
                    f.principal_source = SourceChoice::Claim;
                    f.claim = " ".to_owned();
                },
                "name of the claim",
            ),
            (
                |f| f.principal_source = SourceChoice::List,
                "at least one user",
            ),
            (
                |f| {
                    f.principal_source = SourceChoice::List;
                    f.principals = "root: admins".to_owned();
                },
                "Line 1",
            ),
        ] {
            let mut fields = fields();
            change(&mut fields);
            let error = fields.into_request().err().unwrap_or_default();
            assert!(error.contains(problem), "{error}");
        }
    }

    #[test]
    fn an_app_round_trips_through_the_form() {
        let app = AppSummary {
            id: "1".to_owned(),
            name: "db".to_owned(),
            kind: AppKind::Tcp,
            connector: "office".to_owned(),
            service_url: "tcp://db:5432".to_owned(),
            session_duration_seconds: 90,
            allow: AllowList {
                emails: vec!["a@example.com".to_owned()],
                email_domains: vec![],
                groups: vec!["eng".to_owned(), "ops".to_owned()],
            },
            ssh: None,
            host_key_fingerprint: None,
            created_at: "2026-01-01T00:00:00Z".to_owned(),
        };
        let request = AppFields::from_summary(&app).into_request();
        assert_eq!(
            request,
            Ok(AppRequest {
                name: app.name,
                kind: app.kind,
                connector: app.connector,
                service_url: app.service_url,
                session_duration_seconds: Some(90),
                allow: app.allow,
                ssh: None,
            })
        );
    }

    #[test]
    fn ssh_settings_round_trip_through_the_form() {
        let sources = [
            PrincipalSource::EmailLocalPart,
            PrincipalSource::Claim {
                claim: "unix_users".to_owned(),
            },
            PrincipalSource::List {
                principals: vec![
                    PrincipalRule {
                        name: "deploy".to_owned(),
                        allow: None,
                    },
                    PrincipalRule {
                        name: "root".to_owned(),
                        allow: Some(AllowList {
                            emails: vec!["ada@example.com".to_owned()],
                            email_domains: vec!["example.org".to_owned()],
                            groups: vec!["admins".to_owned(), "sre".to_owned()],
                        }),
                    },
                ],
            },
        ];
        for (principals, record_input) in sources.into_iter().zip([false, true, true]) {
            let ssh = SshSettings {
                principals,
                record_input,
            };
            let app = AppSummary {
                id: "1".to_owned(),
                name: "box".to_owned(),
                kind: AppKind::Ssh,
                connector: "office".to_owned(),
                service_url: "ssh://box:22".to_owned(),
                session_duration_seconds: 3600,
                allow: AllowList::default(),
                ssh: Some(ssh.clone()),
                host_key_fingerprint: Some("SHA256:abc".to_owned()),
                created_at: "2026-01-01T00:00:00Z".to_owned(),
            };
            let request = AppFields::from_summary(&app).into_request();
            assert_eq!(request.map(|request| request.ssh), Ok(Some(ssh)));
        }
    }

    #[test]
    fn principal_lines_name_users_and_who_may_use_them() {
        let rules = parse_principal_lines(
            "deploy\n\n  root : group:admins, email:ada@example.com,domain:@example.org , \
             group:admins\nbackup:\n",
        );
        assert_eq!(
            rules,
            Ok(vec![
                PrincipalRule {
                    name: "deploy".to_owned(),
                    allow: None,
                },
                PrincipalRule {
                    name: "root".to_owned(),
                    allow: Some(AllowList {
                        emails: vec!["ada@example.com".to_owned()],
                        email_domains: vec!["example.org".to_owned()],
                        groups: vec!["admins".to_owned()],
                    }),
                },
                PrincipalRule {
                    name: "backup".to_owned(),
                    allow: None,
                },
            ])
        );
        assert_eq!(
            principal_lines(&rules.unwrap_or_default()),
            "deploy\nroot: group:admins, email:ada@example.com, domain:example.org\nbackup"
        );
        for (text, problem) in [
            ("root: admins", "Line 1: write \"admins\""),
            ("deploy\nroot: team:x", "Line 2"),
            ("root: group:", "Line 1"),
            ("two words", "Line 1: start with the user name"),
            (": group:x", "Line 1: start with the user name"),
            ("root\nroot", "Line 2: root is listed twice"),
        ] {
            let error = parse_principal_lines(text).err().unwrap_or_default();
            assert!(error.contains(problem), "{text}: {error}");
        }
        assert_eq!(parse_principal_lines(" \n"), Ok(Vec::new()));
        assert_eq!(
            parse_principal_lines("root=group:admins,domain:example.com"),
            parse_principal_lines("root: group:admins, domain:example.com")
        );
    }

    #[test]
    fn the_table_says_how_people_log_in() {
        assert_eq!(
            login_summary(&SshSettings::default()),
            "Logs in as the email's local part"
        );
        let list = SshSettings {
            principals: PrincipalSource::List {
                principals: vec![
                    PrincipalRule {
                        name: "deploy".to_owned(),
                        allow: None,
                    },
                    PrincipalRule {
                        name: "root".to_owned(),
                        allow: None,
                    },
                ],
            },
            record_input: false,
        };
        assert_eq!(login_summary(&list), "Logs in as deploy, root");
    }

    #[test]
    fn hours_convert_both_ways() {
        for (seconds, text) in [
            (8 * 3600, "8"),
            (5400, "1.5"),
            (60, "0.0167"),
            (90, "0.025"),
            (30 * 86_400, "720"),
        ] {
            assert_eq!(hours_text(seconds), text);
            assert_eq!(seconds_from_hours(text), Ok(seconds), "{text}");
        }
        assert_eq!(seconds_from_hours(""), Ok(8 * 3600));
        assert_eq!(seconds_from_hours("0,5"), Ok(1800));
        for bad in ["-1", "0", "0.001", "721", "NaN", "inf", "1e300", "8h"] {
            assert!(seconds_from_hours(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn changing_the_kind_switches_a_known_scheme() {
        for (url, kind, expected) in [
            ("ssh://10.0.0.5:22", AppKind::Rdp, "rdp://10.0.0.5:22"),
            ("tcp://db:5432", AppKind::Tcp, "tcp://db:5432"),
            ("http://x:80", AppKind::Ssh, "http://x:80"),
            ("10.0.0.5:22", AppKind::Ssh, "10.0.0.5:22"),
            ("", AppKind::Tcp, ""),
        ] {
            assert_eq!(with_scheme(url, kind), expected, "{url}");
        }
    }

    #[test]
    fn lists_split_on_commas_and_lines() {
        assert_eq!(split_list(""), Vec::<String>::new());
        assert_eq!(split_list(" a ,b\r\nc\n\n,a"), vec!["a", "b", "c"]);
        assert_eq!(kind_from_value("rdp"), AppKind::Rdp);
        assert_eq!(kind_from_value("telnet"), AppKind::Ssh);
    }
}
