//! The RDP module of the browser desktop page: a JS class, `RdpSession`, that connects a
//! `<canvas>` to a remote desktop through the server's RDCleanPath gateway.
//!
//! The web app loads this module only on `/rdp/{app}` (dynamic `import()` of
//! `/rdp/rdp_web.js`, built by `cargo xtask` with wasm-bindgen `--target web`). In JS:
//!
//! ```js
//! const rdp = await import("/rdp/rdp_web.js");
//! await rdp.default();
//! const session = new rdp.RdpSession(container, {
//!   url: "wss://postern.example.com/gw/rdp/desk", ticket, username, password,
//!   domain,             // optional
//!   width, height,      // CSS pixels; clamped to what RDP accepts
//!   appName,            // the gateway's RDCleanPath destination label, and the canvas label
//!   onState(event) {},  // {state: "connecting"} | {state: "connected", width, height}
//!                       // | {state: "closed", reason, message}
//!   onClipboardText(text) {},
//! });
//! session.resize(w, h); session.ctrlAltDel(); session.setClipboardText(text);
//! session.focus(); session.disconnect(); session.free();
//! ```
//!
//! For tests, the container carries `data-state` (`connecting|connected|closed`),
//! `data-close-reason` (see [`outcome::reason`]) and `data-frames` (painted frames so far).

mod desktop;
mod geometry;
mod outcome;
mod screen;
mod socket;

use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

pub use outcome::reason;

/// One remote desktop in one container element.
#[wasm_bindgen]
pub struct RdpSession {
    desktop: desktop::Desktop,
}

#[wasm_bindgen]
impl RdpSession {
    /// Puts a canvas into `container` and starts connecting with `options` (see the module
    /// documentation). Fails only when the options are unusable or the browser has no canvas.
    #[wasm_bindgen(constructor)]
    pub fn new(container: HtmlElement, options: JsValue) -> Result<RdpSession, JsError> {
        console_error_panic_hook::set_once();
        let options = desktop::Options::from_js(&options).map_err(|error| JsError::new(&error))?;
        let desktop =
            desktop::Desktop::start(container, options).map_err(|error| JsError::new(&error))?;
        Ok(RdpSession { desktop })
    }

    /// Asks the remote computer for a desktop of `width` × `height` CSS pixels (the page calls
    /// this, debounced, when the container changes size).
    pub fn resize(&self, width: f64, height: f64) {
        self.desktop.resize(width, height);
    }

    /// Sends Ctrl+Alt+Del, which the browser's own keyboard can never deliver.
    #[wasm_bindgen(js_name = ctrlAltDel)]
    pub fn ctrl_alt_del(&self) {
        self.desktop.ctrl_alt_del();
    }

    /// Offers `text` to the remote clipboard.
    #[wasm_bindgen(js_name = setClipboardText)]
    pub fn set_clipboard_text(&self, text: &str) {
        self.desktop.set_clipboard_text(text);
    }

    /// Moves the keyboard focus to the desktop.
    pub fn focus(&self) {
        self.desktop.focus();
    }

    /// Ends the session gracefully and closes the connection.
    pub fn disconnect(&self) {
        self.desktop.disconnect();
    }

    /// `connecting`, `connected` or `closed`.
    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.desktop.state().to_owned()
    }
}

impl Drop for RdpSession {
    /// `free()` from JS: disconnects and removes the canvas and every listener.
    fn drop(&mut self) {
        self.desktop.teardown();
    }
}
