//! The router: maps each path in `protocol::routes::CLIENT_ROUTES`, and each parameterised
//! page of `CLIENT_ROUTE_PREFIXES`, to its page.

use leptos::prelude::*;
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

use crate::pages::admin::{
    AdminApps, AdminAudit, AdminConnectors, AdminOverview, AdminProviders, AdminRecording,
    AdminRecordings, AdminServiceTokens, AdminSessions, AdminShell, AdminUsers,
};
use crate::pages::cli_authorize::CliAuthorize;
use crate::pages::desktop::DesktopPage;
use crate::pages::launcher::Launcher;
use crate::pages::login::Login;
use crate::pages::not_found::NotFound;
use crate::pages::setup::Setup;
use crate::pages::terminal::TerminalPage;

/// The whole app. The routes must match `protocol::routes::CLIENT_ROUTES`: the server answers
/// exactly those paths with status 200 and everything else with 404.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=Launcher />
                <Route path=path!("/login") view=Login />
                <Route path=path!("/setup") view=Setup />
                <ParentRoute path=path!("/admin") view=AdminShell>
                    <Route path=path!("") view=AdminOverview />
                    <Route path=path!("/users") view=AdminUsers />
                    <Route path=path!("/sessions") view=AdminSessions />
                    <Route path=path!("/providers") view=AdminProviders />
                    <Route path=path!("/connectors") view=AdminConnectors />
                    <Route path=path!("/apps") view=AdminApps />
                    <Route path=path!("/service-tokens") view=AdminServiceTokens />
                    <Route path=path!("/audit") view=AdminAudit />
                    <Route path=path!("/recordings") view=AdminRecordings />
                    <Route path=path!("/recordings/:id") view=AdminRecording />
                </ParentRoute>
                <Route path=path!("/cli/authorize") view=CliAuthorize />
                <Route path=path!("/ssh/:app") view=TerminalPage />
                <Route path=path!("/rdp/:app") view=DesktopPage />
            </Routes>
        </Router>
    }
}

/// The paths the router above answers. A page added to `CLIENT_ROUTES` fails the test below
/// until it is routed here and listed; likewise for the prefixes of parameterised pages.
#[cfg(test)]
const ROUTED_PATHS: &[&str] = &[
    "/",
    "/login",
    "/setup",
    "/admin",
    "/admin/users",
    "/admin/sessions",
    "/admin/providers",
    "/admin/connectors",
    "/admin/apps",
    "/admin/service-tokens",
    "/admin/audit",
    "/admin/recordings",
    "/cli/authorize",
];

/// The parameterised pages above (`/ssh/:app`, `/rdp/:app`, `/admin/recordings/:id`), as the
/// prefix before their parameter.
#[cfg(test)]
const ROUTED_PREFIXES: &[&str] = &["/ssh/", "/rdp/", "/admin/recordings/"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_equal_the_protocol_list() {
        let mut routed = ROUTED_PATHS.to_vec();
        let mut expected = protocol::routes::CLIENT_ROUTES.to_vec();
        routed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(routed, expected);
        let mut routed = ROUTED_PREFIXES.to_vec();
        let mut expected = protocol::routes::CLIENT_ROUTE_PREFIXES.to_vec();
        routed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(routed, expected);
    }
}
