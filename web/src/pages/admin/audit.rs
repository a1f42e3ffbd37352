//! `/admin/audit`: the Audit events, newest first, a page at a time.

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::api::{AuditEvent, Decision};

use super::{EmptyState, fetched};
use crate::api::{self, AUDIT_PAGE_SIZE};
use crate::components::{Timestamp, set_title};

/// `/admin/audit`.
#[component]
pub fn AdminAudit() -> impl IntoView {
    set_title("Audit log");
    // The newest page comes from the resource (so Refresh is a refetch); older pages are
    // appended below it as the admin asks for them.
    let newest = LocalResource::new(|| api::audit(None));
    let older = RwSignal::new(Vec::<AuditEvent>::new());
    // Whether the last page came back full, so there may be more before it.
    let more_after_older = RwSignal::new(None::<bool>);
    let loading_older = RwSignal::new(false);
    let older_error = RwSignal::new(None::<String>);

    let refresh = move |_| {
        older.set(Vec::new());
        more_after_older.set(None);
        older_error.set(None);
        newest.refetch();
    };
    let load_older = Callback::new(move |before: i64| {
        loading_older.set(true);
        older_error.set(None);
        spawn_local(async move {
            match api::audit(Some(before)).await {
                Ok(page) => {
                    more_after_older.set(Some(page.len() >= AUDIT_PAGE_SIZE));
                    older.update(|older| older.extend(page));
                }
                Err(failure) => older_error.set(Some(failure.message())),
            }
            loading_older.set(false);
        });
    });

    view! {
        <header class="section-head section-head-actions">
            <div>
                <h1>"Audit log"</h1>
                <p class="muted">
                    "Every admin change and every access decision, newest first."
                </p>
            </div>
            <button type="button" id="audit-refresh" class="button button-small" on:click=refresh>
                "Refresh"
            </button>
        </header>
        {move || {
            fetched(
                newest.get(),
                move || newest.refetch(),
                move |newest| {
                    if newest.is_empty() {
                        return view! {
                            <EmptyState testid="audit-empty" title="No audit events yet">
                                <p>
                                    "Creating connectors, apps and service tokens, and every \
                                     attempt to reach an app, will be recorded here."
                                </p>
                            </EmptyState>
                        }
                            .into_any();
                    }
                    let first_page_full = newest.len() >= AUDIT_PAGE_SIZE;
                    let events = Signal::derive(move || {
                        let mut events = newest.clone();
                        events.extend(older.get());
                        events
                    });
                    let has_more = Signal::derive(move || {
                        more_after_older.get().unwrap_or(first_page_full)
                    });
                    view! {
                        <AuditTable events />
                        <div class="load-more">
                            {move || {
                                older_error
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
                                if has_more.get() {
                                    let before = events.with(|events| events.last().map(|event| event.id));
                                    view! {
                                        <button
                                            type="button"
                                            id="audit-load-older"
                                            class="button"
                                            disabled=move || loading_older.get()
                                            on:click=move |_| {
                                                if let Some(before) = before {
                                                    load_older.run(before);
                                                }
                                            }
                                        >
                                            {move || {
                                                if loading_older.get() { "Loading…" } else { "Load older" }
                                            }}
                                        </button>
                                    }
                                        .into_any()
                                } else {
                                    view! {
                                        <p class="muted" data-testid="audit-end">
                                            "That is everything: the log starts here."
                                        </p>
                                    }
                                        .into_any()
                                }
                            }}
                        </div>
                    }
                        .into_any()
                },
            )
        }}
    }
}

#[component]
fn AuditTable(events: Signal<Vec<AuditEvent>>) -> impl IntoView {
    view! {
        <div class="table-wrap card">
            <table data-testid="audit-table">
                <thead>
                    <tr>
                        <th scope="col">"Time"</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"App"</th>
                        <th scope="col">"Decision"</th>
                        <th scope="col">"Reason"</th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || events.get()
                        key=|event| event.id
                        children=|event| view! { <AuditRow event /> }
                    />
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn AuditRow(event: AuditEvent) -> impl IntoView {
    let (actor_kind, actor_name) = split_actor(&event.actor);
    let decision = match event.decision {
        Some(Decision::Allow) => {
            view! { <span class="badge badge-allow">"Allow"</span> }.into_any()
        }
        Some(Decision::Deny) => view! { <span class="badge badge-deny">"Deny"</span> }.into_any(),
        None => view! { <span class="muted">"—"</span> }.into_any(),
    };
    view! {
        <tr data-audit=event.id>
            <td>
                <Timestamp value=event.at />
            </td>
            <td>
                <span class="cell-main nowrap">{actor_name}</span>
                {actor_kind.map(|kind| view! { <span class="cell-sub">{kind}</span> })}
            </td>
            <td>
                <code class="nowrap">{event.action}</code>
            </td>
            <td>
                {match event.app {
                    Some(app) => view! { <span class="mono">{app}</span> }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}
            </td>
            <td>{decision}</td>
            <td class="cell-reason">{event.reason}</td>
        </tr>
    }
}

/// `user:ada` as ("user", "ada"); `system` as it is. The kind reads in words.
pub(super) fn split_actor(actor: &str) -> (Option<&'static str>, String) {
    match actor.split_once(':') {
        Some(("user", name)) => (Some("User"), name.to_owned()),
        Some(("service-token", id)) => (Some("Service token"), id.to_owned()),
        Some(("connector", name)) => (Some("Connector"), name.to_owned()),
        _ => (None, actor.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_split_into_kind_and_name() {
        for (actor, kind, name) in [
            ("user:ada", Some("User"), "ada"),
            ("service-token:abc123", Some("Service token"), "abc123"),
            ("connector:office", Some("Connector"), "office"),
            ("system", None, "system"),
            ("robot:x", None, "robot:x"),
        ] {
            assert_eq!(split_actor(actor), (kind, name.to_owned()), "{actor}");
        }
    }
}
