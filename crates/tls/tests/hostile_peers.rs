//! postern's TLS against peers that send exactly the records they want (see `support`):
//! KeyUpdates in the handshake's last flight, a record split across the end of the
//! handshake, floods of KeyUpdates, and every record RFC 8446 forbids after a handshake. The
//! worker side is
//! `postern_tls::accept`, the client side `postern_tls::connect`, each over a scripted
//! transport whose reads end exactly where the test's writes do.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

mod support;

use std::future::Future;
use std::io;
use std::time::{Duration, SystemTime};

use postern_tls::{
    client_config, worker_config, worker_server_name, SessionCredentials, TlsStream,
};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(20);

fn credentials() -> SessionCredentials {
    let not_after = SystemTime::now() + Duration::from_secs(3600);
    SessionCredentials::issue("s_1234567890", &["127.0.0.1".to_owned()], not_after).unwrap()
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    timeout(DEADLINE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// postern's worker side over `io`, running `then` on the finished connection.
fn worker<T: Send + 'static, F: Future<Output = T> + Send>(
    creds: &SessionCredentials,
    io: Scripted,
    then: impl FnOnce(TlsStream<Scripted>) -> F + Send + 'static,
) -> JoinHandle<T> {
    let config = worker_config(creds).unwrap();
    tokio::spawn(async move {
        let accepting = postern_tls::accept(io).await.unwrap();
        let tls = accepting.finish(config).await.unwrap();
        then(tls).await
    })
}

/// Echoes what it reads until EOF, then closes; returns how the read side ended.
async fn echo(mut tls: TlsStream<Scripted>) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            tls.shutdown().await?;
            return Ok(());
        }
        tls.write_all(&buf[..n]).await?;
        tls.flush().await?;
    }
}

async fn hostile_client(
    creds: &SessionCredentials,
    io: Scripted,
    extra: impl FnOnce(&mut TestKey) -> Vec<u8>,
) -> Peer<Scripted> {
    let config = client_config(creds).unwrap();
    let name = worker_server_name("127.0.0.1:9202").unwrap();
    within("the handshake", Peer::client(&config, name, io, extra)).await
}

/// The review's nonce reuse: KeyUpdate(update_requested) in the same write as the client's
/// Finished, and another later. Every record the worker sends must open under the key the
/// RFC says, with a (key, nonce) pair never used before (the peer checks both).
#[tokio::test]
async fn key_updates_in_the_finished_flight_and_later_are_followed_without_nonce_reuse() {
    for requested in [true, false] {
        let creds = credentials();
        let (ours, theirs) = scripted_pair();
        let worker = worker(&creds, ours, echo);
        let mut peer = hostile_client(&creds, theirs, |tx| tx.key_update(requested)).await;
        for (round, message) in [&b"first"[..], b"second", b"third"].into_iter().enumerate() {
            let record = peer.tx.seal(APPLICATION_DATA, message);
            peer.send(&record).await;
            assert_eq!(
                within("the echo", peer.read_data(message.len())).await,
                message
            );
            if round == 1 {
                let update = peer.tx.key_update(true);
                peer.send(&update).await;
            }
        }
        // One KeyUpdate answered per request, each before the data that followed it.
        let expected_epoch = if requested { 2 } else { 1 };
        assert_eq!(peer.rx.epoch, expected_epoch, "requested: {requested}");
        let close = peer.tx.seal(ALERT, &[1, 0]);
        peer.send(&close).await;
        assert_eq!(within("close_notify", peer.alert()).await, Some(0));
        within("the worker", worker).await.unwrap().unwrap();
    }
}

/// The same from a hostile worker: KeyUpdate(update_requested) and data right behind the
/// server's Finished, before the client has even sent its own.
#[tokio::test]
async fn our_client_follows_a_key_update_sent_with_the_servers_finished() {
    let creds = credentials();
    let (ours, theirs) = scripted_pair();
    let config = (*worker_config(&creds).unwrap()).clone();
    let server = tokio::spawn(async move {
        let mut peer = Peer::server(&config, theirs, |tx| {
            let update = tx.key_update(true);
            [update, tx.seal(APPLICATION_DATA, b"world")].concat()
        })
        .await;
        let got = peer.read_data(5).await;
        assert_eq!(got, b"hello");
        assert_eq!(
            peer.rx.epoch, 1,
            "the client answered the requested KeyUpdate first"
        );
        let update = peer.tx.key_update(false);
        let after = peer.tx.seal(APPLICATION_DATA, b"again");
        peer.send(&[update, after].concat()).await;
        peer.read_data(4).await
    });
    let name = worker_server_name("127.0.0.1:9202").unwrap();
    let mut tls = within(
        "the handshake",
        postern_tls::connect(client_config(&creds).unwrap(), name, ours),
    )
    .await
    .unwrap();
    let mut got = [0u8; 5];
    within("the first data", tls.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(&got, b"world");
    tls.write_all(b"hello").await.unwrap();
    tls.flush().await.unwrap();
    within("the reply", tls.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"again");
    tls.write_all(b"done").await.unwrap();
    tls.flush().await.unwrap();
    assert_eq!(within("the server", server).await.unwrap(), b"done");
}

/// The first application record arrives half with the Finished and half in a later read:
/// nothing of it may be lost at the hand-over.
#[tokio::test]
async fn a_first_record_split_across_the_hand_over_arrives_whole() {
    let creds = credentials();
    let (ours, theirs) = scripted_pair();
    let worker = worker(&creds, ours, echo);
    let mut rest = Vec::new();
    let message = vec![0x5a; 3000];
    let mut peer = hostile_client(&creds, theirs, |tx| {
        let mut record = tx.seal(APPLICATION_DATA, &message);
        rest = record.split_off(record.len() / 2);
        record
    })
    .await;
    peer.send(&rest).await;
    assert_eq!(within("the echo", peer.read_data(3000)).await, message);
    let close = peer.tx.seal(ALERT, &[1, 0]);
    peer.send(&close).await;
    within("the worker", worker).await.unwrap().unwrap();
}

/// A well-formed NewSessionTicket (RFC 8446 section 4.6.1): lifetime, age_add, empty nonce,
/// a one-byte ticket, no extensions.
fn ticket() -> Vec<u8> {
    let body = [0, 0, 0, 60, 0, 0, 0, 0, 0, 0, 1, 0x42, 0, 0];
    [&[NEW_SESSION_TICKET, 0, 0, body.len() as u8][..], &body].concat()
}

/// What the worker's read ends with, and the alert the peer gets.
async fn refused(records: impl FnOnce(&mut TestKey) -> Vec<u8>) -> (String, Option<u8>) {
    let creds = credentials();
    let (ours, theirs) = scripted_pair();
    let worker = worker(&creds, ours, echo);
    let mut peer = hostile_client(&creds, theirs, |_| Vec::new()).await;
    let bytes = records(&mut peer.tx);
    // The worker may have hung up before the last of a long script.
    let _ = peer.io.write_all(&bytes).await;
    let alert = within("the alert", peer.alert()).await;
    let error = within("the worker", worker).await.unwrap().unwrap_err();
    (error.to_string(), alert)
}

/// Everything RFC 8446 forbids after a handshake ends the connection with an error that
/// names it. rustls judges the records (see `stream.rs` for why), and answers most with the
/// alert the RFC names; where it sends none (its "peer misbehaved" limits, interleaving, an
/// all-padding record), the test says so, so a change in rustls shows here.
#[tokio::test]
async fn every_forbidden_record_is_refused() {
    let key_update = [KEY_UPDATE, 0, 0, 1, 0];
    type Script = Box<dyn FnOnce(&mut TestKey) -> Vec<u8>>;
    // What is sent, what the worker's error says, the alert the peer gets.
    let cases: Vec<(&str, Script, &str, Option<u8>)> = vec![
        (
            "plaintext over 2^14",
            Box::new(|tx| tx.seal(APPLICATION_DATA, &vec![1; 16385])),
            "peer sent excess record size",
            Some(RECORD_OVERFLOW),
        ),
        (
            "a KeyUpdate that does not end its record",
            Box::new(move |tx| {
                tx.seal(
                    HANDSHAKE,
                    &[&key_update[..], &[NEW_SESSION_TICKET, 0]].concat(),
                )
            }),
            "KeyEpochWithPendingFragment",
            Some(UNEXPECTED_MESSAGE),
        ),
        (
            "a handshake fragment interleaved with application data",
            Box::new(|tx| {
                let fragment = tx.seal(HANDSHAKE, &[KEY_UPDATE, 0, 0]);
                [fragment, tx.seal(APPLICATION_DATA, b"x")].concat()
            }),
            "MessageInterleavedWithHandshakeMessage",
            None,
        ),
        (
            "a handshake fragment interleaved with an alert",
            Box::new(|tx| {
                let fragment = tx.seal(HANDSHAKE, &[KEY_UPDATE, 0]);
                [fragment, tx.seal(ALERT, &[1, 90])].concat()
            }),
            "MessageInterleavedWithHandshakeMessage",
            None,
        ),
        (
            "a NewSessionTicket from a client",
            Box::new(|tx| tx.seal(HANDSHAKE, &ticket())),
            "got NewSessionTicket when expecting KeyUpdate",
            Some(UNEXPECTED_MESSAGE),
        ),
        (
            "33 zero-length handshake fragments in a row",
            Box::new(|tx| (0..33).flat_map(|_| tx.seal(HANDSHAKE, &[])).collect()),
            "TooManyEmptyFragments",
            None,
        ),
        (
            "33 empty records in a row",
            Box::new(|tx| {
                (0..33)
                    .flat_map(|_| tx.seal(APPLICATION_DATA, &[]))
                    .collect()
            }),
            "TooManyEmptyFragments",
            None,
        ),
        (
            "a KeyUpdate asking for neither",
            Box::new(|tx| tx.seal(HANDSHAKE, &[KEY_UPDATE, 0, 0, 1, 2])),
            "InvalidKeyUpdate",
            Some(ILLEGAL_PARAMETER),
        ),
        (
            "a KeyUpdate of two bytes",
            Box::new(|tx| tx.seal(HANDSHAKE, &[KEY_UPDATE, 0, 0, 2, 0, 0])),
            "received corrupt message",
            Some(DECODE_ERROR),
        ),
        (
            "a ClientHello after the handshake",
            Box::new(|tx| tx.seal(HANDSHAKE, &[1, 0, 0, 1, 0])),
            "received corrupt message",
            Some(DECODE_ERROR),
        ),
        (
            "a warning alert other than user_canceled",
            Box::new(|tx| tx.seal(ALERT, &[1, 42])),
            "BadCertificate",
            Some(DECODE_ERROR),
        ),
        (
            "an alert of three bytes",
            Box::new(|tx| tx.seal(ALERT, &[2, 40, 0])),
            "received corrupt message",
            Some(DECODE_ERROR),
        ),
        (
            "five user_canceled warnings",
            Box::new(|tx| (0..5).flat_map(|_| tx.seal(ALERT, &[1, 90])).collect()),
            "TooManyWarningAlertsReceived",
            None,
        ),
        (
            "an unknown inner content type",
            Box::new(|tx| tx.seal(99, b"??")),
            "InvalidContentType",
            Some(DECODE_ERROR),
        ),
        (
            // RFC 8446 section 5.4 asks for unexpected_message here; rustls sends none.
            "a record of nothing but padding",
            Box::new(|tx| tx.seal_inner(&[0; 12])),
            "IllegalTlsInnerPlaintext",
            None,
        ),
        (
            "an unprotected handshake record",
            Box::new(|_| vec![HANDSHAKE, 3, 3, 0, 5, KEY_UPDATE, 0, 0, 1, 0]),
            "cannot decrypt",
            Some(BAD_RECORD_MAC),
        ),
        (
            "a ChangeCipherSpec after the handshake",
            Box::new(|_| vec![CHANGE_CIPHER_SPEC, 3, 3, 0, 1, 1]),
            "got ChangeCipherSpec",
            Some(UNEXPECTED_MESSAGE),
        ),
        (
            "a forged record",
            Box::new(|tx| {
                let mut record = tx.seal(APPLICATION_DATA, b"tampered");
                record[7] ^= 0x40;
                record
            }),
            "cannot decrypt",
            Some(BAD_RECORD_MAC),
        ),
        (
            "a record header over the limit",
            Box::new(|_| vec![APPLICATION_DATA, 3, 3, 0x50, 0]),
            "MessageTooLarge",
            Some(DECODE_ERROR),
        ),
    ];
    for (what, records, error, alert) in cases {
        let (got_error, got_alert) = refused(records).await;
        assert!(
            got_error.contains(error),
            "{what}: {error:?} not in {got_error:?}"
        );
        assert_eq!(got_alert, alert, "{what}: alert");
    }
}

/// Tolerated within the limits: a zero-length handshake fragment, empty records, tickets
/// ignored... the connection carries data on.
#[tokio::test]
async fn odd_but_allowed_records_do_not_end_the_connection() {
    let creds = credentials();
    let (ours, theirs) = scripted_pair();
    let worker = worker(&creds, ours, echo);
    let mut peer = hostile_client(&creds, theirs, |_| Vec::new()).await;
    let mut script = peer.tx.seal(HANDSHAKE, &[]);
    script.extend((0..31).flat_map(|_| peer.tx.seal(APPLICATION_DATA, &[])));
    script.extend(peer.tx.seal(ALERT, &[1, 90]));
    script.extend(peer.tx.seal_inner(&[b'o', b'k', APPLICATION_DATA, 0, 0, 0]));
    peer.send(&script).await;
    assert_eq!(within("the echo", peer.read_data(2)).await, b"ok");
    let close = peer.tx.seal(ALERT, &[1, 0]);
    peer.send(&close).await;
    within("the worker", worker).await.unwrap().unwrap();
}

/// A flood of KeyUpdates (each a key derivation) ends after rustls' limit (BoringSSL's too)
/// of 32 in a row; KeyUpdates with data between them are fine.
#[tokio::test]
async fn a_flood_of_key_updates_is_cut_after_thirty_two() {
    let creds = credentials();
    let (ours, theirs) = scripted_pair();
    let worker = worker(&creds, ours, echo);
    let mut peer = hostile_client(&creds, theirs, |_| Vec::new()).await;
    // 40 rounds of 31 KeyUpdates and a byte of data: allowed.
    for round in 0..40u8 {
        let mut script: Vec<u8> = (0..31).flat_map(|_| peer.tx.key_update(false)).collect();
        script.extend(peer.tx.seal(APPLICATION_DATA, &[round]));
        peer.send(&script).await;
        assert_eq!(within("the echo", peer.read_data(1)).await, [round]);
    }
    // Then 100,000 in a row, in writes of 1,000: cut after 32, with an alert.
    let mut sent = 0;
    for _ in 0..100 {
        let script: Vec<u8> = (0..1000).flat_map(|_| peer.tx.key_update(false)).collect();
        if peer.io.write_all(&script).await.is_err() {
            break;
        }
        sent += 1000;
        // The scripted transport never blocks a writer: let the worker read.
        tokio::task::yield_now().await;
    }
    assert!(sent < 100_000, "the worker read all 100,000 KeyUpdates");
    // rustls ends it without an alert (one of its "peer misbehaved" limits).
    assert_eq!(within("the end", peer.alert()).await, None);
    let error = within("the worker", worker).await.unwrap().unwrap_err();
    assert!(
        error.to_string().contains("TooManyKeyUpdateRequests"),
        "{error}"
    );
}

/// A fatal alert from the peer ends the read with its name; nothing is sent back.
#[tokio::test]
async fn a_fatal_alert_from_the_peer_ends_the_connection_quietly() {
    let (error, alert) = refused(|tx| tx.seal(ALERT, &[2, 40])).await;
    assert!(
        error.contains("received fatal alert: HandshakeFailure"),
        "{error}"
    );
    assert_eq!(alert, None, "no alert answers a fatal alert");
}

/// Server side rules seen from our client: tickets are ignored (up to the same limit),
/// close_notify is the end of the stream.
#[tokio::test]
async fn our_client_ignores_tickets_and_stops_at_close_notify() {
    let creds = credentials();
    let (ours, theirs) = scripted_pair();
    let config = (*worker_config(&creds).unwrap()).clone();
    let server = tokio::spawn(async move {
        let mut peer = Peer::server(&config, theirs, |_| Vec::new()).await;
        let mut script: Vec<u8> = (0..3)
            .flat_map(|_| peer.tx.seal(HANDSHAKE, &ticket()))
            .collect();
        script.extend(peer.tx.seal(APPLICATION_DATA, b"data"));
        script.extend(peer.tx.seal(ALERT, &[1, 0]));
        script.extend(peer.tx.seal(APPLICATION_DATA, b"after close_notify"));
        peer.send(&script).await;
        peer
    });
    let name = worker_server_name("127.0.0.1:9202").unwrap();
    let mut tls = postern_tls::connect(client_config(&creds).unwrap(), name, ours)
        .await
        .unwrap();
    let mut got = Vec::new();
    within("the data", tls.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"data");
    drop(within("the server", server).await.unwrap());
}
