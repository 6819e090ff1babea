//! A blocking client for the controller's JSON API (Boundary's `/v1/...` paths).
//!
//! Every call names the action it performs ("read on session"), so that a failure reads as
//! Boundary's does: `Error from controller when performing read on session`. A reply with an
//! error status becomes [`ClientError::Controller`] carrying Boundary's
//! `{"kind", "message", "details"}`; a controller that cannot be reached becomes
//! [`ClientError::Unreachable`]. Calls block (ureq): the CLI makes them before, or outside,
//! its async runtime.

use std::time::Duration;

use postern_api::error::{ErrorBody, FieldError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::TokenSecret;
use crate::ClientError;

/// Bound on opening the TCP connection to the controller.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on a whole call, reply body included.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A reply with a success status.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    /// `null` for an empty body (a delete's 204).
    pub body: Value,
}

impl ApiResponse {
    /// The resource the reply is about: the body itself, or its `item` when the controller
    /// wraps it (authorize-session does).
    pub fn item(&self) -> &Value {
        match self.body.get("item") {
            Some(item) if item.is_object() && self.body.get("id").is_none() => item,
            _ => &self.body,
        }
    }

    /// The item as a contract type (`postern_api::items`), for the fields a command uses.
    pub fn parse<T: DeserializeOwned>(&self, action: &str) -> Result<T, ClientError> {
        T::deserialize(self.item()).map_err(|e| ClientError::BadResponse {
            action: action.to_owned(),
            detail: format!("unexpected item: {e}"),
        })
    }

    /// A list reply's `items` (absent when the list is empty).
    pub fn items(&self) -> &[Value] {
        self.body
            .get("items")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// A reply with an error status, as the controller explained it.
#[derive(Debug, Clone)]
pub struct ControllerError {
    /// What the CLI was doing: "read on session", "authentication".
    pub action: String,
    pub status: u16,
    /// Boundary's error kind: `NotFound`, `InvalidArgument`, `Unauthenticated`, ...
    pub kind: String,
    pub message: String,
    /// The whole error body, as the controller sent it.
    pub body: Value,
    /// The request fields it refused (`details.request_fields`).
    pub fields: Vec<FieldError>,
}

impl ControllerError {
    fn from_reply(action: &str, status: u16, body: Value, text: &str) -> Self {
        // A proxy in between may answer with anything: whatever is not Boundary's error body
        // reads as empty, and the status and text stand in.
        let parsed = ErrorBody::deserialize(&body).unwrap_or_default();
        let or = |value: String, fallback: String| if value.is_empty() { fallback } else { value };
        Self {
            action: action.to_owned(),
            status,
            kind: or(parsed.kind, format!("HTTP {status}")),
            message: or(parsed.message, text.trim().to_owned()),
            body,
            fields: parsed.details.request_fields,
        }
    }

    /// `(field, description)` of each request field the controller refused.
    pub fn request_fields(&self) -> Vec<(String, String)> {
        self.fields
            .iter()
            .map(|f| (f.name.clone(), f.description.clone()))
            .collect()
    }
}

/// The controller's API at one address, with the caller's token if there is one.
#[derive(Debug)]
pub struct ApiClient {
    agent: ureq::Agent,
    addr: String,
    token: Option<TokenSecret>,
}

impl ApiClient {
    /// `addr` is `http://host:port` (TLS to the controller is not built in).
    pub fn new(addr: &str, token: Option<TokenSecret>) -> Result<Self, ClientError> {
        let addr = addr.trim().trim_end_matches('/').to_owned();
        let host = controller_host(&addr)?;
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(CALL_TIMEOUT));
        // As Go's ProxyFromEnvironment: a loopback controller is never reached via a proxy.
        if is_loopback(host) {
            config = config.proxy(None);
        }
        Ok(Self {
            agent: config.build().new_agent(),
            addr,
            token,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `GET /v1/{path}?query`.
    pub fn get(
        &self,
        action: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<ApiResponse, ClientError> {
        let mut request = self.agent.get(self.url(path));
        for (key, value) in query {
            request = request.query(key, value);
        }
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        self.finish(action, request.call())
    }

    /// `POST /v1/{path}` with a JSON body (a contract type of `postern_api::bodies`).
    pub fn post(
        &self,
        action: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<ApiResponse, ClientError> {
        let mut request = self.agent.post(self.url(path));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        self.finish(action, request.send_json(body))
    }

    /// `PATCH /v1/{path}` with a JSON body.
    pub fn patch(
        &self,
        action: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<ApiResponse, ClientError> {
        let mut request = self.agent.patch(self.url(path));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        self.finish(action, request.send_json(body))
    }

    /// `DELETE /v1/{path}`.
    pub fn delete(&self, action: &str, path: &str) -> Result<ApiResponse, ClientError> {
        let mut request = self.agent.delete(self.url(path));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        self.finish(action, request.call())
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.addr, path.trim_start_matches('/'))
    }

    fn finish(
        &self,
        action: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ApiResponse, ClientError> {
        let unreachable = |detail: String| ClientError::Unreachable {
            action: action.to_owned(),
            addr: self.addr.clone(),
            detail,
        };
        let response = sent.map_err(|e| unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .read_to_string()
            .map_err(|e| unreachable(format!("reading the reply: {e}")))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(body) => body,
                Err(_) if status >= 400 => Value::Null,
                Err(e) => {
                    return Err(ClientError::BadResponse {
                        action: action.to_owned(),
                        detail: format!("the body is not JSON: {e}"),
                    })
                }
            }
        };
        if status >= 400 {
            return Err(ClientError::Controller(Box::new(
                ControllerError::from_reply(action, status, body, &text),
            )));
        }
        Ok(ApiResponse { status, body })
    }
}

/// One path segment: an id, with anything outside `[A-Za-z0-9._~-]` percent-encoded so a
/// typo cannot reach another path.
pub fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The host part of `http://host:port[/...]`; refuses anything but plain `http`.
fn controller_host(addr: &str) -> Result<&str, ClientError> {
    let invalid =
        |reason: &str| ClientError::Usage(format!("invalid controller address {addr:?}: {reason}"));
    let rest = if let Some(rest) = addr.strip_prefix("http://") {
        rest
    } else if addr.starts_with("https://") {
        return Err(invalid("https is not supported by this build; use http://"));
    } else {
        return Err(invalid("expected http://host:port"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _port)| host),
    };
    if host.is_empty() {
        return Err(invalid("no host"));
    }
    Ok(host)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_must_be_plain_http_with_a_host() {
        assert_eq!(
            controller_host("http://127.0.0.1:9200").unwrap(),
            "127.0.0.1"
        );
        assert_eq!(controller_host("http://[::1]:9200/").unwrap(), "::1");
        assert_eq!(
            controller_host("http://controller.example").unwrap(),
            "controller.example"
        );
        assert!(controller_host("https://x:9200")
            .unwrap_err()
            .to_string()
            .contains("https"));
        assert!(controller_host("127.0.0.1:9200").is_err());
        assert!(controller_host("http://:9200").is_err());
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert_eq!(segment("s_1234567890"), "s_1234567890");
        assert_eq!(segment("../v1/x?y"), "..%2Fv1%2Fx%3Fy");
    }

    #[test]
    fn items_are_unwrapped_only_when_wrapped() {
        let wrapped = ApiResponse {
            status: 200,
            body: serde_json::json!({"item": {"id": "s_1"}}),
        };
        assert_eq!(wrapped.item()["id"], "s_1");
        let bare = ApiResponse {
            status: 200,
            body: serde_json::json!({"id": "s_2", "item": {}}),
        };
        assert_eq!(bare.item()["id"], "s_2");
    }

    #[test]
    fn controller_errors_keep_kind_message_and_fields() {
        let body = serde_json::json!({"kind": "InvalidArgument", "message": "bad",
            "details": {"request_fields": [{"name": "attributes.default_port", "description": "Required field."}]}});
        let e = ControllerError::from_reply("create on target", 400, body, "");
        assert_eq!(
            (e.kind.as_str(), e.message.as_str()),
            ("InvalidArgument", "bad")
        );
        assert_eq!(
            e.request_fields(),
            vec![("attributes.default_port".into(), "Required field.".into())]
        );
        let plain =
            ControllerError::from_reply("read on session", 502, Value::Null, "Bad Gateway\n");
        assert_eq!(
            (plain.kind.as_str(), plain.message.as_str()),
            ("HTTP 502", "Bad Gateway")
        );
    }
}
