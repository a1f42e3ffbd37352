//! The page for any path that is not one of the app's pages.

use leptos::prelude::*;

use crate::components::{AuthCard, set_title};

/// The router's fallback. The server already answered this path with status 404.
#[component]
pub fn NotFound() -> impl IntoView {
    set_title("Page not found");
    view! {
        <AuthCard testid="not-found">
            <p class="eyebrow">"Error 404"</p>
            <h1>"Page not found"</h1>
            <p class="muted">
                "There is nothing at this address. It may have moved, or the link may be \
                 mistyped."
            </p>
            <a class="button button-primary" href="/">
                "Go to your apps"
            </a>
        </AuthCard>
    }
}
