//! Request input: the JSON body and the query string, read so that every refusal is a 400
//! in our error shape that names the field at fault.
//!
//! Bodies are read field by field from a JSON object rather than into typed structs: serde's
//! own errors do not say which field was missing or had the wrong type, and Boundary's
//! clients expect `details.request_fields` to. Unknown fields are ignored, as Boundary's
//! gateway does; an empty body reads as `{}` (actions like authorize-session take none).

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};

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

    pub fn fields(&self) -> Fields<'_> {
        Fields {
            map: &self.0,
            prefix: String::new(),
        }
    }
}

/// The fields of one JSON object, with the dotted path that names them in errors.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    fn name(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    fn wrong(&self, field: &str, expected: &str) -> ApiError {
        ApiError::field(FieldError::new(
            self.name(field),
            format!("Must be {expected}."),
        ))
    }

    /// The value, with JSON `null` read as absent.
    fn value(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    /// Whether the field is present at all, `null` included (a patch clears with `null`).
    pub fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    pub fn opt_str(&self, field: &str) -> Result<Option<String>, ApiError> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.wrong(field, "a string")),
        }
    }

    pub fn str(&self, field: &str) -> Result<String, ApiError> {
        self.opt_str(field)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::missing(&self.name(field)))
    }

    /// For a patch: absent -> unchanged (`None`), `null` -> cleared (`Some("")`).
    pub fn patch_str(&self, field: &str) -> Result<Option<String>, ApiError> {
        if self.has(field) {
            Ok(Some(self.opt_str(field)?.unwrap_or_default()))
        } else {
            Ok(None)
        }
    }

    /// The patch of a kind whose only changeable fields are `name` and `description`.
    pub fn name_patch(&self) -> Result<crate::resources::NamePatch, ApiError> {
        Ok(crate::resources::NamePatch {
            name: self.patch_str("name")?,
            description: self.patch_str("description")?,
        })
    }

    pub fn opt_u32(&self, field: &str) -> Result<Option<u32>, ApiError> {
        match self.value(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.wrong(field, "a number from 0 to 4294967295")),
        }
    }

    pub fn u32(&self, field: &str) -> Result<u32, ApiError> {
        self.opt_u32(field)?
            .ok_or_else(|| ApiError::missing(&self.name(field)))
    }

    /// The resource version an update names: required and never 0.
    pub fn version(&self) -> Result<u32, ApiError> {
        match self.u32("version")? {
            0 => Err(ApiError::field(FieldError::new(
                self.name("version"),
                "Must be the current version (1 or more).",
            ))),
            v => Ok(v),
        }
    }

    pub fn opt_i32(&self, field: &str) -> Result<Option<i32>, ApiError> {
        match self.value(field) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.wrong(field, "a 32-bit integer")),
        }
    }

    pub fn opt_str_list(&self, field: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.value(field) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.wrong(field, "a list of strings")),
            Some(_) => Err(self.wrong(field, "a list of strings")),
        }
    }

    /// The id list of an add-/remove- action, which must name at least one id; for a set-
    /// action (`allow_empty`) absent, `null` and `[]` all mean "none".
    /// The body of a membership action: `{"version", "<ids_field>": [...]}`; only a set
    /// may leave the list empty.
    pub fn membership(
        &self,
        ids_field: &str,
        change: crate::resources::Change,
    ) -> Result<(u32, Vec<String>), ApiError> {
        let version = self.version()?;
        let ids = self.str_list(ids_field, change == crate::resources::Change::Set)?;
        Ok((version, ids))
    }

    pub fn str_list(&self, field: &str, allow_empty: bool) -> Result<Vec<String>, ApiError> {
        match self.opt_str_list(field)? {
            Some(list) if !list.is_empty() => Ok(list),
            _ if allow_empty => Ok(Vec::new()),
            _ => Err(ApiError::missing(&self.name(field))),
        }
    }

    /// A create body may name its `type`; this API has one type per kind.
    pub fn check_type(&self, only: &str) -> Result<(), ApiError> {
        match self.opt_str("type")? {
            Some(t) if !t.is_empty() && t != only => Err(ApiError::field(FieldError::new(
                self.name("type"),
                format!("Must be \"{only}\"."),
            ))),
            _ => Ok(()),
        }
    }

    /// A nested object such as `attributes`; absent or `null` reads as empty.
    pub fn object(&self, field: &str) -> Result<Fields<'a>, ApiError> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let prefix = format!("{}{field}.", self.prefix);
        match self.value(field) {
            None => Ok(Fields {
                map: EMPTY.get_or_init(Map::new),
                prefix,
            }),
            Some(Value::Object(map)) => Ok(Fields { map, prefix }),
            Some(_) => Err(self.wrong(field, "an object")),
        }
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
        let b = body(r#"{"version":"x","attributes":{"login_name":3},"ids":["a",1]}"#);
        let f = b.fields();
        assert_eq!(field_name(f.u32("version").unwrap_err()), "version");
        assert_eq!(field_name(f.str("name").unwrap_err()), "name");
        let attrs = f.object("attributes").unwrap();
        assert_eq!(
            field_name(attrs.str("login_name").unwrap_err()),
            "attributes.login_name"
        );
        assert_eq!(
            field_name(attrs.str("password").unwrap_err()),
            "attributes.password"
        );
        assert_eq!(field_name(f.opt_str_list("ids").unwrap_err()), "ids");
        assert_eq!(
            field_name(f.str_list("host_ids", false).unwrap_err()),
            "host_ids"
        );
    }

    #[test]
    fn versions_and_patches() {
        let b = body(r#"{"version":3,"name":null,"description":"d"}"#);
        let f = b.fields();
        assert_eq!(f.version().unwrap(), 3);
        assert_eq!(f.patch_str("name").unwrap(), Some(String::new()));
        assert_eq!(f.patch_str("description").unwrap(), Some("d".into()));
        assert_eq!(f.patch_str("other").unwrap(), None);
        assert!(body(r#"{"version":0}"#).fields().version().is_err());
        assert!(body(r#"{"version":-1}"#).fields().version().is_err());
    }

    #[test]
    fn set_lists_may_be_empty_add_lists_may_not() {
        let b = body(r#"{"host_ids":[]}"#);
        assert!(b.fields().str_list("host_ids", true).unwrap().is_empty());
        assert!(b.fields().str_list("host_ids", false).is_err());
        let b = body(r#"{"host_ids":null}"#);
        assert!(b.fields().str_list("host_ids", true).unwrap().is_empty());
        assert!(body("{}")
            .fields()
            .str_list("host_ids", true)
            .unwrap()
            .is_empty());
        assert!(body(r#"{"host_ids":["h"]}"#)
            .fields()
            .str_list("host_ids", false)
            .is_ok());
    }
}
