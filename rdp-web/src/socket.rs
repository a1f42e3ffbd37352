//! The gateway WebSocket as a byte stream (`futures` `AsyncRead` + `AsyncWrite`) for IronRDP's
//! `LocalFuturesFramed`, which also keeps the close code and reason the gateway sends.
//!
//! Binary frames are one byte stream each way; their boundaries mean nothing. Writes go out
//! at once (`WebSocket.send` queues them in the browser), so the same socket can be written
//! both by the connection sequence and, through a clone, by input handlers while the read loop
//! waits for the next frame.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::outcome::SocketClose;

/// `WebSocket.readyState` values.
const CONNECTING: u16 = 0;
const OPEN: u16 = 1;

/// A normal closure.
pub const CLOSE_NORMAL: u16 = 1000;

/// A cheap handle on one WebSocket; clones share it.
#[derive(Clone)]
pub struct Socket {
    shared: Rc<Shared>,
}

struct Shared {
    websocket: WebSocket,
    /// Bytes received and not read yet, one entry per frame.
    incoming: RefCell<VecDeque<Vec<u8>>>,
    /// How far into the first entry of `incoming` reading has got.
    offset: Cell<usize>,
    closed: RefCell<Option<SocketClose>>,
    reader: RefCell<Option<Waker>>,
    writer: RefCell<Option<Waker>>,
    handlers: RefCell<Option<Handlers>>,
}

struct Handlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

impl Socket {
    /// Starts opening a binary WebSocket to `url`.
    pub fn open(url: &str) -> Result<Socket, String> {
        let websocket = WebSocket::new(url)
            .map_err(|_| "The browser would not open a connection to the gateway.".to_owned())?;
        websocket.set_binary_type(BinaryType::Arraybuffer);
        let shared = Rc::new_cyclic(|weak: &Weak<Shared>| {
            let open = {
                let weak = weak.clone();
                Closure::<dyn FnMut()>::new(move || {
                    if let Some(shared) = weak.upgrade() {
                        shared.wake_writer();
                    }
                })
            };
            let message = {
                let weak = weak.clone();
                Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                    if let Some(shared) = weak.upgrade() {
                        shared.received(&event);
                    }
                })
            };
            let close = {
                let weak = weak.clone();
                Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                    if let Some(shared) = weak.upgrade() {
                        shared.closed(SocketClose {
                            code: event.code(),
                            reason: event.reason(),
                        });
                    }
                })
            };
            websocket.set_onopen(Some(open.as_ref().unchecked_ref()));
            websocket.set_onmessage(Some(message.as_ref().unchecked_ref()));
            websocket.set_onclose(Some(close.as_ref().unchecked_ref()));
            Shared {
                websocket,
                incoming: RefCell::new(VecDeque::new()),
                offset: Cell::new(0),
                closed: RefCell::new(None),
                reader: RefCell::new(None),
                writer: RefCell::new(None),
                handlers: RefCell::new(Some(Handlers {
                    _open: open,
                    _message: message,
                    _close: close,
                })),
            }
        });
        Ok(Socket { shared })
    }

    /// Sends `bytes` if the socket is open; there is nobody to tell otherwise, as the close
    /// event reports the end.
    pub fn send(&self, bytes: &[u8]) {
        if !bytes.is_empty() && self.shared.websocket.ready_state() == OPEN {
            let _ = self.shared.websocket.send_with_u8_array(bytes);
        }
    }

    /// Closes the socket; data already sent still goes out first.
    pub fn close(&self, code: u16, reason: &str) {
        let _ = self
            .shared
            .websocket
            .close_with_code_and_reason(code, reason);
    }

    /// How the socket closed, once it has.
    pub fn close_event(&self) -> Option<SocketClose> {
        self.shared.closed.borrow().clone()
    }
}

impl Shared {
    fn received(&self, event: &MessageEvent) {
        let data = event.data();
        let Some(buffer) = data.dyn_ref::<ArrayBuffer>() else {
            // The gateway speaks binary only; a text frame is not part of the stream.
            return;
        };
        let bytes = Uint8Array::new(buffer).to_vec();
        if bytes.is_empty() {
            return;
        }
        self.incoming.borrow_mut().push_back(bytes);
        if let Some(waker) = self.reader.borrow_mut().take() {
            waker.wake();
        }
    }

    fn closed(&self, close: SocketClose) {
        *self.closed.borrow_mut() = Some(close);
        if let Some(waker) = self.reader.borrow_mut().take() {
            waker.wake();
        }
        self.wake_writer();
    }

    fn wake_writer(&self) {
        if let Some(waker) = self.writer.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Whether the close event has arrived (not just the closing started), so that the end
    /// of the stream is seen only once the close code and reason are known.
    fn is_closed(&self) -> bool {
        self.closed.borrow().is_some()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.websocket.set_onopen(None);
        self.websocket.set_onmessage(None);
        self.websocket.set_onclose(None);
        if self.websocket.ready_state() <= OPEN {
            let _ = self.websocket.close_with_code(CLOSE_NORMAL);
        }
        // Only now, with the socket no longer calling them.
        self.handlers.borrow_mut().take();
    }
}

impl futures_io::AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        let mut incoming = shared.incoming.borrow_mut();
        let Some(front) = incoming.front() else {
            if shared.is_closed() {
                // The end of the stream; the close event says why.
                return Poll::Ready(Ok(0));
            }
            *shared.reader.borrow_mut() = Some(context.waker().clone());
            return Poll::Pending;
        };
        let offset = shared.offset.get();
        let available = front.get(offset..).unwrap_or_default();
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        if offset + count >= front.len() {
            incoming.pop_front();
            shared.offset.set(0);
        } else {
            shared.offset.set(offset + count);
        }
        Poll::Ready(Ok(count))
    }
}

impl futures_io::AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let shared = &self.shared;
        match shared.websocket.ready_state() {
            CONNECTING if shared.closed.borrow().is_none() => {
                // The connection sequence writes first; wait for the socket to open.
                *shared.writer.borrow_mut() = Some(context.waker().clone());
                Poll::Pending
            }
            OPEN => match shared.websocket.send_with_u8_array(buf) {
                Ok(()) => Poll::Ready(Ok(buf.len())),
                Err(_) => Poll::Ready(Err(io::Error::from(io::ErrorKind::BrokenPipe))),
            },
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection to the gateway is closed",
            ))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close(CLOSE_NORMAL, "");
        Poll::Ready(Ok(()))
    }
}
