//! The opening handshake (RFC 6455 section 4): an HTTP/1.1 GET with `Upgrade: websocket`,
//! answered by `101 Switching Protocols`. Boundary's subprotocol is required, extensions are
//! never negotiated.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::stream::WsStream;
use super::{Purpose, Role, WsError, SUBPROTOCOL};

/// Largest request or response head (request line and headers) read during the upgrade.
pub const MAX_UPGRADE_HEADER: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// How much of a refusal's body a client quotes in its error.
const MAX_QUOTED_BODY: usize = 200;

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    STANDARD.encode(sha.finalize())
}

/// Client side: sends the upgrade request for [`PATH`](super::PATH) with `Host: host` and
/// validates the `101` response (Upgrade/Connection headers, `Sec-WebSocket-Accept`,
/// exactly [`SUBPROTOCOL`], no extension). Bytes after the response head start the frame
/// stream.
pub async fn connect<S>(io: S, host: &str) -> Result<WsStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    connect_for(io, host, Purpose::Proxy).await
}

/// [`connect`] for the path of `purpose`.
pub async fn connect_for<S>(mut io: S, host: &str, purpose: Purpose) -> Result<WsStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let path = purpose.path();
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(invalid(
            "the Host value is empty or holds spaces or control characters",
        ));
    }
    let key = STANDARD.encode(rand::random::<[u8; 16]>());
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
    );
    io.write_all(request.as_bytes()).await?;
    io.flush().await?;

    let (buf, head_len) = match read_head(&mut io, response_len).await {
        Ok(head) => head,
        Err(HeadError::Io(e)) => return Err(WsError::Io(e)),
        Err(HeadError::Closed) => return Err(invalid("connection closed before the response")),
        Err(HeadError::TooLarge) => return Err(invalid("response head over 8 KiB")),
        Err(HeadError::Malformed) => return Err(invalid("malformed HTTP response")),
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    if !matches!(
        res.parse(&buf[..head_len]),
        Ok(httparse::Status::Complete(_))
    ) {
        return Err(invalid("malformed HTTP response"));
    }
    let leftover = &buf[head_len..];
    check_response(&res, &key, leftover)?;
    Ok(WsStream::with_prefix(io, Role::Client, leftover.to_vec()))
}

fn check_response(res: &httparse::Response<'_, '_>, key: &str, body: &[u8]) -> Result<(), WsError> {
    let status = res.code.unwrap_or(0);
    if status != 101 {
        let mut problem = res.reason.unwrap_or("").to_owned();
        let body = String::from_utf8_lossy(&body[..body.len().min(MAX_QUOTED_BODY)]);
        if !body.trim().is_empty() {
            problem = format!("{problem}: {}", body.trim());
        }
        return Err(WsError::UpgradeRefused { status, problem });
    }
    if res.version != Some(1) {
        return Err(invalid("response is not HTTP/1.1"));
    }
    let headers = &*res.headers;
    if !header_values(headers, "upgrade").any(|v| v.trim().eq_ignore_ascii_case("websocket")) {
        return Err(invalid("response lacks Upgrade: websocket"));
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err(invalid("response lacks Connection: Upgrade"));
    }
    let expected = accept_key(key);
    if !header_values(headers, "sec-websocket-accept").any(|v| v.trim() == expected) {
        return Err(invalid("wrong or missing Sec-WebSocket-Accept"));
    }
    if header_values(headers, "sec-websocket-extensions").any(|v| !v.trim().is_empty()) {
        return Err(invalid("server accepted an extension that was not offered"));
    }
    let mut protocols = header_values(headers, "sec-websocket-protocol");
    match (protocols.next(), protocols.next()) {
        (Some(p), None) if p.trim() == SUBPROTOCOL => Ok(()),
        (None, _) => Err(invalid(
            "server did not confirm the boundary-tcp-proxy-v1 subprotocol",
        )),
        _ => Err(invalid(
            "server chose a subprotocol other than boundary-tcp-proxy-v1",
        )),
    }
}

/// Server side: reads and checks the upgrade request and answers `101`, or answers an HTTP
/// error (400, 404, 405, 426) with a short text body naming the problem and returns
/// [`WsError::UpgradeRefused`]. Bytes the client sent after the request head are kept as the
/// start of the frame stream. The path tells what the WebSocket is for.
pub async fn accept<S>(mut io: S) -> Result<(WsStream<S>, Purpose), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (buf, head_len) = match read_head(&mut io, request_len).await {
        Ok(head) => head,
        Err(HeadError::Io(e)) => return Err(WsError::Io(e)),
        Err(HeadError::Closed) => return Err(invalid("connection closed before the request")),
        Err(HeadError::TooLarge) => {
            return refuse(io, Refusal::bad_request("request head over 8 KiB")).await
        }
        Err(HeadError::Malformed) => {
            return refuse(io, Refusal::bad_request("malformed HTTP request")).await
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(
        req.parse(&buf[..head_len]),
        Ok(httparse::Status::Complete(_))
    ) {
        return refuse(io, Refusal::bad_request("malformed HTTP request")).await;
    }
    let (accept, purpose) = match check_request(&req) {
        Ok((key, purpose)) => (accept_key(key), purpose),
        Err(refusal) => return refuse(io, refusal).await,
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
    );
    io.write_all(response.as_bytes()).await?;
    io.flush().await?;
    let stream = WsStream::with_prefix(io, Role::Server, buf[head_len..].to_vec());
    Ok((stream, purpose))
}

/// Why a request is refused, and how.
struct Refusal {
    status: u16,
    problem: &'static str,
    extra_header: &'static str,
}

impl Refusal {
    fn bad_request(problem: &'static str) -> Self {
        Refusal {
            status: 400,
            problem,
            extra_header: "",
        }
    }
}

/// Checks the request; returns its `Sec-WebSocket-Key` and what it is for.
fn check_request<'b>(req: &httparse::Request<'_, 'b>) -> Result<(&'b str, Purpose), Refusal> {
    let path = req.path.unwrap_or("");
    let path = path.split('?').next();
    let purpose = [Purpose::Proxy, Purpose::Watch]
        .into_iter()
        .find(|purpose| path == Some(purpose.path()));
    let Some(purpose) = purpose else {
        let problem = "not found: the websocket path is /v1/proxy";
        return Err(Refusal {
            status: 404,
            problem,
            extra_header: "",
        });
    };
    if req.method != Some("GET") {
        let problem = "method not allowed: the upgrade is a GET";
        return Err(Refusal {
            status: 405,
            problem,
            extra_header: "Allow: GET\r\n",
        });
    }
    if req.version != Some(1) {
        return Err(Refusal::bad_request("the upgrade needs HTTP/1.1"));
    }
    let headers = &*req.headers;
    if !has_token(headers, "upgrade", "websocket") {
        return Err(Refusal::bad_request("missing Upgrade: websocket"));
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err(Refusal::bad_request("missing Connection: Upgrade"));
    }
    let mut versions = header_values(headers, "sec-websocket-version");
    if !matches!((versions.next(), versions.next()), (Some(v), None) if v.trim() == "13") {
        let problem = "unsupported websocket version: only 13 is supported";
        let extra_header = "Sec-WebSocket-Version: 13\r\n";
        return Err(Refusal {
            status: 426,
            problem,
            extra_header,
        });
    }
    let mut keys = header_values(headers, "sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(key), None) => key.trim(),
        _ => {
            return Err(Refusal::bad_request(
                "missing or repeated Sec-WebSocket-Key",
            ))
        }
    };
    if !STANDARD.decode(key).is_ok_and(|raw| raw.len() == 16) {
        return Err(Refusal::bad_request(
            "Sec-WebSocket-Key is not 16 bytes in base64",
        ));
    }
    if !has_token(headers, "sec-websocket-protocol", SUBPROTOCOL) {
        return Err(Refusal::bad_request(
            "subprotocol boundary-tcp-proxy-v1 not offered",
        ));
    }
    Ok((key, purpose))
}

/// Answers a refused request with a plain-text HTTP error, and returns the error.
async fn refuse<S, T>(mut io: S, refusal: Refusal) -> Result<T, WsError>
where
    S: AsyncWrite + Unpin,
{
    let Refusal {
        status,
        problem,
        extra_header,
    } = refusal;
    let phrase = match status {
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        _ => "Bad Request",
    };
    let response = format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n{extra_header}\r\n{problem}\n",
        problem.len() + 1
    );
    // The refusal is the error that matters; a peer that cannot take the answer changes nothing.
    if io.write_all(response.as_bytes()).await.is_ok() && io.flush().await.is_ok() {
        if let Err(_e) = io.shutdown().await {}
    }
    Err(WsError::UpgradeRefused {
        status,
        problem: problem.to_owned(),
    })
}

fn invalid(problem: &str) -> WsError {
    WsError::UpgradeInvalid {
        problem: problem.to_owned(),
    }
}

/// The values (as text) of every header called `name` (lower case).
fn header_values<'h, 'b: 'h>(
    headers: &'h [httparse::Header<'b>],
    name: &'static str,
) -> impl Iterator<Item = &'b str> + 'h {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
}

/// Whether a comma-separated header called `name` lists `token` (ASCII case-insensitive).
fn has_token(headers: &[httparse::Header<'_>], name: &'static str, token: &str) -> bool {
    header_values(headers, name)
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

enum HeadError {
    Io(std::io::Error),
    Closed,
    TooLarge,
    Malformed,
}

fn request_len(buf: &[u8]) -> Result<Option<usize>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::Request::new(&mut headers).parse(buf)? {
        httparse::Status::Complete(n) => Ok(Some(n)),
        httparse::Status::Partial => Ok(None),
    }
}

fn response_len(buf: &[u8]) -> Result<Option<usize>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::Response::new(&mut headers).parse(buf)? {
        httparse::Status::Complete(n) => Ok(Some(n)),
        httparse::Status::Partial => Ok(None),
    }
}

/// Reads until `head_len` finds a complete head; returns the bytes read and the head length.
async fn read_head<S, F>(io: &mut S, head_len: F) -> Result<(Vec<u8>, usize), HeadError>
where
    S: AsyncRead + Unpin,
    F: Fn(&[u8]) -> Result<Option<usize>, httparse::Error>,
{
    let mut buf = vec![0; MAX_UPGRADE_HEADER];
    let mut len = 0;
    loop {
        if len == buf.len() {
            return Err(HeadError::TooLarge);
        }
        let n = io.read(&mut buf[len..]).await.map_err(HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        len += n;
        match head_len(&buf[..len]) {
            Ok(Some(head)) => {
                buf.truncate(len);
                return Ok((buf, head));
            }
            Ok(None) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Malformed),
        }
    }
}
