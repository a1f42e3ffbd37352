//! The launcher at `/`: who you are and the apps you may open.

use leptos::prelude::*;
use leptos_router::components::A;
use protocol::api::{Me, Role};

use crate::components::{Timestamp, TopBar, WithSession, set_title, source_label};

/// `/`.
#[component]
pub fn Launcher() -> impl IntoView {
    set_title("Apps");
    view! { <WithSession return_to="/" render=|me| view! { <LauncherPage me /> }.into_any() /> }
}

#[component]
fn LauncherPage(me: Me) -> impl IntoView {
    let is_admin = me.role == Role::Admin;
    view! {
        <TopBar me=me.clone() />
        <main class="page" id="main">
            <section class="profile card" aria-labelledby="user-name">
                <div class="profile-head">
                    <div>
                        <p class="eyebrow">"Signed in as"</p>
                        <h1 id="user-name" data-testid="user-name">
                            {me.name.clone()}
                        </h1>
                        <p class="muted" data-testid="user-email">
                            {me
                                .email
                                .clone()
                                .unwrap_or_else(|| "No email address on file".to_owned())}
                        </p>
                    </div>
                    <dl class="facts">
                        <div>
                            <dt>"Username"</dt>
                            <dd>{me.username.clone()}</dd>
                        </div>
                        <div>
                            <dt>"Role"</dt>
                            <dd>
                                <span class=format!(
                                    "badge badge-{}",
                                    me.role.as_str(),
                                )>{me.role.as_str()}</span>
                            </dd>
                        </div>
                        <div>
                            <dt>"Signed in with"</dt>
                            <dd>{source_label(&me.source)}</dd>
                        </div>
                        <div>
                            <dt>"Session ends"</dt>
                            <dd>
                                <Timestamp value=me.session.expires_at.clone() />
                            </dd>
                        </div>
                    </dl>
                </div>
                <h2 class="section-label">"Groups"</h2>
                <div data-testid="user-groups">
                    {if me.groups.is_empty() {
                        view! { <p class="muted">"You are not in any groups."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="chips">
                                {me
                                    .groups
                                    .iter()
                                    .map(|group| view! { <li class="chip">{group.clone()}</li> })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }}
                </div>
            </section>
            <section class="apps" aria-labelledby="apps-heading">
                <h2 id="apps-heading">"Your apps"</h2>
                <div class="empty-state" data-testid="apps-empty">
                    <h3>"No apps yet"</h3>
                    {if is_admin {
                        view! {
                            <p>
                                "Next step: create a connector and run it on a host that can \
                                 reach your services, then publish an SSH, RDP or TCP app \
                                 through it. People who may use an app will find it here."
                            </p>
                            <div class="button-row">
                                <A href="/admin/connectors" attr:class="button button-primary">
                                    "Create a connector"
                                </A>
                                <A href="/admin/apps" attr:class="button">
                                    "Publish an app"
                                </A>
                            </div>
                        }
                            .into_any()
                    } else {
                        view! {
                            <p>
                                "No apps have been shared with you. Ask your administrator \
                                 for access to the apps you need."
                            </p>
                        }
                            .into_any()
                    }}
                </div>
            </section>
        </main>
    }
}
