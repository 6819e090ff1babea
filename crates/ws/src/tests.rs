//! Property tests: whatever bytes a peer sends, the parsers answer with an error, never a panic.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use proptest::prelude::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::frame::{apply_mask, encode_header, OpCode};
use super::{accept, Role, WsStream};

/// An inner stream that yields fixed input `step` bytes at a time and swallows writes.
struct Scripted {
    input: Vec<u8>,
    pos: usize,
    step: usize,
}

impl AsyncRead for Scripted {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = this
            .step
            .min(buf.remaining())
            .min(this.input.len() - this.pos);
        buf.put_slice(&this.input[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Runs `f` to completion; `Scripted` never returns Pending, so a hang would be a bug.
fn run<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), f).await })
        .expect("parser hung")
}

fn server(input: Vec<u8>, step: usize) -> WsStream<Scripted> {
    WsStream::new(
        Scripted {
            input,
            pos: 0,
            step,
        },
        Role::Server,
    )
}

const KINDS: [(bool, OpCode); 7] = [
    (false, OpCode::Continuation),
    (true, OpCode::Continuation),
    (false, OpCode::Binary),
    (true, OpCode::Binary),
    (true, OpCode::Close),
    (true, OpCode::Ping),
    (true, OpCode::Pong),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn server_stream_never_panics_on_arbitrary_bytes(
        input in proptest::collection::vec(any::<u8>(), 0..600), step in 1usize..64,
    ) {
        run(async {
            let mut ws = server(input, step);
            ws.set_message_limit(1000);
            let mut out = Vec::new();
            let read = ws.read_to_end(&mut out).await;
            prop_assert!(read.is_err() || ws.peer_close().is_some());
            prop_assert!(ws.recv_message(1000).await.is_err());
            Ok(())
        })?;
    }

    #[test]
    fn well_formed_frame_sequences_never_panic(
        frames in proptest::collection::vec(
            (0..KINDS.len(), proptest::collection::vec(any::<u8>(), 0..300)), 0..8),
        step in 1usize..64,
    ) {
        let mut input = Vec::new();
        let mut data = Vec::new();
        for (kind, payload) in &frames {
            let (fin, opcode) = KINDS[*kind];
            encode_header(&mut input, fin, opcode, payload.len(), Some([1, 2, 3, 4]));
            let start = input.len();
            input.extend_from_slice(payload);
            apply_mask(&mut input[start..], [1, 2, 3, 4], 0);
            if !opcode.is_control() {
                data.extend_from_slice(payload);
            }
        }
        run(async {
            let mut out = Vec::new();
            if server(input, step).read_to_end(&mut out).await.is_ok() {
                // Whatever was delivered is a prefix of the data payload.
                prop_assert!(data.starts_with(&out));
            }
            Ok(())
        })?;
    }

    #[test]
    fn accept_never_panics_on_arbitrary_bytes(
        input in proptest::collection::vec(any::<u8>(), 0..600), step in 1usize..64,
        prefix in any::<bool>(),
    ) {
        let mut bytes = if prefix { b"GET /v1/proxy HTTP/1.1\r\n".to_vec() } else { Vec::new() };
        bytes.extend(input);
        let result = run(accept(Scripted { input: bytes, pos: 0, step }));
        prop_assert!(result.is_err());
    }
}
