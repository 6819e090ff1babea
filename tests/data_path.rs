//! The data path end to end in one process: real worker, real client proxy, real TLS and
//! WebSocket over loopback, the controller's session store as the authority.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap
mod common;

use std::time::{Duration, Instant, SystemTime};

use common::*;
use postern_authority::{ClosedReason, SessionStatus};
use postern_proxy::{ProxyEnd, ProxyEvent};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_arrive_intact_both_ways_and_are_counted_exactly() {
    let worker = start_worker().await;
    // (bytes up, bytes down): empty, tiny, odd sizes across frame and record limits, 64 MiB.
    let cases = [
        (0, 0),
        (1, 0),
        (0, 1),
        (32 * 1024 + 1, 16 * 1024 - 3),
        (1_000_003, 777_777),
        (64 << 20, 64 << 20),
    ];
    for (i, (up, down)) in cases.into_iter().enumerate() {
        let (endpoint, mut exchanges) = sink_then_source(down).await;
        let auth = worker
            .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
            .await;
        let mut proxy = start_proxy(&auth.authorization_token).await;
        let sent = random_bytes(up, i as u64);
        let (reply_len, reply_sha) = within("the exchange", exchange(proxy.addr, &sent)).await;
        let seen = within("the endpoint's report", exchanges.recv())
            .await
            .unwrap();
        assert_eq!(seen.received, up, "case {i}: endpoint got all bytes");
        assert_eq!(
            seen.received_sha,
            Sha256::digest(&sent).to_vec(),
            "case {i}: up bytes intact"
        );
        assert_eq!(reply_len, down, "case {i}: client got all bytes");
        assert_eq!(reply_sha, seen.sent_sha, "case {i}: down bytes intact");
        let id = auth.session.id.clone();
        let conn = eventually("the connection to be reported closed", || {
            let s = worker.session(&id);
            s.connections
                .first()
                .filter(|c| c.closed_reason.is_some())
                .cloned()
        })
        .await;
        assert_eq!(
            (conn.bytes_up, conn.bytes_down),
            (up as u64, down as u64),
            "case {i}: counted"
        );
        assert_eq!(conn.closed_reason, Some(ClosedReason::ClosedByEndUser));
        assert_eq!(
            (proxy.proxy.bytes().up(), proxy.proxy.bytes().down()),
            (up as u64, down as u64)
        );
        assert!(
            proxy.events.try_recv().is_err(),
            "unlimited sessions report no connections left"
        );
        proxy.shutdown.cancel();
        assert_eq!(
            within("the proxy to end", &mut proxy.ended).await.unwrap(),
            ProxyEnd::Shutdown
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_lets_the_client_read_the_reply_after_shutting_down_write() {
    let worker = start_worker().await;
    let (endpoint, mut exchanges) = sink_then_source(5).await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let proxy = start_proxy(&auth.authorization_token).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(b"question").await.unwrap();
    stream.shutdown().await.unwrap();
    // The endpoint answers only after it saw our EOF, so this reply crossed a half-closed tunnel.
    let mut reply = Vec::new();
    within("the reply", stream.read_to_end(&mut reply))
        .await
        .unwrap();
    assert_eq!(reply.len(), 5);
    let seen = exchanges.recv().await.unwrap();
    assert_eq!(seen.received, 8);
    assert_eq!(Sha256::digest(&reply).to_vec(), seen.sent_sha);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_echo_keeps_order() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let proxy = start_proxy(&auth.authorization_token).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    for round in 0..200u32 {
        let line = random_bytes(1 + (round as usize * 97) % 5000, round.into());
        stream.write_all(&line).await.unwrap();
        let mut back = vec![0u8; line.len()];
        within("the echo", stream.read_exact(&mut back))
            .await
            .unwrap();
        assert_eq!(back, line, "round {round}");
    }
}

/// Opens a local connection and proves it is tunnelled by an echo round trip.
async fn tunnelled(addr: std::net::SocketAddr) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream.write_all(b"ping").await.ok()?;
    let mut back = [0u8; 4];
    match tokio::time::timeout(WAIT, stream.read_exact(&mut back)).await {
        Ok(Ok(_)) if &back == b"ping" => Some(stream),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_of_n_admits_exactly_n_of_4n_concurrent_connections() {
    const LIMIT: usize = 3;
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), LIMIT as i32, HOUR)
        .await;
    let mut proxy = start_proxy(&auth.authorization_token).await;
    let attempts: Vec<_> = (0..4 * LIMIT)
        .map(|_| tokio::spawn(tunnelled(proxy.addr)))
        .collect();
    let mut live = Vec::new();
    for attempt in attempts {
        if let Some(stream) = within("a connection attempt", attempt).await.unwrap() {
            live.push(stream);
        }
    }
    assert_eq!(live.len(), LIMIT, "exactly the limit got through");
    let mut lefts = Vec::new();
    while let Ok(ProxyEvent::ConnectionsLeft(left)) = proxy.events.try_recv() {
        lefts.push(left);
    }
    assert!(lefts.contains(&0), "connections left reached 0: {lefts:?}");
    // The listener is closed, the admitted connections still work.
    eventually("the local listener to close", || {
        std::net::TcpStream::connect(proxy.addr)
            .is_err()
            .then_some(())
    })
    .await;
    for stream in &mut live {
        stream.write_all(b"more").await.unwrap();
        let mut back = [0u8; 4];
        within("an echo on a live connection", stream.read_exact(&mut back))
            .await
            .unwrap();
        assert_eq!(&back, b"more");
    }
    drop(live);
    assert_eq!(
        within("the proxy to end", &mut proxy.ended).await.unwrap(),
        ProxyEnd::NoConnectionsLeft
    );
    let id = auth.session.id.clone();
    let session = eventually("the session to terminate", || {
        Some(worker.session(&id)).filter(|s| s.status == SessionStatus::Terminated)
    })
    .await;
    assert_eq!(
        session.termination_reason.map(|r| r.as_str()),
        Some("connection limit")
    );
    assert_eq!(session.connections.len(), LIMIT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_cuts_live_connections_within_a_second_and_closes_the_listener() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, Duration::from_secs(3))
        .await;
    let expiration = auth.session.expiration_time;
    let mut proxy = start_proxy(&auth.authorization_token).await;
    let mut stream = tunnelled(proxy.addr)
        .await
        .expect("tunnel works before expiry");
    let mut rest = Vec::new();
    let cut = within("the cut", stream.read_to_end(&mut rest)).await;
    let now = SystemTime::now();
    // An orderly end (FIN), nothing more: whichever of the proxy and the worker cuts first
    // closes its WebSocket with 1000 "done", and the proxy ends the local connection cleanly.
    assert_eq!((cut.map_err(|e| e.kind()), rest.len()), (Ok(0), 0));
    let late = now.duration_since(expiration).unwrap_or_default();
    let early = expiration.duration_since(now).unwrap_or_default();
    assert!(late < Duration::from_secs(1), "cut {late:?} after expiry");
    assert!(
        early < Duration::from_millis(1100),
        "cut {early:?} before expiry"
    );
    assert_eq!(
        within("the proxy to end", &mut proxy.ended).await.unwrap(),
        ProxyEnd::Expired
    );
    assert!(
        TcpStream::connect(proxy.addr).await.is_err(),
        "listener closed"
    );
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
    assert_eq!(conn.closed_reason, Some(ClosedReason::TimedOut));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_a_session_cuts_its_live_connections_at_once() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let proxy = start_proxy(&auth.authorization_token).await;
    let mut stream = tunnelled(proxy.addr).await.expect("tunnel works");
    let id = auth.session.id.clone();
    eventually("the connection to be connected", || {
        worker
            .session(&id)
            .connections
            .first()
            .filter(|c| c.endpoint.is_some())
            .map(|_| ())
    })
    .await;
    let started = Instant::now();
    worker.store.cancel(&id, None).await.unwrap();
    let mut rest = Vec::new();
    let cut = within("the cut", stream.read_to_end(&mut rest)).await;
    let took = started.elapsed();
    // The worker closes with 1000 "session canceled"; the proxy ends the local connection
    // with a FIN.
    assert_eq!((cut.map_err(|e| e.kind()), rest.len()), (Ok(0), 0));
    assert!(took < Duration::from_millis(500), "cut took {took:?}");
    let session = eventually("the session to terminate", || {
        Some(worker.session(&id)).filter(|s| s.status == SessionStatus::Terminated)
    })
    .await;
    assert_eq!(
        session.termination_reason.map(|r| r.as_str()),
        Some("canceled")
    );
    assert_eq!(
        session.connections[0].closed_reason,
        Some(ClosedReason::Canceled)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_proxy_cancels_the_session() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let mut proxy = start_proxy(&auth.authorization_token).await;
    drop(tunnelled(proxy.addr).await.expect("tunnel works"));
    proxy.shutdown.cancel();
    assert_eq!(
        within("the proxy to end", &mut proxy.ended).await.unwrap(),
        ProxyEnd::Shutdown
    );
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

/// -inactive-timeout counts from the moment no connection is open: not while one is, and
/// not only from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inactivity_timeout_runs_while_no_connection_is_open() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let settings = postern_proxy::ProxySettings {
        inactive_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let mut proxy = start_proxy_with(&auth.authorization_token, settings).await;
    let open = tunnelled(proxy.addr).await.expect("tunnel works");
    // Held well past the timeout: an open connection keeps the proxy up.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!proxy.ended.is_finished(), "ended with a connection open");
    drop(open);
    let started = Instant::now();
    assert_eq!(
        within("the proxy to time out", &mut proxy.ended)
            .await
            .unwrap(),
        ProxyEnd::InactivityTimeout
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// A client that ends abnormally (a reset of its local connection) ends the endpoint's
/// connection with a reset too, and the connection is closed as "network error"; one that
/// closes cleanly ends it with a FIN, "closed by end-user".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_client_resets_the_endpoint_a_clean_one_closes_it() {
    let worker = start_worker().await;
    let (endpoint, mut ends) = observing_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let proxy = start_proxy(&auth.authorization_token).await;

    let mut clean = TcpStream::connect(proxy.addr).await.unwrap();
    clean.write_all(b"hello").await.unwrap();
    clean.shutdown().await.unwrap();
    let mut echo = Vec::new();
    within("the echo", clean.read_to_end(&mut echo))
        .await
        .unwrap();
    assert_eq!(echo, b"hello");
    let end = within("the clean end", ends.recv()).await.unwrap();
    assert_eq!((end.bytes, end.how), (5, Ok(())), "a FIN at the endpoint");

    let mut aborted = TcpStream::connect(proxy.addr).await.unwrap();
    aborted.write_all(b"partial").await.unwrap();
    let mut echo = [0u8; 7];
    within("the echo", aborted.read_exact(&mut echo))
        .await
        .unwrap();
    postern_io::reset_on_close(&aborted).unwrap();
    drop(aborted);
    let end = within("the aborted end", ends.recv()).await.unwrap();
    assert_eq!(
        (end.bytes, end.how),
        (7, Err(std::io::ErrorKind::ConnectionReset)),
        "a reset at the endpoint"
    );

    let id = auth.session.id.clone();
    let reasons = eventually("both connections closed", || {
        let s = worker.session(&id);
        let reasons: Vec<_> = s
            .connections
            .iter()
            .filter_map(|c| c.closed_reason)
            .collect();
        (reasons.len() == 2).then_some(reasons)
    })
    .await;
    assert!(
        reasons.contains(&ClosedReason::ClosedByEndUser),
        "{reasons:?}"
    );
    assert!(reasons.contains(&ClosedReason::NetworkError), "{reasons:?}");
}

/// An endpoint that resets its connection: the user's client sees a reset, not an orderly
/// end, and the connection is closed as "network error".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_reset_reaches_the_client_as_a_reset() {
    let worker = start_worker().await;
    let endpoint = resetting_endpoint(4).await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let proxy = start_proxy(&auth.authorization_token).await;
    let mut client = TcpStream::connect(proxy.addr).await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let mut rest = Vec::new();
    let ended = within("the reset", client.read_to_end(&mut rest)).await;
    assert_eq!(
        ended.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );
    let reason = worker.first_closed_reason(&auth.session.id).await;
    assert_eq!(reason, ClosedReason::NetworkError);
}
