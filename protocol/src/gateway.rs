//! How native clients open Streams through the server: `POST /gw/tcp/{app}` over HTTP/2.
//!
//! The request body carries client-to-origin bytes and the response body origin-to-client
//! bytes, both at once. A `200` means the Connector reached the origin; anything else is an
//! error status with a [`crate::api::ErrorBody`] (`unauthenticated`, `access_denied` with the
//! policy's reason, `unknown_app`, `connector_offline`, `destination_refused`,
//! `origin_unreachable`). Credentials are explicit headers, never cookies: a Session token as
//! `Authorization: Bearer {token}`, or a Service token as the two headers below.
//!
//! When the server ends a Stream itself (its Session or Service token was revoked, signed out
//! or expired), the response ends with a trailer [`TRAILER_STREAM_END`] that says why.

/// Header with a Service token's client id.
pub const HEADER_SERVICE_TOKEN_ID: &str = "postern-service-token-id";
/// Header with a Service token's secret.
pub const HEADER_SERVICE_TOKEN_SECRET: &str = "postern-service-token-secret";

/// Trailer with the reason the server ended a Stream, in words for the person.
pub const TRAILER_STREAM_END: &str = "postern-stream-end";

/// The gateway path for a TCP Stream to `app`.
pub fn tcp_path(app: &str) -> String {
    format!("/gw/tcp/{app}")
}
