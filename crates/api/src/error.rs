//! The body of every error reply: Boundary's `{"kind", "message", "details"}`, where `kind`
//! is the gRPC code name (`NotFound`, `InvalidArgument`, ...) that clients match on and
//! `details.request_fields` names each request field at fault.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: ErrorDetails,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_fields: Vec<FieldError>,
}

/// One request field that was missing or wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's JSON name; nested fields are dotted (`attributes.login_name`).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl FieldError {
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
        }
    }

    pub fn required(name: impl Into<String>) -> Self {
        Self::new(name, "Required field.")
    }
}
