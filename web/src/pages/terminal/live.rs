//! The running terminal of the `/ssh/{app}` page: one xterm.js `Terminal`, the WebSocket that
//! carries its bytes, and the handlers that tie them to each other and to the page.
//!
//! **Bytes.** Keystrokes (`onData`, UTF-8) and byte input (`onBinary`, some mouse reports) go
//! up as binary frames; binary frames coming down go straight to `Terminal.write` as a
//! `Uint8Array` that never passes through the WebAssembly heap. Text frames are the JSON
//! control messages of `protocol::ssh`.
//!
//! **Flow control.** A browser WebSocket cannot pause reading, so the page acknowledges output
//! instead: every chunk handed to xterm.js is counted until its parser reports it done
//! (`write`'s callback), and what is done goes back to the server as
//! `TerminalInput::Ack`, in batches of [`ACK_BATCH`] bytes or whenever the parser has caught up.
//! The server stops sending once `protocol::ssh::OUTPUT_WINDOW` bytes are unacknowledged, so
//! a flood of output never piles up in the browser: nothing is dropped, and nothing is held
//! beyond that window, which xterm.js queues. Above [`HIGH_WATERMARK`] unparsed bytes the
//! page shows that the terminal is catching up. Input goes up in frames of at most
//! [`INPUT_FRAME`] bytes, well under the server's limit on one message.
//!
//! **Lifetime.** Every handler holds a `Weak` reference, so nothing keeps the terminal alive
//! but its [`Live`] handle; [`Live::shutdown`] detaches the handlers, closes the socket and
//! disposes the terminal. A socket's own handlers never replace or drop it (that would free a
//! closure while it runs); only [`Live::connect`] and [`Live::shutdown`] do.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use js_sys::{ArrayBuffer, Function, Reflect, Uint8Array};
use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::ssh::{TerminalEvent, TerminalInput, close_code};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    BinaryType, ClipboardEvent, CloseEvent, HtmlElement, KeyboardEvent, MediaQueryList,
    MessageEvent, ResizeObserver, WebSocket,
};

use super::{CONNECTION_LOST, Connection, Phase, clamp_size, socket_url};
use crate::api;
use crate::components::{clipboard, copy_to_clipboard};
use crate::xterm::{self, Fit, Webgl, Xterm};

/// Parsed output acknowledged in one message, unless the parser caught up before.
const ACK_BATCH: u64 = 64 * 1024;
/// The largest binary frame of input (a long paste goes up in several).
const INPUT_FRAME: usize = 64 * 1024;
/// Unparsed output above which the page says the terminal is catching up.
const HIGH_WATERMARK: usize = 1024 * 1024;
/// Unparsed output below which it stops saying so.
const LOW_WATERMARK: usize = 256 * 1024;

/// The global through which tests (and curious people in the console) reach the terminal.
const GLOBAL_NAME: &str = "posternTerminal";

const DARK_SCHEME: &str = "(prefers-color-scheme: dark)";

/// ESC c, which resets the terminal completely (screen, scrollback and modes).
const FULL_RESET: &str = "\u{1b}c";

/// `WebSocket.readyState` of an open socket.
const SOCKET_OPEN: u16 = 1;
/// A normal closure, for when the person leaves or reconnects.
const CLOSE_NORMAL: u16 = 1000;

/// The terminal while the page shows it.
pub struct Live {
    inner: Rc<Inner>,
}

struct Inner {
    connection: Connection,
    terminal: Xterm,
    fit: Fit,
    host: HtmlElement,
    phase: RwSignal<Phase>,
    catching_up: RwSignal<bool>,
    socket: RefCell<Option<Socket>>,
    /// Whether the current socket delivered `Closed` before it closed.
    closed_by_server: Cell<bool>,
    /// Counts sockets, so output of an earlier one is never acknowledged on a later one.
    generation: Cell<u32>,
    /// Bytes given to xterm.js that its parser has not finished, from any socket.
    pending_bytes: Cell<usize>,
    /// Output of the current socket parsed but not yet acknowledged.
    unacknowledged: Cell<u64>,
    /// The size the server last heard of (in the URL or a resize message).
    sent_size: Cell<(u16, u16)>,
    webgl: RefCell<Option<Webgl>>,
    observer: RefCell<Option<ResizeObserver>>,
    scheme: Option<MediaQueryList>,
    handlers: Handlers,
}

/// The closures registered with the terminal, the page and the browser; they live as long as
/// the terminal.
struct Handlers {
    data: Closure<dyn FnMut(String)>,
    binary: Closure<dyn FnMut(String)>,
    resized: Closure<dyn FnMut(JsValue)>,
    keys: Closure<dyn FnMut(KeyboardEvent) -> bool>,
    /// Called with the socket's generation and the chunk's length.
    parsed: Closure<dyn FnMut(u32, u32)>,
    fit: Closure<dyn FnMut()>,
    paste: Closure<dyn FnMut(ClipboardEvent)>,
    scheme: Closure<dyn FnMut()>,
    context_loss: Closure<dyn FnMut()>,
}

/// One WebSocket and its handlers.
struct Socket {
    websocket: WebSocket,
    _opened: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _closed: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Stops listening and closes; the handlers may be dropped afterwards.
    fn detach_and_close(&self) {
        self.websocket.set_onopen(None);
        self.websocket.set_onmessage(None);
        self.websocket.set_onclose(None);
        let _ = self.websocket.close_with_code(CLOSE_NORMAL);
    }
}

impl Live {
    /// Opens a terminal in `host` and connects it to `connection`'s App; progress and the
    /// outcome go to `phase`. `Err` carries a sentence for the person when xterm.js could not
    /// start at all.
    pub fn start(
        host: HtmlElement,
        connection: Connection,
        phase: RwSignal<Phase>,
        catching_up: RwSignal<bool>,
    ) -> Result<Live, String> {
        let scheme = window().match_media(DARK_SCHEME).ok().flatten();
        let dark = scheme.as_ref().is_some_and(MediaQueryList::matches);
        let unavailable = |_| "The terminal could not start in this browser.".to_owned();
        let terminal = Xterm::new(&xterm::options(dark)).map_err(unavailable)?;
        let fit = match open(&terminal, &host) {
            Ok(fit) => fit,
            Err(error) => {
                terminal.dispose();
                return Err(unavailable(error));
            }
        };
        // The WebGL renderer is faster on a GPU, but some browsers have no WebGL2, and WebGL
        // drawn in software (SwiftShader, llvmpipe) is several times slower than the DOM
        // renderer; in both cases xterm.js keeps its DOM renderer.
        let webgl = (!software_webgl())
            .then(|| Webgl::new().ok())
            .flatten()
            .filter(|webgl| terminal.load_addon(webgl).is_ok());

        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| Inner {
            connection,
            terminal,
            fit,
            host,
            phase,
            catching_up,
            socket: RefCell::new(None),
            closed_by_server: Cell::new(false),
            generation: Cell::new(0),
            pending_bytes: Cell::new(0),
            unacknowledged: Cell::new(0),
            sent_size: Cell::new((0, 0)),
            webgl: RefCell::new(webgl),
            observer: RefCell::new(None),
            scheme,
            handlers: Handlers::new(weak),
        });
        inner.attach();
        inner.fit();
        inner.connect();
        inner.terminal.focus();
        Ok(Live { inner })
    }

    /// Opens a new connection in place of the current one, on a cleared screen.
    pub fn connect(&self) {
        self.inner.connect();
        self.inner.terminal.focus();
    }

    /// Closes the connection and removes the terminal and every handler.
    pub fn shutdown(self) {
        self.inner.detach();
    }
}

/// Renders `terminal` into `host` with the fit addon, which it returns.
fn open(terminal: &Xterm, host: &HtmlElement) -> Result<Fit, JsValue> {
    terminal.open(host)?;
    let fit = Fit::new()?;
    terminal.load_addon(&fit)?;
    Ok(fit)
}

impl Handlers {
    fn new(weak: &Weak<Inner>) -> Handlers {
        // Each handler does nothing once the terminal is gone.
        let with = |action: fn(&Inner)| {
            let weak = weak.clone();
            move || {
                if let Some(inner) = weak.upgrade() {
                    action(&inner);
                }
            }
        };
        let data = {
            let weak = weak.clone();
            Closure::new(move |text: String| {
                if let Some(inner) = weak.upgrade() {
                    inner.send_input(text.as_bytes());
                }
            })
        };
        let binary = {
            let weak = weak.clone();
            Closure::new(move |text: String| {
                if let Some(inner) = weak.upgrade() {
                    // Each character stands for one byte (a code point below 256).
                    let bytes: Vec<u8> = text
                        .chars()
                        .map(|character| u8::try_from(u32::from(character)).unwrap_or(b'?'))
                        .collect();
                    inner.send_input(&bytes);
                }
            })
        };
        let resized = {
            let action = with(Inner::send_size);
            Closure::new(move |_size: JsValue| action())
        };
        let keys = {
            let weak = weak.clone();
            Closure::new(move |event: KeyboardEvent| {
                weak.upgrade()
                    .is_none_or(|inner| inner.terminal_takes_key(&event))
            })
        };
        let parsed = {
            let weak = weak.clone();
            Closure::new(move |generation: u32, length: u32| {
                if let Some(inner) = weak.upgrade() {
                    inner.parsed(generation, length);
                }
            })
        };
        let paste = {
            let weak = weak.clone();
            Closure::new(move |event: ClipboardEvent| {
                if let Some(inner) = weak.upgrade() {
                    inner.paste_from_page(&event);
                }
            })
        };
        Handlers {
            data,
            binary,
            resized,
            keys,
            parsed,
            fit: Closure::new(with(Inner::fit)),
            paste,
            scheme: Closure::new(with(Inner::follow_scheme)),
            context_loss: Closure::new(with(Inner::drop_webgl)),
        }
    }
}

impl Inner {
    /// Registers the handlers with the terminal, the page and the browser.
    fn attach(&self) {
        let handlers = &self.handlers;
        let terminal = &self.terminal;
        terminal.on_data(handlers.data.as_ref().unchecked_ref());
        terminal.on_binary(handlers.binary.as_ref().unchecked_ref());
        terminal.on_resize(handlers.resized.as_ref().unchecked_ref());
        terminal.attach_custom_key_event_handler(handlers.keys.as_ref().unchecked_ref());
        if let Some(webgl) = self.webgl.borrow().as_ref() {
            webgl.on_context_loss(handlers.context_loss.as_ref().unchecked_ref());
        }
        let _ = document()
            .add_event_listener_with_callback("paste", handlers.paste.as_ref().unchecked_ref());
        if let Some(scheme) = &self.scheme {
            let _ = scheme.add_event_listener_with_callback(
                "change",
                handlers.scheme.as_ref().unchecked_ref(),
            );
        }
        let _ = Reflect::set(&window(), &JsValue::from_str(GLOBAL_NAME), terminal);
        // The observer fires once right away and then whenever the terminal's element changes
        // size (window resizes, zoom), so this is the one place that fits.
        let observer = ResizeObserver::new(handlers.fit.as_ref().unchecked_ref()).ok();
        if let Some(observer) = &observer {
            observer.observe(&self.host);
        }
        *self.observer.borrow_mut() = observer;
    }

    /// Undoes [`Inner::attach`], closes the socket and disposes the terminal.
    fn detach(&self) {
        if let Some(socket) = self.socket.borrow_mut().take() {
            socket.detach_and_close();
        }
        if let Some(observer) = self.observer.borrow_mut().take() {
            observer.disconnect();
        }
        if let Some(scheme) = &self.scheme {
            let _ = scheme.remove_event_listener_with_callback(
                "change",
                self.handlers.scheme.as_ref().unchecked_ref(),
            );
        }
        let _ = document().remove_event_listener_with_callback(
            "paste",
            self.handlers.paste.as_ref().unchecked_ref(),
        );
        let global = JsValue::from_str(GLOBAL_NAME);
        let window = window();
        let terminal: &JsValue = self.terminal.as_ref();
        if Reflect::get(&window, &global).is_ok_and(|current| current == *terminal) {
            let _ = Reflect::delete_property(&window, &global);
        }
        // Disposing the terminal disposes its addons and its own listeners.
        self.terminal.dispose();
    }

    /// Opens a socket with the terminal's current size, replacing any earlier one.
    fn connect(self: &Rc<Self>) {
        if let Some(old) = self.socket.borrow_mut().take() {
            old.detach_and_close();
        }
        self.closed_by_server.set(false);
        self.generation.set(self.generation.get().wrapping_add(1));
        self.unacknowledged.set(0);
        // A full reset (RIS) through the write queue, so that output of the old socket still
        // queued is parsed before it, not onto the new session's screen.
        self.terminal.write_text(FULL_RESET);
        let size = self.size();
        let location = window().location();
        let url = socket_url(
            &location.protocol().unwrap_or_default(),
            &location.host().unwrap_or_default(),
            &self.connection.app,
            size,
            self.connection.principal.as_deref(),
        );
        self.phase.set(Phase::Connecting);
        let websocket = match WebSocket::new(&url) {
            Ok(websocket) => websocket,
            Err(_) => {
                self.phase.set(Phase::Closed {
                    code: CONNECTION_LOST.to_owned(),
                    reason: "The browser would not open a connection to the server.".to_owned(),
                });
                return;
            }
        };
        websocket.set_binary_type(BinaryType::Arraybuffer);
        self.sent_size.set(size);
        let weak = Rc::downgrade(self);
        let opened: Closure<dyn FnMut()> = {
            let weak = weak.clone();
            Closure::new(move || {
                if let Some(inner) = weak.upgrade() {
                    // The page may have been resized while the socket was connecting.
                    inner.send_size();
                }
            })
        };
        let message: Closure<dyn FnMut(MessageEvent)> = {
            let weak = weak.clone();
            Closure::new(move |event: MessageEvent| {
                if let Some(inner) = weak.upgrade() {
                    inner.received(&event.data());
                }
            })
        };
        let closed: Closure<dyn FnMut(CloseEvent)> = Closure::new(move |_event: CloseEvent| {
            if let Some(inner) = weak.upgrade() {
                inner.socket_closed();
            }
        });
        websocket.set_onopen(Some(opened.as_ref().unchecked_ref()));
        websocket.set_onmessage(Some(message.as_ref().unchecked_ref()));
        websocket.set_onclose(Some(closed.as_ref().unchecked_ref()));
        *self.socket.borrow_mut() = Some(Socket {
            websocket,
            _opened: opened,
            _message: message,
            _closed: closed,
        });
    }

    /// The terminal's size in cells, within what the gateway accepts.
    fn size(&self) -> (u16, u16) {
        clamp_size(self.terminal.cols(), self.terminal.rows())
    }

    /// Sizes the terminal to its element.
    fn fit(&self) {
        if self.fit.fit().is_err() {
            return;
        }
        let (cols, rows) = self.size();
        if (u32::from(cols), u32::from(rows)) != (self.terminal.cols(), self.terminal.rows()) {
            // A huge window at a tiny zoom: stay within the gateway's limit.
            let _ = self.terminal.resize(u32::from(cols), u32::from(rows));
        }
    }

    /// Tells the server the terminal's size if it changed since the server last heard.
    fn send_size(&self) {
        let size = self.size();
        if size == self.sent_size.get() {
            return;
        }
        let (cols, rows) = size;
        if self.send_control(&TerminalInput::Resize { cols, rows }) {
            self.sent_size.set(size);
        }
    }

    /// Sends input to the shell. With no open socket there is nothing to receive it, and the
    /// page already says so.
    fn send_input(&self, bytes: &[u8]) {
        if let Some(websocket) = self.open_socket() {
            for frame in bytes.chunks(INPUT_FRAME) {
                let _ = websocket.send_with_u8_array(frame);
            }
        }
    }

    fn send_control(&self, input: &TerminalInput) -> bool {
        let Some(websocket) = self.open_socket() else {
            return false;
        };
        serde_json::to_string(input).is_ok_and(|message| websocket.send_with_str(&message).is_ok())
    }

    fn open_socket(&self) -> Option<WebSocket> {
        self.socket
            .borrow()
            .as_ref()
            .map(|socket| socket.websocket.clone())
            .filter(|websocket| websocket.ready_state() == SOCKET_OPEN)
    }

    /// A frame from the server: terminal output or a control message.
    fn received(&self, data: &JsValue) {
        if let Some(buffer) = data.dyn_ref::<ArrayBuffer>() {
            self.write(&Uint8Array::new(buffer));
            return;
        }
        let Some(text) = data.as_string() else {
            return;
        };
        // A control message this page does not know comes from a newer server; skip it.
        match serde_json::from_str::<TerminalEvent>(&text) {
            Ok(TerminalEvent::Connected {
                principal,
                host_key_fingerprint,
                pinned_now,
                recorded,
            }) => {
                self.phase.set(Phase::Connected {
                    principal,
                    host_key_fingerprint,
                    pinned_now,
                    recorded,
                });
            }
            Ok(TerminalEvent::Closed { code, reason }) => {
                self.closed_by_server.set(true);
                self.phase.set(Phase::Closed { code, reason });
            }
            Err(_) => {}
        }
    }

    /// Hands output to xterm.js and counts it until parsed.
    fn write(&self, bytes: &Uint8Array) {
        let length = bytes.length();
        let parsed: &Function = self.handlers.parsed.as_ref().unchecked_ref();
        let parsed: Function = parsed
            .bind2(
                &JsValue::NULL,
                &JsValue::from(self.generation.get()),
                &JsValue::from(length),
            )
            .unchecked_into();
        self.pending_bytes
            .set(self.pending_bytes.get().saturating_add(length as usize));
        self.terminal.write_bytes(bytes, &parsed);
        if self.pending_bytes.get() > HIGH_WATERMARK && !self.catching_up.get_untracked() {
            self.catching_up.set(true);
        }
    }

    /// xterm.js parsed a chunk of output from socket `generation`.
    fn parsed(&self, generation: u32, length: u32) {
        self.pending_bytes
            .set(self.pending_bytes.get().saturating_sub(length as usize));
        let caught_up = self.pending_bytes.get() == 0;
        if self.pending_bytes.get() < LOW_WATERMARK && self.catching_up.get_untracked() {
            self.catching_up.set(false);
        }
        if generation != self.generation.get() {
            return;
        }
        let unacknowledged = self.unacknowledged.get() + u64::from(length);
        if unacknowledged < ACK_BATCH && !caught_up {
            self.unacknowledged.set(unacknowledged);
            return;
        }
        // Output acknowledged on a socket that has closed meanwhile is moot.
        self.send_control(&TerminalInput::Ack {
            bytes: unacknowledged,
        });
        self.unacknowledged.set(0);
    }

    /// The socket closed: after `Closed` the page already shows why; otherwise the connection
    /// dropped, possibly because the Session ended, which is worth a look.
    fn socket_closed(&self) {
        if self.closed_by_server.get() {
            return;
        }
        self.phase.set(Phase::Closed {
            code: CONNECTION_LOST.to_owned(),
            reason: "Connection lost.".to_owned(),
        });
        let phase = self.phase;
        spawn_local(async move {
            let Err(error) = api::me().await else {
                return;
            };
            if !error.is_unauthenticated() {
                return;
            }
            // Only if nothing happened meanwhile (such as a reconnect).
            phase.update(|phase| {
                if matches!(phase, Phase::Closed { code, .. } if code == CONNECTION_LOST) {
                    *phase = Phase::Closed {
                        code: close_code::SIGNED_OUT.to_owned(),
                        reason: "Your Session has ended. Sign in again to reconnect.".to_owned(),
                    };
                }
            });
        });
    }

    /// Whether the terminal should act on a key event: Ctrl+Shift+C copies the selection and
    /// Ctrl+Shift+V leaves the key to the browser, whose paste event xterm.js turns into
    /// input; both would otherwise reach the shell as control characters.
    fn terminal_takes_key(&self, event: &KeyboardEvent) -> bool {
        let shortcut =
            event.ctrl_key() && event.shift_key() && !event.alt_key() && !event.meta_key();
        if !shortcut {
            return true;
        }
        match event.code().as_str() {
            "KeyC" => {
                if event.type_() == "keydown" {
                    // Chrome opens its element picker on Ctrl+Shift+C otherwise.
                    event.prevent_default();
                    self.copy_selection();
                }
                false
            }
            "KeyV" => false,
            _ => true,
        }
    }

    fn copy_selection(&self) {
        if !self.terminal.has_selection() {
            return;
        }
        let text = self.terminal.selection();
        if clipboard().is_some() {
            spawn_local(async move {
                copy_to_clipboard(&text).await;
            });
        } else if let Ok(page) = document().dyn_into::<web_sys::HtmlDocument>() {
            // Without the asynchronous clipboard (plain http), the copy command raises a copy
            // event on the focused terminal, which xterm.js fills with the selection.
            let _ = page.exec_command("copy");
        }
    }

    /// A paste anywhere on the page outside a form field goes to the shell. Pastes into the
    /// terminal itself never get here: xterm.js handles them and stops them.
    fn paste_from_page(&self, event: &ClipboardEvent) {
        if !matches!(self.phase.get_untracked(), Phase::Connected { .. }) {
            return;
        }
        let target = event
            .target()
            .and_then(|target| target.dyn_into::<HtmlElement>().ok());
        let in_field = target.as_ref().is_some_and(|element| {
            element.is_content_editable()
                || matches!(
                    element.tag_name().to_ascii_lowercase().as_str(),
                    "input" | "textarea" | "select"
                )
        });
        if in_field {
            return;
        }
        let text = event
            .clipboard_data()
            .and_then(|data| data.get_data("text/plain").ok())
            .unwrap_or_default();
        if text.is_empty() {
            return;
        }
        event.prevent_default();
        self.terminal.paste(&text);
        self.terminal.focus();
    }

    fn follow_scheme(&self) {
        let dark = self.scheme.as_ref().is_some_and(MediaQueryList::matches);
        xterm::apply_scheme(&self.terminal, dark);
    }

    /// The browser took the WebGL context away; the DOM renderer takes over.
    fn drop_webgl(&self) {
        if let Some(webgl) = self.webgl.borrow_mut().take() {
            webgl.dispose();
        }
    }
}

/// Whether WebGL2 here is missing or drawn by a software rasterizer, as the unmasked renderer
/// name says when the browser reveals it (when it does not, assume a GPU).
fn software_webgl() -> bool {
    let call = |target: &JsValue, method: &str, argument: &JsValue| -> Option<JsValue> {
        let function: Function = Reflect::get(target, &JsValue::from_str(method))
            .ok()?
            .dyn_into()
            .ok()?;
        function
            .call1(target, argument)
            .ok()
            .filter(|value| !value.is_null() && !value.is_undefined())
    };
    let Some(canvas) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.create_element("canvas").ok())
    else {
        return true;
    };
    let Some(context) = call(&canvas, "getContext", &JsValue::from_str("webgl2")) else {
        return true;
    };
    let Some(info) = call(
        &context,
        "getExtension",
        &JsValue::from_str("WEBGL_debug_renderer_info"),
    ) else {
        return false;
    };
    let Ok(parameter) = Reflect::get(&info, &JsValue::from_str("UNMASKED_RENDERER_WEBGL")) else {
        return false;
    };
    let renderer = call(&context, "getParameter", &parameter)
        .and_then(|name| name.as_string())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // Give the probe's context back at once rather than when the canvas is collected.
    if let Some(lose) = call(
        &context,
        "getExtension",
        &JsValue::from_str("WEBGL_lose_context"),
    ) {
        let _ = Reflect::get(&lose, &JsValue::from_str("loseContext"))
            .ok()
            .and_then(|function| function.dyn_into::<Function>().ok())
            .map(|function| function.call0(&lose));
    }
    ["swiftshader", "llvmpipe", "softpipe", "software"]
        .iter()
        .any(|name| renderer.contains(name))
}
