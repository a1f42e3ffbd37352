//! Bindings to the parts of xterm.js and its fit and WebGL addons that the terminal page uses,
//! and the terminal's options and colour themes.
//!
//! The libraries are the UMD builds under `/vendor` (see `crate::vendor`); they define the
//! globals `Terminal`, `FitAddon.FitAddon` and `WebglAddon.WebglAddon`. Every call that can
//! throw (a missing global, no WebGL) is bound with `catch`, so a failure comes back as an
//! `Err` instead of unwinding through the WebAssembly module.

use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// xterm.js's `Terminal`.
    #[wasm_bindgen(js_name = Terminal)]
    pub type Xterm;

    #[wasm_bindgen(constructor, js_class = "Terminal", catch)]
    pub fn new(options: &JsValue) -> Result<Xterm, JsValue>;

    /// Renders the terminal into `parent`.
    #[wasm_bindgen(method, js_class = "Terminal", catch)]
    pub fn open(this: &Xterm, parent: &web_sys::HtmlElement) -> Result<(), JsValue>;

    /// Activates an addon; the WebGL addon throws here when the browser has no WebGL2.
    #[wasm_bindgen(method, js_class = "Terminal", js_name = loadAddon, catch)]
    pub fn load_addon(this: &Xterm, addon: &JsValue) -> Result<(), JsValue>;

    /// Queues output for the parser; `parsed` runs once these bytes have been processed.
    ///
    /// The bytes must live in JavaScript memory (a `Uint8Array` of its own), because xterm.js
    /// keeps them until it parses them, after this call has returned.
    #[wasm_bindgen(method, js_class = "Terminal", js_name = write)]
    pub fn write_bytes(this: &Xterm, data: &Uint8Array, parsed: &Function);

    /// Queues text for the parser, after any bytes queued before.
    #[wasm_bindgen(method, js_class = "Terminal", js_name = write)]
    pub fn write_text(this: &Xterm, data: &str);

    /// Feeds `text` to the terminal as a paste (bracketed when the application asked for it).
    #[wasm_bindgen(method, js_class = "Terminal")]
    pub fn paste(this: &Xterm, text: &str);

    #[wasm_bindgen(method, js_class = "Terminal")]
    pub fn focus(this: &Xterm);

    #[wasm_bindgen(method, js_class = "Terminal")]
    pub fn dispose(this: &Xterm);

    #[wasm_bindgen(method, js_class = "Terminal", js_name = hasSelection)]
    pub fn has_selection(this: &Xterm) -> bool;

    #[wasm_bindgen(method, js_class = "Terminal", js_name = getSelection)]
    pub fn selection(this: &Xterm) -> String;

    #[wasm_bindgen(method, js_class = "Terminal", getter)]
    pub fn cols(this: &Xterm) -> u32;

    #[wasm_bindgen(method, js_class = "Terminal", getter)]
    pub fn rows(this: &Xterm) -> u32;

    #[wasm_bindgen(method, js_class = "Terminal", catch)]
    pub fn resize(this: &Xterm, cols: u32, rows: u32) -> Result<(), JsValue>;

    /// The live options object; assigning a property applies it.
    #[wasm_bindgen(method, js_class = "Terminal", getter)]
    pub fn options(this: &Xterm) -> Object;

    /// `listener(text)` for what the user typed or pasted.
    #[wasm_bindgen(method, js_class = "Terminal", js_name = onData)]
    pub fn on_data(this: &Xterm, listener: &Function);

    /// `listener(text)` for input that is bytes, not text (some mouse reports); each character
    /// is one byte.
    #[wasm_bindgen(method, js_class = "Terminal", js_name = onBinary)]
    pub fn on_binary(this: &Xterm, listener: &Function);

    /// `listener({ cols, rows })` after the size in cells changed.
    #[wasm_bindgen(method, js_class = "Terminal", js_name = onResize)]
    pub fn on_resize(this: &Xterm, listener: &Function);

    /// `handler(keyboardEvent)` sees every key event first; returning `false` keeps the
    /// terminal from acting on it.
    #[wasm_bindgen(method, js_class = "Terminal", js_name = attachCustomKeyEventHandler)]
    pub fn attach_custom_key_event_handler(this: &Xterm, handler: &Function);

    /// The fit addon, which sizes the terminal to its element.
    #[wasm_bindgen(js_namespace = FitAddon, js_name = FitAddon)]
    pub type Fit;

    #[wasm_bindgen(constructor, js_namespace = FitAddon, js_class = "FitAddon", catch)]
    pub fn new() -> Result<Fit, JsValue>;

    /// Resizes the terminal to as many cells as its element holds.
    #[wasm_bindgen(method, js_namespace = FitAddon, js_class = "FitAddon", catch)]
    pub fn fit(this: &Fit) -> Result<(), JsValue>;

    /// The WebGL renderer addon.
    #[wasm_bindgen(js_namespace = WebglAddon, js_name = WebglAddon)]
    pub type Webgl;

    #[wasm_bindgen(constructor, js_namespace = WebglAddon, js_class = "WebglAddon", catch)]
    pub fn new() -> Result<Webgl, JsValue>;

    /// `listener()` when the browser takes the WebGL context away (GPU reset, too many
    /// contexts).
    #[wasm_bindgen(
        method,
        js_namespace = WebglAddon,
        js_class = "WebglAddon",
        js_name = onContextLoss
    )]
    pub fn on_context_loss(this: &Webgl, listener: &Function);

    /// Removes the renderer; the terminal goes back to its default DOM renderer.
    #[wasm_bindgen(method, js_namespace = WebglAddon, js_class = "WebglAddon")]
    pub fn dispose(this: &Webgl);
}

/// The monospace fonts of `style/main.css`, so the terminal looks like the code on other pages.
const FONT_FAMILY: &str = "ui-monospace, \"SFMono-Regular\", \"Cascadia Mono\", \"Roboto Mono\", \
                           Menlo, Consolas, \"Liberation Mono\", monospace";

/// Lines kept above the screen for scrolling back.
const SCROLLBACK_LINES: u32 = 5000;

/// The options a new terminal starts with.
pub fn options(dark: bool) -> JsValue {
    let options = Object::new();
    set(&options, "fontFamily", &FONT_FAMILY.into());
    set(&options, "fontSize", &14.into());
    set(&options, "cursorBlink", &true.into());
    set(&options, "scrollback", &SCROLLBACK_LINES.into());
    set(&options, "theme", &Theme::for_scheme(dark).to_js());
    set(
        &options,
        "minimumContrastRatio",
        &Theme::for_scheme(dark).minimum_contrast_ratio.into(),
    );
    options.into()
}

/// Switches a running terminal to the light or dark theme.
pub fn apply_scheme(terminal: &Xterm, dark: bool) {
    let theme = Theme::for_scheme(dark);
    let options = terminal.options();
    set(&options, "theme", &theme.to_js());
    set(
        &options,
        "minimumContrastRatio",
        &theme.minimum_contrast_ratio.into(),
    );
}

fn set(object: &Object, key: &str, value: &JsValue) {
    // Setting a property on a plain object or on xterm's options object does not fail.
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

/// Terminal colours that sit with the page's light and dark schemes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Theme {
    background: &'static str,
    foreground: &'static str,
    cursor: &'static str,
    cursor_accent: &'static str,
    selection_background: &'static str,
    /// black, red, green, yellow, blue, magenta, cyan, white, then the bright eight.
    ansi: [&'static str; 16],
    /// xterm.js adjusts foreground colours until they reach this contrast with their
    /// background. Programs pick ANSI colours for dark terminals, so on the light theme pale
    /// yellow or white text would otherwise be unreadable.
    minimum_contrast_ratio: f64,
}

/// xterm.js's names for the sixteen ANSI colours, in order.
const ANSI_NAMES: [&str; 16] = [
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "white",
    "brightBlack",
    "brightRed",
    "brightGreen",
    "brightYellow",
    "brightBlue",
    "brightMagenta",
    "brightCyan",
    "brightWhite",
];

const LIGHT: Theme = Theme {
    background: "#ffffff",
    foreground: "#151a23",
    cursor: "#3f37c9",
    cursor_accent: "#ffffff",
    selection_background: "#4f46e540",
    ansi: [
        "#151a23", "#b42318", "#116b34", "#7a5800", "#1d4ed8", "#8a2fc2", "#0b6f85", "#8a93a3",
        "#576172", "#d92d20", "#178a45", "#946c00", "#2563eb", "#a43fe0", "#0891b2", "#c5ccd6",
    ],
    minimum_contrast_ratio: 4.5,
};

const DARK: Theme = Theme {
    background: "#0e1117",
    foreground: "#e6e9ef",
    cursor: "#a9aeff",
    cursor_accent: "#0e1117",
    selection_background: "#7c83ff59",
    ansi: [
        "#2a303b", "#ff7b72", "#7ddc9d", "#f4d58d", "#8ab4ff", "#c9a2ff", "#76d9e6", "#c9ced8",
        "#6b7484", "#ffa39c", "#a4ecbb", "#ffe6a8", "#b3ceff", "#dcc2ff", "#a6eaf2", "#ffffff",
    ],
    minimum_contrast_ratio: 1.0,
};

impl Theme {
    fn for_scheme(dark: bool) -> Theme {
        if dark { DARK } else { LIGHT }
    }

    fn to_js(self) -> JsValue {
        let theme = Object::new();
        set(&theme, "background", &self.background.into());
        set(&theme, "foreground", &self.foreground.into());
        set(&theme, "cursor", &self.cursor.into());
        set(&theme, "cursorAccent", &self.cursor_accent.into());
        set(
            &theme,
            "selectionBackground",
            &self.selection_background.into(),
        );
        for (name, colour) in ANSI_NAMES.iter().zip(self.ansi) {
            set(&theme, name, &colour.into());
        }
        theme.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theme_colours_are_hex() {
        for theme in [LIGHT, DARK] {
            let colours = [
                theme.background,
                theme.foreground,
                theme.cursor,
                theme.cursor_accent,
                theme.selection_background,
            ];
            for colour in colours.into_iter().chain(theme.ansi) {
                let digits = colour.strip_prefix('#').unwrap_or_default();
                assert!(
                    matches!(digits.len(), 6 | 8)
                        && digits.bytes().all(|byte| byte.is_ascii_hexdigit()),
                    "{colour}"
                );
            }
        }
    }
}
