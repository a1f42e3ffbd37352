//! The clipboard backend: records what the CLIPRDR channel asks of the client, for
//! [`crate::Session`] to act on after each PDU.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use ironrdp_cliprdr::backend::CliprdrBackend;
use ironrdp_cliprdr::pdu::{
    ClipboardFormat, ClipboardFormatId, ClipboardGeneralCapabilityFlags, FileContentsRequest,
    FileContentsResponse, FormatDataRequest, FormatDataResponse, LockDataId,
};

/// What the channel asked for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Announce the local formats (the server sent Monitor Ready).
    FormatList,
    /// The server's clipboard changed; these formats are on offer.
    RemoteCopy(Vec<ClipboardFormatId>),
    /// The server wants the local clipboard in this format.
    FormatData(ClipboardFormatId),
    /// The server answered a request for its clipboard (`None`: it failed).
    RemoteData(Option<Vec<u8>>),
}

/// The most requests kept unanswered; a server flooding the channel loses the oldest.
const MAX_QUEUED: usize = 64;

/// Shared between the backend (owned by the channel) and the session.
#[derive(Debug, Clone, Default)]
pub(crate) struct Queue(Arc<Mutex<VecDeque<Request>>>);

impl Queue {
    fn push(&self, request: Request) {
        if let Ok(mut queue) = self.0.lock() {
            if queue.len() >= MAX_QUEUED {
                queue.pop_front();
            }
            queue.push_back(request);
        }
    }

    /// Everything queued so far.
    pub(crate) fn drain(&self) -> Vec<Request> {
        self.0
            .lock()
            .map(|mut queue| queue.drain(..).collect())
            .unwrap_or_default()
    }
}

/// Text only: no files, no images.
#[derive(Debug)]
pub(crate) struct Backend {
    queue: Queue,
}

impl Backend {
    pub(crate) fn new(queue: Queue) -> Backend {
        Backend { queue }
    }
}

ironrdp_core::impl_as_any!(Backend);

impl CliprdrBackend for Backend {
    fn temporary_directory(&self) -> &str {
        ".cliprdr"
    }

    fn client_capabilities(&self) -> ClipboardGeneralCapabilityFlags {
        ClipboardGeneralCapabilityFlags::empty()
    }

    fn on_ready(&mut self) {}

    fn on_request_format_list(&mut self) {
        self.queue.push(Request::FormatList);
    }

    fn on_process_negotiated_capabilities(&mut self, _: ClipboardGeneralCapabilityFlags) {}

    fn on_remote_copy(&mut self, available_formats: &[ClipboardFormat]) {
        self.queue.push(Request::RemoteCopy(
            available_formats.iter().map(|format| format.id).collect(),
        ));
    }

    fn on_format_data_request(&mut self, request: FormatDataRequest) {
        self.queue.push(Request::FormatData(request.format));
    }

    fn on_format_data_response(&mut self, response: FormatDataResponse<'_>) {
        let data = (!response.is_error()).then(|| response.data().to_vec());
        self.queue.push(Request::RemoteData(data));
    }

    fn on_file_contents_request(&mut self, _: FileContentsRequest) {}

    fn on_file_contents_response(&mut self, _: FileContentsResponse<'_>) {}

    fn on_lock(&mut self, _: LockDataId) {}

    fn on_unlock(&mut self, _: LockDataId) {}

    // The default reads `std::time::Instant`, which panics in the browser.
    fn now_ms(&self) -> u64 {
        static EPOCH: std::sync::OnceLock<web_time::Instant> = std::sync::OnceLock::new();
        let epoch = EPOCH.get_or_init(web_time::Instant::now);
        u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
