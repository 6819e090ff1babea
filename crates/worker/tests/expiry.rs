//! Session expiry on the worker, on tokio's paused time: the worker reads the wall clock
//! through its injected clock, which follows tokio's (see `support`), so skipping an hour
//! takes no time and the expiration is hit to the millisecond.
//!
//! Each test lets most of the session's life pass *before* the client comes, so the worker
//! must judge the expiration by its clock: one that read the machine's time would still see
//! an hour left.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap

mod support;

use std::time::Duration;

use postern_authority::{ClosedReason, ConnectionBytes};
use postern_wire::TofuToken;
use postern_worker::WorkerConfig;
use postern_ws::CloseFrame;
use support::*;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);
/// Tokio's timer resolution: a deadline fires once the clock is past its millisecond.
const TICK: Duration = Duration::from_millis(1);

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

/// A live connection is carried until its session expires and cut right then: a Close 1000
/// "done" to the client, an orderly end (FIN) to the endpoint, "timed out" to the authority.
#[tokio::test]
async fn a_live_connection_is_cut_at_the_expiration_and_not_before() {
    let clock = tokio_clock();
    let mut worker = start_worker(clock.clone(), WorkerConfig::default()).await;
    let (endpoint, mut ends) = observing_endpoint().await;
    let expiration = clock() + HOUR;
    let credentials = worker.authority.add_session(endpoint, expiration);
    skip(HOUR - MINUTE).await;

    let mut ws = open(worker.addr, &credentials).await;
    let result = handshake(&mut ws, &TofuToken::generate()).await.unwrap();
    assert_eq!(result.expiration, Some(expiration.into()));
    assert_eq!(echo(&mut ws, b"first").await, b"first");
    skip(until(&clock, expiration) - Duration::from_secs(1)).await;
    assert_eq!(
        echo(&mut ws, b"second").await,
        b"second",
        "still carried a second before the expiration"
    );

    skip(until(&clock, expiration) + TICK).await;
    assert_eq!(next_close(&mut ws).await, close_frame(1000, "done"));
    let end = within("the endpoint's end", ends.recv()).await.unwrap();
    assert_eq!(
        end,
        ReadEnd {
            bytes: 11,
            how: Ok(())
        }
    );
    let closed = within("the close report", worker.closed.recv())
        .await
        .unwrap();
    assert_eq!(
        closed,
        Closed {
            bytes: ConnectionBytes {
                connection_id: "sc_0000000001".into(),
                bytes_up: 11,
                bytes_down: 11,
            },
            reason: ClosedReason::TimedOut,
            connected: None,
        }
    );
    let connected = worker.authority.connected();
    assert_eq!(connected.len(), 1, "reported connected while it ran");
    assert_eq!(connected[0].1.endpoint, endpoint);
}

/// From its expiration on, a session's client gets a TLS handshake_failure alert, the same
/// refusal as for a session the worker does not know.
#[tokio::test]
async fn a_session_is_refused_at_the_tls_handshake_from_its_expiration_on() {
    let clock = tokio_clock();
    let worker = start_worker(clock.clone(), WorkerConfig::default()).await;
    let (endpoint, _ends) = observing_endpoint().await;
    let expiration = clock() + HOUR;
    let credentials = worker.authority.add_session(endpoint, expiration);

    skip(HOUR - Duration::from_secs(1)).await;
    within("the TLS handshake", connect_tls(worker.addr, &credentials))
        .await
        .expect("served a second before the expiration");

    skip(until(&clock, expiration)).await;
    let refused = within("the TLS handshake", connect_tls(worker.addr, &credentials))
        .await
        .expect_err("served at the expiration");
    assert_eq!(
        (refused.kind(), refused.to_string()),
        (
            std::io::ErrorKind::InvalidData,
            "received fatal alert: HandshakeFailure".to_owned()
        )
    );
}

/// A client that upgrades but never sends its handshake waits at most until the session
/// expires, when that is sooner than the handshake deadline; then it is refused as for a
/// handshake that never came.
#[tokio::test]
async fn the_handshake_deadline_is_the_expiration_when_that_is_sooner() {
    let clock = tokio_clock();
    let config = WorkerConfig {
        handshake_timeout: 2 * HOUR,
        ..Default::default()
    };
    let mut worker = start_worker(clock.clone(), config).await;
    let (endpoint, _ends) = observing_endpoint().await;
    let expiration = clock() + HOUR;
    let credentials = worker.authority.add_session(endpoint, expiration);
    skip(HOUR - MINUTE).await;

    let mut ws = open(worker.addr, &credentials).await;
    skip(until(&clock, expiration) + TICK).await;
    assert_eq!(
        next_close(&mut ws).await,
        close_frame(1008, "invalid handshake received")
    );
    assert!(
        worker.closed.try_recv().is_err(),
        "no connection was authorized, so none is reported closed"
    );
}
