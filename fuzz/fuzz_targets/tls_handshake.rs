//! Arbitrary bytes from a client at the worker's TLS accept: the handshake buffer, the
//! record-at-a-time offering and rustls' unbuffered server must end every input with an
//! error or a finished handshake, never a panic or a hang. Input: chunks, each one read on
//! the worker's side, each prefixed by its length (one byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;

#[path = "../../crates/tls/tests/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

mod session;

fuzz_target!(|data: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (ours, mut theirs) = support::scripted_pair();
        let mut rest = data;
        while let Some((&len, tail)) = rest.split_first() {
            let n = usize::from(len).max(1).min(tail.len());
            if n == 0 {
                break;
            }
            let _ = theirs.write_all(&tail[..n]).await;
            rest = &tail[n..];
        }
        let _ = theirs.shutdown().await;
        if let Ok(accepting) = postern_tls::accept(ours).await {
            let config = match postern_tls::requested_session(&accepting.client_hello()) {
                Some(_) => session::session().worker.clone(),
                None => postern_tls::refusal_config(),
            };
            let _ = accepting.finish(config).await;
        }
        drop(theirs);
    });
});
