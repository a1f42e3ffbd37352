//! One Stream: check its destination against the allow-list, dial the origin, and splice bytes
//! both ways until each direction ends.
//!
//! The request body feeds the socket's write half and the socket's read half feeds the response
//! body, so each direction ends on its own: the end of the request body becomes a TCP
//! half-close (`shutdown`) towards the origin, and the origin's EOF ends the response body.
//! `scp` and `ssh` rely on that. There is no buffer beyond one read chunk per direction; HTTP/2
//! flow control holds back whichever side is faster.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use protocol::api::{ErrorBody, ErrorDetail, error_code};
use protocol::tunnel::{Destination, HEADER_DESTINATION, HEADER_STREAM, STREAM_PATH};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::allow::{AllowList, Verdict};

/// How long resolving and dialling an origin may take.
pub(crate) const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes read from the origin into one response frame.
const READ_CHUNK: usize = 64 * 1024;
/// Below this much free buffer space a fresh chunk is reserved, so small interactive reads
/// (keystrokes) share one allocation instead of taking a new one each.
const MIN_READ_SPACE: usize = 4 * 1024;

/// The body of a Stream's response: the origin's bytes, or a JSON `ErrorBody`.
pub(crate) type ResponseBody = Either<OriginBody, Full<Bytes>>;

/// Answers one request on the tunnel. Never fails: every problem is a status and an
/// `ErrorBody`.
pub(crate) async fn handle(
    request: Request<Incoming>,
    allow: Arc<AllowList>,
    connection: usize,
) -> Result<Response<ResponseBody>, Infallible> {
    if request.uri().path() != STREAM_PATH {
        return Ok(error_response(
            StatusCode::NOT_FOUND,
            error_code::NOT_FOUND,
            format!("the tunnel serves only {STREAM_PATH}"),
        ));
    }
    if request.method() != Method::POST {
        return Ok(error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            error_code::BAD_REQUEST,
            "streams open with POST".to_owned(),
        ));
    }
    let stream = stream_id(request.headers());
    let destination = match request
        .headers()
        .get(HEADER_DESTINATION)
        .and_then(|value| value.to_str().ok())
        .map(Destination::parse)
    {
        Some(Ok(destination)) => destination,
        _ => {
            warn!(connection, %stream, "refused a stream without a valid destination");
            return Ok(error_response(
                StatusCode::BAD_REQUEST,
                error_code::BAD_REQUEST,
                format!("missing or malformed {HEADER_DESTINATION} header"),
            ));
        }
    };
    let socket = match open(&allow, &destination).await {
        Ok(socket) => socket,
        Err(OpenError::Refused(message)) => {
            warn!(connection, %stream, %destination, "refused a stream outside the allow-list");
            return Ok(error_response(
                StatusCode::FORBIDDEN,
                error_code::DESTINATION_REFUSED,
                message,
            ));
        }
        Err(OpenError::Unreachable(message)) => {
            warn!(connection, %stream, %destination, reason = %message, "origin unreachable");
            return Ok(error_response(
                StatusCode::BAD_GATEWAY,
                error_code::ORIGIN_UNREACHABLE,
                message,
            ));
        }
    };
    // Interactive protocols (SSH keystrokes, RDP input) must not wait for Nagle.
    if let Err(error) = socket.set_nodelay(true) {
        debug!(connection, %stream, %error, "cannot disable nagle on the origin socket");
    }
    debug!(connection, %stream, %destination, peer = ?socket.peer_addr().ok(), "stream opened");
    let (reader, writer) = socket.into_split();
    let (abort_sender, abort_receiver) = oneshot::channel();
    tokio::spawn(feed_origin(
        request.into_body(),
        writer,
        abort_sender,
        connection,
        stream.clone(),
    ));
    let body = OriginBody {
        reader,
        buffer: BytesMut::new(),
        abort: Some(abort_receiver),
        connection,
        stream,
        received: 0,
    };
    Ok(Response::new(Either::Left(body)))
}

/// Why no socket to the origin was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OpenError {
    /// The allow-list refuses it: nothing was dialled.
    Refused(String),
    /// Resolving or dialling failed.
    Unreachable(String),
}

/// Resolves (when needed) and dials a destination, only at addresses the allow-list admits.
async fn open(allow: &AllowList, destination: &Destination) -> Result<TcpStream, OpenError> {
    let verdict = allow.verdict(destination);
    if verdict == Verdict::Refused {
        return Err(OpenError::Refused(format!(
            "destination {destination} is outside this connector's allow-list"
        )));
    }
    let attempt = async {
        let candidates = match verdict {
            Verdict::Address(address) => vec![address],
            _ => {
                let resolved: Vec<SocketAddr> =
                    tokio::net::lookup_host((destination.host.as_str(), destination.port))
                        .await
                        .map_err(|error| {
                            OpenError::Unreachable(format!(
                                "cannot resolve {}: {}",
                                destination.host,
                                describe(&error)
                            ))
                        })?
                        .collect();
                let admitted = allow.admit(verdict, &resolved);
                if admitted.is_empty() {
                    return Err(if resolved.is_empty() {
                        OpenError::Unreachable(format!(
                            "cannot resolve {}: no address",
                            destination.host
                        ))
                    } else {
                        OpenError::Refused(format!(
                            "destination {destination} resolves to no address inside this \
                             connector's allow-list"
                        ))
                    });
                }
                admitted
            }
        };
        dial(&candidates, destination).await
    };
    tokio::time::timeout(DIAL_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| {
            Err(OpenError::Unreachable(format!(
                "cannot reach {destination}: timed out after {}s",
                DIAL_TIMEOUT.as_secs()
            )))
        })
}

/// Tries each admitted address in order, as `connect` would for a name.
async fn dial(
    candidates: &[SocketAddr],
    destination: &Destination,
) -> Result<TcpStream, OpenError> {
    let mut last_error = None;
    for address in candidates {
        match TcpStream::connect(address).await {
            Ok(socket) => return Ok(socket),
            Err(error) => last_error = Some(error),
        }
    }
    let reason = last_error.map_or_else(|| "no address".to_owned(), |error| describe(&error));
    Err(OpenError::Unreachable(format!(
        "cannot reach {destination}: {reason}"
    )))
}

/// An OS error as a short lowercase phrase: "connection refused", not
/// "Connection refused (os error 111)".
fn describe(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.rfind(" (os error ") {
        Some(index) if text.ends_with(')') => &text[..index],
        _ => text.as_str(),
    };
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_lowercase().chain(characters).collect(),
        None => "unknown error".to_owned(),
    }
}

/// The Stream id the server sent, reduced to something safe to log.
fn stream_id(headers: &HeaderMap) -> String {
    let id: String = headers
        .get(HEADER_STREAM)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default()
        .iter()
        .filter(|byte| byte.is_ascii_graphic())
        .take(64)
        .map(|byte| char::from(*byte))
        .collect();
    if id.is_empty() { "-".to_owned() } else { id }
}

fn error_response(status: StatusCode, code: &str, message: String) -> Response<ResponseBody> {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
        },
    };
    // Serialising two strings cannot fail; an empty body would still carry the status.
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(json))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Copies the request body to the origin, then half-closes towards it.
async fn feed_origin(
    mut body: Incoming,
    mut writer: OwnedWriteHalf,
    abort: oneshot::Sender<io::Error>,
    connection: usize,
    stream: String,
) {
    let mut sent: u64 = 0;
    let failure = loop {
        match body.frame().await {
            None => {
                // The server's side is done sending: pass the half-close on. A failure here
                // means the origin is gone, which the read side reports on its own.
                if let Err(error) = writer.shutdown().await {
                    debug!(connection, %stream, %error, "half-close towards the origin failed");
                }
                debug!(connection, %stream, sent, "stream input ended");
                return;
            }
            Some(Ok(frame)) => {
                // Trailers carry nothing for a byte stream; only data frames matter.
                if let Ok(data) = frame.into_data() {
                    if let Err(error) = writer.write_all(&data).await {
                        break error;
                    }
                    sent += data.len() as u64;
                }
            }
            Some(Err(error)) => break io::Error::other(error),
        }
    };
    debug!(connection, %stream, sent, error = %failure, "stream input failed");
    // Tear the whole Stream down: the response body fails once it has passed on what the
    // origin already sent.
    let _ignored_if_response_done = abort.send(failure);
}

/// The response body of an open Stream: the origin's bytes, in chunks as they arrive.
pub(crate) struct OriginBody {
    reader: OwnedReadHalf,
    buffer: BytesMut,
    /// Fires when the other direction failed, which ends this one too.
    abort: Option<oneshot::Receiver<io::Error>>,
    connection: usize,
    stream: String,
    received: u64,
}

impl Body for OriginBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.buffer.capacity() - this.buffer.len() < MIN_READ_SPACE {
            this.buffer.reserve(READ_CHUNK);
        }
        match tokio_util::io::poll_read_buf(Pin::new(&mut this.reader), context, &mut this.buffer) {
            Poll::Ready(Ok(0)) => Poll::Ready(None),
            Poll::Ready(Ok(read)) => {
                this.received += read as u64;
                Poll::Ready(Some(Ok(Frame::data(this.buffer.split().freeze()))))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Some(Err(error))),
            // Only with nothing left to read does a failure of the other direction end this
            // one, so bytes the origin already sent still reach the server.
            Poll::Pending => match this
                .abort
                .as_mut()
                .map(|abort| Pin::new(abort).poll(context))
            {
                Some(Poll::Ready(Ok(error))) => {
                    this.abort = None;
                    Poll::Ready(Some(Err(error)))
                }
                Some(Poll::Ready(Err(_finished_cleanly))) => {
                    this.abort = None;
                    Poll::Pending
                }
                Some(Poll::Pending) | None => Poll::Pending,
            },
        }
    }
}

impl Drop for OriginBody {
    fn drop(&mut self) {
        debug!(
            connection = self.connection,
            stream = %self.stream,
            received = self.received,
            "stream output ended"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_as_phrases() {
        let refused = io::Error::from_raw_os_error(111);
        assert_eq!(describe(&refused), "connection refused");
        assert_eq!(describe(&io::Error::other("Weird thing")), "weird thing");
    }

    #[test]
    fn stream_ids_are_log_safe() {
        let mut headers = HeaderMap::new();
        assert_eq!(stream_id(&headers), "-");
        headers.insert(HEADER_STREAM, HeaderValue::from_static("abc 123"));
        assert_eq!(stream_id(&headers), "abc123");
        headers.insert(
            HEADER_STREAM,
            HeaderValue::from_str(&"x".repeat(100)).unwrap(),
        );
        assert_eq!(stream_id(&headers).len(), 64);
    }

    #[tokio::test]
    async fn refused_destinations_are_never_dialled() {
        let allow: AllowList = "127.0.0.1:1".parse().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let destination = Destination::parse(&format!("127.0.0.1:{port}")).unwrap();
        let error = open(&allow, &destination).await.unwrap_err();
        assert_eq!(
            error,
            OpenError::Refused(format!(
                "destination 127.0.0.1:{port} is outside this connector's allow-list"
            ))
        );
    }

    #[tokio::test]
    async fn names_are_dialled_only_at_admitted_addresses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let destination = Destination::parse(&format!("localhost:{port}")).unwrap();
        // `localhost` may resolve to ::1 first; the network rule admits only 127.0.0.1,
        // where the listener is.
        let inside: AllowList = format!("127.0.0.1/32:{port}").parse().unwrap();
        let socket = open(&inside, &destination).await.unwrap();
        assert_eq!(socket.peer_addr().unwrap(), listener.local_addr().unwrap());
        let elsewhere: AllowList = format!("10.0.0.0/8:{port}").parse().unwrap();
        assert_eq!(
            open(&elsewhere, &destination).await.unwrap_err(),
            OpenError::Refused(format!(
                "destination localhost:{port} resolves to no address inside this connector's \
                 allow-list"
            ))
        );
    }
}
