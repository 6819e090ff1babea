//! MEASUREMENT ONLY (feature `rustls-data-path`): the data path on rustls' unbuffered API
//! instead of postern's record layer, built to compare the two in `cargo bench --bench
//! dataplane` as issue 9 asks. Same buffers and batching as `stream.rs`: a pooled 64 KiB
//! inbound buffer rustls decrypts in, a pooled 64 KiB outbound buffer sent when full or at a
//! flush. What differs is rustls': each record's plaintext is copied into a fresh `Vec`
//! (`ReadTraffic`), and `WriteTraffic::encrypt` takes one slice, so gathered writes are
//! staged first.

use std::fmt;
use std::io::{self, IoSlice};
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use postern_proto::io::PoolBuf;
use rustls::client::UnbufferedClientConnection;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::handshake::Unbuffered;
use crate::record::{MAX_PLAINTEXT, OVERHEAD};
use crate::stream::Inbound;

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
    /// Plaintext went to the caller.
    Data,
    /// rustls wants more bytes from the peer.
    NeedBytes,
    /// Written (or close_notify queued): how many plaintext bytes were taken.
    Wrote(usize),
}

/// Everything but the connection, so the connection can be borrowed on its own.
struct Parts {
    inbound: Inbound,
    pending: Vec<u8>,
    pending_at: usize,
    outbuf: Option<PoolBuf>,
    out: Range<usize>,
    staging: Vec<u8>,
    peer_closed: bool,
    close_queued: bool,
}

fn tls_error(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Parts {
    fn room(&self) -> usize {
        let cap = self
            .outbuf
            .as_deref()
            .map_or(postern_proto::io::BUFFER_SIZE, <[u8]>::len);
        cap - self.out.end
    }

    fn out_tail(&mut self) -> &mut [u8] {
        let buffer = self.outbuf.get_or_insert_with(PoolBuf::take);
        &mut buffer[self.out.end..]
    }

    /// Runs rustls over the unread bytes until `mode` is served or more bytes are needed.
    fn pump<C: Unbuffered>(&mut self, conn: &mut C, mut mode: Mode<'_, '_>) -> io::Result<Outcome> {
        loop {
            let unread = self.inbound.unread.clone();
            let incoming: &mut [u8] = match self.inbound.buffer.as_deref_mut() {
                Some(buffer) => &mut buffer[unread],
                None => &mut [],
            };
            let status = conn.process(incoming);
            let mut discard = status.discard;
            let outcome = match status.state.map_err(tls_error)? {
                ConnectionState::ReadTraffic(mut traffic) => {
                    let mut gave = false;
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(tls_error)?;
                        discard += record.discard;
                        let payload = record.payload;
                        let mut taken = 0;
                        if let Mode::Read(buf) = &mut mode {
                            taken = buf.remaining().min(payload.len());
                            buf.put_slice(&payload[..taken]);
                            gave |= taken > 0;
                        }
                        self.pending.extend_from_slice(&payload[taken..]);
                    }
                    gave.then_some(Outcome::Data)
                }
                ConnectionState::EncodeTlsData(mut data) => {
                    let tail = self.out_tail();
                    match data.encode(tail) {
                        Ok(n) => self.out.end += n,
                        Err(EncodeError::InsufficientSize(_)) => {
                            return Err(io::Error::other("send buffer full"))
                        }
                        Err(e) => return Err(io::Error::other(e.to_string())),
                    }
                    None
                }
                ConnectionState::TransmitTlsData(data) => {
                    // The bytes are in `outbuf`; they go out with the next send.
                    data.done();
                    None
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    self.peer_closed = true;
                    match mode {
                        Mode::Read(_) => Some(Outcome::Data),
                        _ => None,
                    }
                }
                ConnectionState::WriteTraffic(mut traffic) => Some(match &mode {
                    Mode::Read(_) => Outcome::NeedBytes,
                    Mode::Close => {
                        let tail = self.out_tail();
                        let n = traffic
                            .queue_close_notify(tail)
                            .map_err(|e| io::Error::other(e.to_string()))?;
                        self.out.end += n;
                        Outcome::Wrote(0)
                    }
                    Mode::Write(bufs) => {
                        let mut taken = 0;
                        let total: usize = bufs.iter().map(|b| b.len()).sum();
                        while taken < total && self.room() >= MAX_PLAINTEXT.min(total - taken) + 2 * OVERHEAD + 8 {
                            let want = MAX_PLAINTEXT.min(total - taken);
                            // One slice per encrypt: gather a record's worth when it spans slices.
                            let (first, skip) = locate(bufs, taken);
                            let plain: &[u8] = if first.len() - skip >= want {
                                &first[skip..skip + want]
                            } else {
                                self.staging.clear();
                                gather(bufs, taken, want, &mut self.staging);
                                &self.staging
                            };
                            let buffer = self.outbuf.get_or_insert_with(PoolBuf::take);
                            match traffic.encrypt(plain, &mut buffer[self.out.end..]) {
                                Ok(n) => self.out.end += n,
                                Err(EncryptError::InsufficientSize(_)) => break,
                                Err(e) => return Err(io::Error::other(e.to_string())),
                            }
                            taken += want;
                        }
                        Outcome::Wrote(taken)
                    }
                }),
                _ => return Err(io::Error::other("unexpected TLS state after the handshake")),
            };
            self.inbound.unread.start += discard;
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
    }
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

/// A TLS 1.3 connection whose records rustls seals and opens.
pub struct TlsStream<IO = TcpStream> {
    io: IO,
    conn: Conn,
    parts: Parts,
}

impl<IO> fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream").finish_non_exhaustive()
    }
}

macro_rules! pump {
    ($this:expr, $mode:expr) => {
        match &mut $this.conn {
            Conn::Client(conn) => $this.parts.pump(conn, $mode),
            Conn::Server(conn) => $this.parts.pump(conn, $mode),
        }
    };
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    pub(crate) fn new(io: IO, conn: Conn, ahead: &[u8]) -> Self {
        TlsStream {
            io,
            conn,
            parts: Parts {
                inbound: Inbound::starting_with(ahead),
                pending: Vec::new(),
                pending_at: 0,
                outbuf: None,
                out: 0..0,
                staging: Vec::new(),
                peer_closed: false,
                close_queued: false,
            },
        }
    }

    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.parts.out.is_empty() {
            let Some(buffer) = self.parts.outbuf.as_deref() else {
                break;
            };
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &buffer[self.parts.out.clone()]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.parts.out.start += n;
        }
        self.parts.out = 0..0;
        self.parts.outbuf = None;
        Poll::Ready(Ok(()))
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
            let before = buf.filled().len();
            match pump!(this, Mode::Read(buf))? {
                Outcome::Data if buf.filled().len() > before || this.parts.peer_closed => {
                    // A KeyUpdate reply rustls queued goes out with our next write or flush.
                    return Poll::Ready(Ok(()));
                }
                _ => {}
            }
            let pending = this.parts.inbound.unread.len();
            if ready!(this.parts.inbound.poll_fill(cx, &mut this.io))? == 0 {
                if pending > 0 {
                    let what = "connection closed in the middle of a TLS record";
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::UnexpectedEof, what)));
                }
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if this.parts.room() < MAX_PLAINTEXT + 4 * OVERHEAD {
            ready!(this.poll_send(cx))?;
        }
        let taken = match pump!(this, Mode::Write(bufs))? {
            Outcome::Wrote(n) => n,
            _ => 0,
        };
        if this.parts.room() < MAX_PLAINTEXT + 4 * OVERHEAD {
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
        }
        if taken == 0 {
            ready!(this.poll_send(cx))?;
            return Poll::Ready(Err(io::Error::other("rustls took no plaintext")));
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A KeyUpdate reply may be waiting inside rustls: let it out.
        if self.parts.room() >= 4 * OVERHEAD {
            let this = &mut *self;
            pump!(this, Mode::Write(&[]))?;
        }
        ready!(self.poll_send(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx))?;
        let this = &mut *self;
        if !this.parts.close_queued {
            pump!(this, Mode::Close)?;
            this.parts.close_queued = true;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
