//! What a request can fail with, and how each failure reads on the wire: an HTTP status plus
//! Boundary's error body `{"kind", "message", "details"}`. `kind` is the gRPC code name
//! Boundary's gateway writes, which its clients (and ours) match on.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use postern_api::error::{ErrorBody, ErrorDetails};

use crate::filter::FilterError;
use crate::resources::ResourceError;
use crate::sessions::SessionError;

pub use postern_api::error::FieldError;

/// Why the API refused or failed a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong: malformed JSON, a missing or wrong-typed field, a bad
    /// filter or list token, a stale version.
    #[error("{message}")]
    InvalidArgument {
        message: String,
        fields: Vec<FieldError>,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// The path exists, the method does not.
    #[error("method {0} is not allowed on this path")]
    MethodNotAllowed(String),
    /// Too many failed logins: try again after the wait (429, with `Retry-After`).
    #[error("Too many failed logins: try again in {} seconds.", retry_after_seconds(*.0))]
    TooManyRequests(std::time::Duration),
    /// The controller's fault, not the caller's; the message says which part failed.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// A 400 that names the field at fault.
    pub fn field(field: FieldError) -> Self {
        Self::InvalidArgument {
            message: format!(
                "Errors in provided fields: {}: {}",
                field.name, field.description
            ),
            fields: vec![field],
        }
    }

    pub fn missing(name: &str) -> Self {
        Self::field(FieldError::required(name))
    }

    pub fn denied() -> Self {
        Self::PermissionDenied("Forbidden.".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InvalidArgument { .. } | Self::FailedPrecondition(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied(_) => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC code name Boundary puts in `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NotFound",
            Self::InvalidArgument { .. } => "InvalidArgument",
            Self::Unauthenticated(_) => "Unauthenticated",
            Self::PermissionDenied(_) => "PermissionDenied",
            Self::FailedPrecondition(_) => "FailedPrecondition",
            // Boundary answers an unsupported method with 405 and kind Unimplemented.
            Self::MethodNotAllowed(_) => "Unimplemented",
            // gRPC's code for a rate limit, which its gateway maps to 429.
            Self::TooManyRequests(_) => "ResourceExhausted",
            Self::Internal(_) => "Internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(message) = &self {
            tracing::warn!(error = %message, "request failed inside the controller");
        }
        let request_fields = match &self {
            Self::InvalidArgument { fields, .. } => fields.clone(),
            _ => Vec::new(),
        };
        let body = ErrorBody {
            kind: self.kind().into(),
            message: self.to_string(),
            details: ErrorDetails { request_fields },
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Self::TooManyRequests(wait) = self {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds(wait)));
        }
        response
    }
}

/// A wait in whole seconds, rounded up, for `Retry-After`.
fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl From<ResourceError> for ApiError {
    fn from(error: ResourceError) -> Self {
        let message = error.to_string();
        match error {
            ResourceError::NotFound { .. } => Self::NotFound(message),
            ResourceError::InvalidArgument { field, message } => {
                Self::field(FieldError::new(field, message))
            }
            ResourceError::StaleVersion { .. } | ResourceError::Conflict(_) => {
                Self::invalid(message)
            }
            ResourceError::Unauthenticated(_) => Self::Unauthenticated(message),
            ResourceError::PermissionDenied(_) => Self::PermissionDenied(message),
            ResourceError::Store(_) => Self::Internal(message),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        let message = error.to_string();
        match error {
            SessionError::NotFound(_) | SessionError::ConnectionNotFound(_) => {
                Self::NotFound(message)
            }
            SessionError::StaleVersion { .. } => Self::invalid(message),
            SessionError::InvalidConnectionLimit(_)
            | SessionError::InvalidMaxDuration(_)
            | SessionError::WrongState { .. }
            | SessionError::InvalidTransition { .. }
            | SessionError::Expired(_)
            | SessionError::ConnectionLimitReached(_)
            | SessionError::TofuMismatch(_)
            | SessionError::ConnectionClosed(_)
            | SessionError::NoWorkers => Self::FailedPrecondition(message),
            // Faults of the controller itself, not of the request.
            SessionError::Credentials(_)
            | SessionError::IdsExhausted
            | SessionError::Storage(_)
            | SessionError::Corrupt { .. } => Self::Internal(message),
        }
    }
}

impl From<FilterError> for ApiError {
    /// The filter's own text already names the field and the column at fault.
    fn from(error: FilterError) -> Self {
        let message = error.to_string();
        Self::InvalidArgument {
            fields: vec![FieldError::new("filter", message.clone())],
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_replies_say_when_to_come_back() {
        let wait = std::time::Duration::from_millis(1_500);
        let error = ApiError::TooManyRequests(wait);
        assert_eq!(
            error.to_string(),
            "Too many failed logins: try again in 2 seconds."
        );
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
    }
}
