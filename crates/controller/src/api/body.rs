//! Request input: the JSON body and the query string, read so that every refusal is a 400
//! in our error shape that names the field at fault.
//!
//! Bodies are the contract's types (`postern_api::bodies`), read with serde_path_to_error so
//! that a wrong-typed field is named by its dotted path in `details.request_fields`, as
//! Boundary's clients expect; required fields are checked after reading ([`required`],
//! [`version`]) so a missing one is named too. Unknown fields are ignored, as Boundary's
//! gateway does; an empty body reads as `{}` (actions like authorize-session take none).

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use postern_api::bodies::Version;

use super::error::{ApiError, FieldError};
use crate::resources::Change;

/// A request body that is a JSON object.
#[derive(Debug, Clone, Default)]
pub struct JsonBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(format!("Cannot read the request body: {e}")))?;
        Self::parse(&bytes)
    }
}

impl JsonBody {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(Value::Null) => Ok(Self::default()),
            Ok(_) => Err(ApiError::invalid("The request body must be a JSON object.")),
            Err(e) => Err(ApiError::invalid(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    /// The body as a contract type; a field of the wrong type is refused by its dotted path
    /// (`attributes.default_port`). Absent fields are left to `T`'s defaults.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_path_to_error::deserialize(Value::Object(self.0.clone())).map_err(|e| {
            let description = describe(e.inner());
            ApiError::field(FieldError::new(e.path().to_string(), description))
        })
    }

    /// A create body may name its `type`; this API has one type per kind.
    pub fn check_type(&self, only: &str) -> Result<(), ApiError> {
        match self.0.get("type") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(t)) if t.is_empty() || t == only => Ok(()),
            Some(_) => Err(ApiError::field(FieldError::new(
                "type",
                format!("Must be \"{only}\"."),
            ))),
        }
    }

    /// The body of a membership action: `{"version", "<field>": [...]}`, where only a set
    /// may leave the list empty (absent, `null` and `[]` all mean "none").
    pub fn membership(&self, field: &str, change: Change) -> Result<(u32, Vec<String>), ApiError> {
        let version = version(self.read::<Version>()?.version)?;
        let ids = match self.0.get(field) {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => serde_json::from_value::<Vec<String>>(value.clone())
                .map_err(|e| ApiError::field(FieldError::new(field, describe(&e))))?,
        };
        if ids.is_empty() && change != Change::Set {
            return Err(ApiError::missing(field));
        }
        Ok((version, ids))
    }
}

/// A required text field: absent, `null` and `""` are all refused by name.
pub fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::missing(field))
}

/// The resource version an update names: required and never 0.
pub fn version(version: Option<u32>) -> Result<u32, ApiError> {
    match version {
        None => Err(ApiError::missing("version")),
        Some(0) => Err(ApiError::field(FieldError::new(
            "version",
            "Must be the current version (1 or more).",
        ))),
        Some(v) => Ok(v),
    }
}

/// What serde said, without its position (there is none in a parsed value) and as a
/// sentence: "Invalid type: string \"ssh\", expected u32."
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => "Invalid value.".into(),
    }
}

/// The query string, deserialised into `T`; a wrong-typed parameter is a 400 in our shape.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| Self(params))
            .map_err(|rejection: QueryRejection| {
                ApiError::invalid(format!(
                    "Invalid query parameters: {}",
                    rejection.body_text()
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> JsonBody {
        JsonBody::parse(text.as_bytes()).unwrap()
    }

    fn field_name(error: ApiError) -> String {
        match error {
            ApiError::InvalidArgument { fields, .. } => fields[0].name.clone(),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn empty_and_null_bodies_read_as_empty_objects() {
        assert!(body("").0.is_empty());
        assert!(body(" \n").0.is_empty());
        assert!(body("null").0.is_empty());
    }

    #[test]
    fn malformed_or_non_object_bodies_are_refused() {
        let err = JsonBody::parse(b"{\"version\":").unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = JsonBody::parse(b"[1]").unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
    }

    #[test]
    fn missing_and_wrong_typed_fields_are_named() {
        use postern_api::bodies::{AccountCreate, TargetCreate};
        let b = body(r#"{"version":"x","attributes":{"login_name":3},"ids":["a",1]}"#);
        assert_eq!(field_name(b.read::<Version>().unwrap_err()), "version");
        assert_eq!(
            field_name(b.read::<AccountCreate>().unwrap_err()),
            "attributes.login_name"
        );
        let account: AccountCreate = body(r#"{"attributes":{}}"#).read().unwrap();
        assert_eq!(
            field_name(
                required(account.attributes.unwrap().password, "attributes.password").unwrap_err()
            ),
            "attributes.password"
        );
        assert_eq!(field_name(required(None, "name").unwrap_err()), "name");
        assert_eq!(
            field_name(required(Some(String::new()), "name").unwrap_err()),
            "name"
        );
        assert_eq!(
            field_name(b.membership("ids", Change::Add).unwrap_err()),
            "version"
        );
        let b = body(r#"{"version":1,"ids":["a",1]}"#);
        assert_eq!(
            field_name(b.membership("ids", Change::Add).unwrap_err()),
            "ids"
        );
        let err = body(r#"{"attributes":{"default_port":"ssh"}}"#)
            .read::<TargetCreate>()
            .unwrap_err();
        assert_eq!(field_name(err), "attributes.default_port");
        let err = body(r#"{"session_connection_limit":0}"#)
            .read::<TargetCreate>()
            .unwrap_err();
        assert!(err.to_string().contains("use -1 (unlimited)"), "{err}");
        assert_eq!(field_name(err), "session_connection_limit");
    }

    #[test]
    fn versions() {
        assert_eq!(version(Some(3)).unwrap(), 3);
        assert!(version(Some(0)).is_err());
        assert_eq!(field_name(version(None).unwrap_err()), "version");
        assert!(body(r#"{"version":-1}"#).read::<Version>().is_err());
    }

    #[test]
    fn types_other_than_the_kinds_are_refused() {
        assert!(body(r#"{"type":"tcp"}"#).check_type("tcp").is_ok());
        assert!(body(r#"{"type":null}"#).check_type("tcp").is_ok());
        assert_eq!(
            field_name(body(r#"{"type":"ssh"}"#).check_type("tcp").unwrap_err()),
            "type"
        );
        assert_eq!(
            field_name(body(r#"{"type":1}"#).check_type("tcp").unwrap_err()),
            "type"
        );
    }

    #[test]
    fn set_lists_may_be_empty_add_lists_may_not() {
        let b = body(r#"{"version":1,"host_ids":[]}"#);
        assert!(b.membership("host_ids", Change::Set).unwrap().1.is_empty());
        assert!(b.membership("host_ids", Change::Add).is_err());
        let b = body(r#"{"version":1,"host_ids":null}"#);
        assert!(b.membership("host_ids", Change::Set).unwrap().1.is_empty());
        assert!(body(r#"{"version":1}"#)
            .membership("host_ids", Change::Set)
            .unwrap()
            .1
            .is_empty());
        assert_eq!(
            body(r#"{"version":1,"host_ids":["h"]}"#)
                .membership("host_ids", Change::Remove)
                .unwrap(),
            (1, vec!["h".to_owned()])
        );
    }
}
