//! Entry point of the browser app: reports panics to the console and mounts the router.

mod api;
mod app;
mod components;
mod names;
mod navigation;
mod pages;
mod password;
mod vendor;
mod xterm;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
