//! What the CLI test binaries share: a scripted HTTP server on 127.0.0.1:0 that plays the
//! controller, the requests it saw ([`Seen`], taken with [`next`]), and the check that a
//! refused command made no request at all. Each test binary uses a part of it.

// Not every test binary uses every helper.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use postern_controller_client::output::local_time;
use serde_json::Value;

/// How long a test waits for a request or a reply.
pub const WAIT: Duration = Duration::from_secs(10);
/// The token the CLI tests pass with `--token`.
pub const TOKEN: &str = "at_1234567890_secret";

/// A time as the tables print it.
pub fn at(rfc3339: &str) -> String {
    local_time(rfc3339).unwrap()
}

/// One request as the server saw it.
#[derive(Debug)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// Serves `replies` in order with status 200; see [`scripted_server_with_status`].
pub fn scripted_server(replies: Vec<Value>) -> (SocketAddr, mpsc::Receiver<Seen>) {
    scripted_server_with_status(replies.into_iter().map(|reply| (200, reply)).collect())
}

/// Serves `replies` (status, JSON body; `null` for none) in order, one connection each
/// (`Connection: close`), reporting every request it reads.
pub fn scripted_server_with_status(
    replies: Vec<(u16, Value)>,
) -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, requests) = mpsc::channel();
    std::thread::spawn(move || {
        for (status, reply) in replies {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            seen.send(read_request(&stream)).unwrap();
            let text = if reply.is_null() {
                String::new()
            } else {
                reply.to_string()
            };
            let mut stream = stream;
            // The client reads the status code only, not the reason phrase.
            write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            )
            .unwrap();
        }
    });
    (addr, requests)
}

/// The request line, the headers that matter and the JSON body of one request.
fn read_request(stream: &std::net::TcpStream) -> Seen {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
    );
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap(),
            "authorization" => authorization = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut raw = vec![0; length];
    reader.read_exact(&mut raw).unwrap();
    let body = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&raw).unwrap()
    };
    Seen {
        method,
        target,
        authorization,
        body,
    }
}

/// The next request the server saw.
pub fn next(requests: &mpsc::Receiver<Seen>) -> Seen {
    requests.recv_timeout(WAIT).unwrap()
}

/// A listener no test answers on: refusals are checked against it.
pub fn silent_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Asserts nothing connected to `listener`: a connect would already sit in its backlog.
pub fn assert_no_request(listener: &TcpListener) {
    listener.set_nonblocking(true).unwrap();
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "{accepted:?}"
    );
}
