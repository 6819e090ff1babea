//! [`TlsStream`]: a TLS 1.3 connection after its handshake, as a byte stream over TCP.
//!
//! Reading: socket bytes land in a pooled 64 KiB buffer; each record is decrypted where it
//! lies and its plaintext handed out from there (one copy, into the caller's buffer; rustls'
//! own stream made three). Writing: plaintext, gathered from the caller's slices, is sealed
//! into records in a pooled buffer, sent when the buffer is full or at a flush (like a
//! `BufWriter`: callers flush when they have nothing more to write for now). Both buffers
//! go back to the pool whenever they are empty, so an idle connection holds neither.
//!
//! After the handshake only these may arrive: application data, alerts (close_notify is
//! the end of the stream), NewSessionTickets (ignored: resumption is off) and KeyUpdates
//! (followed, and answered when the peer asks).

use std::fmt;
use std::io::{self, IoSlice};
use std::ops::Range;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use postern_proto::io::PoolBuf;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::record::{self, RecordError, RecordKey, MAX_RECORD};

/// Post-handshake messages longer than this are refused (a ticket is a few hundred bytes).
const MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;
const CLOSE_NOTIFY: u8 = 0;
const USER_CANCELED: u8 = 90;

/// Bytes read from the socket and not used yet, `buffer[unread]`, in a pooled buffer lent
/// only while bytes are waiting. The handshake's reader and the record layer share this, so
/// where the one stops the other goes on.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    pub(crate) buffer: Option<PoolBuf>,
    pub(crate) unread: Range<usize>,
}

impl Inbound {
    pub(crate) fn unread(&self) -> &[u8] {
        self.buffer
            .as_deref()
            .map_or(&[][..], |b| &b[self.unread.clone()])
    }

    /// Reads more from `tcp` behind the unread bytes, first moving them to the front when
    /// less than a whole record's room is left behind them. With nothing unread after the
    /// read (idle, EOF or an error), the buffer goes back to the pool.
    ///
    /// The record layer keeps decrypted plaintext in front of `unread`: it calls this only
    /// once that plaintext is all handed out.
    pub(crate) fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        tcp: &mut TcpStream,
    ) -> Poll<io::Result<usize>> {
        let buffer = self.buffer.get_or_insert_with(PoolBuf::take);
        if self.unread.is_empty() {
            self.unread = 0..0;
        } else if buffer.len() - self.unread.end < MAX_RECORD {
            buffer.copy_within(self.unread.clone(), 0);
            self.unread = 0..self.unread.len();
        }
        let mut dst = ReadBuf::new(&mut buffer[self.unread.end..]);
        let polled = Pin::new(tcp).poll_read(cx, &mut dst);
        let n = dst.filled().len();
        self.unread.end += n;
        if self.unread.is_empty() {
            self.buffer = None;
        }
        polled.map_ok(|()| n)
    }
}

/// What the handshake left behind for the record layer.
pub(crate) struct Received {
    /// Plaintext rustls had already decrypted.
    pub(crate) plaintext: Vec<u8>,
    /// The peer's close_notify came during the hand-over.
    pub(crate) peer_closed: bool,
    /// Records read from the socket but not given to rustls.
    pub(crate) ahead: Inbound,
}

#[derive(Debug)]
enum ReadSide {
    Open,
    /// close_notify arrived: every read is EOF.
    Closed,
    /// A record could not be read; the message says why.
    Failed(String),
}

/// A TLS 1.3 connection with its handshake done: see the module docs.
pub struct TlsStream {
    tcp: TcpStream,
    tx: RecordKey,
    rx: RecordKey,
    /// Plaintext from the hand-over, served before anything else.
    prefix: Vec<u8>,
    prefix_pos: usize,
    /// Received bytes not yet decrypted (whole records and the start of one) are its
    /// `unread`; decrypted records stay in front of them in the same buffer.
    inbound: Inbound,
    /// Decrypted application data in `inbound`'s buffer not yet handed out.
    plain: Range<usize>,
    /// A post-handshake message that spans records, as far as it has arrived.
    handshake: Vec<u8>,
    read: ReadSide,
    outbuf: Option<PoolBuf>,
    /// Sealed records in `outbuf` not yet sent.
    out: Range<usize>,
    /// The peer asked for a KeyUpdate: ours goes out before our next record.
    key_update_owed: bool,
    close_sent: bool,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("read", &self.read)
            .field("unread", &(self.plain.len() + self.inbound.unread.len()))
            .field("unsent", &self.out.len())
            .field("close_sent", &self.close_sent)
            .finish_non_exhaustive()
    }
}

/// What an alert means for the read side: `Ok(true)` for close_notify (the end), `Ok(false)`
/// for a warning to ignore, an error naming the alert otherwise.
fn alert(alert: &[u8]) -> io::Result<bool> {
    match alert {
        [_, CLOSE_NOTIFY] => Ok(true),
        [_, USER_CANCELED] => Ok(false),
        [_, description] => {
            let name = rustls::AlertDescription::from(*description);
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("the peer sent TLS alert {name:?}"),
            ))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "malformed TLS alert from the peer",
        )),
    }
}

fn invalid(err: RecordError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

impl TlsStream {
    pub(crate) fn new(
        tcp: TcpStream,
        tx: RecordKey,
        rx: RecordKey,
        received: Received,
        unsent: Vec<u8>,
    ) -> Self {
        let mut stream = TlsStream {
            tcp,
            tx,
            rx,
            prefix: received.plaintext,
            prefix_pos: 0,
            inbound: received.ahead,
            plain: 0..0,
            handshake: Vec::new(),
            read: if received.peer_closed {
                ReadSide::Closed
            } else {
                ReadSide::Open
            },
            outbuf: None,
            out: 0..0,
            key_update_owed: false,
            close_sent: false,
        };
        if !unsent.is_empty() {
            let mut buffer = PoolBuf::take();
            buffer[..unsent.len()].copy_from_slice(&unsent);
            stream.outbuf = Some(buffer);
            stream.out = 0..unsent.len();
        }
        stream
    }

    /// Decrypts the next whole received record, if there is one. `Ok(false)`: more bytes are
    /// needed.
    fn open_next(&mut self) -> io::Result<bool> {
        let Some(buffer) = self.inbound.buffer.as_deref_mut() else {
            return Ok(false);
        };
        let sealed = &mut buffer[self.inbound.unread.clone()];
        let Some(len) = record::record_len(sealed) else {
            return Ok(false);
        };
        if len > MAX_RECORD {
            return Err(invalid(RecordError::Oversized(len)));
        }
        if sealed.len() < len {
            return Ok(false);
        }
        let (kind, plain) = self.rx.open(&mut sealed[..len]).map_err(invalid)?;
        let at = self.inbound.unread.start;
        self.inbound.unread.start += len;
        let plain = at + plain.start..at + plain.end;
        match kind {
            record::APPLICATION_DATA => self.plain = plain,
            record::ALERT => {
                if alert(&buffer[plain])? {
                    self.read = ReadSide::Closed;
                }
            }
            record::HANDSHAKE => {
                self.handshake.extend_from_slice(&buffer[plain]);
                self.handshake_messages()?;
            }
            other => return Err(invalid(RecordError::UnexpectedType(other))),
        }
        Ok(true)
    }

    /// Handles the whole post-handshake messages received so far.
    fn handshake_messages(&mut self) -> io::Result<()> {
        let mut at = 0;
        while let Some(head) = self.handshake.get(at..at + 4) {
            let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
            if len > MAX_HANDSHAKE_MESSAGE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS handshake message of {len} bytes after the handshake"),
                ));
            }
            let Some(body) = self.handshake.get(at + 4..at + 4 + len) else {
                break;
            };
            match (head[0], body) {
                (record::NEW_SESSION_TICKET, _) => {}
                (record::KEY_UPDATE, [request @ (0 | 1)]) => {
                    self.rx.update().map_err(invalid)?;
                    self.key_update_owed |= *request == 1;
                }
                (record::KEY_UPDATE, [request]) => {
                    return Err(invalid(RecordError::InvalidKeyUpdate(*request)))
                }
                (kind, _) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "unexpected TLS handshake message of type {kind} after the handshake"
                        ),
                    ))
                }
            }
            at += 4 + len;
        }
        self.handshake.drain(..at);
        Ok(())
    }

    /// Seals `parts` (at most one record's worth) as one record of `kind` behind the unsent
    /// ones. The caller has made room.
    fn seal(&mut self, kind: u8, parts: &[&[u8]]) -> io::Result<()> {
        let buffer = self.outbuf.get_or_insert_with(PoolBuf::take);
        let n = self
            .tx
            .seal(kind, parts, &mut buffer[self.out.end..])
            .map_err(invalid)?;
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
    fn update_key_if_due(&mut self) -> io::Result<()> {
        if self.key_update_owed || self.tx.needs_update() {
            self.seal(record::HANDSHAKE, &[&record::key_update_message(false)])?;
            self.tx.update().map_err(invalid)?;
            self.key_update_owed = false;
        }
        Ok(())
    }

    /// Sends the sealed records.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let Some(buffer) = self.outbuf.as_deref() else {
                break;
            };
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &buffer[self.out.clone()]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.start += n;
        }
        self.out = 0..0;
        self.outbuf = None;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.prefix_pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.prefix_pos);
            buf.put_slice(&this.prefix[this.prefix_pos..this.prefix_pos + n]);
            this.prefix_pos += n;
            if this.prefix_pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.prefix_pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        loop {
            if !this.plain.is_empty() {
                if let Some(buffer) = this.inbound.buffer.as_deref() {
                    let n = buf.remaining().min(this.plain.len());
                    buf.put_slice(&buffer[this.plain.start..this.plain.start + n]);
                    this.plain.start += n;
                }
                return Poll::Ready(Ok(()));
            }
            match &this.read {
                ReadSide::Open => {}
                ReadSide::Closed => return Poll::Ready(Ok(())),
                ReadSide::Failed(why) => {
                    let err = io::Error::new(io::ErrorKind::InvalidData, why.clone());
                    return Poll::Ready(Err(err));
                }
            }
            match this.open_next() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    this.read = ReadSide::Failed(e.to_string());
                    return Poll::Ready(Err(e));
                }
            }
            let pending = this.inbound.unread.len();
            if ready!(this.inbound.poll_fill(cx, &mut this.tcp))? == 0 {
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

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// Seals as much of `bufs` as fits in the send buffer, then sends what the socket takes.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.close_sent {
            let err = io::Error::new(io::ErrorKind::BrokenPipe, "TLS close_notify already sent");
            return Poll::Ready(Err(err));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if this.room() < record::MAX_PLAINTEXT {
            ready!(this.poll_send(cx))?;
        }
        this.update_key_if_due()?;
        let mut taken = 0;
        let (mut slice, mut offset) = (0, 0);
        while taken < total && this.room() > 0 && !this.tx.needs_update() {
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
            this.seal(record::APPLICATION_DATA, &parts[..count])?;
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
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    /// Sends close_notify, then shuts the socket's write side.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.close_sent {
            if this.room() < 2 * record::OVERHEAD {
                ready!(this.poll_send(cx))?;
            }
            this.update_key_if_due()?;
            this.seal(record::ALERT, &[&[1, CLOSE_NOTIFY]])?;
            this.close_sent = true;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, SystemTime};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::{client_config, worker_config, worker_server_name, SessionCredentials};

    /// Our key runs out every few records: each time a KeyUpdate must go out under the old
    /// key and the rest under the new one, and rustls on the other end must read it all.
    #[tokio::test]
    async fn we_update_our_key_when_it_has_protected_all_it_may() {
        let not_after = SystemTime::now() + Duration::from_secs(3600);
        let creds = SessionCredentials::issue("s_1234567890", &["127.0.0.1".to_owned()], not_after)
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let expect = data.clone();
        let acceptor = tokio_rustls::TlsAcceptor::from(worker_config(&creds).unwrap());
        let worker = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            assert!(got == expect, "got {} bytes", got.len());
        });
        let tcp = TcpStream::connect(&address).await.unwrap();
        let name = worker_server_name(&address).unwrap();
        let mut tls = crate::connect(client_config(&creds).unwrap(), name, tcp)
            .await
            .unwrap();
        tls.tx.set_limit(3);
        for chunk in data.chunks(50_000) {
            tls.write_all(chunk).await.unwrap();
        }
        tls.shutdown().await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), worker)
            .await
            .unwrap()
            .unwrap();
    }
}
