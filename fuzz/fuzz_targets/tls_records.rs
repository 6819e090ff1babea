//! After a real handshake, a hostile client sends records built from the input: sealed with
//! the session's keys (any inner type, payload and padding), KeyUpdates, raw bytes, with the
//! worker's reads cut where the input says. postern's stream over rustls must end each input
//! with data, EOF or an error, never a panic or a hang, and keep answering writes.
//!
//! Input: a sequence of operations, each a tag byte and its arguments (see `script`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../../crates/tls/tests/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

mod session;

use session::session;
use support::{TestKey, ALERT, APPLICATION_DATA, HANDSHAKE, KEY_UPDATE};

/// Cuts `n` bytes (at most what is left) off the front of `input`.
fn take<'a>(input: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(input.len());
    let (head, tail) = input.split_at(n);
    *input = tail;
    head
}

fn byte(input: &mut &[u8]) -> u8 {
    take(input, 1).first().copied().unwrap_or(0)
}

/// A length: one byte, or two when the first has its top bit set (up to 32 KiB).
fn length(input: &mut &[u8]) -> usize {
    let first = byte(input);
    if first & 0x80 == 0 {
        usize::from(first)
    } else {
        (usize::from(first & 0x7f) << 8 | usize::from(byte(input))) % (32 * 1024)
    }
}

/// The writes the hostile client makes, each one read on the worker's side.
fn script(tx: &mut TestKey, mut input: &[u8]) -> Vec<Vec<u8>> {
    let mut writes = Vec::new();
    let mut current = Vec::new();
    while !input.is_empty() {
        match byte(&mut input) % 8 {
            0 => {
                let len = length(&mut input);
                current.extend(tx.seal(APPLICATION_DATA, take(&mut input, len)));
            }
            1 => {
                let len = length(&mut input);
                current.extend(tx.seal(HANDSHAKE, take(&mut input, len)));
            }
            2 => {
                let alert = take(&mut input, 2).to_vec();
                current.extend(tx.seal(ALERT, &alert));
            }
            3 => {
                let request = byte(&mut input) & 1 == 1;
                current.extend(tx.key_update(request));
            }
            4 => {
                let kind = byte(&mut input);
                let len = length(&mut input);
                let padding = usize::from(byte(&mut input));
                let mut inner = take(&mut input, len).to_vec();
                inner.push(kind);
                inner.resize(inner.len() + padding, 0);
                current.extend(tx.seal_inner(&inner));
            }
            5 => {
                let len = length(&mut input);
                current.extend_from_slice(take(&mut input, len));
            }
            6 => writes.push(std::mem::take(&mut current)),
            _ => {
                // A KeyUpdate message cut across two records.
                let request = byte(&mut input) & 1;
                current.extend(tx.seal(HANDSHAKE, &[KEY_UPDATE, 0]));
                current.extend(tx.seal(HANDSHAKE, &[0, 1, request]));
            }
        }
    }
    writes.push(current);
    writes
}

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let session = session();
        let (ours, theirs) = support::scripted_pair();
        let worker_config = session.worker.clone();
        let worker = tokio::spawn(async move {
            let Ok(accepting) = postern_tls::accept(ours).await else {
                return;
            };
            let Ok(mut tls) = accepting.finish(worker_config).await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tls.write_all(&buf[..n]).await.is_err() || tls.flush().await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = tls.shutdown().await;
        });
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let mut peer = support::Peer::client(&session.client, name, theirs, |_| Vec::new()).await;
        for write in script(&mut peer.tx, data) {
            if peer.io.write_all(&write).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        let _ = peer.io.shutdown().await;
        let _ = worker.await;
    });
});
