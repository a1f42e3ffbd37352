//! The launcher at `/`: who you are and the apps you may open. SSH Apps open in the browser's
//! terminal page and RDP Apps in its desktop page (in the same tab, like every other link
//! here), or either through the CLI.

use leptos::prelude::*;
use leptos_router::components::A;
use protocol::api::{AppKind, Me, Role, UserApp};
use protocol::rdp::desktop_page;
use protocol::ssh::terminal_page;

use crate::api::{self, encode_path_segment};
use crate::components::{
    CommandBlock, CopyButton, ErrorNotice, Loading, Timestamp, TopBar, WithSession, set_title,
    source_label,
};
use crate::navigation::login_url;

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
                <AppList is_admin />
            </section>
        </main>
    }
}

/// The Apps the user may reach, each with the commands that connect to it.
#[component]
fn AppList(is_admin: bool) -> impl IntoView {
    let apps = LocalResource::new(api::user_apps);
    move || match apps.get() {
        None => view! { <Loading label="Loading your apps…" /> }.into_any(),
        Some(Ok(list)) if list.is_empty() => view! { <NoApps is_admin /> }.into_any(),
        Some(Ok(list)) => {
            let origin = window().location().origin().unwrap_or_default();
            view! {
                <div class="apps-hint copy-row" data-testid="apps-login-hint">
                    <span>"First time on this machine?"</span>
                    <code class="selectable">{login_command(&origin)}</code>
                    <CopyButton value=login_command(&origin) what="the sign-in command" />
                </div>
                <ul class="app-grid" data-testid="apps">
                    {list
                        .into_iter()
                        .map(|app| view! { <AppCard app origin=origin.clone() /> })
                        .collect_view()}
                </ul>
            }
            .into_any()
        }
        Some(Err(error)) if error.is_unauthenticated() => view! {
            <div class="error" role="alert">
                <p>{error.message()}</p>
                <p>
                    <a href=login_url("/")>"Sign in again"</a>
                </p>
            </div>
        }
        .into_any(),
        Some(Err(error)) => view! {
            <ErrorNotice
                message=error.message()
                retry=Callback::new(move |()| apps.refetch())
            />
        }
        .into_any(),
    }
}

/// One App and the native way to connect to it from this machine.
#[component]
fn AppCard(app: UserApp, origin: String) -> impl IntoView {
    let UserApp { name, kind } = app;
    let steps = match kind {
        AppKind::Ssh => view! {
            <A
                href=terminal_page(&encode_path_segment(&name))
                attr:class="button button-primary app-open"
                attr:data-testid="app-open-terminal"
                attr:aria-label=format!("Open terminal on {name}")
            >
                "Open terminal"
            </A>
            <p class="app-step">
                "Or use your own SSH client. Add your SSH apps to your SSH config, once:"
            </p>
            <CommandBlock command=ssh_config_command(&origin) testid="app-setup-command" />
            <p class="app-step">"Then connect:"</p>
            <CommandBlock command=format!("ssh {name}") testid="app-command" />
        }
        .into_any(),
        AppKind::Rdp => view! {
            <A
                href=desktop_page(&encode_path_segment(&name))
                attr:class="button button-primary app-open"
                attr:data-testid="app-open-desktop"
                attr:aria-label=format!("Open desktop of {name}")
            >
                "Open desktop"
            </A>
            <p class="app-step">"Or use your own remote desktop client. Forward it to this machine:"</p>
            <CommandBlock command=rdp_command(&name, &origin) testid="app-command" />
            <p class="app-step">
                "Then point your remote desktop client at "
                <code class="selectable">{RDP_LISTEN}</code>
                "."
            </p>
        }
        .into_any(),
        AppKind::Tcp => view! {
            <p class="app-step">"Forward it to this machine:"</p>
            <CommandBlock command=tcp_command(&name, &origin) testid="app-command" />
            <p class="app-step muted">
                "It prints the local address to point your client at. Put a port of your \
                 choice in place of 0 to keep that address the same."
            </p>
        }
        .into_any(),
    };
    view! {
        <li class="app-card card" data-testid="app-card" data-app=name.clone()>
            <div class="app-card-head">
                <h3 class="app-name" data-testid="app-name">
                    {name.clone()}
                </h3>
                <span
                    class=format!("badge badge-kind badge-{}", kind.as_str())
                    data-testid="app-kind"
                >
                    {kind_badge(kind)}
                </span>
            </div>
            {steps}
        </li>
    }
}

/// What to do when there is nothing to open yet: admins get the next step, users whom to ask.
#[component]
fn NoApps(is_admin: bool) -> impl IntoView {
    view! {
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
    }
}

/// Where `postern access rdp` listens unless told otherwise.
const RDP_LISTEN: &str = "127.0.0.1:3389";

/// The badge text for an App's kind.
fn kind_badge(kind: AppKind) -> &'static str {
    match kind {
        AppKind::Ssh => "SSH",
        AppKind::Rdp => "RDP",
        AppKind::Tcp => "TCP",
    }
}

/// Signs the command-line tool in to the server at `origin`.
fn login_command(origin: &str) -> String {
    format!("postern login --server {origin}")
}

/// Appends a `Host` entry for every SSH App the user may reach to their SSH config.
fn ssh_config_command(origin: &str) -> String {
    format!("postern ssh-config --server {origin} >> ~/.ssh/config")
}

// App names are lowercase letters, digits and dashes and an origin is a URL, so neither needs
// shell quoting in the commands below.

/// Forwards 127.0.0.1:3389 to an RDP App.
fn rdp_command(name: &str, origin: &str) -> String {
    format!("postern access rdp --server {origin} --app {name}")
}

/// Forwards a local port to a TCP App. Port 0 lets the tool pick a free port and print it:
/// no single port suits every App, and a fixed one would collide between Apps.
fn tcp_command(name: &str, origin: &str) -> String {
    format!("postern access tcp --server {origin} --app {name} --listen 127.0.0.1:0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_server_and_the_app() {
        let origin = "https://postern.example.com";
        assert_eq!(
            login_command(origin),
            "postern login --server https://postern.example.com"
        );
        assert_eq!(
            ssh_config_command(origin),
            "postern ssh-config --server https://postern.example.com >> ~/.ssh/config"
        );
        assert_eq!(
            rdp_command("desk", origin),
            "postern access rdp --server https://postern.example.com --app desk"
        );
        assert_eq!(
            tcp_command("db-1", origin),
            "postern access tcp --server https://postern.example.com --app db-1 \
             --listen 127.0.0.1:0"
        );
    }

    #[test]
    fn kinds_read_as_their_protocol() {
        assert_eq!(kind_badge(AppKind::Ssh), "SSH");
        assert_eq!(kind_badge(AppKind::Rdp), "RDP");
        assert_eq!(kind_badge(AppKind::Tcp), "TCP");
    }
}
