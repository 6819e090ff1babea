//! The controller API as the harness calls it: JSON over a fresh HTTP/1.1 connection per
//! request, on a blocking socket, so nothing pooled or scheduled sits inside a timed request
//! (the cancel-to-cut clock starts just before one).

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::procs::START_TIMEOUT;

/// A controller's API at `authority` (host:port), with the bearer token once logged in.
#[derive(Debug, Clone)]
pub struct Api {
    pub authority: String,
    bearer: Option<String>,
}

impl Api {
    /// `authority` as a banner prints it, `http://` or not.
    pub fn new(authority: &str) -> Api {
        Api {
            authority: authority.trim_start_matches("http://").to_owned(),
            bearer: None,
        }
    }

    /// Logs `admin` in through the password auth method `method`; later requests carry the
    /// token.
    pub fn log_in(&mut self, method: &str, password: &str) -> Result<()> {
        let login = self.post(
            &format!("/v1/auth-methods/{method}:authenticate"),
            &json!({"command": "login", "attributes": {"login_name": "admin", "password": password}}),
        )?;
        let token = login["attributes"]["token"]
            .as_str()
            .context("authenticate returned no token")?;
        self.bearer = Some(token.to_owned());
        Ok(())
    }

    /// POST, failing on a non-2xx status.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        ok(path, self.send("POST", path, Some(body))?)
    }

    /// GET, failing on a non-2xx status.
    pub fn get(&self, path: &str) -> Result<Value> {
        ok(path, self.send("GET", path, None)?)
    }

    /// One request: the status and the JSON body (`null` when there is none).
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let authority = &self.authority;
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(authority)
            .with_context(|| format!("cannot reach the controller API at {authority}"))?;
        stream.set_read_timeout(Some(START_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let auth = self
            .bearer
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response)?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("truncated HTTP response")?;
        let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
        let mut payload = response[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            payload = dechunk(&payload)?;
        }
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no HTTP status")?;
        let value = if payload.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&payload).with_context(|| {
                format!(
                    "{method} {path}: HTTP {status} with a body that is not JSON: {}",
                    String::from_utf8_lossy(&payload)
                )
            })?
        };
        Ok((status, value))
    }
}

fn ok(path: &str, (status, body): (u16, Value)) -> Result<Value> {
    if !(200..300).contains(&status) {
        bail!("{path}: HTTP {status}: {body}");
    }
    Ok(body)
}

/// The resource in a response: the API answers a create with the item itself and a
/// read of some kinds as `{"item": ...}`.
pub fn item(response: &Value) -> &Value {
    response.get("item").unwrap_or(response)
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut size_line = String::new();
        data.read_line(&mut size_line)?;
        let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)?;
        if size == 0 || data.len() < size + 2 {
            return Ok(out);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
