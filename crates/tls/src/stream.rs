//! [`TlsStream`]: a TLS 1.3 connection after its handshake, as a byte stream over any
//! `AsyncRead + AsyncWrite` transport (a `TcpStream` in postern; scripted streams in tests).
//!
//! Reading (`stream/read.rs`): transport bytes land in a pooled 64 KiB buffer; each record is
//! decrypted where it lies and its plaintext handed out from there (one copy, into the
//! caller's buffer). Everything RFC 8446 forbids after a handshake is refused with a fatal
//! alert and a log line, and the peer's KeyUpdates, empty records and warning alerts are
//! limited as rustls and BoringSSL limit them.
//!
//! Writing: plaintext, gathered from the caller's slices, is sealed into records in a pooled
//! buffer, sent when the buffer is full or at a flush (like a `BufWriter`: callers flush when
//! they have nothing more to write for now). Both buffers go back to the pool whenever they
//! are empty, so an idle connection holds neither.

mod read;

use std::fmt;
use std::io::{self, IoSlice};
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use postern_proto::io::PoolBuf;
use rustls::AlertDescription;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::keys::Keys;
use crate::record::{self, RecordError, MAX_RECORD};

/// Bytes read from the transport and not used yet, `buffer[unread]`, in a pooled buffer lent
/// only while bytes are waiting.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    pub(crate) buffer: Option<PoolBuf>,
    pub(crate) unread: Range<usize>,
}

impl Inbound {
    /// Bytes the handshake read beyond its last record: the start of the record layer's input.
    pub(crate) fn starting_with(ahead: &[u8]) -> Self {
        if ahead.is_empty() {
            return Inbound::default();
        }
        let mut buffer = PoolBuf::take();
        buffer[..ahead.len()].copy_from_slice(ahead);
        Inbound {
            buffer: Some(buffer),
            unread: 0..ahead.len(),
        }
    }

    pub(crate) fn unread(&self) -> &[u8] {
        self.buffer
            .as_deref()
            .map_or(&[][..], |b| &b[self.unread.clone()])
    }

    /// Reads more from `io` behind the unread bytes, first moving them to the front when
    /// less than a whole record's room is left behind them. With nothing unread after the
    /// read (idle, EOF or an error), the buffer goes back to the pool.
    ///
    /// The record layer keeps decrypted plaintext in front of `unread`: it calls this only
    /// once that plaintext is all handed out.
    pub(crate) fn poll_fill<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut R,
    ) -> Poll<io::Result<usize>> {
        let buffer = self.buffer.get_or_insert_with(PoolBuf::take);
        if self.unread.is_empty() {
            self.unread = 0..0;
        } else if buffer.len() - self.unread.end < MAX_RECORD {
            buffer.copy_within(self.unread.clone(), 0);
            self.unread = 0..self.unread.len();
        }
        let mut dst = ReadBuf::new(&mut buffer[self.unread.end..]);
        let polled = Pin::new(io).poll_read(cx, &mut dst);
        let n = dst.filled().len();
        self.unread.end += n;
        if self.unread.is_empty() {
            self.buffer = None;
        }
        polled.map_ok(|()| n)
    }
}

#[derive(Debug)]
enum ReadSide {
    Open,
    /// close_notify arrived: every read is EOF.
    Closed,
    /// The peer broke the protocol or sent a fatal alert; the message says which.
    Failed(io::ErrorKind, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteSide {
    Open,
    /// Our close_notify is sealed: nothing more may follow it.
    Closed,
    /// A fatal alert was sent or received: nothing more may be sent (RFC 8446 section 6.2).
    Failed,
}

/// A TLS 1.3 connection with its handshake done: see the module docs.
pub struct TlsStream<IO = TcpStream> {
    io: IO,
    keys: Keys,
    /// Received bytes not yet decrypted (whole records and the start of one) are its
    /// `unread`; decrypted records stay in front of them in the same buffer.
    inbound: Inbound,
    /// Decrypted application data in `inbound`'s buffer not yet handed out.
    plain: Range<usize>,
    /// A post-handshake message that spans records, as far as it has arrived.
    handshake: Vec<u8>,
    read: ReadSide,
    limits: read::PeerLimits,
    outbuf: Option<PoolBuf>,
    /// Sealed records in `outbuf` not yet sent.
    out: Range<usize>,
    /// The peer asked for a KeyUpdate: ours goes out before our next record.
    key_update_owed: bool,
    write: WriteSide,
}

impl<IO> fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("keys", &self.keys)
            .field("read", &self.read)
            .field("write", &self.write)
            .field("unread", &(self.plain.len() + self.inbound.unread.len()))
            .field("unsent", &self.out.len())
            .finish_non_exhaustive()
    }
}

fn io_error(kind: io::ErrorKind, err: RecordError) -> io::Error {
    io::Error::new(kind, err)
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// The connection as the handshake leaves it: `ahead` holds the bytes read past the
    /// handshake's last record.
    pub(crate) fn new(io: IO, keys: Keys, ahead: &[u8]) -> Self {
        TlsStream {
            io,
            keys,
            inbound: Inbound::starting_with(ahead),
            plain: 0..0,
            handshake: Vec::new(),
            read: ReadSide::Open,
            limits: read::PeerLimits::default(),
            outbuf: None,
            out: 0..0,
            key_update_owed: false,
            write: WriteSide::Open,
        }
    }

    /// Seals `parts` (at most one record's worth) as one record of `kind` behind the unsent
    /// ones. The caller has made room.
    fn seal(&mut self, kind: u8, parts: &[&[u8]]) -> Result<(), RecordError> {
        let buffer = self.outbuf.get_or_insert_with(PoolBuf::take);
        let n = self
            .keys
            .tx
            .seal(kind, parts, &mut buffer[self.out.end..])?;
        self.out.end += n;
        Ok(())
    }

    /// Room left in `outbuf` for one more record's plaintext.
    fn room(&self) -> usize {
        let cap = self
            .outbuf
            .as_deref()
            .map_or(postern_proto::io::BUFFER_SIZE, <[u8]>::len);
        (cap - self.out.end).saturating_sub(record::OVERHEAD)
    }

    /// Our KeyUpdate, when the peer asked for one or our key has protected all it may (the
    /// caller has made room). It goes under the old key, in the record `needs_update` keeps.
    fn update_key_if_due(&mut self) -> Result<(), RecordError> {
        if self.key_update_owed || self.keys.tx.needs_update() {
            self.seal(record::HANDSHAKE, &[&record::key_update_message(false)])?;
            self.keys.update_tx()?;
            self.key_update_owed = false;
        }
        Ok(())
    }

    /// Seals a fatal alert and tries to send it without waiting; from now on nothing else is
    /// sent. Whatever the transport does not take now goes at the next flush or shutdown.
    fn send_fatal_alert(&mut self, cx: &mut Context<'_>, alert: AlertDescription) {
        if self.write != WriteSide::Open {
            return;
        }
        self.write = WriteSide::Failed;
        if self.room() < 2 && self.poll_send(cx).is_pending() {
            return;
        }
        if self.seal(record::ALERT, &[&[2, u8::from(alert)]]).is_ok() {
            // Best effort: a peer that does not read gets no alert.
            let _sent = self.poll_send(cx);
        }
    }

    /// Sends the sealed records.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let Some(buffer) = self.outbuf.as_deref() else {
                break;
            };
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &buffer[self.out.clone()]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.start += n;
        }
        self.out = 0..0;
        self.outbuf = None;
        Poll::Ready(Ok(()))
    }

    fn write_refused(&self) -> Option<io::Error> {
        match self.write {
            WriteSide::Open => None,
            WriteSide::Closed => Some(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "TLS close_notify already sent",
            )),
            WriteSide::Failed => Some(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "TLS connection ended with a fatal alert",
            )),
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
        if let Some(refused) = this.write_refused() {
            return Poll::Ready(Err(refused));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if this.room() < record::MAX_PLAINTEXT {
            ready!(this.poll_send(cx))?;
        }
        let sealing = |e| io_error(io::ErrorKind::Other, e);
        this.update_key_if_due().map_err(sealing)?;
        let mut taken = 0;
        let (mut slice, mut offset) = (0, 0);
        while taken < total && this.room() > 0 && !this.keys.tx.needs_update() {
            let want = this.room().min(record::MAX_PLAINTEXT).min(total - taken);
            // Gather `want` bytes from the slices; a record takes parts of at most 4.
            let mut parts: [&[u8]; 4] = [&[]; 4];
            let (mut got, mut count) = (0, 0);
            while got < want && count < parts.len() {
                let rest = &bufs[slice][offset..];
                let part = &rest[..rest.len().min(want - got)];
                parts[count] = part;
                count += 1;
                got += part.len();
                offset += part.len();
                if offset == bufs[slice].len() {
                    slice += 1;
                    offset = 0;
                }
            }
            this.seal(record::APPLICATION_DATA, &parts[..count])
                .map_err(sealing)?;
            taken += got;
        }
        // The records are ours now. They go out once the buffer cannot take another full
        // record, or at the next flush: 64 KiB per send instead of one send per frame.
        if this.room() < record::MAX_PLAINTEXT {
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

    /// Sends close_notify (unless a fatal alert ended the connection), then shuts the
    /// transport's write side.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.write == WriteSide::Open {
            if this.room() < 2 * record::OVERHEAD {
                ready!(this.poll_send(cx))?;
            }
            let sealing = |e| io_error(io::ErrorKind::Other, e);
            this.update_key_if_due().map_err(sealing)?;
            this.seal(
                record::ALERT,
                &[&[1, u8::from(AlertDescription::CloseNotify)]],
            )
            .map_err(sealing)?;
            this.write = WriteSide::Closed;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
