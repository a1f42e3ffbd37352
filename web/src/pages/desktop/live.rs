//! The running remote desktop of the `/rdp/{app}` page: the `rdp-web` module, loaded on
//! demand, and one `RdpSession` of it in the page's screen element.
//!
//! **Loading.** The module is a separate WebAssembly program (built by `cargo xtask` into
//! `dist/rdp/`), so only this page downloads it. A small JS snippet, bundled by wasm-bindgen
//! as a file of our own origin (which the CSP's `script-src 'self'` allows), `import()`s its
//! ES module and initialises it once per page load; a failed load is forgotten, so trying
//! again loads it anew.
//!
//! **Lifetime.** A [`Live`] owns the session, the callbacks the session calls, and the
//! `ResizeObserver` that asks for a new desktop size once the screen element has stopped
//! changing size for [`RESIZE_DEBOUNCE_MS`]. Dropping it frees the session, which
//! disconnects and removes its canvas.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlElement, ResizeObserver};

use super::{Credentials, Phase};

/// The module's JS entry point, which wasm-bindgen generated next to `rdp_web_bg.wasm`.
pub const MODULE_URL: &str = "/rdp/rdp_web.js";

/// How long the screen element must keep its size before the desktop follows.
const RESIZE_DEBOUNCE_MS: i32 = 300;

/// The global through which tests (and curious people in the console) reach the session.
const GLOBAL_NAME: &str = "posternDesktop";

#[wasm_bindgen(inline_js = r#"
let loading = null;
export function loadRdpModule(url) {
  if (loading === null) {
    loading = import(url).then(async (module) => {
      await module.default();
      return module;
    });
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}
export function startRdpSession(module, container, options) {
  return new module.RdpSession(container, options);
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = loadRdpModule)]
    fn load_rdp_module(url: &str) -> Promise;

    #[wasm_bindgen(js_name = startRdpSession, catch)]
    fn start_rdp_session(
        module: &JsValue,
        container: &HtmlElement,
        options: &Object,
    ) -> Result<RdpSession, JsValue>;

    /// `RdpSession` of the rdp-web module (see its crate documentation).
    pub type RdpSession;

    #[wasm_bindgen(method)]
    fn resize(this: &RdpSession, width: f64, height: f64);

    #[wasm_bindgen(method, js_name = ctrlAltDel)]
    fn ctrl_alt_del(this: &RdpSession);

    #[wasm_bindgen(method)]
    fn focus(this: &RdpSession);

    #[wasm_bindgen(method)]
    fn disconnect(this: &RdpSession);

    #[wasm_bindgen(method)]
    fn free(this: &RdpSession);
}

/// The module could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleError;

impl ModuleError {
    /// A sentence to show the person.
    pub fn message(&self) -> String {
        "The remote desktop part of this page could not be loaded. Check your connection and \
         try again."
            .to_owned()
    }
}

/// Loads and initialises the module (once per page load), resolving to its exports.
pub async fn load_module() -> Result<JsValue, ModuleError> {
    JsFuture::from(load_rdp_module(MODULE_URL))
        .await
        .map_err(|error| {
            web_sys::console::error_2(&JsValue::from_str("rdp module:"), &error);
            ModuleError
        })
}

/// One session in the screen element, with everything that keeps it running.
pub struct Live {
    session: RdpSession,
    observer: Option<ResizeObserver>,
    timer: Rc<Cell<Option<i32>>>,
    _on_state: Closure<dyn FnMut(JsValue)>,
    _observed: Closure<dyn FnMut()>,
    _debounced: Closure<dyn FnMut()>,
}

impl Live {
    /// Starts a session of `module` in `screen` for the gateway at `url` with `ticket`;
    /// progress goes to `phase`. `Err` is a sentence for the person.
    pub fn start(
        module: &JsValue,
        screen: HtmlElement,
        app: &str,
        url: &str,
        ticket: &str,
        credentials: &Credentials,
        phase: RwSignal<Phase>,
    ) -> Result<Live, String> {
        let on_state = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            // The page may be gone (the session is freed as it unmounts).
            let _ = phase.try_set(phase_of(&event));
        });
        let options = Object::new();
        let set = |key: &str, value: &JsValue| {
            let _ = Reflect::set(&options, &JsValue::from_str(key), value);
        };
        set("url", &JsValue::from_str(url));
        set("ticket", &JsValue::from_str(ticket));
        set("username", &JsValue::from_str(&credentials.username));
        set("password", &JsValue::from_str(&credentials.password));
        if !credentials.domain.trim().is_empty() {
            set("domain", &JsValue::from_str(credentials.domain.trim()));
        }
        set("width", &JsValue::from(screen.client_width()));
        set("height", &JsValue::from(screen.client_height()));
        set("appName", &JsValue::from_str(app));
        set("onState", on_state.as_ref());
        // Clear what an earlier session left.
        screen.set_inner_html("");
        let session = start_rdp_session(module, &screen, &options).map_err(|error| {
            web_sys::console::error_2(&JsValue::from_str("rdp session:"), &error);
            "The remote desktop could not start in this browser.".to_owned()
        })?;
        let _ = Reflect::set(&window(), &JsValue::from_str(GLOBAL_NAME), &session);

        let timer = Rc::new(Cell::new(None::<i32>));
        let debounced = {
            let session: RdpSession = JsValue::from(&session).unchecked_into();
            let screen = screen.clone();
            let timer = timer.clone();
            Closure::<dyn FnMut()>::new(move || {
                timer.set(None);
                session.resize(
                    f64::from(screen.client_width()),
                    f64::from(screen.client_height()),
                );
            })
        };
        let observed = {
            let timer = timer.clone();
            let debounced: Function = debounced.as_ref().unchecked_ref::<Function>().clone();
            Closure::<dyn FnMut()>::new(move || {
                let window = window();
                if let Some(pending) = timer.take() {
                    window.clear_timeout_with_handle(pending);
                }
                let scheduled = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                    &debounced,
                    RESIZE_DEBOUNCE_MS,
                );
                timer.set(scheduled.ok());
            })
        };
        let observer = ResizeObserver::new(observed.as_ref().unchecked_ref()).ok();
        if let Some(observer) = &observer {
            observer.observe(&screen);
        }
        session.focus();
        Ok(Live {
            session,
            observer,
            timer,
            _on_state: on_state,
            _observed: observed,
            _debounced: debounced,
        })
    }

    pub fn ctrl_alt_del(&self) {
        self.session.ctrl_alt_del();
    }

    pub fn disconnect(&self) {
        self.session.disconnect();
    }

    pub fn focus(&self) {
        self.session.focus();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(observer) = self.observer.take() {
            observer.disconnect();
        }
        if let Some(pending) = self.timer.take() {
            window().clear_timeout_with_handle(pending);
        }
        let window = window();
        let global = JsValue::from_str(GLOBAL_NAME);
        let session: &JsValue = self.session.as_ref();
        if Reflect::get(&window, &global).is_ok_and(|current| current == *session) {
            let _ = Reflect::delete_property(&window, &global);
        }
        // Disconnects and removes the canvas; the callbacks are still alive for its last
        // state change.
        self.session.free();
    }
}

/// The page's phase for a state event of the module.
fn phase_of(event: &JsValue) -> Phase {
    let field = |name: &str| Reflect::get(event, &JsValue::from_str(name)).ok();
    let text = |name: &str| field(name).and_then(|value| value.as_string());
    let number = |name: &str| {
        field(name)
            .and_then(|value| value.as_f64())
            .map_or(0, |value| value as u32)
    };
    match text("state").as_deref() {
        Some("connected") => Phase::Connected {
            width: number("width"),
            height: number("height"),
        },
        Some("closed") => Phase::Closed {
            reason: text("reason").unwrap_or_default(),
            message: text("message").unwrap_or_else(|| "Disconnected".to_owned()),
        },
        _ => Phase::Connecting,
    }
}
