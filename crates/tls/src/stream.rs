//! [`TlsStream`]: a TLS 1.3 connection after its handshake, as a byte stream over any
//! `AsyncRead + AsyncWrite` transport (a `TcpStream` in postern; scripted streams in tests).
//!
//! rustls' unbuffered API seals and opens the records, in buffers this stream lends it:
//! transport bytes land in a pooled 64 KiB buffer and rustls decrypts them where they lie;
//! records are sealed into a pooled 64 KiB buffer, sent when it is full or at a flush (like a
//! `BufWriter`: callers flush when they have nothing more to write for now). Both buffers go
//! back to the pool whenever they are empty, so an idle connection holds neither.
//!
//! Everything the peer may or may not send after the handshake (KeyUpdates and their limits,
//! tickets, alerts, record sizes) is rustls' to judge. When it refuses something, the alert
//! it queued goes out before the connection is given up, and the refusal is logged.
//!
//! Why rustls and not our own record layer: measured in one `cargo bench --bench dataplane`
//! run against a record layer of ours on the same buffers (commit eca0ba5), rustls moved a
//! single stream 13-20% faster at 4% less CPU per GB, 8 streams 6% slower, and held
//! 1.4 KiB more per idle connection.

use std::fmt;
use std::io::{self, IoSlice};
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use postern_io::PoolBuf;
use rustls::client::UnbufferedClientConnection;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tracing::warn;

use crate::handshake::Unbuffered;
use crate::record::{MAX_PLAINTEXT, MAX_RECORD, OVERHEAD};

/// Records handed out per unit of the task's cooperative budget. tokio's socket reads cost a
/// unit each and a full 64 KiB read holds 4 records; a flood of tiny records would otherwise
/// hold a connection thread from its other connections for as long as the peer keeps sending.
const RECORDS_PER_BUDGET_UNIT: u32 = 16;

/// Room the send buffer keeps for one more record (plaintext plus rustls' additions: a
/// KeyUpdate may go in front of it).
const RECORD_ROOM: usize = MAX_PLAINTEXT + 4 * OVERHEAD;

/// Bytes read from the transport and not used yet, `buffer[unread]`, in a pooled buffer lent
/// only while bytes are waiting.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    pub(crate) buffer: Option<PoolBuf>,
    pub(crate) unread: Range<usize>,
}

impl Inbound {
    /// Bytes the handshake read beyond its last record: the start of the stream's input.
    pub(crate) fn starting_with(ahead: &[u8]) -> Self {
        if ahead.is_empty() {
            return Inbound::default();
        }
        let mut buffer = PoolBuf::take();
        buffer.slice_mut(0..ahead.len()).copy_from_slice(ahead);
        Inbound {
            buffer: Some(buffer),
            unread: 0..ahead.len(),
        }
    }

    fn unread_mut(&mut self) -> &mut [u8] {
        match self.buffer.as_mut() {
            Some(buffer) => buffer.slice_mut(self.unread.clone()),
            None => &mut [],
        }
    }

    /// Reads more from `io` behind the unread bytes, first moving them to the front when
    /// less than a whole record's room is left behind them. With nothing unread after the
    /// read (idle, EOF or an error), the buffer goes back to the pool.
    fn poll_fill<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut R,
    ) -> Poll<io::Result<usize>> {
        let buffer = self.buffer.get_or_insert_with(PoolBuf::take);
        if self.unread.is_empty() {
            self.unread = 0..0;
        } else if buffer.len() - self.unread.end < MAX_RECORD {
            let len = self.unread.len();
            buffer
                .slice_mut(0..self.unread.end)
                .copy_within(self.unread.clone(), 0);
            self.unread = 0..len;
        }
        let (n, polled) = buffer.write_at(self.unread.end, |spare| {
            let mut dst = ReadBuf::new(spare);
            let polled = Pin::new(io).poll_read(cx, &mut dst);
            let n = dst.filled().len();
            (n, (n, polled))
        });
        self.unread.end += n;
        if self.unread.is_empty() {
            self.buffer = None;
        }
        polled.map_ok(|()| n)
    }
}

/// rustls' side of the connection, past its handshake.
pub(crate) enum Conn {
    Client(UnbufferedClientConnection),
    Server(UnbufferedServerConnection),
}

/// What one call into rustls is for.
enum Mode<'a, 'b> {
    Read(&'a mut ReadBuf<'b>),
    Write(&'a [IoSlice<'a>]),
    Close,
}

enum Outcome {
    /// Plaintext went to the caller, or the peer's close_notify came.
    Read,
    /// rustls wants more bytes from the peer.
    NeedBytes,
    /// Plaintext bytes sealed (0 for close_notify).
    Wrote(usize),
}

/// Everything but rustls' connection, so that can be borrowed on its own.
#[derive(Default)]
struct Parts {
    inbound: Inbound,
    /// Plaintext rustls handed out that the caller had no room for yet.
    pending: Vec<u8>,
    pending_at: usize,
    outbuf: Option<PoolBuf>,
    /// Sealed records in `outbuf` not yet sent.
    out: Range<usize>,
    /// A record's plaintext gathered from several slices: rustls seals one slice at a time.
    staging: Vec<u8>,
    peer_closed: bool,
    close_queued: bool,
    /// rustls refused the peer (or the peer sent a fatal alert): why, for every later call.
    failed: Option<String>,
    /// Records handed out since a unit of the task's budget was last spent.
    records: u32,
}

fn failed(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

/// The slice holding byte `at` of `bufs`, and `at`'s offset in it.
fn locate<'a>(bufs: &'a [IoSlice<'a>], mut at: usize) -> (&'a [u8], usize) {
    for buf in bufs {
        if at < buf.len() {
            return (buf, at);
        }
        at -= buf.len();
    }
    (&[], 0)
}

/// Appends `want` bytes of `bufs`, from byte `at` on, to `into`.
fn gather(bufs: &[IoSlice<'_>], mut at: usize, mut want: usize, into: &mut Vec<u8>) {
    for buf in bufs {
        if at >= buf.len() {
            at -= buf.len();
            continue;
        }
        let n = (buf.len() - at).min(want);
        into.extend_from_slice(&buf[at..at + n]);
        want -= n;
        at = 0;
        if want == 0 {
            return;
        }
    }
}

/// Lets `seal` write records behind the unsent ones in `outbuf`; it returns how many bytes.
fn seal_into<E>(
    outbuf: &mut Option<PoolBuf>,
    out: &mut Range<usize>,
    seal: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<usize, E> {
    let buffer = outbuf.get_or_insert_with(PoolBuf::take);
    let sealed = buffer.write_at(out.end, |tail| {
        let sealed = seal(tail);
        (*sealed.as_ref().unwrap_or(&0), sealed)
    });
    if let Ok(n) = sealed {
        out.end += n;
    }
    sealed
}

impl Parts {
    fn room(&self) -> usize {
        let cap = self
            .outbuf
            .as_deref()
            .map_or(postern_io::BUFFER_SIZE, <[u8]>::len);
        cap - self.out.end
    }

    /// Runs rustls over the unread bytes until `mode` is served or more bytes are needed.
    /// rustls processes what has arrived on every call, so a KeyUpdate it must answer is
    /// queued (into `outbuf`) even by a write.
    fn pump<C: Unbuffered>(&mut self, conn: &mut C, mut mode: Mode<'_, '_>) -> io::Result<Outcome> {
        if let Some(why) = &self.failed {
            return Err(failed(why));
        }
        loop {
            let status = conn.process(self.inbound.unread_mut());
            let mut discard = status.discard;
            let state = match status.state {
                Ok(state) => state,
                Err(error) => {
                    self.inbound.unread.start += discard;
                    return Err(self.refuse(conn, error));
                }
            };
            let outcome = match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    let mut gave = false;
                    while let Some(record) = traffic.next_record() {
                        let record =
                            record.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        discard += record.discard;
                        self.records += 1;
                        let mut taken = 0;
                        if let Mode::Read(buf) = &mut mode {
                            taken = buf.remaining().min(record.payload.len());
                            buf.put_slice(&record.payload[..taken]);
                            gave |= taken > 0;
                        }
                        self.pending.extend_from_slice(&record.payload[taken..]);
                    }
                    gave.then_some(Outcome::Read)
                }
                ConnectionState::EncodeTlsData(mut data) => {
                    match seal_into(&mut self.outbuf, &mut self.out, |tail| data.encode(tail)) {
                        Ok(_) => {}
                        Err(EncodeError::InsufficientSize(need)) => {
                            let what =
                                format!("no room for {} bytes of TLS output", need.required_size);
                            return Err(io::Error::other(what));
                        }
                        Err(e) => return Err(io::Error::other(e.to_string())),
                    }
                    None
                }
                // The bytes are in `outbuf` and go out with the next send.
                ConnectionState::TransmitTlsData(data) => {
                    data.done();
                    None
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    self.peer_closed = true;
                    matches!(mode, Mode::Read(_)).then_some(Outcome::Read)
                }
                ConnectionState::WriteTraffic(mut traffic) => Some(match &mode {
                    Mode::Read(_) => Outcome::NeedBytes,
                    Mode::Close => {
                        seal_into(&mut self.outbuf, &mut self.out, |tail| {
                            traffic.queue_close_notify(tail)
                        })
                        .map_err(|e| io::Error::other(e.to_string()))?;
                        Outcome::Wrote(0)
                    }
                    Mode::Write(bufs) => {
                        let total: usize = bufs.iter().map(|b| b.len()).sum();
                        let mut taken = 0;
                        while taken < total && self.room() >= RECORD_ROOM {
                            let want = MAX_PLAINTEXT.min(total - taken);
                            let (slice, at) = locate(bufs, taken);
                            let plain: &[u8] = if slice.len() - at >= want {
                                &slice[at..at + want]
                            } else {
                                self.staging.clear();
                                gather(bufs, taken, want, &mut self.staging);
                                &self.staging
                            };
                            match seal_into(&mut self.outbuf, &mut self.out, |tail| {
                                traffic.encrypt(plain, tail)
                            }) {
                                Ok(_) => {}
                                Err(EncryptError::InsufficientSize(_)) => break,
                                Err(e) => return Err(io::Error::other(e.to_string())),
                            }
                            taken += want;
                        }
                        if self.staging.capacity() > 0 {
                            self.staging = Vec::new();
                        }
                        Outcome::Wrote(taken)
                    }
                }),
                _ => Some(Outcome::NeedBytes),
            };
            self.inbound.unread.start += discard;
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
    }

    /// rustls refused the connection: the alert it queued (if any) goes into `outbuf`, a log
    /// line says why, and every later call fails the same way.
    fn refuse<C: Unbuffered>(&mut self, conn: &mut C, error: rustls::Error) -> io::Error {
        let peer_alert = matches!(error, rustls::Error::AlertReceived(_));
        // One more call hands out the alert rustls queued. Only one: a second would make it
        // process the offending record again (and panic on a second fatal alert). It gets
        // the same unread bytes: it may hold a position inside them, and would panic on an
        // empty slice.
        let mut alert = false;
        if let Ok(ConnectionState::EncodeTlsData(mut data)) =
            conn.process(self.inbound.unread_mut()).state
        {
            alert = seal_into(&mut self.outbuf, &mut self.out, |tail| data.encode(tail)).is_ok();
        }
        if peer_alert {
            tracing::debug!(%error, "the TLS peer ended the connection with an alert");
        } else {
            warn!(%error, alert_sent = alert, "TLS peer broke the protocol; closing the connection");
        }
        let why = format!("TLS: {error}");
        self.failed = Some(why.clone());
        io::Error::new(io::ErrorKind::InvalidData, why)
    }
}

/// A TLS 1.3 connection with its handshake done: see the module docs.
pub struct TlsStream<IO = TcpStream> {
    io: IO,
    conn: Conn,
    parts: Parts,
}

impl<IO> fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("server", &matches!(self.conn, Conn::Server(_)))
            .field("peer_closed", &self.parts.peer_closed)
            .field("failed", &self.parts.failed)
            .field("unsent", &self.parts.out.len())
            .finish_non_exhaustive()
    }
}

/// Runs [`Parts::pump`] on whichever side the connection is.
macro_rules! pump {
    ($this:expr, $mode:expr) => {
        match &mut $this.conn {
            Conn::Client(conn) => $this.parts.pump(conn, $mode),
            Conn::Server(conn) => $this.parts.pump(conn, $mode),
        }
    };
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// The connection as the handshake leaves it: `ahead` holds the bytes read past the
    /// handshake's last record.
    pub(crate) fn new(io: IO, conn: Conn, ahead: &[u8]) -> Self {
        TlsStream {
            io,
            conn,
            parts: Parts {
                inbound: Inbound::starting_with(ahead),
                ..Parts::default()
            },
        }
    }

    /// The transport, e.g. to make its close a reset.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// Sends the sealed records.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let parts = &mut self.parts;
        while !parts.out.is_empty() {
            let Some(buffer) = parts.outbuf.as_deref() else {
                break;
            };
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &buffer[parts.out.clone()]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            parts.out.start += n;
        }
        parts.out = 0..0;
        parts.outbuf = None;
        Poll::Ready(Ok(()))
    }

    /// After a refusal: the alert goes out if the transport takes it now, and the error is
    /// the caller's.
    fn refused(&mut self, cx: &mut Context<'_>, error: io::Error) -> io::Error {
        // Best effort: a peer that does not read gets no alert.
        let _sent = self.poll_send(cx);
        error
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            let parts = &mut this.parts;
            if parts.pending_at < parts.pending.len() {
                let n = buf.remaining().min(parts.pending.len() - parts.pending_at);
                buf.put_slice(&parts.pending[parts.pending_at..parts.pending_at + n]);
                parts.pending_at += n;
                if parts.pending_at == parts.pending.len() {
                    parts.pending = Vec::new();
                    parts.pending_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if parts.peer_closed {
                return Poll::Ready(Ok(()));
            }
            if parts.records >= RECORDS_PER_BUDGET_UNIT {
                ready!(tokio::task::coop::poll_proceed(cx)).made_progress();
                parts.records = 0;
            }
            match pump!(this, Mode::Read(buf)) {
                // A KeyUpdate rustls queued in reply goes out with our next write or flush.
                Ok(Outcome::Read) => return Poll::Ready(Ok(())),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(this.refused(cx, e))),
            }
            let pending = this.parts.inbound.unread.len();
            if ready!(this.parts.inbound.poll_fill(cx, &mut this.io))? == 0 {
                if pending > 0 {
                    let what = "connection closed in the middle of a TLS record";
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::UnexpectedEof, what)));
                }
                // EOF without close_notify: the WebSocket above tells a clean end (its
                // Close frame) from a cut one.
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// Seals as much of `bufs` as fits in the send buffer, then sends what the transport takes.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.parts.close_queued {
            let err = io::Error::new(io::ErrorKind::BrokenPipe, "TLS close_notify already sent");
            return Poll::Ready(Err(err));
        }
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        if this.parts.room() < RECORD_ROOM {
            ready!(this.poll_send(cx))?;
        }
        let taken = match pump!(this, Mode::Write(bufs)) {
            Ok(Outcome::Wrote(n)) => n,
            Ok(_) => 0,
            Err(e) => return Poll::Ready(Err(this.refused(cx, e))),
        };
        // The records are ours now. They go out once the buffer cannot take another full
        // record, or at the next flush: 64 KiB per send instead of one send per frame.
        if this.parts.room() < RECORD_ROOM {
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Sends close_notify (unless the connection failed), then shuts the transport's write
    /// side.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.parts.close_queued && this.parts.failed.is_none() {
            if this.parts.room() < RECORD_ROOM {
                ready!(this.poll_send(cx))?;
            }
            pump!(this, Mode::Close)?;
            this.parts.close_queued = true;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
