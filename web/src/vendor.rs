//! Loads the browser libraries bundled under `/vendor` on the pages that need them.
//!
//! Trunk copies xterm.js (with its fit and WebGL addons) and asciinema-player from
//! `node_modules` into `dist/vendor` (see `web/index.html`) but links none of them, so pages
//! that do not need them never download them. The terminal and recording pages call [`load`],
//! which adds the `<script>` and `<link>` tags to `<head>` and resolves once every file has
//! loaded. Each file is requested once per page load: later calls share the first request, and
//! a failed file is forgotten (and its tag removed) so that trying again requests it anew.
//!
//! The scripts are UMD builds that define globals (`Terminal`, `FitAddon.FitAddon`,
//! `WebglAddon.WebglAddon`, `AsciinemaPlayer.create`); `crate::xterm` and the recording page
//! bind to them. They come from the server's own origin, which its Content-Security-Policy
//! (`script-src 'self'`) allows.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Function, Promise};
use leptos::prelude::document;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// A set of files one page needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bundle {
    /// xterm.js, its stylesheet, and the fit and WebGL addons.
    Terminal,
    /// asciinema-player and its stylesheet.
    Player,
}

impl Bundle {
    fn files(self) -> &'static [VendorFile] {
        match self {
            Bundle::Terminal => &[
                VendorFile::Stylesheet("/vendor/xterm/xterm.css"),
                VendorFile::Script("/vendor/xterm/xterm.js"),
                VendorFile::Script("/vendor/xterm-addon-fit/addon-fit.js"),
                VendorFile::Script("/vendor/xterm-addon-webgl/addon-webgl.js"),
            ],
            Bundle::Player => &[
                VendorFile::Stylesheet("/vendor/asciinema-player/asciinema-player.css"),
                VendorFile::Script("/vendor/asciinema-player/asciinema-player.min.js"),
            ],
        }
    }
}

/// One file under `/vendor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VendorFile {
    Script(&'static str),
    Stylesheet(&'static str),
}

impl VendorFile {
    fn url(self) -> &'static str {
        match self {
            VendorFile::Script(url) | VendorFile::Stylesheet(url) => url,
        }
    }
}

/// A bundled file did not load (the server is unreachable, or the build left it out).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not load {url}")]
pub struct VendorError {
    /// The file that failed first.
    pub url: String,
}

impl VendorError {
    /// A sentence to show the person.
    pub fn message(&self) -> String {
        format!(
            "A part of this page ({}) could not be loaded. Check your connection and try again.",
            self.url
        )
    }
}

thread_local! {
    /// The request of every file asked for so far, by URL; a failed one is removed.
    static REQUESTS: RefCell<HashMap<&'static str, Promise>> = RefCell::new(HashMap::new());
}

/// Loads every file of `bundle`, in parallel, and resolves when all have loaded.
pub async fn load(bundle: Bundle) -> Result<(), VendorError> {
    let requests: Array = bundle.files().iter().map(|file| request(*file)).collect();
    JsFuture::from(Promise::all(&requests))
        .await
        .map(drop)
        .map_err(|failed| VendorError {
            url: failed
                .as_string()
                .unwrap_or_else(|| "a bundled file".to_owned()),
        })
}

/// The request for `file`: the one already made, or a new tag in `<head>`.
fn request(file: VendorFile) -> Promise {
    if let Some(pending) = REQUESTS.with_borrow(|requests| requests.get(file.url()).cloned()) {
        return pending;
    }
    let promise = Promise::new(&mut |resolve, reject| add_tag(file, resolve, reject));
    REQUESTS.with_borrow_mut(|requests| requests.insert(file.url(), promise.clone()));
    promise
}

/// Adds the tag that loads `file`; `resolve` or `reject` runs when the browser is done with it.
fn add_tag(file: VendorFile, resolve: Function, reject: Function) {
    let Some(tag) = create_tag(file) else {
        forget(file);
        let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(file.url()));
        return;
    };
    let settled_tag = tag.clone();
    let settled_reject = reject.clone();
    // One handler for both events, as exactly one of them fires; `once_into_js` frees it then.
    let settle = Closure::once_into_js(move |event: web_sys::Event| {
        if event.type_() == "load" {
            let _ = resolve.call0(&JsValue::NULL);
        } else {
            forget(file);
            settled_tag.remove();
            let _ = settled_reject.call1(&JsValue::NULL, &JsValue::from_str(file.url()));
        }
    });
    let settle: &Function = settle.unchecked_ref();
    let listening = tag
        .add_event_listener_with_callback("load", settle)
        .and_then(|()| tag.add_event_listener_with_callback("error", settle));
    let added = listening.and_then(|()| {
        document()
            .head()
            .ok_or_else(|| JsValue::from_str("no head"))?
            .append_child(&tag)
    });
    if added.is_err() {
        forget(file);
        let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(file.url()));
    }
}

/// A `<script>` or `<link rel="stylesheet">` element for `file`, not yet in the document.
fn create_tag(file: VendorFile) -> Option<web_sys::Element> {
    let document = document();
    match file {
        VendorFile::Script(url) => {
            let script: web_sys::HtmlScriptElement =
                document.create_element("script").ok()?.dyn_into().ok()?;
            // Dynamically added scripts run as soon as they arrive unless told otherwise; in
            // order is easier to reason about.
            script.set_async(false);
            script.set_src(url);
            Some(script.into())
        }
        VendorFile::Stylesheet(url) => {
            let link: web_sys::HtmlLinkElement =
                document.create_element("link").ok()?.dyn_into().ok()?;
            link.set_rel("stylesheet");
            link.set_href(url);
            Some(link.into())
        }
    }
}

fn forget(file: VendorFile) {
    REQUESTS.with_borrow_mut(|requests| requests.remove(file.url()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `/vendor/…` URLs that `web/index.html` has Trunk copy into `dist`.
    fn copied_urls() -> Vec<String> {
        include_str!("../index.html")
            .split("<link")
            .filter(|tag| tag.contains(r#"rel="copy-file""#))
            .filter_map(|tag| {
                let attribute = |name: &str| {
                    let start = tag.find(&format!(r#"{name}=""#))? + name.len() + 2;
                    let length = tag.get(start..)?.find('"')?;
                    tag.get(start..start + length)
                };
                let file_name = attribute("href")?.rsplit('/').next()?;
                Some(format!("/{}/{file_name}", attribute("data-target-path")?))
            })
            .collect()
    }

    #[test]
    fn every_file_a_bundle_loads_is_copied_by_the_build() {
        let copied = copied_urls();
        for bundle in [Bundle::Terminal, Bundle::Player] {
            for file in bundle.files() {
                assert!(copied.iter().any(|url| url == file.url()), "{file:?}");
            }
            assert!(
                bundle
                    .files()
                    .iter()
                    .any(|file| matches!(file, VendorFile::Stylesheet(_))),
                "{bundle:?}"
            );
        }
    }
}
