//! RDCleanPath framing and the few RDP bytes the gateway itself reads: the request PDU, the
//! origin's X.224 Connection Confirm, and the error PDUs it answers with.

use ironrdp_rdcleanpath::{DetectionResult, RDCleanPathErr, RDCleanPathMessage, RDCleanPathPdu};
use protocol::rdp::{MAX_REQUEST_BYTES, error_code};

/// The browser's first PDU, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The ticket from `proxy_auth`.
    pub ticket: String,
    /// The RDP client's X.224 Connection Request, TPKT-framed.
    pub connection_request: Vec<u8>,
}

/// Why a request is refused before anything is dialled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Longer than [`MAX_REQUEST_BYTES`].
    #[error("the RDCleanPath request is longer than {MAX_REQUEST_BYTES} bytes")]
    TooLong,
    /// Not DER, not RDCleanPath version 3390, or not a request.
    #[error("the first message is not an RDCleanPath request: {0}")]
    Malformed(String),
}

/// What the bytes received so far hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// More bytes are needed.
    Incomplete,
    /// One whole request, and nothing after it.
    Complete(Request),
}

/// Looks at the bytes received so far. Bytes after the request are refused: the client must
/// wait for the response before it sends RDP.
pub fn read_request(received: &[u8]) -> Result<Framing, RequestError> {
    // `detect` accepts any outer tag; a PDU is a SEQUENCE.
    if received.first().is_some_and(|&tag| tag != 0x30) {
        return Err(RequestError::Malformed(
            "not a DER RDCleanPath PDU".to_owned(),
        ));
    }
    match RDCleanPathPdu::detect(received) {
        DetectionResult::NotEnoughBytes if received.len() < MAX_REQUEST_BYTES => {
            Ok(Framing::Incomplete)
        }
        DetectionResult::NotEnoughBytes => Err(RequestError::TooLong),
        DetectionResult::Failed => Err(RequestError::Malformed(
            "not a DER RDCleanPath PDU of version 3390".to_owned(),
        )),
        DetectionResult::Detected { total_length, .. } if total_length > MAX_REQUEST_BYTES => {
            Err(RequestError::TooLong)
        }
        DetectionResult::Detected { total_length, .. } if received.len() < total_length => {
            Ok(Framing::Incomplete)
        }
        DetectionResult::Detected { total_length, .. } if received.len() > total_length => Err(
            RequestError::Malformed("bytes followed the request before its response".to_owned()),
        ),
        DetectionResult::Detected { .. } => {
            let pdu = RDCleanPathPdu::from_der(received)
                .map_err(|error| RequestError::Malformed(error.to_string()))?;
            match pdu.into_message() {
                Ok(RDCleanPathMessage::Request {
                    proxy_auth,
                    preconnection_blob: None,
                    x224_connection_request,
                    ..
                }) => Ok(Framing::Complete(Request {
                    ticket: proxy_auth,
                    connection_request: x224_connection_request.as_bytes().to_vec(),
                })),
                Ok(
                    RDCleanPathMessage::Request { .. }
                    | RDCleanPathMessage::VmConnectRequest { .. },
                ) => Err(RequestError::Malformed(
                    "preconnection blobs (Hyper-V) are not supported".to_owned(),
                )),
                Ok(_) => Err(RequestError::Malformed("it is not a request".to_owned())),
                Err(error) => Err(RequestError::Malformed(error.to_string())),
            }
        }
    }
}

/// The longest X.224 Connection Confirm accepted from an origin (a real one is 19 bytes).
pub const MAX_CONFIRM_BYTES: usize = 512;

/// The length a TPKT header announces, if these four bytes are a plausible one.
pub fn tpkt_length(header: [u8; 4]) -> Option<usize> {
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    (header[0] == 3 && (11..=MAX_CONFIRM_BYTES).contains(&length)).then_some(length)
}

/// What the origin's Connection Confirm says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// It picked a protocol (TLS or CredSSP); go on with TLS.
    Negotiated,
    /// It refused every protocol the client offered (`RDP_NEG_FAILURE`).
    Failure(u32),
    /// Standard RDP security only (no negotiation response), which the gateway cannot relay.
    Legacy,
    /// Not an X.224 Connection Confirm.
    Malformed,
}

/// Reads a TPKT-framed X.224 Connection Confirm (MS-RDPBCGR 2.2.1.2).
pub fn confirm(pdu: &[u8]) -> Confirm {
    // TPKT (4) + length indicator (1) + CC code (1) + DST-REF (2) + SRC-REF (2) + class (1).
    const NEGOTIATION_AT: usize = 11;
    if pdu.len() < NEGOTIATION_AT || pdu[0] != 3 || pdu[5] & 0xF0 != 0xD0 {
        return Confirm::Malformed;
    }
    let negotiation = &pdu[NEGOTIATION_AT..];
    if negotiation.is_empty() {
        return Confirm::Legacy;
    }
    if negotiation.len() < 8 {
        return Confirm::Malformed;
    }
    let value = u32::from_le_bytes([
        negotiation[4],
        negotiation[5],
        negotiation[6],
        negotiation[7],
    ]);
    match negotiation[0] {
        // TYPE_RDP_NEG_RSP: PROTOCOL_RDP (0) means standard RDP security.
        0x02 if value == 0 => Confirm::Legacy,
        0x02 => Confirm::Negotiated,
        0x03 => Confirm::Failure(value),
        _ => Confirm::Malformed,
    }
}

/// An RDCleanPath error PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorPdu {
    /// One of [`error_code`].
    pub code: u16,
    /// The HTTP status older clients show.
    pub http_status: Option<u16>,
    /// The Windows socket error older clients show.
    pub wsa_error: Option<u16>,
    /// The TLS alert received from the origin.
    pub tls_alert: Option<u8>,
}

impl ErrorPdu {
    /// An error with an HTTP status as its detail.
    pub fn http(code: u16, status: u16) -> ErrorPdu {
        ErrorPdu {
            code,
            http_status: Some(status),
            wsa_error: None,
            tls_alert: None,
        }
    }

    /// An error with a Windows socket error as its detail.
    pub fn wsa(code: u16, wsa_error: u16) -> ErrorPdu {
        ErrorPdu {
            code,
            http_status: None,
            wsa_error: Some(wsa_error),
            tls_alert: None,
        }
    }

    /// A failed TLS handshake, with the alert the origin sent if any.
    pub fn tls(alert: Option<u8>) -> ErrorPdu {
        ErrorPdu {
            code: error_code::TLS_HANDSHAKE_FAILED,
            http_status: None,
            wsa_error: None,
            tls_alert: alert,
        }
    }

    /// The DER bytes.
    pub fn to_der(self) -> Vec<u8> {
        let pdu = RDCleanPathPdu {
            error: Some(RDCleanPathErr {
                error_code: self.code,
                http_status_code: self.http_status,
                wsa_last_error: self.wsa_error,
                tls_alert_code: self.tls_alert,
            }),
            ..RDCleanPathPdu::default()
        };
        // Encoding a handful of integers cannot fail; an empty message still closes cleanly.
        pdu.to_der().unwrap_or_default()
    }
}

/// The response to a request: the origin's Connection Confirm and certificate chain.
pub fn response(server_addr: &str, confirm: &[u8], chain: Vec<Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    Ok(RDCleanPathPdu::new_response(server_addr.to_owned(), confirm.to_vec(), chain)?.to_der()?)
}

/// The negotiation failure response, carrying the origin's Connection Confirm.
pub fn negotiation_error(confirm: &[u8]) -> Vec<u8> {
    RDCleanPathPdu::new_negotiation_error(confirm.to_vec())
        .and_then(|pdu| pdu.to_der())
        .unwrap_or_else(|_| ErrorPdu::http(error_code::NEGOTIATION, 502).to_der())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Connection Request as mstsc sends it, requesting TLS and CredSSP.
    const CONNECTION_REQUEST: &[u8] =
        &[3, 0, 0, 19, 14, 0xE0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 3, 0, 0, 0];

    fn request(ticket: &str) -> Vec<u8> {
        RDCleanPathPdu::new_request(
            CONNECTION_REQUEST.to_vec(),
            "desk".to_owned(),
            ticket.to_owned(),
            None,
        )
        .unwrap()
        .to_der()
        .unwrap()
    }

    #[test]
    fn a_request_is_read_whatever_the_chunking() {
        let bytes = request("ticket-1");
        for split in 0..bytes.len() {
            assert_eq!(
                read_request(&bytes[..split]).unwrap(),
                Framing::Incomplete,
                "{split}"
            );
        }
        assert_eq!(
            read_request(&bytes).unwrap(),
            Framing::Complete(Request {
                ticket: "ticket-1".to_owned(),
                connection_request: CONNECTION_REQUEST.to_vec(),
            })
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        let mut trailing = request("t");
        trailing.push(3);
        assert!(matches!(
            read_request(&trailing),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            read_request(b"GET / HTTP/1.1\r\n"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            read_request(&request(&"x".repeat(MAX_REQUEST_BYTES))),
            Err(RequestError::TooLong)
        ));
        // A header announcing more than the limit is refused once the limit is reached.
        let mut announced = vec![0x30, 0x84, 0x00, 0x01, 0x00, 0x00];
        announced.resize(MAX_REQUEST_BYTES, 0);
        assert!(read_request(&announced).is_err());
        // Endless bytes that never complete a header.
        assert!(read_request(&vec![0x30; MAX_REQUEST_BYTES + 1]).is_err());
        // Another version.
        let mut other =
            RDCleanPathPdu::new_request(CONNECTION_REQUEST.to_vec(), "d".into(), "t".into(), None)
                .unwrap();
        other.version = 3391;
        assert!(read_request(&other.to_der().unwrap()).is_err());
        // A response where a request belongs, and a request without X.224.
        let response = response("desk", CONNECTION_REQUEST, vec![vec![1, 2]]).unwrap();
        assert!(matches!(
            read_request(&response),
            Err(RequestError::Malformed(_))
        ));
        let incomplete = RDCleanPathPdu {
            proxy_auth: Some("t".into()),
            destination: Some("d".into()),
            ..RDCleanPathPdu::default()
        };
        assert!(read_request(&incomplete.to_der().unwrap()).is_err());
        let with_blob = RDCleanPathPdu::new_request(
            CONNECTION_REQUEST.to_vec(),
            "d".into(),
            "t".into(),
            Some("vm".into()),
        )
        .unwrap();
        assert!(read_request(&with_blob.to_der().unwrap()).is_err());
    }

    #[test]
    fn confirms() {
        let tls = [
            3, 0, 0, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0, 2, 0x1F, 8, 0, 1, 0, 0, 0,
        ];
        assert_eq!(confirm(&tls), Confirm::Negotiated);
        let failure = [
            3, 0, 0, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0, 3, 0, 8, 0, 5, 0, 0, 0,
        ];
        assert_eq!(confirm(&failure), Confirm::Failure(5));
        let rdp = [
            3, 0, 0, 19, 14, 0xD0, 0, 0, 0x12, 0x34, 0, 2, 0, 8, 0, 0, 0, 0, 0,
        ];
        assert_eq!(confirm(&rdp), Confirm::Legacy);
        assert_eq!(confirm(&tls[..11]), Confirm::Legacy);
        assert_eq!(confirm(CONNECTION_REQUEST), Confirm::Malformed);
        assert_eq!(confirm(&tls[..14]), Confirm::Malformed);
        assert_eq!(tpkt_length([3, 0, 0, 19]), Some(19));
        assert_eq!(tpkt_length([3, 0, 0xFF, 0xFF]), None);
        assert_eq!(tpkt_length([0x16, 3, 1, 0]), None);
    }

    #[test]
    fn error_pdus_decode_with_their_detail() {
        let bytes = ErrorPdu::wsa(error_code::TARGET_UNREACHABLE, 10061).to_der();
        let pdu = RDCleanPathPdu::from_der(&bytes).unwrap();
        let RDCleanPathMessage::GeneralErr(error) = pdu.into_message().unwrap() else {
            panic!("not an error");
        };
        assert_eq!(error.error_code, error_code::TARGET_UNREACHABLE);
        assert_eq!(error.wsa_last_error, Some(10061));
        let bytes =
            negotiation_error(&[3, 0, 0, 19, 14, 0xD0, 0, 0, 0, 0, 0, 3, 0, 8, 0, 5, 0, 0, 0]);
        assert!(matches!(
            RDCleanPathPdu::from_der(&bytes)
                .unwrap()
                .into_message()
                .unwrap(),
            RDCleanPathMessage::NegotiationErr { .. }
        ));
    }
}
