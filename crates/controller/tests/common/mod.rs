//! What the API tests share: a server over the dev resources on 127.0.0.1:0 and a client
//! that calls it as the CLI does (or by hand-written HTTP/1.1 for what no client sends).
#![allow(dead_code)] // each test file uses its own part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use postern_controller::api::{router, ApiState};
use postern_controller::resources::{DevSeed, Resources};
use postern_controller::sessions::SessionStore;
use postern_controller_client::api::ApiClient;
use postern_controller_client::config::TokenSecret;
use postern_controller_client::ClientError;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const WORKER: &str = "127.0.0.1:9202";
pub const PROJECT: &str = "p_1234567890";
pub const TARGET: &str = "ttcp_1234567890";
pub const AUTH_METHOD: &str = "ampw_1234567890";
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A response: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts an error reply: status, kind, and our error shape.
    #[track_caller]
    pub fn error(self, status: u16, kind: &str) -> Value {
        let body = self.expect(status);
        assert_eq!(body["kind"], kind, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(body["details"].is_object(), "{body}");
        body
    }
}

/// A client of one API server, optionally logged in.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub token: Option<String>,
}

impl Client {
    /// A hand-written request, for what `ApiClient` would never send.
    pub async fn send(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let exchange = async {
            let mut stream = TcpStream::connect(self.addr).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.unwrap();
            response
        };
        let response = tokio::time::timeout(IO_TIMEOUT, exchange)
            .await
            .expect("the API answered in time");
        parse_response(&response)
    }

    /// One call through `ApiClient` (it blocks, so on a blocking thread); an error reply
    /// comes back as its status and body, as a success does.
    pub async fn call(&self, method: &'static str, path: &str, body: Option<Value>) -> Reply {
        let addr = format!("http://{}", self.addr);
        let token = self.token.as_deref().map(|t| TokenSecret::new(t).unwrap());
        let path = path.strip_prefix("/v1/").expect("an API path").to_owned();
        let call = tokio::task::spawn_blocking(move || {
            let client = ApiClient::new(&addr, token)?;
            let body = body.unwrap_or(Value::Null);
            match method {
                "GET" => client.get("test", &path, &[]),
                "POST" => client.post("test", &path, &body),
                "PATCH" => client.patch("test", &path, &body),
                _ => client.delete("test", &path),
            }
        });
        let called = tokio::time::timeout(IO_TIMEOUT, call)
            .await
            .expect("the API answered in time")
            .unwrap();
        match called {
            Ok(reply) => Reply {
                status: reply.status,
                body: reply.body,
            },
            Err(ClientError::Controller(error)) => Reply {
                status: error.status,
                body: error.body,
            },
            Err(other) => panic!("the API call failed: {other}"),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// Logs in with a password account and returns a client carrying the token.
    pub async fn login(&self, login_name: &str, password: &str) -> Client {
        let body = self
            .post(
                &format!("/v1/auth-methods/{AUTH_METHOD}:authenticate"),
                json!({"command": "login", "attributes": {"login_name": login_name, "password": password}}),
            )
            .await
            .expect(200);
        Client {
            addr: self.addr,
            token: Some(body["attributes"]["token"].as_str().unwrap().to_owned()),
        }
    }

    pub async fn authorize(&self, target: &str) -> Value {
        self.post(
            &format!("/v1/targets/{target}:authorize-session"),
            json!({}),
        )
        .await
        .expect(200)
    }
}

pub fn parse_response(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut body = raw[split + 4..].to_vec();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&body))
        })
    };
    Reply { status, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
}

/// The API state over the dev resources.
pub async fn dev_state() -> ApiState {
    let clock = postern_authority::system_clock();
    let resources = Resources::memory_dev(&DevSeed::default(), clock)
        .await
        .unwrap();
    ApiState::new(
        Arc::new(resources),
        SessionStore::new(),
        postern_controller::workers::WorkerPool::fixed(vec![WORKER.into()]),
    )
}

/// Serves the API over the dev resources; returns an anonymous client.
pub async fn start() -> Client {
    start_with(dev_state().await).await
}

/// Serves the API over `state` as `postern dev` does (with the callers' addresses).
pub async fn start_with(state: ApiState) -> Client {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let api = router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, api).await });
    Client { addr, token: None }
}

pub fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

pub fn field_name(error: &Value) -> &str {
    error["details"]["request_fields"][0]["name"]
        .as_str()
        .unwrap()
}
