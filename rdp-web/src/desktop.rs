//! The running desktop behind one `RdpSession`: the connection task, the canvas, and the
//! keyboard, pointer, focus and clipboard handlers that feed the session.
//!
//! **Task.** One `spawn_local` task opens the WebSocket, runs `rdp::connect`, then reads PDUs
//! and feeds them to `rdp::Session::process`. Input handlers run between its awaits: they
//! borrow the session only for the call that encodes their input and write the bytes straight
//! to the socket, so nothing is held across an await.
//!
//! **Painting.** Graphics updates only mark rectangles dirty; one `requestAnimationFrame`
//! callback paints them all from the framebuffer, so a burst of updates costs one paint.
//!
//! **Lifetime.** Handlers hold `Weak` references; the task holds an `Rc` until the socket
//! closes. [`Desktop::teardown`] closes the connection and removes the canvas and every
//! listener.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use ironrdp_futures::LocalFuturesFramed;
use js_sys::{Function, Object, Promise, Reflect};
use rdp::{ConnectError, MouseButton, Pointer, Session, SessionError, SessionEvent};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{
    AddEventListenerOptions, ClipboardEvent, Document, Event, HtmlElement, KeyboardEvent,
    MouseEvent, PointerEvent, WheelEvent, Window,
};

use crate::geometry::{Rect, desktop_size, to_desktop, wheel_rotation};
use crate::outcome::{self, Failure, reason};
use crate::screen::{Frame, Screen, bitmap_cursor};
use crate::socket::{CLOSE_NORMAL, Socket};

/// The computer name the remote computer sees.
const CLIENT_NAME: &str = "postern-web";

/// How long a Ctrl+V waits for the browser's paste event before it goes to the remote
/// computer anyway (with whatever its clipboard holds).
const PASTE_WAIT_MS: i32 = 200;

/// What the page passed to the constructor.
pub struct Options {
    url: String,
    connect: rdp::ConnectOptions,
    on_state: Option<Function>,
    on_clipboard: Option<Function>,
}

impl Options {
    /// Reads the options object; `Err` names what is missing.
    pub fn from_js(value: &JsValue) -> Result<Options, String> {
        if !value.is_object() {
            return Err("RdpSession needs an options object".to_owned());
        }
        let text = |name: &str| {
            Reflect::get(value, &JsValue::from_str(name))
                .ok()
                .and_then(|value| value.as_string())
        };
        let required = |name: &str| {
            text(name)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| format!("RdpSession options need `{name}`"))
        };
        let number = |name: &str| {
            Reflect::get(value, &JsValue::from_str(name))
                .ok()
                .and_then(|value| value.as_f64())
                .unwrap_or(0.0)
        };
        let function = |name: &str| {
            Reflect::get(value, &JsValue::from_str(name))
                .ok()
                .and_then(|value| value.dyn_into::<Function>().ok())
        };
        let (width, height) = desktop_size(number("width"), number("height"));
        let app_name = required("appName")?;
        Ok(Options {
            url: required("url")?,
            connect: rdp::ConnectOptions {
                credentials: rdp::Credentials {
                    username: required("username")?,
                    password: text("password").unwrap_or_default(),
                    domain: text("domain").filter(|domain| !domain.trim().is_empty()),
                },
                width,
                height,
                ticket: required("ticket")?,
                destination: app_name,
                client_name: CLIENT_NAME.to_owned(),
            },
            on_state: function("onState"),
            on_clipboard: function("onClipboardText"),
        })
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    Connected,
    Closed,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Closed => "closed",
        }
    }
}

/// The handle `RdpSession` keeps.
pub struct Desktop {
    inner: Rc<Inner>,
}

struct Inner {
    /// This desktop, for work that outlives a handler call (clipboard reads).
    this: Weak<Inner>,
    window: Window,
    document: Document,
    container: HtmlElement,
    screen: RefCell<Screen>,
    socket: RefCell<Option<Socket>>,
    session: RefCell<Option<Session>>,
    state: Cell<State>,
    /// The desktop size now.
    size: Cell<(u16, u16)>,
    /// A size the page asked for that the session could not request yet (its display
    /// channel was not open).
    pending_resize: Cell<Option<(u16, u16)>>,
    on_state: Option<Function>,
    on_clipboard: Option<Function>,
    frames: Cell<u32>,
    /// The pending `requestAnimationFrame`, if any.
    frame_request: Cell<Option<i32>>,
    /// The pending paste timer, if any.
    paste_timer: Cell<Option<i32>>,
    /// Whether the lock keys were synchronised since the canvas got the focus.
    locks_synced: Cell<bool>,
    /// The code of a paste shortcut's key held back until the paste event has delivered the
    /// local clipboard.
    held_paste_key: RefCell<Option<String>>,
    /// The text last offered to the remote clipboard, so focus changes do not repeat it.
    offered_text: RefCell<Option<String>>,
    handlers: RefCell<Option<Handlers>>,
}

/// The closures registered with the canvas, the document and the window.
struct Handlers {
    key_down: Closure<dyn FnMut(KeyboardEvent)>,
    key_up: Closure<dyn FnMut(KeyboardEvent)>,
    pointer_move: Closure<dyn FnMut(PointerEvent)>,
    pointer_down: Closure<dyn FnMut(PointerEvent)>,
    pointer_up: Closure<dyn FnMut(PointerEvent)>,
    wheel: Closure<dyn FnMut(WheelEvent)>,
    context_menu: Closure<dyn FnMut(Event)>,
    focus: Closure<dyn FnMut(Event)>,
    blur: Closure<dyn FnMut(Event)>,
    paste: Closure<dyn FnMut(ClipboardEvent)>,
    visibility: Closure<dyn FnMut(Event)>,
    animation_frame: Closure<dyn FnMut(f64)>,
    paste_timeout: Closure<dyn FnMut()>,
}

impl Desktop {
    /// Adds the canvas to `container` and starts connecting.
    pub fn start(container: HtmlElement, options: Options) -> Result<Desktop, String> {
        let window = web_sys::window().ok_or("no window")?;
        let document = window.document().ok_or("no document")?;
        let Options {
            url,
            connect,
            on_state,
            on_clipboard,
        } = options;
        let (width, height) = (connect.width, connect.height);
        let screen = Screen::new(&document, width, height)
            .map_err(|_| "This browser cannot draw the remote desktop.".to_owned())?;
        let canvas = screen.canvas().clone();
        canvas.set_tab_index(0);
        canvas.set_class_name("rdp-canvas");
        let _ = canvas.set_attribute("role", "application");
        let _ = canvas.set_attribute("aria-roledescription", "remote desktop");
        let _ = canvas.set_attribute(
            "aria-label",
            &format!("Remote desktop of {}", connect.destination),
        );
        let _ = canvas.set_attribute("data-testid", "rdp-canvas");
        container
            .append_child(&canvas)
            .map_err(|_| "The remote desktop could not be added to the page.".to_owned())?;

        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| Inner {
            this: weak.clone(),
            window,
            document,
            container,
            screen: RefCell::new(screen),
            socket: RefCell::new(None),
            session: RefCell::new(None),
            state: Cell::new(State::Connecting),
            size: Cell::new((width, height)),
            pending_resize: Cell::new(None),
            on_state,
            on_clipboard,
            frames: Cell::new(0),
            frame_request: Cell::new(None),
            paste_timer: Cell::new(None),
            locks_synced: Cell::new(false),
            held_paste_key: RefCell::new(None),
            offered_text: RefCell::new(None),
            handlers: RefCell::new(Some(Handlers::new(weak))),
        });
        inner.attach();
        inner.set_state(State::Connecting, None);
        spawn_local(run(inner.clone(), url, connect));
        Ok(Desktop { inner })
    }

    pub fn resize(&self, width: f64, height: f64) {
        self.inner.resize(desktop_size(width, height));
    }

    pub fn ctrl_alt_del(&self) {
        self.inner.input(Session::ctrl_alt_del);
        self.focus();
    }

    pub fn set_clipboard_text(&self, text: &str) {
        self.inner.offer_text(text);
    }

    pub fn focus(&self) {
        let _ = self.inner.screen.borrow().canvas().focus();
    }

    pub fn disconnect(&self) {
        self.inner.disconnect();
    }

    pub fn state(&self) -> &'static str {
        self.inner.state.get().as_str()
    }

    /// Disconnects and removes the canvas and every listener.
    pub fn teardown(&self) {
        self.inner.disconnect();
        self.inner.detach();
        self.inner.screen.borrow().canvas().remove();
    }
}

/// Connects, then reads and processes PDUs until the session ends.
async fn run(inner: Rc<Inner>, url: String, connect: rdp::ConnectOptions) {
    let socket = match Socket::open(&url) {
        Ok(socket) => socket,
        Err(message) => {
            inner.finish(Failure::Unavailable(message));
            return;
        }
    };
    *inner.socket.borrow_mut() = Some(socket.clone());
    let mut framed = LocalFuturesFramed::new(socket);
    let result = rdp::connect(&mut framed, &connect).await;
    // The password is not needed any more.
    drop(connect);
    if inner.state.get() == State::Closed {
        return;
    }
    match result {
        Ok(connected) => inner.connected(connected),
        Err(error) => {
            inner.finish(Failure::Connect {
                kind: kind_of(&error),
                message: error.message(),
            });
            return;
        }
    }
    loop {
        let read = framed.read_pdu().await;
        if inner.state.get() == State::Closed {
            return;
        }
        let result = match read {
            Ok((action, frame)) => inner.process(action, &frame),
            Err(_) => Err(Failure::Dropped),
        };
        if let Err(failure) = result {
            inner.finish(failure);
            return;
        }
    }
}

/// The `reason` for a connection failure.
fn kind_of(error: &ConnectError) -> &'static str {
    match error {
        ConnectError::Gateway { .. } => reason::GATEWAY,
        ConnectError::Negotiation(_) => reason::NEGOTIATION,
        ConnectError::AuthenticationFailed(_) => reason::AUTHENTICATION,
        ConnectError::Network(_) => reason::NETWORK,
        ConnectError::Protocol(_) => reason::PROTOCOL,
    }
}

fn protocol_failure(error: &SessionError) -> Failure {
    web_sys::console::warn_1(&JsValue::from_str(&error.to_string()));
    Failure::Protocol(
        "The remote computer sent something this client does not understand.".to_owned(),
    )
}

impl Handlers {
    fn new(weak: &Weak<Inner>) -> Handlers {
        /// A closure that calls `action` while the desktop exists.
        fn on<E: 'static + wasm_bindgen::convert::FromWasmAbi>(
            weak: &Weak<Inner>,
            action: fn(&Inner, &E),
        ) -> Closure<dyn FnMut(E)> {
            let weak = weak.clone();
            Closure::new(move |event: E| {
                if let Some(inner) = weak.upgrade() {
                    action(&inner, &event);
                }
            })
        }
        let animation_frame = {
            let weak = weak.clone();
            Closure::new(move |_time: f64| {
                if let Some(inner) = weak.upgrade() {
                    inner.paint();
                }
            })
        };
        let paste_timeout = {
            let weak = weak.clone();
            Closure::new(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.release_held_paste_key();
                }
            })
        };
        Handlers {
            key_down: on(weak, |inner, event| inner.key(event, true)),
            key_up: on(weak, |inner, event| inner.key(event, false)),
            pointer_move: on(weak, Inner::pointer_move),
            pointer_down: on(weak, |inner, event| inner.pointer_button(event, true)),
            pointer_up: on(weak, |inner, event| inner.pointer_button(event, false)),
            wheel: on(weak, Inner::wheel),
            context_menu: on(weak, |_, event: &Event| event.prevent_default()),
            focus: on(weak, Inner::focused),
            blur: on(weak, |inner, _: &Event| inner.release_all()),
            paste: on(weak, Inner::paste),
            visibility: on(weak, Inner::visibility_changed),
            animation_frame,
            paste_timeout,
        }
    }

    fn canvas_listeners(&self) -> [(&'static str, &Function); 10] {
        [
            ("keydown", self.key_down.as_ref().unchecked_ref()),
            ("keyup", self.key_up.as_ref().unchecked_ref()),
            ("pointermove", self.pointer_move.as_ref().unchecked_ref()),
            ("pointerdown", self.pointer_down.as_ref().unchecked_ref()),
            ("pointerup", self.pointer_up.as_ref().unchecked_ref()),
            ("pointercancel", self.pointer_up.as_ref().unchecked_ref()),
            ("contextmenu", self.context_menu.as_ref().unchecked_ref()),
            ("focus", self.focus.as_ref().unchecked_ref()),
            ("blur", self.blur.as_ref().unchecked_ref()),
            ("paste", self.paste.as_ref().unchecked_ref()),
        ]
    }
}

impl Inner {
    fn attach(&self) {
        let handlers = self.handlers.borrow();
        let Some(handlers) = handlers.as_ref() else {
            return;
        };
        let screen = self.screen.borrow();
        let canvas = screen.canvas();
        for (name, listener) in handlers.canvas_listeners() {
            let _ = canvas.add_event_listener_with_callback(name, listener);
        }
        // Not passive, so that scrolling the desktop does not scroll the page too.
        let options = AddEventListenerOptions::new();
        options.set_passive(false);
        let _ = canvas.add_event_listener_with_callback_and_add_event_listener_options(
            "wheel",
            handlers.wheel.as_ref().unchecked_ref(),
            &options,
        );
        let _ = self.document.add_event_listener_with_callback(
            "visibilitychange",
            handlers.visibility.as_ref().unchecked_ref(),
        );
    }

    fn detach(&self) {
        let Some(handlers) = self.handlers.borrow_mut().take() else {
            return;
        };
        let screen = self.screen.borrow();
        let canvas = screen.canvas();
        for (name, listener) in handlers.canvas_listeners() {
            let _ = canvas.remove_event_listener_with_callback(name, listener);
        }
        let _ = canvas
            .remove_event_listener_with_callback("wheel", handlers.wheel.as_ref().unchecked_ref());
        let _ = self.document.remove_event_listener_with_callback(
            "visibilitychange",
            handlers.visibility.as_ref().unchecked_ref(),
        );
        // A frame or timer still pending would call a dropped closure.
        if let Some(request) = self.frame_request.take() {
            let _ = self.window.cancel_animation_frame(request);
        }
        if let Some(timer) = self.paste_timer.take() {
            self.window.clear_timeout_with_handle(timer);
        }
        drop(handlers);
    }

    fn connected(&self, connected: rdp::Connected) {
        let rdp::Connected {
            session,
            width,
            height,
        } = connected;
        *self.session.borrow_mut() = Some(session);
        self.size.set((width, height));
        self.screen.borrow_mut().resize(width, height);
        self.request_paint();
        self.set_state(State::Connected, None);
        // The page may have asked for another size while connecting.
        if let Some(wanted) = self.pending_resize.take() {
            self.resize(wanted);
        }
        // Lock keys follow the local ones with the next key or click.
        self.locks_synced.set(false);
    }

    /// Processes one PDU and acts on what it produced.
    fn process(&self, action: rdp::Action, frame: &[u8]) -> Result<(), Failure> {
        let events = {
            let mut session = self.session.borrow_mut();
            let Some(session) = session.as_mut() else {
                return Ok(());
            };
            session
                .process(action, frame)
                .map_err(|error| protocol_failure(&error))?
        };
        for event in events {
            self.handle(event)?;
        }
        // The display channel opens some time after connecting; a size asked for before then
        // goes out once it can.
        if let Some(wanted) = self.pending_resize.get()
            && wanted != self.size.get()
        {
            self.resize(wanted);
        }
        Ok(())
    }

    fn handle(&self, event: SessionEvent) -> Result<(), Failure> {
        match event {
            SessionEvent::Write(bytes) => self.send(&bytes),
            SessionEvent::Graphics {
                x,
                y,
                width,
                height,
            } => {
                self.screen
                    .borrow_mut()
                    .invalidate(Rect::new(x, y, width, height));
                self.request_paint();
            }
            SessionEvent::Pointer(pointer) => self.show_pointer(pointer),
            SessionEvent::ClipboardText(text) => self.remote_clipboard(text),
            SessionEvent::DesktopResized { width, height } => {
                self.size.set((width, height));
                if self.pending_resize.get() == Some((width, height)) {
                    self.pending_resize.set(None);
                }
                self.screen.borrow_mut().resize(width, height);
                self.request_paint();
                self.set_state(State::Connected, None);
            }
            SessionEvent::Terminated(message) => return Err(Failure::Terminated(message)),
        }
        Ok(())
    }

    fn send(&self, bytes: &[u8]) {
        if let Some(socket) = self.socket.borrow().as_ref() {
            socket.send(bytes);
        }
    }

    /// Runs an input method of the session and sends what it encoded.
    fn input(&self, encode: impl FnOnce(&mut Session) -> Result<Vec<u8>, SessionError>) {
        if self.state.get() != State::Connected {
            return;
        }
        let bytes = {
            let mut session = self.session.borrow_mut();
            let Some(session) = session.as_mut() else {
                return;
            };
            encode(session)
        };
        match bytes {
            Ok(bytes) => self.send(&bytes),
            Err(error) => web_sys::console::warn_1(&JsValue::from_str(&error.to_string())),
        }
    }

    fn resize(&self, (width, height): (u16, u16)) {
        if self.state.get() != State::Connected {
            self.pending_resize.set(Some((width, height)));
            return;
        }
        if (width, height) == self.size.get() {
            self.pending_resize.set(None);
            return;
        }
        let bytes = {
            let mut session = self.session.borrow_mut();
            let Some(session) = session.as_mut() else {
                return;
            };
            session.resize(width, height)
        };
        match bytes {
            // Sent; the server answers with a new desktop, or keeps the old one.
            Ok(bytes) if !bytes.is_empty() => {
                self.pending_resize.set(None);
                self.send(&bytes);
            }
            // The display channel is not open yet: try again after the next PDU.
            Ok(_) => self.pending_resize.set(Some((width, height))),
            Err(error) => {
                self.pending_resize.set(None);
                web_sys::console::warn_1(&JsValue::from_str(&error.to_string()));
            }
        }
    }

    fn request_paint(&self) {
        if self.frame_request.get().is_some() {
            return;
        }
        let handlers = self.handlers.borrow();
        let Some(handlers) = handlers.as_ref() else {
            return;
        };
        let request = self
            .window
            .request_animation_frame(handlers.animation_frame.as_ref().unchecked_ref());
        self.frame_request.set(request.ok());
    }

    /// The animation frame: paints what changed since the last one.
    fn paint(&self) {
        self.frame_request.set(None);
        let session = self.session.borrow();
        let Some(session) = session.as_ref() else {
            return;
        };
        let image = session.image();
        let frame = Frame {
            pixels: image.data(),
            stride: image.stride(),
            width: image.width(),
            height: image.height(),
        };
        let mut screen = self.screen.borrow_mut();
        if !screen.has_damage() {
            return;
        }
        if screen.paint(&frame) {
            let frames = self.frames.get().wrapping_add(1);
            self.frames.set(frames);
            let _ = self
                .container
                .set_attribute("data-frames", &frames.to_string());
        }
    }

    fn show_pointer(&self, pointer: Pointer) {
        let cursor = match pointer {
            Pointer::Default => "default".to_owned(),
            Pointer::Hidden => "none".to_owned(),
            // The browser's pointer cannot be moved by a page.
            Pointer::Position { .. } => return,
            Pointer::Bitmap {
                rgba,
                width,
                height,
                hotspot_x,
                hotspot_y,
            } => bitmap_cursor(&self.document, &rgba, width, height, hotspot_x, hotspot_y)
                .unwrap_or_else(|| "default".to_owned()),
        };
        self.screen.borrow().set_cursor(&cursor);
    }

    /// The remote clipboard holds new text: give it to the page and, where the browser
    /// allows it, to the local clipboard.
    fn remote_clipboard(&self, text: String) {
        // Copied there, so offering it back on the next focus would be an echo.
        *self.offered_text.borrow_mut() = Some(text.clone());
        if let Some(callback) = &self.on_clipboard {
            let _ = callback.call1(&JsValue::NULL, &JsValue::from_str(&text));
        }
        if let Some(clipboard) = clipboard(&self.window) {
            let promise = clipboard.write_text(&text);
            // Refused without focus or permission: the callback above has it anyway.
            spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
    }

    /// Offers `text` to the remote clipboard unless it was the last text offered.
    fn offer_text(&self, text: &str) {
        if self.offered_text.borrow().as_deref() == Some(text) {
            return;
        }
        if self.state.get() != State::Connected {
            return;
        }
        *self.offered_text.borrow_mut() = Some(text.to_owned());
        self.input(|session| session.set_clipboard_text(text));
    }

    fn key(&self, event: &KeyboardEvent, pressed: bool) {
        if self.state.get() != State::Connected {
            return;
        }
        self.sync_locks(event.get_modifier_state("CapsLock"), || {
            (
                event.get_modifier_state("NumLock"),
                event.get_modifier_state("ScrollLock"),
            )
        });
        let code = event.code();
        if pressed && is_paste_shortcut(event) {
            // Let the browser paste (no preventDefault), which delivers the local clipboard
            // to `paste`; the key follows once the remote clipboard has it.
            self.release_held_paste_key();
            *self.held_paste_key.borrow_mut() = Some(code);
            if let Some(handlers) = self.handlers.borrow().as_ref() {
                let timer = self
                    .window
                    .set_timeout_with_callback_and_timeout_and_arguments_0(
                        handlers.paste_timeout.as_ref().unchecked_ref(),
                        PASTE_WAIT_MS,
                    );
                self.paste_timer.set(timer.ok());
            }
            return;
        }
        // Everything else is the remote computer's: Tab, F5, Ctrl+W where the browser lets go.
        event.prevent_default();
        if !pressed && self.held_paste_key.borrow().as_deref() == Some(code.as_str()) {
            self.release_held_paste_key();
        }
        if code.is_empty() {
            return;
        }
        self.input(|session| session.key(&code, pressed));
    }

    /// Sends the held paste key's press, if one is held.
    fn release_held_paste_key(&self) {
        if let Some(timer) = self.paste_timer.take() {
            self.window.clear_timeout_with_handle(timer);
        }
        let Some(code) = self.held_paste_key.borrow_mut().take() else {
            return;
        };
        self.input(|session| session.key(&code, true));
    }

    fn paste(&self, event: &ClipboardEvent) {
        if self.state.get() != State::Connected {
            return;
        }
        event.prevent_default();
        let text = event
            .clipboard_data()
            .and_then(|data| data.get_data("text/plain").ok())
            .unwrap_or_default();
        if !text.is_empty() {
            self.offer_text(&text);
        }
        self.release_held_paste_key();
    }

    /// On the first key or click after the focus arrived, sets the remote lock keys to the
    /// local ones.
    fn sync_locks(&self, caps: bool, others: impl FnOnce() -> (bool, bool)) {
        if self.locks_synced.get() || self.state.get() != State::Connected {
            return;
        }
        self.locks_synced.set(true);
        let (num, scroll) = others();
        self.input(|session| session.sync_locks(caps, num, scroll));
    }

    fn sync_locks_from_mouse(&self, event: &MouseEvent) {
        self.sync_locks(event.get_modifier_state("CapsLock"), || {
            (
                event.get_modifier_state("NumLock"),
                event.get_modifier_state("ScrollLock"),
            )
        });
    }

    /// The desktop pixel under the pointer of `event`.
    fn position(&self, event: &MouseEvent) -> (u16, u16) {
        let rect = self.screen.borrow().canvas().get_bounding_client_rect();
        let (width, height) = self.size.get();
        (
            to_desktop(
                f64::from(event.client_x()) - rect.left(),
                rect.width(),
                width,
            ),
            to_desktop(
                f64::from(event.client_y()) - rect.top(),
                rect.height(),
                height,
            ),
        )
    }

    fn pointer_move(&self, event: &PointerEvent) {
        let (x, y) = self.position(event);
        self.input(|session| session.mouse_move(x, y));
    }

    fn pointer_button(&self, event: &PointerEvent, pressed: bool) {
        if self.state.get() != State::Connected {
            return;
        }
        let screen = self.screen.borrow();
        let canvas = screen.canvas();
        if pressed {
            // No text selection, middle-click scrolling or drag on the page; the focus still
            // moves here, which the default action would have done.
            event.prevent_default();
            let _ = canvas.focus();
            // Moves and the release arrive here even outside the canvas.
            let _ = canvas.set_pointer_capture(event.pointer_id());
        } else {
            let _ = canvas.release_pointer_capture(event.pointer_id());
        }
        drop(screen);
        self.sync_locks_from_mouse(event);
        let button = match event.button() {
            0 => MouseButton::Left,
            1 => MouseButton::Middle,
            2 => MouseButton::Right,
            3 => MouseButton::X1,
            4 => MouseButton::X2,
            _ => return,
        };
        let (x, y) = self.position(event);
        self.input(|session| {
            let mut bytes = session.mouse_move(x, y)?;
            bytes.extend(session.mouse_button(button, pressed)?);
            Ok(bytes)
        });
    }

    fn wheel(&self, event: &WheelEvent) {
        if self.state.get() != State::Connected {
            return;
        }
        event.prevent_default();
        let mode = event.delta_mode();
        let vertical = wheel_rotation(event.delta_y(), mode);
        let horizontal = wheel_rotation(event.delta_x(), mode);
        self.input(|session| {
            let mut bytes = session.wheel(true, vertical)?;
            bytes.extend(session.wheel(false, horizontal)?);
            Ok(bytes)
        });
    }

    /// The canvas got the focus: lock keys are synchronised with the next key, and the
    /// local clipboard is offered when the browser lets the page read it without asking.
    fn focused(&self, _event: &Event) {
        self.locks_synced.set(false);
        if self.state.get() != State::Connected {
            return;
        }
        let Some(clipboard) = clipboard(&self.window) else {
            return;
        };
        let navigator = self.window.navigator();
        let weak = self.this.clone();
        spawn_local(async move {
            if !permission_granted(&navigator, "clipboard-read").await {
                return;
            }
            let Ok(text) = JsFuture::from(clipboard.read_text()).await else {
                return;
            };
            let Some(text) = text.as_string().filter(|text| !text.is_empty()) else {
                return;
            };
            if let Some(inner) = weak.upgrade() {
                inner.offer_text(&text);
            }
        });
    }

    fn visibility_changed(&self, _event: &Event) {
        if self.document.hidden() {
            self.release_all();
        }
    }

    /// Releases every key and button, so none stays down on the remote computer while the
    /// page cannot see it come up.
    fn release_all(&self) {
        self.release_held_paste_key();
        self.input(Session::release_all);
        self.locks_synced.set(false);
    }

    fn disconnect(&self) {
        if self.state.get() == State::Closed {
            return;
        }
        // Tell the server first; the close frame follows the queued data.
        self.input(Session::shutdown);
        self.finish(Failure::Requested);
    }

    /// Ends the session for `failure`: closes the socket and reports why.
    fn finish(&self, failure: Failure) {
        if self.state.get() == State::Closed {
            return;
        }
        let socket = self.socket.borrow().clone();
        let close = socket.as_ref().and_then(Socket::close_event);
        let closed = outcome::closed(failure, close.as_ref());
        if let Some(socket) = socket {
            socket.close(CLOSE_NORMAL, "");
        }
        self.session.borrow_mut().take();
        self.held_paste_key.borrow_mut().take();
        self.set_state(State::Closed, Some(&closed));
    }

    /// Records `state` on the container and tells the page.
    fn set_state(&self, state: State, closed: Option<&outcome::Closed>) {
        self.state.set(state);
        let container = &self.container;
        let _ = container.set_attribute("data-state", state.as_str());
        let (width, height) = self.size.get();
        let event = Object::new();
        let set = |key: &str, value: JsValue| {
            let _ = Reflect::set(&event, &JsValue::from_str(key), &value);
        };
        set("state", JsValue::from_str(state.as_str()));
        match (state, closed) {
            (State::Closed, Some(closed)) => {
                let _ = container.set_attribute("data-close-reason", closed.reason);
                set("reason", JsValue::from_str(closed.reason));
                set("message", JsValue::from_str(&closed.message));
            }
            (State::Connected, _) => {
                let _ = container.remove_attribute("data-close-reason");
                let _ = container.set_attribute("data-desktop-width", &width.to_string());
                let _ = container.set_attribute("data-desktop-height", &height.to_string());
                set("width", JsValue::from(width));
                set("height", JsValue::from(height));
            }
            _ => {
                let _ = container.remove_attribute("data-close-reason");
                let _ = container.set_attribute("data-frames", &self.frames.get().to_string());
            }
        }
        if let Some(callback) = &self.on_state {
            let _ = callback.call1(&JsValue::NULL, &event);
        }
    }
}

/// Ctrl+V or Shift+Insert, which paste.
fn is_paste_shortcut(event: &KeyboardEvent) -> bool {
    let code = event.code();
    let alt_or_meta = event.alt_key() || event.meta_key();
    (code == "KeyV" && event.ctrl_key() && !alt_or_meta)
        || (code == "Insert" && event.shift_key() && !event.ctrl_key() && !alt_or_meta)
}

/// `navigator.clipboard`, which exists only in secure contexts.
fn clipboard(window: &Window) -> Option<web_sys::Clipboard> {
    let navigator = window.navigator();
    let clipboard = Reflect::get(&navigator, &JsValue::from_str("clipboard")).ok()?;
    (!clipboard.is_undefined() && !clipboard.is_null()).then(|| clipboard.unchecked_into())
}

/// Whether the Permissions API says `name` is granted (never prompts; unknown names, as in
/// browsers without clipboard permissions, count as not granted).
async fn permission_granted(navigator: &web_sys::Navigator, name: &str) -> bool {
    let query = || -> Option<Promise> {
        let permissions = Reflect::get(navigator, &JsValue::from_str("permissions")).ok()?;
        let query: Function = Reflect::get(&permissions, &JsValue::from_str("query"))
            .ok()?
            .dyn_into()
            .ok()?;
        let descriptor = Object::new();
        Reflect::set(
            &descriptor,
            &JsValue::from_str("name"),
            &JsValue::from_str(name),
        )
        .ok()?;
        query.call1(&permissions, &descriptor).ok()?.dyn_into().ok()
    };
    let Some(promise) = query() else {
        return false;
    };
    let Ok(status) = JsFuture::from(promise).await else {
        return false;
    };
    Reflect::get(&status, &JsValue::from_str("state"))
        .ok()
        .and_then(|state| state.as_string())
        .is_some_and(|state| state == "granted")
}
