//! Everything the worker refuses, and how: TLS-level refusals for wrong credentials, and
//! WebSocket close codes with Boundary's exact reason texts for handshake-level ones. None
//! of them harms a live connection.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap
mod common;
#[path = "../crates/tls/tests/support/mod.rs"]
mod hostile;

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use postern_authority::SessionStatus;
use postern_tls::SessionCredentials;
use postern_wire::pb::proxy::{ClientHandshake, HandshakeResult, Handshakecommand};
use postern_ws::{self as ws, close, CloseFrame, WsError, WsStream};
use prost::Message;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const HOUR: Duration = Duration::from_secs(3600);
const TOFU_A: &str = "aaaaaaaaaaaaaaaaaaaa";
const TOFU_B: &str = "bbbbbbbbbbbbbbbbbbbb";

type Ws = WsStream<TlsStream<TcpStream>>;

fn credentials(token: &str) -> SessionCredentials {
    let data = postern_wire::token::decode(token).unwrap();
    SessionCredentials::from_parts(&data.session_id, &data.certificate, &data.private_key).unwrap()
}

/// A proper client: the session's own TLS config.
async fn open(worker: &Worker, creds: &SessionCredentials) -> Ws {
    let config = postern_tls::client_config(creds).unwrap();
    let tcp = TcpStream::connect(worker.addr).await.unwrap();
    let tls = TlsConnector::from(config)
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    within("the upgrade", ws::connect(tls, &worker.addr.to_string()))
        .await
        .unwrap()
}

async fn send_handshake(
    ws: &mut Ws,
    tofu: &str,
    command: Handshakecommand,
) -> Result<HandshakeResult, CloseFrame> {
    let hello = ClientHandshake {
        tofu_token: tofu.into(),
        command: command.into(),
    };
    ws.send_message(&hello.encode_to_vec()).await.unwrap();
    match within("the handshake result", ws.recv_message(4096)).await {
        Ok(message) => Ok(HandshakeResult::decode(message.as_slice()).unwrap()),
        Err(WsError::Closed(frame)) => Err(frame),
        Err(e) => panic!("expected a result or a close, got {e}"),
    }
}

fn closed(code: u16, reason: &str) -> Result<HandshakeResult, CloseFrame> {
    Err(CloseFrame {
        code,
        reason: reason.into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_refusals_carry_boundarys_codes_and_reasons() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), 1, HOUR)
        .await;
    let creds = credentials(&auth.authorization_token);

    let mut ws = open(&worker, &creds).await;
    ws.send_message(b"\xff\xff\xff not protobuf").await.unwrap();
    match within("the close", ws.recv_message(4096)).await {
        Err(WsError::Closed(frame)) => assert_eq!(
            frame,
            CloseFrame {
                code: 1008,
                reason: "invalid handshake received".into()
            }
        ),
        other => panic!("expected close, got {other:?}"),
    }

    let mut ws = open(&worker, &creds).await;
    assert_eq!(
        send_handshake(&mut ws, "short", Handshakecommand::Unspecified).await,
        closed(1003, "invalid tofu token")
    );

    // The first good handshake pins TOFU_A and uses the only connection.
    let mut first = open(&worker, &creds).await;
    let result = send_handshake(&mut first, TOFU_A, Handshakecommand::Unspecified)
        .await
        .unwrap();
    assert_eq!((result.connection_limit, result.connections_left), (1, 0));
    let expiration = SystemTime::try_from(result.expiration.unwrap()).unwrap();
    let drift = expiration
        .duration_since(auth.session.expiration_time)
        .unwrap_or_else(|e| e.duration());
    assert!(
        drift < Duration::from_secs(1),
        "result carries the session expiration"
    );

    let mut ws = open(&worker, &creds).await;
    assert_eq!(
        send_handshake(&mut ws, TOFU_B, Handshakecommand::Unspecified).await,
        closed(1008, "tofu token not allowed")
    );
    let mut ws = open(&worker, &creds).await;
    assert_eq!(
        send_handshake(&mut ws, TOFU_A, Handshakecommand::Unspecified).await,
        closed(1011, "unable to authorize connection")
    );

    // The admitted connection is unharmed by all of the above.
    first.write_all(b"still here").await.unwrap();
    first.flush().await.unwrap();
    let mut back = [0u8; 10];
    within("the echo", first.read_exact(&mut back))
        .await
        .unwrap();
    assert_eq!(&back, b"still here");
    assert_eq!(close::TOFU_NOT_ALLOWED, "tofu token not allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_problems_close_with_setup_and_parse_errors() {
    let worker = start_worker().await;
    // A port that was just free: nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let auth = worker.authorize(&format!("tcp://{dead}"), -1, HOUR).await;
    let mut ws = open(&worker, &credentials(&auth.authorization_token)).await;
    assert_eq!(
        send_handshake(&mut ws, TOFU_A, Handshakecommand::Unspecified)
            .await
            .map(|_| ())
            .unwrap(),
        ()
    );
    match within("the close", ws.recv_message(4096)).await {
        Err(WsError::Closed(frame)) => assert_eq!(
            frame,
            CloseFrame {
                code: 3000,
                reason: "unable to setup proxying".into()
            }
        ),
        other => panic!("expected close, got {other:?}"),
    }
    let id = auth.session.id.clone();
    let conn = eventually("the connection to close", || {
        worker
            .session(&id)
            .connections
            .first()
            .filter(|c| c.closed_reason.is_some())
            .cloned()
    })
    .await;
    assert_eq!(
        conn.closed_reason.map(|r| r.as_str()),
        Some("network error")
    );

    let auth = worker.authorize("tcp://no-port-here", -1, HOUR).await;
    let mut ws = open(&worker, &credentials(&auth.authorization_token)).await;
    send_handshake(&mut ws, TOFU_A, Handshakecommand::Unspecified)
        .await
        .unwrap();
    match within("the close", ws.recv_message(4096)).await {
        Err(WsError::Closed(frame)) => assert_eq!(
            frame,
            CloseFrame {
                code: 1002,
                reason: "unable to parse endpoint".into()
            }
        ),
        other => panic!("expected close, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cancel_command_cancels_with_a_normal_close() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let creds = credentials(&auth.authorization_token);
    let mut live = open(&worker, &creds).await;
    send_handshake(&mut live, TOFU_A, Handshakecommand::Unspecified)
        .await
        .unwrap();
    // Only the token's length is checked before a cancel, as Boundary does.
    let mut ws = open(&worker, &creds).await;
    assert_eq!(
        send_handshake(&mut ws, TOFU_B, Handshakecommand::SessionCancel).await,
        closed(1000, "session canceled")
    );
    let mut rest = Vec::new();
    let cut = within("the live connection to be cut", live.read_to_end(&mut rest)).await;
    assert_eq!((cut.map_err(|e| e.kind()), rest.len()), (Ok(0), 0));
    assert_eq!(
        live.peer_close(),
        Some(&CloseFrame {
            code: 1000,
            reason: "session canceled".into()
        })
    );
    // Answered as a client would, so the worker's closing handshake ends now.
    within("the closing handshake", live.shutdown())
        .await
        .unwrap();
    let id = auth.session.id.clone();
    let session = eventually("the session to terminate", || {
        Some(worker.session(&id)).filter(|s| s.status == SessionStatus::Terminated)
    })
    .await;
    assert_eq!(
        session.termination_reason.map(|r| r.as_str()),
        Some("canceled")
    );
}

/// Accepts any server certificate: these tests are about what the *worker* refuses.
#[derive(Debug)]
struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The PKCS#8 v1 form of an Ed25519 seed (RFC 8410).
fn pkcs8(creds: &SessionCredentials) -> PrivateKeyDer<'static> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&creds.private_key().as_bytes()[..32]);
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))
}

/// A hand-made client asking for `session_id` with `cert` (or none) over `versions`.
fn raw_client(
    session_id: &str,
    cert: Option<&SessionCredentials>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyServer));
    let mut config = match cert {
        Some(c) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(c.certificate_der().to_vec())],
                pkcs8(c),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec(), session_id.as_bytes().to_vec()];
    Arc::new(config)
}

/// Where a refused client learns of its refusal, and the worker's TLS alert.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    /// The TLS handshake fails.
    InHandshake(AlertDescription),
    /// The handshake completes on the client's side and the upgrade reads the alert: a TLS
    /// 1.3 client finishes before the worker has checked its certificate.
    AtUpgrade(AlertDescription),
}

/// The alert a client received, from the I/O error it surfaced as.
fn alert(error: &std::io::Error) -> AlertDescription {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::AlertReceived(alert)) => *alert,
        _ => panic!("expected a TLS alert from the worker, got {error:?}"),
    }
}

/// Tries TLS + upgrade + handshake; returns where and how the worker refused.
async fn attempt(worker: &Worker, config: Arc<ClientConfig>) -> Refused {
    let tcp = TcpStream::connect(worker.addr).await.unwrap();
    let connecting =
        TlsConnector::from(config).connect(ServerName::try_from("127.0.0.1").unwrap(), tcp);
    let tls = match within("the TLS handshake", connecting).await {
        Ok(tls) => tls,
        Err(e) => return Refused::InHandshake(alert(&e)),
    };
    let mut ws = match within("the upgrade", ws::connect(tls, &worker.addr.to_string())).await {
        Ok(ws) => ws,
        Err(WsError::Io(e)) => return Refused::AtUpgrade(alert(&e)),
        Err(e) => panic!("expected a TLS alert at the upgrade, got {e}"),
    };
    let answer = send_handshake(&mut ws, TOFU_A, Handshakecommand::Unspecified).await;
    panic!("the worker accepted a client it should have refused: {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_tls_12_are_refused_without_harming_live_connections() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let other = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let id = auth.session.id.clone();
    let mine = credentials(&auth.authorization_token);
    let theirs = credentials(&other.authorization_token);
    let forged =
        SessionCredentials::issue(&id, &["127.0.0.1".to_owned()], SystemTime::now() + HOUR)
            .unwrap();

    let proxy = start_proxy(&auth.authorization_token).await;
    let mut live = TcpStream::connect(proxy.addr).await.unwrap();
    live.write_all(b"a").await.unwrap();
    let mut one = [0u8; 1];
    within("the first echo", live.read_exact(&mut one))
        .await
        .unwrap();

    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let cases = [
        (
            "another session's certificate",
            raw_client(&id, Some(&theirs), tls13),
            Refused::AtUpgrade(AlertDescription::UnknownCA),
        ),
        (
            "a forged certificate for this session",
            raw_client(&id, Some(&forged), tls13),
            Refused::AtUpgrade(AlertDescription::UnknownCA),
        ),
        (
            "no certificate",
            raw_client(&id, None, tls13),
            Refused::AtUpgrade(AlertDescription::CertificateRequired),
        ),
        (
            "TLS 1.2",
            raw_client(&id, Some(&mine), &[&rustls::version::TLS12]),
            Refused::InHandshake(AlertDescription::ProtocolVersion),
        ),
        (
            "an unknown session in ALPN",
            raw_client("s_unknown123", Some(&mine), tls13),
            Refused::InHandshake(AlertDescription::HandshakeFailure),
        ),
    ];
    for (what, config, refused) in cases {
        assert_eq!(attempt(&worker, config).await, refused, "{what}");
    }

    // Garbage instead of a ClientHello: the worker answers with one fatal decode_error alert
    // record (content type 21, version 3.3, length 2, fatal, 50), then closes with most of
    // the garbage unread (it reads 1 KiB first), which is a reset.
    let mut garbage = TcpStream::connect(worker.addr).await.unwrap();
    garbage.write_all(&random_bytes(4096, 7)).await.unwrap();
    let mut sink = Vec::new();
    let ended = within("the worker to drop garbage", garbage.read_to_end(&mut sink)).await;
    assert_eq!(
        (ended.map_err(|e| e.kind()), sink),
        (Err(ErrorKind::ConnectionReset), vec![21, 3, 3, 0, 2, 2, 50])
    );

    live.write_all(b"b").await.unwrap();
    within("the echo after the refusals", live.read_exact(&mut one))
        .await
        .unwrap();
    assert_eq!(&one, b"b");
    let session = worker.session(&id);
    assert_eq!(session.status, SessionStatus::Active);
    assert_eq!(
        session.connections.len(),
        1,
        "no refused client got a connection"
    );
}

/// A client that stops without a WebSocket Close (its TCP simply ends, no close_notify
/// either): the worker resets the endpoint's connection instead of closing it in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_ends_without_a_close_gets_the_endpoint_reset() {
    let worker = start_worker().await;
    let (endpoint, mut ends) = observing_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let creds = credentials(&auth.authorization_token);
    let mut ws = open(&worker, &creds).await;
    send_handshake(&mut ws, TOFU_A, Handshakecommand::Unspecified)
        .await
        .unwrap();
    ws.write_all(b"data").await.unwrap();
    ws.flush().await.unwrap();
    let mut echo = [0u8; 4];
    within("the echo", ws.read_exact(&mut echo)).await.unwrap();
    ws.get_mut().get_mut().0.shutdown().await.unwrap();
    let end = within("the endpoint's end", ends.recv()).await.unwrap();
    assert_eq!((end.bytes, end.how), (4, Err(ErrorKind::ConnectionReset)));
    let reason = worker.first_closed_reason(&auth.session.id).await;
    assert_eq!(reason, postern_authority::ClosedReason::NetworkError);
}

/// Connections beyond the cap on handshakes in progress are reset at once; once those
/// handshakes end, new connections are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_handshake_cap_are_refused_at_once() {
    let worker = start_worker_with(postern_worker::WorkerConfig {
        limits: postern_worker::Limits::new(2, postern_worker::DEFAULT_MAX_CONNECTIONS),
        ..Default::default()
    })
    .await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let creds = credentials(&auth.authorization_token);
    // Two strangers who never finish their handshake hold both places.
    let mut strangers = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(worker.addr).await.unwrap();
        tcp.write_all(&[22, 3, 1]).await.unwrap();
        strangers.push(tcp);
    }
    // A third connection is reset without waiting for anything.
    assert_reset_at_once(&worker).await;
    // Once the strangers go, a real client gets through.
    drop(strangers);
    let mut ws = open_once_admitted(&worker, &creds).await;
    send_handshake(&mut ws, TOFU_A, Handshakecommand::Unspecified)
        .await
        .unwrap();
}

/// Beyond `max_connections` a connection is reset at once, and raising the limit on the
/// running worker (as SIGHUP does) lets the next one in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_connection_cap_are_refused_until_it_is_raised() {
    let limits = postern_worker::Limits::new(postern_worker::DEFAULT_MAX_CONCURRENT_HANDSHAKES, 1);
    let worker = start_worker_with(postern_worker::WorkerConfig {
        limits: limits.clone(),
        ..Default::default()
    })
    .await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let creds = credentials(&auth.authorization_token);
    let mut stranger = TcpStream::connect(worker.addr).await.unwrap();
    stranger.write_all(&[22, 3, 1]).await.unwrap();
    assert_reset_at_once(&worker).await;
    limits.set(postern_worker::DEFAULT_MAX_CONCURRENT_HANDSHAKES, 2);
    let mut ws = open_once_admitted(&worker, &creds).await;
    send_handshake(&mut ws, TOFU_A, Handshakecommand::Unspecified)
        .await
        .unwrap();
    drop(stranger);
}

/// A new connection to `worker` is reset without waiting for anything (so fast that
/// connecting may already report it).
async fn assert_reset_at_once(worker: &Worker) {
    let ended = within("the refusal", async {
        let mut tcp = TcpStream::connect(worker.addr).await?;
        tcp.read(&mut [0u8; 1]).await
    })
    .await;
    assert_eq!(ended.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));
}

/// Opens a proper client connection, retrying (bounded) while the worker may still count
/// closed handshakes as in progress.
async fn open_once_admitted(worker: &Worker, creds: &SessionCredentials) -> Ws {
    let config = postern_tls::client_config(creds).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        // A refused connection may fail as early as connecting.
        if let Ok(tcp) = TcpStream::connect(worker.addr).await {
            let name = ServerName::try_from("127.0.0.1").unwrap();
            if let Ok(tls) = TlsConnector::from(config.clone()).connect(name, tcp).await {
                if let Ok(ws) = ws::connect(tls, &worker.addr.to_string()).await {
                    return ws;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no connection got through"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A client flooding the worker with KeyUpdates (each a key derivation) is cut off at
/// rustls' limit, while another session's transfer on the same connection thread goes on
/// and arrives intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_update_flood_is_cut_off_while_another_session_flows() {
    let worker = start_worker_with(postern_worker::WorkerConfig {
        connection_threads: 1,
        ..Default::default()
    })
    .await;
    let (sink, mut exchanges) = sink_then_source(1 << 20).await;
    let victim = worker.authorize(&format!("tcp://{sink}"), -1, HOUR).await;
    let echo = echo_endpoint().await;
    let flooder = worker.authorize(&format!("tcp://{echo}"), -1, HOUR).await;

    let proxy = start_proxy(&victim.authorization_token).await;
    let sent = random_bytes(16 << 20, 9);
    let transfer = tokio::spawn({
        let sent = sent.clone();
        async move { exchange(proxy.addr, &sent).await }
    });

    let config = postern_tls::client_config(&credentials(&flooder.authorization_token)).unwrap();
    let tcp = TcpStream::connect(worker.addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut peer = within(
        "the flooder's handshake",
        hostile::Peer::client(&config, name, tcp, |_| Vec::new()),
    )
    .await;
    let mut flooded = None;
    for _ in 0..100 {
        let script: Vec<u8> = (0..1000).flat_map(|_| peer.tx.key_update(false)).collect();
        if let Err(e) = within("a flood write", peer.io.write_all(&script)).await {
            flooded = Some(e.kind());
            break;
        }
    }
    // The worker hangs up without a byte (rustls ends its "peer misbehaved" limits with no
    // alert). Its close is a FIN if it had read all that had arrived, else a reset; the flood
    // runs into a reset either way, which a write reports as BrokenPipe after the FIN and as
    // ConnectionReset on a connection still open. Which one is a race with the flood's writes.
    let flooded = flooded.expect("the worker read all 100,000 KeyUpdates");
    assert!(
        [ErrorKind::BrokenPipe, ErrorKind::ConnectionReset].contains(&flooded),
        "{flooded:?}"
    );
    let mut answer = Vec::new();
    let end = within("the flooder's end", peer.io.read_to_end(&mut answer)).await;
    assert_eq!((end.map_err(|e| e.kind()), answer.len()), (Ok(0), 0));

    let (reply_len, _) = within("the transfer", transfer).await.unwrap();
    let seen = within("the endpoint's report", exchanges.recv())
        .await
        .unwrap();
    assert_eq!(
        seen.received,
        sent.len(),
        "the other session's bytes all arrived"
    );
    assert_eq!(reply_len, 1 << 20);
}
