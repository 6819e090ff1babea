//! [`postern_tls::TlsStream`] (rustls' unbuffered API in postern's buffers) over real sockets
//! on 127.0.0.1: against itself, and against rustls' own buffered stream on the other end,
//! including KeyUpdates in both directions and close_notify.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::time::{Duration, SystemTime};

use postern_tls::{client_config, worker_config, worker_server_name, SessionCredentials};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const SESSION: &str = "s_1234567890";
const DEADLINE: Duration = Duration::from_secs(20);

fn credentials() -> SessionCredentials {
    let not_after = SystemTime::now() + Duration::from_secs(3600);
    SessionCredentials::issue(SESSION, &["127.0.0.1".to_owned()], not_after).unwrap()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Writes `data` in uneven pieces while reading `expect` back; then shuts down and waits for
/// the peer's end.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: S, data: Vec<u8>, expect: Vec<u8>) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let write = async move {
        let mut at = 0;
        let mut step = 1;
        while at < data.len() {
            let n = step.min(data.len() - at);
            writer.write_all(&data[at..at + n]).await.unwrap();
            at += n;
            step = (step * 7 + 13) % 70_000 + 1;
        }
        writer.shutdown().await.unwrap();
    };
    let read = async move {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.unwrap();
        assert!(
            got == expect,
            "received {} bytes, expected {}",
            got.len(),
            expect.len()
        );
    };
    timeout(DEADLINE, async { tokio::join!(write, read) })
        .await
        .expect("exchange timed out");
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    (listener, address)
}

#[tokio::test]
async fn bytes_cross_both_ways_between_two_of_our_streams() {
    let creds = credentials();
    let (listener, address) = listener().await;
    let server_config = worker_config(&creds).unwrap();
    let worker = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let accepting = postern_tls::accept(tcp).await.unwrap();
        let tls = accepting.finish(server_config).await.unwrap();
        exchange(tls, pattern(3_000_000, 2), pattern(2_000_000, 1)).await;
    });
    let tcp = TcpStream::connect(&address).await.unwrap();
    let name = worker_server_name(&address).unwrap();
    let tls = postern_tls::connect(client_config(&creds).unwrap(), name, tcp)
        .await
        .unwrap();
    exchange(tls, pattern(2_000_000, 1), pattern(3_000_000, 2)).await;
    worker.await.unwrap();
}

/// One side of a conversation that makes the rustls end update its keys mid-stream: send
/// `a`, read `b`, (rustls end: KeyUpdate), send `c`, read `d`; then close both ways.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    mut refresh: impl FnMut(&mut S),
    sends: [&[u8]; 2],
    reads: [&[u8]; 2],
) -> S {
    for (send, read) in sends.iter().zip(reads) {
        stream.write_all(send).await.unwrap();
        stream.flush().await.unwrap();
        let mut got = vec![0u8; read.len()];
        stream.read_exact(&mut got).await.unwrap();
        assert!(got == read, "bytes differ after {} bytes", read.len());
        refresh(&mut stream);
    }
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(
        rest.is_empty(),
        "{} stray bytes before close_notify",
        rest.len()
    );
    stream
}

#[tokio::test]
async fn our_client_follows_a_rustls_worker_through_key_updates_and_close_notify() {
    let creds = credentials();
    let (listener, address) = listener().await;
    let (a, b, c, d) = (
        pattern(400_000, 1),
        pattern(500_000, 2),
        pattern(300_000, 3),
        pattern(200_000, 4),
    );
    let server_config = worker_config(&creds).unwrap();
    let (a2, b2, c2, d2) = (a.clone(), b.clone(), c.clone(), d.clone());
    let worker = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
        let tls = acceptor.accept(tcp).await.unwrap();
        let refresh = |tls: &mut tokio_rustls::server::TlsStream<TcpStream>| {
            tls.get_mut().1.refresh_traffic_keys().unwrap();
        };
        converse(tls, refresh, [&b2, &d2], [&a2, &c2]).await;
    });
    let tcp = TcpStream::connect(&address).await.unwrap();
    let name = worker_server_name(&address).unwrap();
    let tls = postern_tls::connect(client_config(&creds).unwrap(), name, tcp)
        .await
        .unwrap();
    timeout(DEADLINE, converse(tls, |_| {}, [&a, &c], [&b, &d]))
        .await
        .expect("client timed out");
    timeout(DEADLINE, worker).await.unwrap().unwrap();
}

#[tokio::test]
async fn our_worker_follows_a_rustls_client_through_key_updates_and_close_notify() {
    let creds = credentials();
    let (listener, address) = listener().await;
    let (a, b, c, d) = (
        pattern(400_000, 5),
        pattern(500_000, 6),
        pattern(300_000, 7),
        pattern(200_000, 8),
    );
    let server_config = worker_config(&creds).unwrap();
    let (a2, b2, c2, d2) = (a.clone(), b.clone(), c.clone(), d.clone());
    let worker = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let accepting = postern_tls::accept(tcp).await.unwrap();
        let tls = accepting.finish(server_config).await.unwrap();
        converse(tls, |_| {}, [&b2, &d2], [&a2, &c2]).await;
    });
    let tcp = TcpStream::connect(&address).await.unwrap();
    let name = worker_server_name(&address).unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_config(&creds).unwrap());
    let tls = connector.connect(name, tcp).await.unwrap();
    let refresh = |tls: &mut tokio_rustls::client::TlsStream<TcpStream>| {
        tls.get_mut().1.refresh_traffic_keys().unwrap();
    };
    timeout(DEADLINE, converse(tls, refresh, [&a, &c], [&b, &d]))
        .await
        .expect("client timed out");
    timeout(DEADLINE, worker).await.unwrap().unwrap();
}

/// A client whose first application data leaves in the same write as its Finished: the
/// worker's hand-over must pass those bytes on, not lose them inside rustls.
#[tokio::test]
async fn data_sent_with_the_clients_finished_survives_the_hand_over() {
    let creds = credentials();
    let (listener, address) = listener().await;
    let server_config = worker_config(&creds).unwrap();
    let worker = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let accepting = postern_tls::accept(tcp).await.unwrap();
        let mut tls = accepting.finish(server_config).await.unwrap();
        let mut got = vec![0u8; 5];
        tls.read_exact(&mut got).await.unwrap();
        tls.write_all(&got).await.unwrap();
        tls.shutdown().await.unwrap();
    });
    let config = client_config(&creds).unwrap();
    let name = worker_server_name(&address).unwrap();
    let client = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut tcp = std::net::TcpStream::connect(&address).unwrap();
        tcp.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        // Queued before the handshake: rustls sends it right behind its Finished.
        conn.writer().write_all(b"early").unwrap();
        while conn.is_handshaking() || conn.wants_write() {
            conn.complete_io(&mut tcp).unwrap();
        }
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        let mut echo = Vec::new();
        tls.read_to_end(&mut echo).unwrap();
        echo
    });
    let echo = timeout(DEADLINE, client).await.unwrap().unwrap();
    assert_eq!(echo, b"early");
    timeout(DEADLINE, worker).await.unwrap().unwrap();
}

/// Bytes that are not a record sealed with the session's keys, sent raw after a good
/// handshake: each read ends in an error that names what was wrong, never a panic.
#[tokio::test]
async fn garbage_after_the_handshake_is_an_error_that_names_it() {
    let mut forged = vec![23, 3, 3, 0, 40];
    forged.extend_from_slice(&[0x5a; 40]);
    let cases: [(Vec<u8>, &str); 4] = [
        (vec![23, 3, 3, 0x50, 0x00], "MessageTooLarge"),
        (forged, "cannot decrypt"),
        (vec![21, 3, 3, 0, 2, 2, 40], "cannot decrypt"),
        (
            vec![23, 3, 3, 0, 100, 1, 2, 3],
            "in the middle of a TLS record",
        ),
    ];
    let creds = credentials();
    for (garbage, expect) in cases {
        let (listener, address) = listener().await;
        let acceptor = tokio_rustls::TlsAcceptor::from(worker_config(&creds).unwrap());
        let worker = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let (mut tcp, _) = tls.into_inner();
            tcp.write_all(&garbage).await.unwrap();
            tcp.shutdown().await.unwrap();
            // Hold the socket until the client has read.
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest).await;
        });
        let tcp = TcpStream::connect(&address).await.unwrap();
        let name = worker_server_name(&address).unwrap();
        let mut tls = postern_tls::connect(client_config(&creds).unwrap(), name, tcp)
            .await
            .unwrap();
        let mut got = Vec::new();
        let read = timeout(DEADLINE, tls.read_to_end(&mut got)).await.unwrap();
        let err = read.expect_err("garbage must not read as data");
        assert!(err.to_string().contains(expect), "{expect:?} not in {err}");
        drop(tls);
        timeout(DEADLINE, worker).await.unwrap().unwrap();
    }
}
