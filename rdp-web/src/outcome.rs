//! Why a desktop session ended, as a stable reason for tests and a sentence for the person.
//! Pure, so it is tested natively.

/// `data-close-reason` values and the `reason` of the `closed` state.
pub mod reason {
    /// The person disconnected (or the page went away).
    pub const DISCONNECTED: &str = "disconnected";
    /// The remote computer ended the session (logoff, admin disconnect, another login).
    pub const TERMINATED: &str = "terminated";
    /// The gateway refused or failed with an RDCleanPath error.
    pub const GATEWAY: &str = "gateway";
    /// The remote computer and this client share no security protocol.
    pub const NEGOTIATION: &str = "negotiation";
    /// The remote computer did not accept the credentials.
    pub const AUTHENTICATION: &str = "authentication";
    /// The connection to the gateway failed or dropped.
    pub const NETWORK: &str = "network";
    /// The remote computer sent something this client does not understand.
    pub const PROTOCOL: &str = "protocol";
    /// The gateway closed the WebSocket with a policy refusal (close code 1008).
    pub const REFUSED: &str = "refused";
    /// The gateway lost the remote computer (close code 1011).
    pub const ORIGIN_FAILED: &str = "origin_failed";
    /// The module could not start (no canvas, no WebSocket).
    pub const UNAVAILABLE: &str = "unavailable";
}

/// WebSocket close codes the gateway uses (see `protocol::rdp`).
const CLOSE_REFUSED: u16 = 1008;
const CLOSE_ORIGIN_FAILED: u16 = 1011;

/// How the WebSocket closed, from its `close` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketClose {
    pub code: u16,
    pub reason: String,
}

/// What went wrong, as far as the connection code could tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `rdp::connect` failed; `kind` is one of the [`reason`] values and `message` is
    /// `ConnectError::message()`.
    Connect { kind: &'static str, message: String },
    /// The session ended: the socket closed or reading failed after connecting.
    Dropped,
    /// Processing a frame failed.
    Protocol(String),
    /// The server ended the session, saying why.
    Terminated(String),
    /// The person asked for it.
    Requested,
    /// The module could not start.
    Unavailable(String),
}

/// The outcome the page shows: a stable reason and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub reason: &'static str,
    pub message: String,
}

/// The outcome of `failure`, given how the socket closed if it did. A gateway that gave up
/// says why in its close reason, which beats a bare "connection lost" from the RDP side.
pub fn closed(failure: Failure, socket: Option<&SocketClose>) -> Closed {
    let from_gateway = socket
        .filter(|close| !close.reason.trim().is_empty())
        .and_then(|close| match close.code {
            CLOSE_REFUSED => Some(reason::REFUSED),
            CLOSE_ORIGIN_FAILED => Some(reason::ORIGIN_FAILED),
            _ => None,
        })
        .zip(socket.map(|close| close.reason.trim().to_owned()));
    match failure {
        Failure::Requested => Closed {
            reason: reason::DISCONNECTED,
            message: "Disconnected".to_owned(),
        },
        Failure::Terminated(message) => Closed {
            reason: reason::TERMINATED,
            message: if message.trim().is_empty() {
                "The remote computer ended the session.".to_owned()
            } else {
                message
            },
        },
        Failure::Unavailable(message) => Closed {
            reason: reason::UNAVAILABLE,
            message,
        },
        // A gateway error PDU already carries the precise reason.
        Failure::Connect { kind, message } if kind == reason::GATEWAY => Closed {
            reason: kind,
            message,
        },
        Failure::Connect { kind, message } => match from_gateway {
            Some((reason, message)) if kind == reason::NETWORK => Closed { reason, message },
            _ => Closed {
                reason: kind,
                message,
            },
        },
        Failure::Dropped => match from_gateway {
            Some((reason, message)) => Closed { reason, message },
            None => Closed {
                reason: reason::NETWORK,
                message: "The connection to the remote computer was lost.".to_owned(),
            },
        },
        Failure::Protocol(message) => Closed {
            reason: reason::PROTOCOL,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(code: u16, reason: &str) -> SocketClose {
        SocketClose {
            code,
            reason: reason.to_owned(),
        }
    }

    #[test]
    fn the_gateways_close_reason_explains_a_network_failure() {
        let failure = Failure::Connect {
            kind: reason::NETWORK,
            message: "The connection closed.".to_owned(),
        };
        assert_eq!(
            closed(
                failure.clone(),
                Some(&socket(1011, "The connector is offline."))
            ),
            Closed {
                reason: reason::ORIGIN_FAILED,
                message: "The connector is offline.".to_owned()
            }
        );
        assert_eq!(
            closed(failure.clone(), Some(&socket(1008, " Not allowed. "))),
            Closed {
                reason: reason::REFUSED,
                message: "Not allowed.".to_owned()
            }
        );
        // A normal close, or one without a reason, says nothing more.
        for close in [socket(1000, "bye"), socket(1011, " "), socket(1006, "")] {
            assert_eq!(
                closed(failure.clone(), Some(&close)),
                Closed {
                    reason: reason::NETWORK,
                    message: "The connection closed.".to_owned()
                }
            );
        }
    }

    #[test]
    fn a_gateway_error_pdu_wins() {
        let failure = Failure::Connect {
            kind: reason::GATEWAY,
            message: "The connection ticket expired. Try connecting again.".to_owned(),
        };
        assert_eq!(
            closed(failure, Some(&socket(1008, "expired"))),
            Closed {
                reason: reason::GATEWAY,
                message: "The connection ticket expired. Try connecting again.".to_owned()
            }
        );
    }

    #[test]
    fn authentication_failures_keep_their_reason() {
        let failure = Failure::Connect {
            kind: reason::AUTHENTICATION,
            message: "The user name or password is wrong.".to_owned(),
        };
        assert_eq!(
            closed(failure, Some(&socket(1011, "origin closed"))).reason,
            reason::AUTHENTICATION
        );
    }

    #[test]
    fn a_dropped_session_says_so() {
        assert_eq!(closed(Failure::Dropped, None).reason, reason::NETWORK);
        assert_eq!(
            closed(Failure::Dropped, Some(&socket(1011, "The origin hung up."))),
            Closed {
                reason: reason::ORIGIN_FAILED,
                message: "The origin hung up.".to_owned()
            }
        );
    }

    #[test]
    fn endings_the_person_or_server_chose() {
        assert_eq!(
            closed(Failure::Requested, Some(&socket(1011, "x"))),
            Closed {
                reason: reason::DISCONNECTED,
                message: "Disconnected".to_owned()
            }
        );
        assert_eq!(
            closed(Failure::Terminated(String::new()), None).message,
            "The remote computer ended the session."
        );
        assert_eq!(
            closed(Failure::Terminated("Logged off.".to_owned()), None),
            Closed {
                reason: reason::TERMINATED,
                message: "Logged off.".to_owned()
            }
        );
        assert_eq!(
            closed(Failure::Protocol("bad PDU".to_owned()), None).reason,
            reason::PROTOCOL
        );
    }
}
