//! `/admin/connectors`: create, rotate and revoke Connectors, and see their Replicas.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use protocol::api::{ConnectorSummary, ConnectorToken, CreateConnectorRequest, ReplicaSummary};

use super::{ConfirmAction, EmptyState, OneTimeSecret, SectionHead, action_error, fetched};
use crate::api;
use crate::components::{CommandBlock, CopyableValue, Timestamp, set_title};
use crate::names::check_name;

/// A token the server just issued, and whether it replaced an older one.
#[derive(Clone)]
struct IssuedToken {
    issued: ConnectorToken,
    rotated: bool,
}

/// The request in flight for one row: the Connector's name and the action.
type Busy = RwSignal<Option<(String, &'static str)>>;

const ROTATE: &str = "rotate";
const REVOKE: &str = "revoke";

/// `/admin/connectors`.
#[component]
pub fn AdminConnectors() -> impl IntoView {
    set_title("Connectors");
    let connectors = LocalResource::new(api::connectors);
    let issued = RwSignal::new(None::<IssuedToken>);
    let busy: Busy = RwSignal::new(None);
    let error = RwSignal::new(None::<String>);

    let rotate = Callback::new(move |name: String| {
        busy.set(Some((name.clone(), ROTATE)));
        error.set(None);
        spawn_local(async move {
            match api::rotate_connector(&name).await {
                Ok(token) => {
                    issued.set(Some(IssuedToken {
                        issued: token,
                        rotated: true,
                    }));
                    connectors.refetch();
                }
                Err(failure) => error.set(Some(failure.message())),
            }
            busy.set(None);
        });
    });
    let revoke = Callback::new(move |name: String| {
        busy.set(Some((name.clone(), REVOKE)));
        error.set(None);
        spawn_local(async move {
            match api::revoke_connector(&name).await {
                Ok(()) => {
                    // A token of a revoked Connector is worthless; stop offering it.
                    if issued
                        .get_untracked()
                        .is_some_and(|shown| shown.issued.connector.name == name)
                    {
                        issued.set(None);
                    }
                    connectors.refetch();
                }
                Err(failure) => error.set(Some(failure.message())),
            }
            busy.set(None);
        });
    });
    let on_created = Callback::new(move |token: ConnectorToken| {
        issued.set(Some(IssuedToken {
            issued: token,
            rotated: false,
        }));
        connectors.refetch();
    });

    view! {
        <SectionHead
            title="Connectors"
            summary="Agents on your networks that dial out to Postern and carry traffic to your \
                     services, so origin hosts open no inbound ports."
        />
        {move || {
            issued
                .get()
                .map(|token| {
                    view! {
                        <IssuedTokenPanel token on_dismiss=Callback::new(move |()| issued.set(None)) />
                    }
                })
        }}
        {action_error(error)}
        {move || {
            fetched(
                connectors.get(),
                move || connectors.refetch(),
                move |connectors| {
                    view! { <ConnectorsTable connectors busy rotate revoke /> }.into_any()
                },
            )
        }}
        <CreateConnectorForm on_created />
    }
}

/// The token, shown once, and the command that runs a Replica with it.
#[component]
fn IssuedTokenPanel(token: IssuedToken, on_dismiss: Callback<()>) -> impl IntoView {
    // The public URL comes from the server's configuration; until it loads (or if it cannot),
    // the address this page was loaded from is the best guess.
    let overview = LocalResource::new(api::overview);
    let IssuedToken { issued, rotated } = token;
    let name = issued.connector.name.clone();
    let secret = issued.token.clone();
    let command = Signal::derive(move || {
        let server = overview
            .get()
            .and_then(Result::ok)
            .map(|overview| overview.public_url)
            .unwrap_or_else(|| window().location().origin().unwrap_or_default());
        connector_command(&secret, &server)
    });
    let title = if rotated {
        format!("New token for {name}")
    } else {
        format!("Connector {name} created")
    };
    view! {
        <OneTimeSecret testid="connector-token" title on_dismiss>
            <CopyableValue label="Token" value=issued.token testid="connector-token-value" />
            <p>
                "Run the connector on a host that can reach your services. After "
                <code>"--allow"</code>
                " list what it may dial, separated by commas: "
                <code>"HOST:PORT"</code>
                " or a network such as "
                <code>"10.0.0.0/8:3389"</code>
                ". It refuses everything else."
            </p>
            <CommandBlock command testid="connector-command" />
            {rotated
                .then(|| {
                    view! {
                        <p class="muted">
                            "Replicas that used the old token were disconnected. Restart them \
                             with this one."
                        </p>
                    }
                })}
            <p class="muted">
                "Once a replica attaches it shows as online below. Then "
                <A href="/admin/apps">"publish an app"</A>
                " through this connector."
            </p>
        </OneTimeSecret>
    }
}

/// The shell command that runs a Replica of the Connector whose token is `token`.
fn connector_command(token: &str, server: &str) -> String {
    format!(
        "POSTERN_CONNECTOR_TOKEN={token} postern connector run --server {server} --allow \
         HOST:PORT"
    )
}

#[component]
fn ConnectorsTable(
    connectors: Vec<ConnectorSummary>,
    busy: Busy,
    rotate: Callback<String>,
    revoke: Callback<String>,
) -> impl IntoView {
    if connectors.is_empty() {
        return view! {
            <EmptyState testid="connectors-empty" title="No connectors yet">
                <p>
                    "Create a connector, then run it on a host that can reach your services. It \
                     dials out to this server, so that host needs no open ports."
                </p>
            </EmptyState>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap card">
            <table data-testid="connectors-table">
                <thead>
                    <tr>
                        <th scope="col">"Connector"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Replicas"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>
                    {connectors
                        .into_iter()
                        .map(|connector| view! { <ConnectorRow connector busy rotate revoke /> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn ConnectorRow(
    connector: ConnectorSummary,
    busy: Busy,
    rotate: Callback<String>,
    revoke: Callback<String>,
) -> impl IntoView {
    let name = connector.name.clone();
    let is_busy = |action: &'static str| {
        let name = name.clone();
        Signal::derive(move || {
            busy.with(|busy| {
                busy.as_ref().is_some_and(|(busy_name, busy_action)| {
                    *busy_name == name && *busy_action == action
                })
            })
        })
    };
    let connections: u32 = connector
        .replicas
        .iter()
        .map(|replica| replica.connections)
        .sum();
    let (status_class, status_label) = if connector.revoked {
        ("badge badge-revoked", "Revoked")
    } else if connector.replicas.is_empty() {
        ("badge badge-offline", "Offline")
    } else {
        ("badge badge-online", "Online")
    };
    let status_detail = (!connector.revoked && !connector.replicas.is_empty()).then(|| {
        format!(
            "{} · {}",
            count(connector.replicas.len(), "replica", "replicas"),
            count(connections as usize, "connection", "connections")
        )
    });
    let replicas = if connector.replicas.is_empty() {
        let hint = if connector.revoked {
            "—"
        } else {
            "None attached"
        };
        view! { <span class="muted">{hint}</span> }.into_any()
    } else {
        view! {
            <ul class="replica-list">
                {connector
                    .replicas
                    .into_iter()
                    .map(|replica| view! { <ReplicaItem replica /> })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    let actions = (!connector.revoked).then(|| {
        let rotate_name = name.clone();
        let revoke_name = name.clone();
        view! {
            <div class="row-actions">
                <ConfirmAction
                    action=ROTATE
                    label="Rotate token"
                    busy_label="Rotating…"
                    aria_label=format!("Rotate the token of {name}")
                    question="Replace the token? Running replicas disconnect until restarted with \
                              the new one."
                    busy=is_busy(ROTATE)
                    on_confirm=Callback::new(move |()| rotate.run(rotate_name.clone()))
                />
                <ConfirmAction
                    action=REVOKE
                    label="Revoke"
                    busy_label="Revoking…"
                    aria_label=format!("Revoke {name}")
                    question=format!("Revoke {name}? Apps behind it go offline for good.")
                    busy=is_busy(REVOKE)
                    on_confirm=Callback::new(move |()| revoke.run(revoke_name.clone()))
                />
            </div>
        }
    });
    let row_key = connector.name.clone();
    view! {
        <tr data-connector=row_key class:revoked=connector.revoked>
            <td>
                <span class="cell-main nowrap">{connector.name}</span>
                <span class="cell-sub mono">{connector.id}</span>
            </td>
            <td>
                <span class=status_class>{status_label}</span>
                {status_detail.map(|detail| view! { <span class="cell-sub nowrap">{detail}</span> })}
            </td>
            <td>{replicas}</td>
            <td>
                <Timestamp value=connector.created_at />
                {connector
                    .rotated_at
                    .map(|at| {
                        view! {
                            <span class="cell-sub nowrap">
                                "Rotated " <Timestamp value=at />
                            </span>
                        }
                    })}
            </td>
            <td class="cell-actions">{actions}</td>
        </tr>
    }
}

#[component]
fn ReplicaItem(replica: ReplicaSummary) -> impl IntoView {
    let detail = format!(
        "{} · {} · protocol v{}",
        count(replica.connections as usize, "connection", "connections"),
        replica.address,
        replica.protocol_version
    );
    let row_key = replica.id.clone();
    let title = format!("Replica {}", replica.id);
    view! {
        <li data-replica=row_key>
            <span class="cell-main mono" title=title>
                {replica.hostname}
            </span>
            <span class="cell-sub">{detail}</span>
        </li>
    }
}

/// "1 replica", "3 replicas".
fn count(number: usize, one: &str, many: &str) -> String {
    if number == 1 {
        format!("1 {one}")
    } else {
        format!("{number} {many}")
    }
}

/// Creates a Connector; `on_created` receives its token.
#[component]
fn CreateConnectorForm(on_created: Callback<ConnectorToken>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let pending = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let submit = move |event: SubmitEvent| {
        event.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let request = CreateConnectorRequest {
            name: name.get_untracked().trim().to_owned(),
        };
        if let Err(problem) = check_name("connector", &request.name) {
            error.set(Some(problem));
            return;
        }
        pending.set(true);
        error.set(None);
        spawn_local(async move {
            match api::create_connector(&request).await {
                Ok(token) => {
                    name.set(String::new());
                    on_created.run(token);
                }
                Err(failure) => error.set(Some(failure.message())),
            }
            pending.set(false);
        });
    };

    view! {
        <section class="card form-card" aria-labelledby="connector-form-heading">
            <h2 id="connector-form-heading">"Create a connector"</h2>
            <p class="muted">
                "One connector per network is typical. Run several replicas of it on different \
                 hosts for failover; they share its token."
            </p>
            <form id="connector-form" class="form form-inline" on:submit=submit novalidate>
                <div class="field">
                    <label for="connector-name">"Name"</label>
                    <input
                        id="connector-name"
                        name="name"
                        type="text"
                        autocomplete="off"
                        autocapitalize="none"
                        spellcheck="false"
                        placeholder="office-lan"
                        aria-describedby="connector-name-hint"
                        required
                        bind:value=name
                    />
                    <p class="hint" id="connector-name-hint">
                        "Lowercase letters, digits and dashes."
                    </p>
                </div>
                <div class="form-actions">
                    <button
                        type="submit"
                        class="button button-primary"
                        disabled=move || pending.get()
                    >
                        {move || if pending.get() { "Creating…" } else { "Create connector" }}
                    </button>
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
            </form>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_command_carries_token_and_server() {
        assert_eq!(
            connector_command("tok", "https://postern.example.com"),
            "POSTERN_CONNECTOR_TOKEN=tok postern connector run --server \
             https://postern.example.com --allow HOST:PORT"
        );
    }

    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(count(0, "replica", "replicas"), "0 replicas");
        assert_eq!(count(1, "replica", "replicas"), "1 replica");
        assert_eq!(count(2, "replica", "replicas"), "2 replicas");
    }
}
