//! [`WsStream`]: the read and write state machines that make a WebSocket a byte stream.
//!
//! Read side: frame headers and control frames go through a small buffer (`rbuf`); data
//! payload is copied (or read straight from the inner stream) into the caller's `ReadBuf`
//! and unmasked there. Write side: each write becomes one binary frame. Where the inner
//! stream takes vectored writes, header and payload go to it in one write without a copy (a
//! server's payload as it is; a client's masked in place in the splice's buffer, see
//! `SpliceWrite`); otherwise the frame is built in `wbuf`. Whatever the inner stream leaves
//! of a frame waits in `wbuf`. Pongs wait in `ctrl` and go out before any data frame not yet
//! started. The Close frame is appended to `wbuf`, so it always follows the data before it.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};

use super::frame::{self, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER};
use super::{close, CloseFrame, Role, MAX_SEND_MESSAGE};

mod read;

/// Default per-message limit on the byte stream: a peer may not announce more than this.
pub const DEFAULT_MESSAGE_LIMIT: u64 = 64 << 20;

/// Capacity of the header/control read buffer: a whole control frame must fit (139 bytes),
/// and a few small frames read at once save inner reads.
const READ_BUF: usize = 512;
/// Largest control frame on the wire.
const MAX_CONTROL_FRAME: usize = MAX_HEADER + MAX_CONTROL_PAYLOAD;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadState {
    /// Between frames: the next bytes are a frame header.
    Header,
    /// Inside the payload of a data frame.
    Payload {
        remaining: u64,
        mask: Option<[u8; 4]>,
        offset: usize,
        fin: bool,
    },
    /// The peer's Close arrived: every read is EOF.
    Closed,
    /// A protocol error or an unexpected EOF was reported; the read side is dead.
    Failed,
}

/// What a call to [`WsStream::poll_read_frames`] produced, besides the bytes in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadEvent {
    /// Payload bytes were delivered; `message_end` when the last frame of a message ended
    /// (only reported when reading whole messages).
    Data { message_end: bool },
    /// The peer's Close frame has been received: no more bytes.
    Closed,
}

/// A WebSocket connection carrying binary data, usable as a byte stream.
///
/// `poll_read` may write a pending Pong to the inner stream, so drive reads and writes from
/// one task (as `tokio::io::copy_bidirectional` does), not from two tasks after a split.
pub struct WsStream<S> {
    io: S,
    role: Role,
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    read: ReadState,
    /// Inside a data message whose last frame has not ended yet.
    in_message: bool,
    message_len: u64,
    message_limit: u64,
    peer_close: Option<CloseFrame>,
    ctrl: Vec<u8>,
    cpos: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// `wbuf` starts with the unsent tail of a data frame (see `poll_write_unmasked`).
    wbuf_mid_frame: bool,
    close_sent: bool,
    inner_shut: bool,
}

impl<S> fmt::Debug for WsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsStream")
            .field("role", &self.role)
            .field("read", &self.read)
            .field("peer_close", &self.peer_close)
            .field("close_sent", &self.close_sent)
            .field(
                "pending_write",
                &(self.ctrl.len() - self.cpos + self.wbuf.len() - self.wpos),
            )
            .finish_non_exhaustive()
    }
}

impl<S> WsStream<S> {
    /// Wraps a stream on which the upgrade has already happened.
    pub fn new(io: S, role: Role) -> Self {
        Self::with_prefix(io, role, Vec::new())
    }

    /// Like [`WsStream::new`], with `prefix`: bytes already read from `io` after the upgrade.
    pub(super) fn with_prefix(io: S, role: Role, prefix: Vec<u8>) -> Self {
        let rend = prefix.len();
        let rbuf = if rend > READ_BUF {
            prefix.into_boxed_slice()
        } else {
            let mut buf = vec![0; READ_BUF].into_boxed_slice();
            buf[..rend].copy_from_slice(&prefix);
            buf
        };
        WsStream {
            io,
            role,
            rbuf,
            rstart: 0,
            rend,
            read: ReadState::Header,
            in_message: false,
            message_len: 0,
            message_limit: DEFAULT_MESSAGE_LIMIT,
            peer_close: None,
            ctrl: Vec::new(),
            cpos: 0,
            wbuf: Vec::new(),
            wpos: 0,
            wbuf_mid_frame: false,
            close_sent: false,
            inner_shut: false,
        }
    }

    /// Sets the largest message the byte stream accepts (default [`DEFAULT_MESSAGE_LIMIT`]).
    pub fn set_message_limit(&mut self, limit: u64) {
        self.message_limit = limit;
    }

    /// The Close frame the peer sent, once it has arrived.
    pub fn peer_close(&self) -> Option<&CloseFrame> {
        self.peer_close.as_ref()
    }

    /// Whether this side has sent (or queued) its Close frame.
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    pub fn get_ref(&self) -> &S {
        &self.io
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    pub fn into_inner(self) -> S {
        self.io
    }

    /// Whether reading can produce nothing more (peer closed, or the read side failed).
    pub(super) fn read_finished(&self) -> bool {
        matches!(self.read, ReadState::Closed | ReadState::Failed)
    }

    fn mask(&self) -> Option<[u8; 4]> {
        match self.role {
            Role::Client => Some(rand::random()),
            Role::Server => None,
        }
    }

    /// Largest payload per data frame: header and payload then fill exactly two TLS records
    /// (2 x 16 KiB), where a whole [`MAX_SEND_MESSAGE`] would leave a record of a few header
    /// bytes behind every frame. A 32 KiB frame's header is 4 bytes, plus the client's mask.
    fn frame_payload_limit(&self) -> usize {
        let header = match self.role {
            Role::Client => 8,
            Role::Server => 4,
        };
        MAX_SEND_MESSAGE - header
    }

    /// Buffers one binary frame carrying `payload`.
    pub(super) fn queue_data(&mut self, payload: &[u8]) {
        let mask = self.mask();
        frame::encode_frame(&mut self.wbuf, OpCode::Binary, payload, mask);
    }

    /// Buffers our Close frame after everything written so far; nothing is sent after it.
    pub(super) fn queue_close(&mut self, code: u16, reason: &str) {
        if self.close_sent {
            return;
        }
        self.close_sent = true;
        if self.cpos == 0 {
            // Unsent Pongs are moot once we close.
            self.ctrl.clear();
        }
        let mask = self.mask();
        frame::encode_close(&mut self.wbuf, code, reason, mask);
    }

    /// The Close to answer the peer's with: its code echoed (RFC 6455 section 5.5.1).
    pub(super) fn queue_close_reply(&mut self) {
        let code = match &self.peer_close {
            Some(frame) if frame.code != close::NO_STATUS => frame.code,
            _ => close::NORMAL,
        };
        let reason = if code == close::NORMAL {
            close::DONE
        } else {
            ""
        };
        self.queue_close(code, reason);
    }

    fn queue_pong(&mut self, payload: &[u8]) {
        if self.close_sent {
            return;
        }
        if self.cpos == 0 {
            // A newer Ping supersedes an unanswered one (RFC 6455 section 5.5.3).
            self.ctrl.clear();
        } else if self.ctrl.len() >= 2 * MAX_CONTROL_FRAME {
            return;
        }
        let mask = self.mask();
        frame::encode_frame(&mut self.ctrl, OpCode::Pong, payload, mask);
    }

    /// Frees the write buffer once it is empty, so an idle connection holds none.
    fn release_write_buffer(&mut self) {
        if self.wbuf.is_empty() && self.wbuf.capacity() > 0 {
            self.wbuf = Vec::new();
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// Writes out pending frames: a started data frame first, then control frames, then the
    /// rest of the data.
    pub(super) fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let data_started =
                self.wpos < self.wbuf.len() && (self.wpos > 0 || self.wbuf_mid_frame);
            let from_ctrl = !data_started && self.cpos < self.ctrl.len();
            let pending = if from_ctrl {
                &self.ctrl[self.cpos..]
            } else if self.wpos < self.wbuf.len() {
                &self.wbuf[self.wpos..]
            } else {
                break;
            };
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if from_ctrl {
                self.cpos += n;
            } else {
                self.wpos += n;
            }
        }
        self.ctrl.clear();
        self.cpos = 0;
        self.wbuf.clear();
        self.wpos = 0;
        self.wbuf_mid_frame = false;
        Poll::Ready(Ok(()))
    }

    /// Sends one data frame's header and `payload` (already masked with `mask`, if any) to
    /// the inner stream in one vectored write, so the payload is not copied into `wbuf`
    /// first. Whatever the inner stream does not take waits in `wbuf`, ahead of anything else.
    fn poll_write_frame(
        &mut self,
        cx: &mut Context<'_>,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) -> Poll<io::Result<usize>> {
        frame::encode_header(&mut self.wbuf, true, OpCode::Binary, payload.len(), mask);
        let header = self.wbuf.len();
        let frame = [io::IoSlice::new(&self.wbuf), io::IoSlice::new(payload)];
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, &frame);
        let written = match polled {
            Poll::Ready(Ok(written)) if written > 0 => written,
            // Nothing of the frame went out: it is not ours to keep.
            _ => {
                self.wbuf.clear();
                return match polled {
                    Poll::Ready(Ok(_)) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    other => other,
                };
            }
        };
        if written < header {
            // Part of the header is out: the rest of the frame follows it from `wbuf`.
            self.wpos = written;
            self.wbuf.extend_from_slice(payload);
        } else {
            self.wbuf.clear();
            let sent = written - header;
            if sent < payload.len() {
                self.wbuf.extend_from_slice(&payload[sent..]);
                self.wbuf_mid_frame = true;
            }
        }
        Poll::Ready(Ok(payload.len()))
    }

    /// The checks every data write starts with: `Some` ends the write with that result.
    fn poll_write_ready(
        &mut self,
        cx: &mut Context<'_>,
        len: usize,
    ) -> Option<Poll<io::Result<usize>>> {
        if self.close_sent {
            let err = io::Error::new(io::ErrorKind::BrokenPipe, "websocket Close already sent");
            return Some(Poll::Ready(Err(err)));
        }
        if len == 0 {
            return Some(Poll::Ready(Ok(0)));
        }
        match self.poll_drain(cx) {
            Poll::Ready(Ok(())) => None,
            other => Some(other.map_ok(|()| 0)),
        }
    }

    /// Writes out pending frames, then flushes the inner stream.
    pub(super) fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        self.release_write_buffer();
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Shuts the inner stream down, once.
    pub(super) fn poll_shutdown_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush_all(cx))?;
        if !self.inner_shut {
            ready!(Pin::new(&mut self.io).poll_shutdown(cx))?;
            self.inner_shut = true;
        }
        Poll::Ready(Ok(()))
    }

    /// Sends pending frames (and flushes the inner stream, which may buffer) if it takes them
    /// now; never blocks reading.
    fn push_pending(&mut self, cx: &mut Context<'_>) {
        if self.cpos < self.ctrl.len() || self.wpos < self.wbuf.len() {
            // A write error shows again at the next write or flush, where it belongs.
            if let Poll::Ready(Err(_)) = self.poll_flush_all(cx) {}
        }
    }
}

/// A client masks the payload where it lies, in the splice's buffer, and sends it with one
/// vectored write: one pass over the bytes instead of a masking copy into `wbuf`.
impl<S: AsyncRead + AsyncWrite + Unpin> postern_io::SpliceWrite for WsStream<S> {
    fn poll_splice_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(done) = self.poll_write_ready(cx, buf.len()) {
            return done;
        }
        let n = buf.len().min(self.frame_payload_limit());
        if !self.io.is_write_vectored() {
            return Pin::new(self).poll_write(cx, &buf[..n]);
        }
        let mask = self.mask();
        let payload = &mut buf[..n];
        if let Some(key) = mask {
            frame::apply_mask(payload, key, 0);
        }
        let polled = self.poll_write_frame(cx, payload, mask);
        if let (Some(key), false) = (mask, matches!(polled, Poll::Ready(Ok(_)))) {
            // Not taken: the caller's bytes go back as they were, for the next try.
            frame::apply_mask(payload, key, 0);
        }
        polled
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    /// Frames up to [`MAX_SEND_MESSAGE`] bytes of `buf` as one binary message.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(done) = this.poll_write_ready(cx, buf.len()) {
            return done;
        }
        let n = buf.len().min(this.frame_payload_limit());
        if this.role == Role::Server && this.io.is_write_vectored() {
            return this.poll_write_frame(cx, &buf[..n], None);
        }
        this.queue_data(&buf[..n]);
        // The frame is ours now; push it on if the inner stream takes it, else at the next poll.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_all(cx)
    }

    /// The WebSocket half-close: sends Close (1000 "done", or the peer's code echoed) and
    /// keeps the inner stream open until the peer's Close has arrived; calling it again
    /// after that shuts the inner stream down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.queue_close_reply();
        if this.peer_close.is_some() {
            this.poll_shutdown_inner(cx)
        } else {
            this.poll_flush_all(cx)
        }
    }
}
