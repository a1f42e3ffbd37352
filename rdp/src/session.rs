//! The active session: decodes what the server sends into an RGBA image and events, and
//! encodes input, clipboard and resize requests into bytes for the caller to send.

use std::collections::VecDeque;

use ironrdp_cliprdr::CliprdrClient;
use ironrdp_cliprdr::pdu::{ClipboardFormat, ClipboardFormatId, OwnedFormatDataResponse};
use ironrdp_connector::connection_activation::{
    ConnectionActivationFactory, ConnectionActivationSequence, ConnectionActivationState,
};
use ironrdp_connector::{ConnectionResult, MonotonicInstant, Sequence as _};
use ironrdp_core::WriteBuf;
use ironrdp_graphics::image_processing::PixelFormat;
use ironrdp_input::{Database, MousePosition, Operation, Scancode, WheelRotations};
use ironrdp_pdu::Action;
use ironrdp_pdu::geometry::InclusiveRectangle;
use ironrdp_pdu::input::fast_path::{FastPathInputEvent, KeyboardFlags};
use ironrdp_session::image::DecodedImage;
use ironrdp_session::{ActiveStage, ActiveStageBuilder, ActiveStageOutput};
use tracing::debug;

use crate::clipboard::{Queue, Request};
use crate::keymap;

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MouseButton {
    /// The primary button.
    Left,
    /// The wheel button.
    Middle,
    /// The secondary button.
    Right,
    /// The first extra button (usually "back").
    X1,
    /// The second extra button (usually "forward").
    X2,
}

impl From<MouseButton> for ironrdp_input::MouseButton {
    fn from(button: MouseButton) -> Self {
        match button {
            MouseButton::Left => ironrdp_input::MouseButton::Left,
            MouseButton::Middle => ironrdp_input::MouseButton::Middle,
            MouseButton::Right => ironrdp_input::MouseButton::Right,
            MouseButton::X1 => ironrdp_input::MouseButton::X1,
            MouseButton::X2 => ironrdp_input::MouseButton::X2,
        }
    }
}

/// How the page should draw the pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pointer {
    /// The system's default arrow.
    Default,
    /// No pointer.
    Hidden,
    /// The server moved the pointer here.
    Position {
        /// Desktop x.
        x: u16,
        /// Desktop y.
        y: u16,
    },
    /// A custom pointer image.
    Bitmap {
        /// RGBA, row-major, not premultiplied.
        rgba: Vec<u8>,
        /// Width in pixels.
        width: u16,
        /// Height in pixels.
        height: u16,
        /// The hot spot's x inside the image.
        hotspot_x: u16,
        /// The hot spot's y inside the image.
        hotspot_y: u16,
    },
}

/// Something that happened while processing a PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// Bytes to send to the server.
    Write(Vec<u8>),
    /// This rectangle of [`Session::pixels`] changed.
    Graphics {
        /// Left edge.
        x: u16,
        /// Top edge.
        y: u16,
        /// Width in pixels.
        width: u16,
        /// Height in pixels.
        height: u16,
    },
    /// The pointer changed.
    Pointer(Pointer),
    /// The server's clipboard now holds this text.
    ClipboardText(String),
    /// The desktop has a new size; the image was re-created (black) at that size.
    DesktopResized {
        /// New width.
        width: u16,
        /// New height.
        height: u16,
    },
    /// The server ended the session, for this reason.
    Terminated(String),
}

/// A failure inside the session; the connection is unusable afterwards.
#[derive(Debug, thiserror::Error)]
#[error("rdp session: {0}")]
pub struct SessionError(String);

impl SessionError {
    fn new(error: impl std::fmt::Display) -> SessionError {
        SessionError(error.to_string())
    }
}

impl From<ironrdp_session::SessionError> for SessionError {
    fn from(error: ironrdp_session::SessionError) -> Self {
        SessionError(error.report().to_string())
    }
}

impl From<ironrdp_connector::ConnectorError> for SessionError {
    fn from(error: ironrdp_connector::ConnectorError) -> Self {
        SessionError(error.report().to_string())
    }
}

impl From<ironrdp_pdu::PduError> for SessionError {
    fn from(error: ironrdp_pdu::PduError) -> Self {
        SessionError(error.to_string())
    }
}

/// The most clipboard text accepted from the server, in bytes of its encoding.
const MAX_CLIPBOARD_BYTES: usize = 4 * 1024 * 1024;

/// A connected RDP session, driven by the caller's I/O.
pub struct Session {
    stage: ActiveStage,
    image: DecodedImage,
    input: Database,
    activation: ConnectionActivationFactory,
    /// Set between a Deactivate All and the end of the reactivation that follows it.
    reactivation: Option<ConnectionActivationSequence>,
    refresh_rect_support: bool,
    suppress_output_support: bool,
    clipboard: Queue,
    /// The text last given to [`Session::set_clipboard_text`].
    local_text: Option<String>,
    /// Formats asked of the server, oldest first; its answers come in the same order.
    requested: VecDeque<ClipboardFormatId>,
}

impl Session {
    pub(crate) fn new(result: ConnectionResult, clipboard: Queue) -> Session {
        let image = DecodedImage::new(
            PixelFormat::RgbA32,
            result.desktop_size.width,
            result.desktop_size.height,
        );
        let mut stage = ActiveStageBuilder {
            static_channels: result.static_channels,
            user_channel_id: result.user_channel_id,
            io_channel_id: result.io_channel_id,
            message_channel_id: result.message_channel_id,
            share_id: result.share_id,
            compression_type: result.compression_type,
            enable_server_pointer: result.enable_server_pointer,
            pointer_software_rendering: result.pointer_software_rendering,
        }
        .build();
        stage.set_window_support_level(result.window_support_level);
        Session {
            stage,
            image,
            input: Database::new(),
            activation: result.activation_factory,
            reactivation: None,
            refresh_rect_support: result.refresh_rect_support,
            suppress_output_support: result.suppress_output_support,
            clipboard,
            local_text: None,
            requested: VecDeque::new(),
        }
    }

    /// The desktop width.
    pub fn width(&self) -> u16 {
        self.image.width()
    }

    /// The desktop height.
    pub fn height(&self) -> u16 {
        self.image.height()
    }

    /// The desktop image, RGBA ([`PixelFormat::RgbA32`]).
    pub fn image(&self) -> &DecodedImage {
        &self.image
    }

    /// The desktop's pixels: RGBA, row-major, `width * 4` bytes a row.
    pub fn pixels(&self) -> &[u8] {
        self.image.data()
    }

    /// Feeds one PDU read from the stream (`Framed::read_pdu` gives the action and the frame).
    pub fn process(
        &mut self,
        action: Action,
        frame: &[u8],
    ) -> Result<Vec<SessionEvent>, SessionError> {
        let mut events = Vec::new();
        if self.reactivates(action, frame) {
            self.reactivate(frame, &mut events)?;
        } else {
            let outputs = self
                .stage
                .process(&mut self.image, action, frame, Some(now()))?;
            for output in outputs {
                self.handle(output, &mut events);
            }
            if self.stage.take_bitmap_recovery_request() {
                self.request_redraw(&mut events)?;
            }
        }
        self.serve_clipboard(&mut events)?;
        Ok(events)
    }

    /// Whether `frame` belongs to a reactivation under way. Only the I/O channel's Share
    /// Control PDUs (and the fast-path updates the sequence drops) do: the virtual channels
    /// keep talking while the server reactivates (xrdp's clipboard and dynamic channels do),
    /// and an MCS disconnect ends the session, so those go to the active stage as usual.
    fn reactivates(&self, action: Action, frame: &[u8]) -> bool {
        let Some(sequence) = &self.reactivation else {
            return false;
        };
        action == Action::FastPath
            || ironrdp_pdu::mcs::decode_send_data_indication(frame)
                .is_ok_and(|data| data.channel_id == sequence.io_channel_id())
    }

    fn handle(&mut self, output: ActiveStageOutput, events: &mut Vec<SessionEvent>) {
        match output {
            ActiveStageOutput::ResponseFrame(frame) => {
                if !frame.is_empty() {
                    events.push(SessionEvent::Write(frame));
                }
            }
            ActiveStageOutput::GraphicsUpdate(region) => events.push(graphics(&region)),
            ActiveStageOutput::PointerDefault => {
                events.push(SessionEvent::Pointer(Pointer::Default));
            }
            ActiveStageOutput::PointerHidden => {
                events.push(SessionEvent::Pointer(Pointer::Hidden));
            }
            ActiveStageOutput::PointerPosition { x, y } => {
                events.push(SessionEvent::Pointer(Pointer::Position { x, y }));
            }
            ActiveStageOutput::PointerBitmap(pointer) => {
                events.push(SessionEvent::Pointer(Pointer::Bitmap {
                    rgba: pointer.bitmap_data.clone(),
                    width: pointer.width,
                    height: pointer.height,
                    hotspot_x: pointer.hotspot_x,
                    hotspot_y: pointer.hotspot_y,
                }));
            }
            ActiveStageOutput::Terminate(reason) => {
                events.push(SessionEvent::Terminated(termination_sentence(
                    &reason.description(),
                )));
            }
            ActiveStageOutput::DeactivateAll => {
                debug!("deactivate all: running the reactivation sequence");
                self.reactivation = Some(self.activation.create());
            }
            ActiveStageOutput::ServerRedirection(_) => {
                events.push(SessionEvent::Terminated(
                    "The remote computer redirected the session to another computer, which this client does not support."
                        .to_owned(),
                ));
            }
            other => debug!(?other, "ignored session output"),
        }
    }

    /// Drives the Deactivation-Reactivation sequence with one frame.
    fn reactivate(
        &mut self,
        frame: &[u8],
        events: &mut Vec<SessionEvent>,
    ) -> Result<(), SessionError> {
        let Some(sequence) = self.reactivation.as_mut() else {
            return Ok(());
        };
        let mut buf = WriteBuf::new();
        let wanted = sequence
            .next_pdu_hint()
            .is_some_and(|hint| matches!(hint.find_size(frame), Ok(Some((true, _)))));
        if wanted {
            let written = sequence.step(frame, Some(now()), &mut buf)?;
            push_written(&buf, written.size(), events);
        } else {
            debug!(len = frame.len(), "dropped a PDU during reactivation");
        }
        // Steps that send without waiting for input (the finalization messages).
        for _ in 0..16 {
            match sequence.connection_activation_state() {
                ConnectionActivationState::Finalized {
                    desktop_size,
                    share_id,
                    enable_server_pointer,
                    pointer_software_rendering,
                    static_channel_chunk_size,
                    refresh_rect_support,
                    suppress_output_support,
                    window_support_level,
                    ..
                } => {
                    let io_channel_id = sequence.io_channel_id();
                    let user_channel_id = sequence.user_channel_id();
                    self.reactivation = None;
                    if !self.stage.reactivate(
                        io_channel_id,
                        user_channel_id,
                        share_id,
                        enable_server_pointer,
                        pointer_software_rendering,
                        static_channel_chunk_size,
                    ) {
                        return Err(SessionError::new(
                            "the server chose an invalid virtual channel chunk size",
                        ));
                    }
                    self.stage.set_window_support_level(window_support_level);
                    self.refresh_rect_support = refresh_rect_support;
                    self.suppress_output_support = suppress_output_support;
                    self.image = DecodedImage::new(
                        PixelFormat::RgbA32,
                        desktop_size.width,
                        desktop_size.height,
                    );
                    events.push(SessionEvent::DesktopResized {
                        width: desktop_size.width,
                        height: desktop_size.height,
                    });
                    return Ok(());
                }
                ConnectionActivationState::Redirected { .. } => {
                    self.reactivation = None;
                    events.push(SessionEvent::Terminated(
                        "The remote computer redirected the session to another computer, which this client does not support."
                            .to_owned(),
                    ));
                    return Ok(());
                }
                _ if sequence.next_pdu_hint().is_none() => {
                    buf.clear();
                    let written = sequence.step_no_input(&mut buf)?;
                    push_written(&buf, written.size(), events);
                }
                _ => return Ok(()),
            }
        }
        Err(SessionError::new(
            "the reactivation sequence did not advance",
        ))
    }

    fn request_redraw(&mut self, events: &mut Vec<SessionEvent>) -> Result<(), SessionError> {
        let (width, height) = (self.image.width(), self.image.height());
        if width == 0 || height == 0 {
            return Ok(());
        }
        for frame in self.stage.request_full_redraw(
            width,
            height,
            self.refresh_rect_support,
            self.suppress_output_support,
        )? {
            events.push(SessionEvent::Write(frame));
        }
        Ok(())
    }

    /// A key went down or up; `code` is `KeyboardEvent.code`. Unknown codes send nothing; a
    /// repeated press (auto-repeat) is sent as a release and a press.
    pub fn key(&mut self, code: &str, pressed: bool) -> Result<Vec<u8>, SessionError> {
        if code == "Pause" {
            // Pause has no break code of its own: it is sent whole on press, as Ctrl (with
            // the E1 prefix) and NumLock going down and up.
            if !pressed {
                return Ok(Vec::new());
            }
            return self.encode_input(&[
                FastPathInputEvent::KeyboardEvent(KeyboardFlags::EXTENDED1, 0x1D),
                FastPathInputEvent::KeyboardEvent(KeyboardFlags::empty(), 0x45),
                FastPathInputEvent::KeyboardEvent(
                    KeyboardFlags::EXTENDED1 | KeyboardFlags::RELEASE,
                    0x1D,
                ),
                FastPathInputEvent::KeyboardEvent(KeyboardFlags::RELEASE, 0x45),
            ]);
        }
        let Some((code, extended)) = keymap::scancode(code) else {
            return Ok(Vec::new());
        };
        let scancode = Scancode::from_u8(extended, code);
        let operation = if pressed {
            Operation::KeyPressed(scancode)
        } else {
            Operation::KeyReleased(scancode)
        };
        self.apply([operation])
    }

    /// The pointer moved to (`x`, `y`) in desktop pixels (clamped to the desktop).
    pub fn mouse_move(&mut self, x: u16, y: u16) -> Result<Vec<u8>, SessionError> {
        let position = MousePosition {
            x: x.min(self.image.width().saturating_sub(1)),
            y: y.min(self.image.height().saturating_sub(1)),
        };
        self.apply([Operation::MouseMove(position)])
    }

    /// A mouse button went down or up.
    pub fn mouse_button(
        &mut self,
        button: MouseButton,
        pressed: bool,
    ) -> Result<Vec<u8>, SessionError> {
        let button = button.into();
        self.apply([if pressed {
            Operation::MouseButtonPressed(button)
        } else {
            Operation::MouseButtonReleased(button)
        }])
    }

    /// The wheel turned by `amount` units (120 a notch; positive is up, or right when
    /// `vertical` is false, as RDP counts; the browser's `deltaY` has the opposite sign).
    pub fn wheel(&mut self, vertical: bool, amount: i16) -> Result<Vec<u8>, SessionError> {
        if amount == 0 {
            return Ok(Vec::new());
        }
        self.apply([Operation::WheelRotations(WheelRotations {
            is_vertical: vertical,
            rotation_units: amount,
        })])
    }

    /// Sets the server's lock keys to the local ones (on focus, and after connecting).
    pub fn sync_locks(
        &mut self,
        caps: bool,
        num: bool,
        scroll: bool,
    ) -> Result<Vec<u8>, SessionError> {
        self.encode_input(&[ironrdp_input::synchronize_event(scroll, num, caps, false)])
    }

    /// Releases every key and button held (when the page loses focus).
    pub fn release_all(&mut self) -> Result<Vec<u8>, SessionError> {
        let events = self.input.release_all();
        self.encode_input(&events)
    }

    /// Presses and releases Ctrl+Alt+Del.
    pub fn ctrl_alt_del(&mut self) -> Result<Vec<u8>, SessionError> {
        let ctrl = Scancode::from_u8(false, 0x1D);
        let alt = Scancode::from_u8(false, 0x38);
        let delete = Scancode::from_u8(true, 0x53);
        self.apply([
            Operation::KeyPressed(ctrl),
            Operation::KeyPressed(alt),
            Operation::KeyPressed(delete),
            Operation::KeyReleased(delete),
            Operation::KeyReleased(alt),
            Operation::KeyReleased(ctrl),
        ])
    }

    /// Asks the server to change the desktop size (display-control channel). Sends nothing
    /// while the channel is not open yet. When the server agrees it reactivates the session
    /// and [`SessionEvent::DesktopResized`] follows.
    pub fn resize(&mut self, width: u16, height: u16) -> Result<Vec<u8>, SessionError> {
        // MS-RDPEDISP: 200..=8192 pixels, and an even width.
        let width = width.clamp(200, protocol::rdp::MAX_DESKTOP_SIDE) & !1;
        let height = height.clamp(200, protocol::rdp::MAX_DESKTOP_SIDE);
        match self.stage.encode_resize(
            u32::from(width),
            u32::from(height),
            Some(100),
            Some(physical_size(width, height)),
        ) {
            Some(encoded) => Ok(encoded?),
            None => Ok(Vec::new()),
        }
    }

    /// Puts `text` on the local clipboard and announces it to the server, which asks for it
    /// when someone pastes there (answered inside [`Session::process`]).
    pub fn set_clipboard_text(&mut self, text: &str) -> Result<Vec<u8>, SessionError> {
        self.local_text = Some(text.to_owned());
        let Some(cliprdr) = self.stage.get_svc_processor_mut::<CliprdrClient>() else {
            return Ok(Vec::new());
        };
        // Before the channel is ready the format list goes out when the server asks for it.
        if !cliprdr.is_ready() {
            return Ok(Vec::new());
        }
        let messages =
            cliprdr.initiate_copy(&[ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT)])?;
        Ok(self.stage.process_svc_processor_messages(messages)?)
    }

    /// Ends the session politely; the server then closes the connection.
    pub fn shutdown(&mut self) -> Result<Vec<u8>, SessionError> {
        Ok(self
            .stage
            .graceful_shutdown()?
            .into_iter()
            .filter_map(|output| match output {
                ActiveStageOutput::ResponseFrame(frame) => Some(frame),
                _ => None,
            })
            .flatten()
            .collect())
    }

    fn apply(
        &mut self,
        operations: impl IntoIterator<Item = Operation>,
    ) -> Result<Vec<u8>, SessionError> {
        let events = self.input.apply(operations);
        self.encode_input(&events)
    }

    fn encode_input(&mut self, events: &[FastPathInputEvent]) -> Result<Vec<u8>, SessionError> {
        // Only fast-path frames come back: the pointer is drawn by the page, not into the image.
        Ok(self
            .stage
            .process_fastpath_input(&mut self.image, events)?
            .into_iter()
            .filter_map(|output| match output {
                ActiveStageOutput::ResponseFrame(frame) => Some(frame),
                _ => None,
            })
            .flatten()
            .collect())
    }

    /// Acts on what the clipboard channel asked for while processing.
    fn serve_clipboard(&mut self, events: &mut Vec<SessionEvent>) -> Result<(), SessionError> {
        for request in self.clipboard.drain() {
            let Some(cliprdr) = self.stage.get_svc_processor_mut::<CliprdrClient>() else {
                return Ok(());
            };
            let messages = match request {
                Request::FormatList => {
                    let formats: &[ClipboardFormat] = if self.local_text.is_some() {
                        &[ClipboardFormat::new(ClipboardFormatId::CF_UNICODETEXT)]
                    } else {
                        &[]
                    };
                    cliprdr.initiate_copy(formats)?
                }
                Request::RemoteCopy(formats) => {
                    let wanted = [
                        ClipboardFormatId::CF_UNICODETEXT,
                        ClipboardFormatId::CF_TEXT,
                    ]
                    .into_iter()
                    .find(|format| formats.contains(format));
                    match wanted {
                        Some(format) if cliprdr.is_ready() => {
                            self.requested.push_back(format);
                            cliprdr.initiate_paste(format)?
                        }
                        _ => continue,
                    }
                }
                Request::FormatData(format) => {
                    let response = match (&self.local_text, format) {
                        (Some(text), ClipboardFormatId::CF_UNICODETEXT) => {
                            OwnedFormatDataResponse::new_unicode_string(text)
                        }
                        (Some(text), ClipboardFormatId::CF_TEXT) => {
                            OwnedFormatDataResponse::new_string(text)
                        }
                        _ => OwnedFormatDataResponse::new_error(),
                    };
                    cliprdr.submit_format_data(response)?
                }
                Request::RemoteData(data) => {
                    let format = self.requested.pop_front();
                    if let (Some(data), Some(format)) = (data, format)
                        && let Some(text) = decode_text(format, &data)
                    {
                        events.push(SessionEvent::ClipboardText(text));
                    }
                    continue;
                }
            };
            let frame = self.stage.process_svc_processor_messages(messages)?;
            if !frame.is_empty() {
                events.push(SessionEvent::Write(frame));
            }
        }
        Ok(())
    }
}

/// Clipboard text in `format`, up to its terminating NUL.
fn decode_text(format: ClipboardFormatId, data: &[u8]) -> Option<String> {
    let data = &data[..data.len().min(MAX_CLIPBOARD_BYTES)];
    match format {
        ClipboardFormatId::CF_UNICODETEXT => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .take_while(|unit| *unit != 0)
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        ClipboardFormatId::CF_TEXT => {
            let end = data
                .iter()
                .position(|byte| *byte == 0)
                .unwrap_or(data.len());
            Some(String::from_utf8_lossy(&data[..end]).into_owned())
        }
        _ => None,
    }
}

fn graphics(region: &InclusiveRectangle) -> SessionEvent {
    SessionEvent::Graphics {
        x: region.left,
        y: region.top,
        width: region.right.saturating_sub(region.left).saturating_add(1),
        height: region.bottom.saturating_sub(region.top).saturating_add(1),
    }
}

fn push_written(buf: &WriteBuf, size: Option<usize>, events: &mut Vec<SessionEvent>) {
    if let Some(size) = size
        && size > 0
    {
        events.push(SessionEvent::Write(buf.filled()[..size].to_vec()));
    }
}

/// A sentence for a person from IronRDP's lowercase disconnect reason.
fn termination_sentence(reason: &str) -> String {
    let mut chars = reason.chars();
    let mut sentence: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "The remote computer ended the session".to_owned(),
    };
    if !sentence.ends_with('.') {
        sentence.push('.');
    }
    sentence
}

/// One monotonic clock for every frame's arrival (bandwidth measurement needs differences only).
fn now() -> MonotonicInstant {
    static EPOCH: std::sync::OnceLock<web_time::Instant> = std::sync::OnceLock::new();
    let epoch = EPOCH.get_or_init(web_time::Instant::now);
    MonotonicInstant::from_millis(u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
}

/// The physical size in millimetres of a `width`×`height` screen at 96 dots per inch, which
/// servers such as xrdp require in a monitor layout (MS-RDPEDISP: 10 to 10,000 mm).
fn physical_size(width: u16, height: u16) -> (u32, u32) {
    let millimetres = |pixels: u16| (u32::from(pixels) * 254 / 960).clamp(10, 10_000);
    (millimetres(width), millimetres(height))
}

#[cfg(test)]
mod tests {
    use std::any::TypeId;
    use std::borrow::Cow;

    use ironrdp_cliprdr::pdu::ClipboardPdu;
    use ironrdp_connector::DesktopSize;
    use ironrdp_core::encode_vec;
    use ironrdp_pdu::mcs::{
        DisconnectProviderUltimatum, DisconnectReason, McsMessage, SendDataIndication,
    };
    use ironrdp_pdu::rdp::capability_sets::InputFlags;
    use ironrdp_pdu::rdp::headers::{ServerDeactivateAll, ShareControlHeader, ShareControlPdu};
    use ironrdp_pdu::x224::X224;
    use ironrdp_svc::{StaticChannelSet, SvcMessage};

    use super::*;
    use crate::{ConnectOptions, Credentials, clipboard};

    const IO_CHANNEL: u16 = 1003;
    const CLIPRDR_CHANNEL: u16 = 1004;
    const USER_CHANNEL: u16 = 1007;

    /// A session as `connect` leaves it, with the clipboard channel on [`CLIPRDR_CHANNEL`].
    fn session() -> Session {
        let options = ConnectOptions {
            credentials: Credentials {
                username: "ada".to_owned(),
                password: "secret".to_owned(),
                domain: None,
            },
            width: 1024,
            height: 768,
            ticket: String::new(),
            destination: "desk".to_owned(),
            client_name: "test".to_owned(),
        };
        let queue = Queue::default();
        let mut channels = StaticChannelSet::new();
        channels.insert(CliprdrClient::new(Box::new(clipboard::Backend::new(
            queue.clone(),
        ))));
        channels.attach_channel_id(TypeId::of::<CliprdrClient>(), CLIPRDR_CHANNEL);
        let result = ConnectionResult {
            io_channel_id: IO_CHANNEL,
            user_channel_id: USER_CHANNEL,
            message_channel_id: None,
            share_id: 0x1_03ea,
            static_channels: channels,
            desktop_size: DesktopSize {
                width: 1024,
                height: 768,
            },
            input_flags: InputFlags::empty(),
            enable_server_pointer: true,
            pointer_software_rendering: false,
            refresh_rect_support: false,
            suppress_output_support: false,
            window_support_level: None,
            monitor_layout: None,
            activation_factory: ConnectionActivationFactory::new(
                crate::connect::config(&options).unwrap(),
                IO_CHANNEL,
                USER_CHANNEL,
            ),
            compression_type: None,
        };
        Session::new(result, queue)
    }

    fn deactivate_all() -> Vec<u8> {
        let header = ShareControlHeader {
            share_control_pdu: ShareControlPdu::ServerDeactivateAll(ServerDeactivateAll),
            pdu_source: IO_CHANNEL,
            share_id: 0x1_03ea,
        };
        encode_vec(&X224(SendDataIndication {
            initiator_id: USER_CHANNEL,
            channel_id: IO_CHANNEL,
            user_data: Cow::Owned(encode_vec(&header).unwrap()),
        }))
        .unwrap()
    }

    #[test]
    fn virtual_channels_keep_working_while_the_server_reactivates() {
        let mut session = session();
        assert_eq!(
            session.process(Action::X224, &deactivate_all()).unwrap(),
            []
        );
        assert!(session.reactivation.is_some());

        // xrdp's clipboard talks between its Deactivate All and its Demand Active: the
        // channel answers, and the reactivation still waits for its Demand Active.
        let monitor_ready = ironrdp_svc::server_encode_svc_messages(
            vec![SvcMessage::from(ClipboardPdu::MonitorReady)],
            CLIPRDR_CHANNEL,
            USER_CHANNEL,
        )
        .unwrap();
        let events = session.process(Action::X224, &monitor_ready).unwrap();
        assert!(
            events.iter().any(|e| matches!(e, SessionEvent::Write(_))),
            "{events:?}"
        );
        assert!(session.reactivation.is_some());

        // A disconnect in the middle ends the session with a reason instead of an error.
        let ultimatum = encode_vec(&X224(McsMessage::DisconnectProviderUltimatum(
            DisconnectProviderUltimatum::from_reason(DisconnectReason::UserRequested),
        )))
        .unwrap();
        let events = session.process(Action::X224, &ultimatum).unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, SessionEvent::Terminated(_))),
            "{events:?}"
        );
    }

    #[test]
    fn clipboard_text_stops_at_nul() {
        let mut utf16: Vec<u8> = "héllo".encode_utf16().flat_map(u16::to_le_bytes).collect();
        utf16.extend_from_slice(&[0, 0, b'x', 0]);
        assert_eq!(
            decode_text(ClipboardFormatId::CF_UNICODETEXT, &utf16).as_deref(),
            Some("héllo")
        );
        assert_eq!(
            decode_text(ClipboardFormatId::CF_TEXT, b"abc\0def").as_deref(),
            Some("abc")
        );
        assert_eq!(decode_text(ClipboardFormatId::CF_DIB, b"abc"), None);
    }

    #[test]
    fn termination_reasons_read_as_sentences() {
        assert_eq!(
            termination_sentence("server initiated disconnect"),
            "Server initiated disconnect."
        );
        assert_eq!(
            termination_sentence(""),
            "The remote computer ended the session."
        );
    }
}
