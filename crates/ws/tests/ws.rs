//! The WebSocket transport against itself, against hand-built peers, over awkward streams.
#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use postern_ws::{
    accept, accept_key, close, connect, connect_for, parse_header, CloseFrame, Purpose, Role,
    WsError, WsStream, MAX_SEND_MESSAGE, SUBPROTOCOL,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tokio::io::{
    duplex, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    timeout(LIMIT, f).await.expect("test step timed out")
}

/// A stream that moves 1..=max bytes per call and returns Pending every other poll.
struct Awkward<S> {
    inner: S,
    max: usize,
    rng: StdRng,
    pend_read: bool,
    pend_write: bool,
    /// Takes vectored writes (gathering at most `max` bytes across the slices).
    vectored: bool,
    wire: Arc<Mutex<Vec<u8>>>,
}

impl<S> Awkward<S> {
    fn new(inner: S, max: usize, seed: u64) -> Self {
        let rng = StdRng::seed_from_u64(seed);
        let wire = Arc::new(Mutex::new(Vec::new()));
        Awkward {
            inner,
            max,
            rng,
            pend_read: false,
            pend_write: false,
            vectored: false,
            wire,
        }
    }

    fn vectored(mut self) -> Self {
        self.vectored = true;
        self
    }

    /// Takes a turn at being Pending; true when this poll must return Pending.
    fn stall(flag: &mut bool, cx: &mut Context<'_>) -> bool {
        *flag = !*flag;
        if *flag {
            cx.waker().wake_by_ref();
        }
        *flag
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Awkward<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if Self::stall(&mut this.pend_read, cx) {
            return Poll::Pending;
        }
        let n = this.rng.gen_range(1..=this.max).min(buf.remaining());
        let mut sub = ReadBuf::new(buf.initialize_unfilled_to(n));
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut sub))?;
        let got = sub.filled().len();
        buf.advance(got);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Awkward<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if Self::stall(&mut this.pend_write, cx) {
            return Poll::Pending;
        }
        let n = this.rng.gen_range(1..=this.max).min(buf.len());
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..n]))?;
        this.wire.lock().unwrap().extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let max = self.max;
        let gathered: Vec<u8> = bufs
            .iter()
            .flat_map(|b| b.iter().copied())
            .take(max)
            .collect();
        self.poll_write(cx, &gathered)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if Self::stall(&mut this.pend_write, cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A frame as a peer would build it by hand.
fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let start = out.len() + if mask.is_some() { 4 } else { 0 };
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    out
}

const KEY: Option<[u8; 4]> = Some([0x11, 0x22, 0x33, 0x44]);

/// Reads one frame from a raw stream: (first byte, unmasked payload).
async fn read_frame<S: AsyncRead + Unpin>(io: &mut S) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    io.read_exact(&mut head).await.unwrap();
    let len = match head[1] & 0x7F {
        126 => u64::from(io.read_u16().await.unwrap()),
        127 => io.read_u64().await.unwrap(),
        n => u64::from(n),
    };
    let mut key = [0u8; 4];
    if head[1] & 0x80 != 0 {
        io.read_exact(&mut key).await.unwrap();
    }
    let mut payload = vec![0u8; len as usize];
    io.read_exact(&mut payload).await.unwrap();
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    (head[0], payload)
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// Reads an HTTP head (through the blank line) byte by byte, so nothing after it is taken.
async fn read_http_head<S: AsyncRead + Unpin>(io: &mut S) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(io.read_u8().await.unwrap());
    }
    String::from_utf8(head).unwrap()
}

/// Payload sizes of the frames in `wire` after the HTTP head; checks each frame's masking.
fn frame_sizes(wire: &[u8], receiver: Role) -> Vec<(u8, u64)> {
    let start = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut at = start;
    let mut sizes = Vec::new();
    while at < wire.len() {
        let (h, n) = parse_header(&wire[at..], receiver).unwrap().unwrap();
        sizes.push((wire[at] & 0x0F, h.payload_len));
        at += n + h.payload_len as usize;
    }
    assert_eq!(at, wire.len());
    sizes
}

async fn pair(capacity: usize) -> (WsStream<DuplexStream>, WsStream<DuplexStream>) {
    let (c, s) = duplex(capacity);
    let (client, server) = tokio::join!(connect(c, "worker.example:9202"), accept(s));
    let (server, purpose) = server.unwrap();
    assert_eq!(purpose, Purpose::Proxy);
    (client.unwrap(), server)
}

#[test]
fn accept_key_is_rfc_6455_example() {
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[tokio::test]
async fn upgrade_and_messages_over_duplex() {
    bounded(async {
        let (mut client, mut server) = pair(1024).await;
        client.send_message(b"client handshake").await.unwrap();
        assert_eq!(
            server.recv_message(1024).await.unwrap(),
            b"client handshake"
        );
        server.send_message(b"").await.unwrap();
        assert_eq!(client.recv_message(1024).await.unwrap(), b"");
        let (sent, got) = tokio::join!(
            server.send_message(&[7u8; MAX_SEND_MESSAGE]),
            client.recv_message(MAX_SEND_MESSAGE)
        );
        sent.unwrap();
        assert_eq!(got.unwrap(), [7u8; MAX_SEND_MESSAGE]);
        let too_big = server.send_message(&[0u8; MAX_SEND_MESSAGE + 1]).await;
        assert!(matches!(
            too_big,
            Err(WsError::MessageTooLarge { limit: 32768 })
        ));
    })
    .await;
}

#[tokio::test]
async fn upgrade_over_tcp_with_half_close() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let worker = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (mut ws, _) = accept(tcp).await.unwrap();
            let hello = ws.recv_message(64).await.unwrap();
            ws.send_message(&hello).await.unwrap();
            let mut rest = Vec::new();
            ws.read_to_end(&mut rest).await.unwrap();
            ws.write_all(&rest).await.unwrap();
            ws.shutdown().await.unwrap();
            rest.len()
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut ws = connect(tcp, &addr.to_string()).await.unwrap();
        ws.send_message(b"hi").await.unwrap();
        assert_eq!(ws.recv_message(64).await.unwrap(), b"hi");
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        ws.write_all(&data).await.unwrap();
        ws.shutdown().await.unwrap();
        let mut echoed = Vec::new();
        ws.read_to_end(&mut echoed).await.unwrap();
        assert_eq!(echoed, data);
        assert_eq!(worker.await.unwrap(), data.len());
        assert_eq!(
            ws.peer_close(),
            Some(&CloseFrame {
                code: 1000,
                reason: "done".into()
            })
        );
    })
    .await;
}

/// Sends `request` to `accept`; returns the raw response and accept's result.
async fn try_accept(request: &str) -> (String, Result<WsStream<DuplexStream>, WsError>) {
    let (mut c, s) = duplex(4096);
    c.write_all(request.as_bytes()).await.unwrap();
    let (result, response) = tokio::join!(accept(s), async {
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        out
    });
    (response, result.map(|(ws, _)| ws))
}

/// A good upgrade request (the RFC 6455 example key), with `extra` headers.
fn request(extra: &str) -> String {
    format!(
        "GET /v1/proxy HTTP/1.1\r\nHost: w\r\nUpgrade: websocket\r\n\
         Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: other, {SUBPROTOCOL}\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn the_upgrade_path_tells_a_watch_from_a_proxied_connection() {
    bounded(async {
        let (c, s) = duplex(4096);
        let (client, server) = tokio::join!(connect_for(c, "w", Purpose::Watch), accept(s));
        let (mut server, purpose) = server.unwrap();
        assert_eq!(purpose, Purpose::Watch);
        // The worker ends a watch with a Close frame; the client reads it as the close.
        let mut client = client.unwrap();
        let closing =
            tokio::spawn(async move { server.close(close::NORMAL, close::SESSION_CANCELED).await });
        let received = client.recv_message(64).await;
        drop(client);
        // The client went away without answering the Close: either outcome is fine here.
        let _ = closing.await.unwrap();
        match received {
            Err(WsError::Closed(frame)) => assert_eq!(frame.reason, close::SESSION_CANCELED),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn accept_refuses_bad_requests() {
    bounded(async {
        let good = request("");
        let cases = [
            (good.replace("/v1/proxy", "/v1/other"), 404, "not found"),
            (good.replace("GET", "POST"), 405, "method not allowed"),
            (
                good.replace("Upgrade: websocket", "Upgrade: h2c"),
                400,
                "missing Upgrade",
            ),
            (good.replace(", Upgrade", ""), 400, "missing Connection"),
            (good.replace("Version: 13", "Version: 12"), 426, "only 13"),
            (
                good.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
                400,
                "16 bytes",
            ),
            (good.replace(SUBPROTOCOL, "v2"), 400, "not offered"),
            (
                "GET /v1/proxy HTTP/1.1\r\nHost\r\n\r\n".into(),
                400,
                "malformed",
            ),
        ];
        for (req, status, text) in cases {
            let (response, result) = try_accept(&req).await;
            let status_line = format!("HTTP/1.1 {status} ");
            assert!(response.starts_with(&status_line), "{response}");
            assert!(response.contains(text), "{response}");
            if status == 426 {
                assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
            }
            match result {
                Err(WsError::UpgradeRefused {
                    status: got,
                    problem,
                }) => {
                    assert_eq!(got, status);
                    assert!(problem.contains(text));
                }
                other => panic!("{req}: {other:?}"),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn accept_answers_rfc_example_and_keeps_early_frames() {
    bounded(async {
        let (mut c, s) = duplex(4096);
        let extension = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
        let mut bytes = request(extension)
            .replace("/v1/proxy", "/v1/proxy?x=1")
            .into_bytes();
        bytes.extend(frame(0x82, b"early", KEY));
        c.write_all(&bytes).await.unwrap();
        let (server, head) = tokio::join!(accept(s), read_http_head(&mut c));
        assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(head.contains(&format!("\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n")));
        assert!(!head.to_ascii_lowercase().contains("extensions"));
        assert_eq!(server.unwrap().0.recv_message(64).await.unwrap(), b"early");
    })
    .await;
}

/// Builds a server's upgrade response from the right `Sec-WebSocket-Accept` value.
type Responder<'a> = Box<dyn Fn(&str) -> String + 'a>;

/// Runs `connect` against a hand-built server answering `respond(accept_value)`.
async fn try_connect(respond: impl Fn(&str) -> Vec<u8>) -> Result<WsStream<DuplexStream>, WsError> {
    let (c, mut s) = duplex(4096);
    let server = async move {
        let head = read_http_head(&mut s).await;
        assert!(
            head.starts_with("GET /v1/proxy HTTP/1.1\r\nHost: w:1\r\n"),
            "{head}"
        );
        assert!(!head.to_ascii_lowercase().contains("origin"));
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        s.write_all(&respond(&accept_key(key))).await.unwrap();
        s
    };
    let (result, _s) = tokio::join!(connect(c, "w:1"), server);
    result
}

/// A good upgrade response for `accept`.
fn response(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
    )
}

#[tokio::test]
async fn connect_validates_the_response() {
    bounded(async {
        let extension = "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
        let cases: [(Responder<'_>, &str); 5] = [
            (
                Box::new(|a| response(a).replace(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")),
                "Accept",
            ),
            (
                Box::new(|a| response(a).replace(SUBPROTOCOL, "other")),
                "other than",
            ),
            (
                Box::new(|a| {
                    response(a)
                        .replace(SUBPROTOCOL, "")
                        .replace("Protocol: ", "Foo: ")
                }),
                "did not confirm",
            ),
            (
                Box::new(|a| response(a).replacen("\r\n\r\n", extension, 1)),
                "extension",
            ),
            (Box::new(|a| response(a).split_off(20)), "malformed"),
        ];
        for (respond, text) in cases {
            match try_connect(|a| respond(a).into_bytes()).await {
                Err(WsError::UpgradeInvalid { problem }) => {
                    assert!(problem.contains(text), "{problem}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        let refused = try_connect(|_| {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nno such ws".to_vec()
        })
        .await;
        match refused {
            Err(WsError::UpgradeRefused {
                status: 404,
                problem,
            }) => {
                assert_eq!(problem, "Not Found: no such ws")
            }
            other => panic!("{other:?}"),
        }
        // A good response followed at once by a frame: the frame is not lost.
        let mut client = try_connect(|a| {
            let mut r = response(a).into_bytes();
            r.extend(frame(0x82, b"result", None));
            r
        })
        .await
        .unwrap();
        assert_eq!(client.recv_message(64).await.unwrap(), b"result");
    })
    .await;
}

/// The data path of one proxied connection: app <-> client ws <-> server ws <-> echo target,
/// both ends spliced with copy_bidirectional, the WebSocket over awkward streams.
async fn splice_round_trip(size: usize, max_io: usize, seed: u64) {
    let (app, app_side) = duplex(64 * 1024);
    let (wire_c, wire_s) = duplex(64 * 1024);
    let (target_side, target) = duplex(64 * 1024);
    let wire_c = Awkward::new(wire_c, max_io, seed);
    // Odd seeds: the server writes header + payload with one vectored write.
    let wire_s = Awkward::new(wire_s, max_io, seed + 1);
    let wire_s = if seed % 2 == 1 {
        wire_s.vectored()
    } else {
        wire_s
    };
    let (client_wire, server_wire) = (wire_c.wire.clone(), wire_s.wire.clone());

    let proxy = tokio::spawn(async move {
        let mut ws = connect(wire_c, "w").await.unwrap();
        let mut app_side = app_side;
        tokio::io::copy_bidirectional(&mut app_side, &mut ws)
            .await
            .unwrap()
    });
    let worker = tokio::spawn(async move {
        let (mut ws, _) = accept(wire_s).await.unwrap();
        let mut target_side = target_side;
        tokio::io::copy_bidirectional(&mut ws, &mut target_side)
            .await
            .unwrap()
    });
    let echo = tokio::spawn(async move {
        let (mut r, mut w) = tokio::io::split(target);
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });

    let mut rng = StdRng::seed_from_u64(seed);
    let data: Vec<u8> = (0..size).map(|_| rng.gen()).collect();
    let (mut r, mut w) = tokio::io::split(app);
    let to_send = data.clone();
    let writer = async move {
        w.write_all(&to_send).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let reader = async move {
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.unwrap();
        back
    };
    let ((), back) = tokio::join!(writer, reader);
    assert!(back == data, "{size} bytes did not come back equal");
    assert_eq!(proxy.await.unwrap(), (size as u64, size as u64));
    assert_eq!(worker.await.unwrap(), (size as u64, size as u64));
    echo.await.unwrap();

    for (wire, receiver) in [(&client_wire, Role::Server), (&server_wire, Role::Client)] {
        let sizes = frame_sizes(&wire.lock().unwrap(), receiver);
        let (closes, data): (Vec<_>, Vec<_>) = sizes.iter().partition(|(op, _)| *op == 0x8);
        assert_eq!(closes.len(), 1, "one Close each way");
        assert!(data
            .iter()
            .all(|&&(op, len)| op == 0x2 && len as usize <= MAX_SEND_MESSAGE));
        assert_eq!(data.iter().map(|(_, len)| len).sum::<u64>(), size as u64);
    }
}

#[tokio::test]
async fn splice_round_trips_through_tiny_awkward_io() {
    bounded(async {
        for (i, size) in [0, 1, 125, 126, 4000, 65_536, 70_001]
            .into_iter()
            .enumerate()
        {
            splice_round_trip(size, 7, i as u64).await;
        }
    })
    .await;
}

#[tokio::test]
async fn splice_round_trips_random_sizes_up_to_1_mib() {
    bounded(async {
        let mut rng = StdRng::seed_from_u64(42);
        for i in 0..6 {
            let size = if i == 0 {
                1 << 20
            } else {
                rng.gen_range(0..1 << 20)
            };
            splice_round_trip(size, rng.gen_range(1..20_000), 100 + i).await;
        }
    })
    .await;
}

#[tokio::test]
async fn large_writes_become_frames_filling_two_tls_records_each() {
    bounded(async {
        let (c, s) = duplex(1 << 20);
        let c = Awkward::new(c, 5000, 7);
        let wire = c.wire.clone();
        let (client, server) = tokio::join!(connect(c, "w"), accept(s));
        let (mut client, mut server) = (client.unwrap(), server.unwrap().0);
        let data = vec![0xA5u8; 100_000];
        // 8 header bytes (length 126 + 2, mask 4) + 32760 = 32768: two 16 KiB records.
        let first = client.write(&data).await.unwrap();
        assert_eq!(first, MAX_SEND_MESSAGE - 8);
        client.write_all(&data[first..]).await.unwrap();
        client.flush().await.unwrap();
        let mut got = vec![0u8; data.len()];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, data);
        let sizes: Vec<u64> = frame_sizes(&wire.lock().unwrap(), Role::Server)
            .iter()
            .map(|s| s.1)
            .collect();
        assert_eq!(sizes, [32760, 32760, 32760, 1720]);
    })
    .await;
}

#[tokio::test]
async fn fragments_are_reassembled_and_pings_answered() {
    bounded(async {
        let (mut peer, s) = duplex(4096);
        let mut server = WsStream::new(s, Role::Server);
        let mut bytes = frame(0x02, b"Hel", KEY);
        bytes.extend(frame(0x89, b"ping!", KEY));
        bytes.extend(frame(0x00, b"lo ", KEY));
        bytes.extend(frame(0x8A, b"unsolicited pong", KEY));
        bytes.extend(frame(0x80, b"world", KEY));
        bytes.extend(frame(0x82, b"", KEY));
        peer.write_all(&bytes).await.unwrap();
        assert_eq!(server.recv_message(11).await.unwrap(), b"Hello world");
        assert_eq!(server.recv_message(0).await.unwrap(), b"");
        assert_eq!(read_frame(&mut peer).await, (0x8A, b"ping!".to_vec()));

        // In the byte stream, a Ping is answered while the server only reads.
        peer.write_all(&frame(0x89, b"are you there", KEY))
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        let (n, pong) = tokio::join!(server.read(&mut buf), async {
            let pong = read_frame(&mut peer).await;
            peer.write_all(&frame(0x82, b"data", KEY)).await.unwrap();
            pong
        });
        assert_eq!(pong, (0x8A, b"are you there".to_vec()));
        assert_eq!(&buf[..n.unwrap()], b"data");
    })
    .await;
}

#[tokio::test]
async fn a_pong_waits_for_the_rest_of_a_partly_written_data_frame() {
    bounded(async {
        // Seeds vary how much of the frame goes out first: part of the 4-byte header, or
        // the header and part of the payload.
        for seed in 0..12 {
            let (mut peer, s) = duplex(1 << 16);
            let mut server = WsStream::new(Awkward::new(s, 7, seed).vectored(), Role::Server);
            let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
            // One write frames all 1000 bytes; the inner stream takes at most 7 of them now.
            assert_eq!(server.write(&data).await.unwrap(), 1000);
            peer.write_all(&frame(0x89, b"ping", KEY)).await.unwrap();
            // Reading answers the Ping; its Pong must not cut into the data frame.
            let mut buf = [0u8; 16];
            let read = tokio::time::timeout(Duration::from_millis(20), server.read(&mut buf)).await;
            assert!(read.is_err(), "no data came");
            server.flush().await.unwrap();
            assert_eq!(read_frame(&mut peer).await, (0x82, data), "seed {seed}");
            assert_eq!(read_frame(&mut peer).await, (0x8A, b"ping".to_vec()));
        }
    })
    .await;
}

#[tokio::test]
async fn message_limit_is_enforced() {
    bounded(async {
        let (mut peer, s) = duplex(4096);
        let mut server = WsStream::new(s, Role::Server);
        let mut bytes = frame(0x02, b"123456", KEY);
        bytes.extend(frame(0x80, b"78901", KEY));
        peer.write_all(&bytes).await.unwrap();
        assert!(matches!(
            server.recv_message(10).await,
            Err(WsError::MessageTooLarge { limit: 10 })
        ));
        let (op, payload) = read_frame(&mut peer).await;
        assert_eq!((op, &payload[..2]), (0x88, &1009u16.to_be_bytes()[..]));
    })
    .await;
}

#[tokio::test]
async fn protocol_violations_fail_with_close_1002() {
    bounded(async {
        let cases: [(Vec<u8>, &str); 7] = [
            (frame(0x89, &[0; 126], KEY), "over 125"),
            (frame(0x09, b"x", KEY), "fragmented control"),
            (frame(0x82, b"x", None), "unmasked"),
            (frame(0xC2, b"x", KEY), "reserved bits"),
            (frame(0x81, b"text", KEY), "text frame"),
            (frame(0x80, b"x", KEY), "continuation"),
            (frame(0x88, &close_payload(1005, ""), KEY), "close code"),
        ];
        for (bytes, text) in cases {
            let (mut peer, s) = duplex(4096);
            let mut server = WsStream::new(s, Role::Server);
            peer.write_all(&bytes).await.unwrap();
            let mut buf = [0u8; 256];
            let err = server.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains(text), "{err} should say {text}");
            let (op, payload) = read_frame(&mut peer).await;
            assert_eq!((op, payload), (0x88, 1002u16.to_be_bytes().to_vec()));
            assert!(
                server.write(b"more").await.is_err(),
                "no data after our Close"
            );
        }
        // A client refuses masked frames from a server.
        let (mut peer, c) = duplex(4096);
        let mut client = WsStream::new(c, Role::Client);
        peer.write_all(&frame(0x82, b"x", KEY)).await.unwrap();
        assert!(matches!(
            client.recv_message(10).await,
            Err(WsError::Protocol(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn eof_without_close_is_unexpected() {
    bounded(async {
        let (mut peer, s) = duplex(4096);
        let mut server = WsStream::new(s, Role::Server);
        peer.write_all(&frame(0x82, b"abc", KEY)).await.unwrap();
        drop(peer);
        let mut buf = Vec::new();
        let err = server.read_to_end(&mut buf).await.unwrap_err();
        assert_eq!(
            (err.kind(), &buf[..]),
            (io::ErrorKind::UnexpectedEof, &b"abc"[..])
        );
    })
    .await;
}

#[tokio::test]
async fn half_close_passes_both_ways() {
    bounded(async {
        let (mut client, mut server) = pair(4096).await;
        client.write_all(b"request").await.unwrap();
        client.shutdown().await.unwrap();
        assert!(client.write(b"late").await.is_err());

        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"request");
        assert_eq!(
            server.peer_close(),
            Some(&CloseFrame {
                code: 1000,
                reason: "done".into()
            })
        );
        // The client only half-closed: the server can still answer.
        server.write_all(b"response").await.unwrap();
        server.flush().await.unwrap();
        let mut buf = [0u8; 8];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"response");

        server.shutdown().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        assert_eq!(client.peer_close().map(|c| c.code), Some(1000));
        // The server shut its inner stream down: the client's inner stream reads EOF.
        assert_eq!(client.get_mut().read(&mut buf).await.unwrap(), 0);
        // Shutting down again after the peer's Close shuts the client's inner stream.
        client.shutdown().await.unwrap();
        assert_eq!(server.get_mut().read(&mut buf).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn close_is_seen_exactly_by_recv_message() {
    bounded(async {
        for (code, reason) in [
            (close::POLICY_VIOLATION, close::TOFU_NOT_ALLOWED),
            (close::NORMAL, close::DONE),
        ] {
            let (mut client, mut server) = pair(4096).await;
            let (closed, received) =
                tokio::join!(server.close(code, reason), client.recv_message(1024));
            closed.unwrap();
            match received {
                Err(WsError::Closed(frame)) => assert_eq!(
                    frame,
                    CloseFrame {
                        code,
                        reason: reason.into()
                    }
                ),
                other => panic!("{other:?}"),
            }
            // The client echoed the code.
            assert_eq!(server.peer_close().map(|c| c.code), Some(code));
            assert!(client.send_message(b"x").await.is_err());
        }
    })
    .await;
}

#[tokio::test]
async fn close_reason_is_cut_to_123_bytes() {
    bounded(async {
        let (mut peer, c) = duplex(4096);
        let mut client = WsStream::new(c, Role::Client);
        let reason = "x".repeat(300);
        peer.write_all(&frame(0x88, &close_payload(1000, ""), None))
            .await
            .unwrap();
        client.close(close::INTERNAL_ERROR, &reason).await.unwrap();
        let (op, payload) = read_frame(&mut peer).await;
        assert_eq!((op, payload.len()), (0x88, 125));
        assert_eq!(&payload[..2], &1011u16.to_be_bytes());
    })
    .await;
}

/// The splice's write path on a client: the payload is masked where it lies, and whatever
/// the inner stream does not take now leaves the caller's bytes as they were.
#[tokio::test]
async fn a_client_splice_write_masks_in_place_and_restores_what_was_not_taken() {
    use postern_io::SpliceWrite;
    // Unconstrained: the loop below polls by hand, never through the scheduler, so tokio's
    // cooperative budget would never refill and the duplex would stall for good.
    bounded(tokio::task::unconstrained(async {
        for seed in 0..8 {
            let (c, s) = duplex(1 << 20);
            let mut client = WsStream::new(Awkward::new(c, 7, seed).vectored(), Role::Client);
            let mut server = WsStream::new(s, Role::Server);
            let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
            let mut buf = data.clone();
            let mut at = 0;
            let mut pending = 0;
            while at < buf.len() {
                let polled = std::future::poll_fn(|cx| {
                    Poll::Ready(client.poll_splice_write(cx, &mut buf[at..]))
                })
                .await;
                match polled {
                    Poll::Ready(Ok(n)) => {
                        assert!(n > 0);
                        at += n;
                    }
                    Poll::Ready(Err(e)) => panic!("seed {seed}: {e}"),
                    Poll::Pending => {
                        pending += 1;
                        assert!(pending < 1_000_000, "seed {seed}: no progress");
                        assert!(
                            buf[at..] == data[at..],
                            "seed {seed}: untaken bytes changed"
                        );
                    }
                }
            }
            assert!(pending > 0, "the inner stream stalled at least once");
            client.flush().await.unwrap();
            let mut got = vec![0u8; data.len()];
            server.read_exact(&mut got).await.unwrap();
            assert!(got == data, "seed {seed}: the server read other bytes");
        }
    }))
    .await;
}
