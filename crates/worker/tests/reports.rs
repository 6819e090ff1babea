//! What the worker tells its authority about a connection's addresses: a connection that
//! runs past `connected_report_delay` is reported connected while it runs; one that ends
//! first is reported once, by its close, which carries the addresses. Byte counts are
//! reported while they move, and only then.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap

mod support;

use std::time::{Duration, Instant};

use postern_authority::{system_clock, ConnectedInfo, ConnectionBytes};
use postern_wire::TofuToken;
use postern_worker::WorkerConfig;
use support::*;

const HOUR: Duration = Duration::from_secs(3600);

/// A connection through a new worker that reports connections connected after `delay`:
/// `ping` echoed, then, once `ready` says so, closed as a client closes. The close report,
/// the connected reports and the connection's addresses.
async fn one_connection(
    delay: Duration,
    ready: impl Fn(&MemoryAuthority) -> bool,
) -> (Closed, Vec<(String, ConnectedInfo)>, ConnectedInfo) {
    let config = WorkerConfig {
        connected_report_delay: delay,
        ..Default::default()
    };
    let mut worker = start_worker(system_clock(), config).await;
    let (endpoint, mut ends) = observing_endpoint().await;
    let credentials = worker
        .authority
        .add_session(endpoint, std::time::SystemTime::now() + HOUR);
    let mut ws = open(worker.addr, &credentials).await;
    let client = ws.get_ref().get_ref().local_addr().unwrap();
    handshake(&mut ws, &TofuToken::generate()).await.unwrap();
    assert_eq!(echo(&mut ws, b"ping").await, b"ping");
    let waiting = Instant::now();
    while !ready(&worker.authority) {
        assert!(waiting.elapsed() < WAIT, "not ready within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    within("the client's close", ws.close(1000, ""))
        .await
        .unwrap();
    within("the endpoint's end", ends.recv()).await.unwrap();
    let closed = within("the close report", worker.closed.recv())
        .await
        .unwrap();
    let addresses = ConnectedInfo { client, endpoint };
    (closed, worker.authority.connected(), addresses)
}

#[tokio::test]
async fn a_connection_that_ends_before_the_delay_is_reported_once_by_its_close() {
    let (closed, connected, addresses) = one_connection(HOUR, |_| true).await;
    assert_eq!(connected, Vec::new(), "no report before the close");
    assert_eq!(closed.connected, Some(addresses));
    assert_eq!(
        closed.bytes,
        ConnectionBytes {
            connection_id: "sc_0000000001".into(),
            bytes_up: 4,
            bytes_down: 4,
        }
    );
}

#[tokio::test]
async fn a_connection_that_runs_is_reported_connected_and_its_close_says_nothing_more() {
    let (closed, connected, addresses) = one_connection(Duration::from_millis(10), |authority| {
        !authority.connected().is_empty()
    })
    .await;
    assert_eq!(connected, vec![("sc_0000000001".to_owned(), addresses)]);
    assert_eq!(closed.connected, None);
}

/// Waits (bounded) until `check` holds.
async fn until(what: &str, check: impl Fn() -> bool) {
    let waiting = Instant::now();
    while !check() {
        assert!(waiting.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn progress_reports_carry_the_connections_whose_counts_moved() {
    let config = WorkerConfig {
        progress_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let mut worker = start_worker(system_clock(), config).await;
    let (endpoint, _ends) = observing_endpoint().await;
    let credentials = worker
        .authority
        .add_session(endpoint, std::time::SystemTime::now() + HOUR);
    let mut ws = open(worker.addr, &credentials).await;
    handshake(&mut ws, &TofuToken::generate()).await.unwrap();
    let counts = |up, down| ConnectionBytes {
        connection_id: "sc_0000000001".into(),
        bytes_up: up,
        bytes_down: down,
    };
    assert_eq!(echo(&mut ws, b"ping").await, b"ping");
    let reported = |bytes: ConnectionBytes| {
        let authority = &worker.authority;
        move || authority.progress().iter().any(|r| r.contains(&bytes))
    };
    until("the first counts reported", reported(counts(4, 4))).await;

    // Idle for ten intervals: nothing moved, nothing is reported.
    let reports = worker.authority.progress().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(worker.authority.progress().len(), reports);

    assert_eq!(echo(&mut ws, b"pong!").await, b"pong!");
    until("the new counts reported", reported(counts(9, 9))).await;
    let last = worker.authority.progress().pop().unwrap();
    assert_eq!(last, vec![counts(9, 9)]);
    within("the client's close", ws.close(1000, ""))
        .await
        .unwrap();
    within("the close report", worker.closed.recv())
        .await
        .unwrap();
}
