//! The one error type of the HTTP edge.
//!
//! It renders as `{"error":{"code","message"}}` with a stable code and a message meant for a
//! person. Internal causes are logged once here and never sent to the client.

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::api::{ErrorBody, ErrorDetail, error_code};

use crate::access::Denied;
use crate::store::StoreError;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
}

impl ApiError {
    /// No App of this kind (`"SSH "`, `"RDP "`, or `""` for any) is called `name`.
    pub fn unknown_app(kind: &str, name: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            error_code::UNKNOWN_APP,
            format!("no {kind}app is called {name}"),
        )
    }

    /// The choke point's refusal: an unknown App (of `kind`, as for [`ApiError::unknown_app`]),
    /// the policy's reason, or a store failure.
    pub fn denied(denied: Denied, kind: &str) -> ApiError {
        match denied {
            Denied::UnknownApp(name) => ApiError::unknown_app(kind, &name),
            Denied::Policy(reason) => ApiError::new(
                StatusCode::FORBIDDEN,
                error_code::ACCESS_DENIED,
                format!("access denied: {reason}"),
            ),
            Denied::Store(error) => error.into(),
        }
    }

    /// An error with an explicit status, code and message.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401: no valid Session.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            error_code::UNAUTHENTICATED,
            "sign in first",
        )
    }

    /// 403: the Session's user lacks the admin role.
    pub fn admin_only() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            error_code::FORBIDDEN,
            "this needs the admin role",
        )
    }

    /// 400 with a message about the input.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error_code::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            error_code::NOT_FOUND,
            format!("no such {what}"),
        )
    }

    /// 500, logging `cause` once.
    pub fn internal(cause: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %ErrorChain(cause), "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_code::INTERNAL,
            "something went wrong on the server; the details are in its log",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Displays an error with its sources, `a: b: c`.
pub struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(formatter, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Conflict(what) => ApiError::new(
                StatusCode::CONFLICT,
                error_code::CONFLICT,
                format!("this {what} is taken"),
            ),
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.into_owned(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
