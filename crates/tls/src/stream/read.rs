//! The read side of [`TlsStream`]: records opened in place, and the rules of RFC 8446 for what
//! may come after a handshake, each broken rule answered with a fatal alert.
//!
//! Allowed: application data; alerts (close_notify ends the stream, user_canceled is
//! ignored, anything else ends the connection); KeyUpdate (followed, and answered when the
//! peer asks) ending its record; NewSessionTicket from a server (ignored: resumption is off).
//! Limits, as rustls and BoringSSL keep them: 32 handshake messages and 32 empty records in a
//! row without application data, 4 warning alerts per connection.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use rustls::AlertDescription;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::{debug, warn};

use super::{ReadSide, TlsStream, WriteSide};
use crate::record::{self, RecordError, MAX_RECORD};

/// Post-handshake messages longer than this are refused (a ticket is a few hundred bytes).
const MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;
/// Handshake messages (KeyUpdates, tickets) in a row without application data.
const MAX_HANDSHAKE_IN_A_ROW: u32 = 32;
/// Empty application data records in a row.
const MAX_EMPTY_IN_A_ROW: u32 = 32;
/// user_canceled warnings over the whole connection.
const MAX_WARNING_ALERTS: u32 = 4;
/// Records opened per unit of the task's cooperative budget.
const RECORDS_PER_BUDGET_UNIT: u32 = 16;

/// What the peer has spent of its allowances.
#[derive(Debug, Default)]
pub(super) struct PeerLimits {
    handshake_in_a_row: u32,
    empty_in_a_row: u32,
    warnings: u32,
    /// Records opened since the last unit of budget was spent.
    opened: u32,
}

fn count(counter: &mut u32, limit: u32, what: &'static str) -> Result<(), RecordError> {
    *counter += 1;
    if *counter > limit {
        return Err(RecordError::TooMany { what, limit });
    }
    Ok(())
}

/// What an alert from the peer means: `Ok(true)` for close_notify (the end), `Ok(false)` for a
/// user_canceled warning, `Err(None)` for a fatal alert (the connection is over; nothing is
/// sent back), `Err(Some(e))` for an alert that breaks the rules.
fn alert(limits: &mut PeerLimits, body: &[u8]) -> Result<bool, Option<RecordError>> {
    let &[level, description] = body else {
        return Err(Some(RecordError::Malformed("alert")));
    };
    let description = AlertDescription::from(description);
    match (level, description) {
        (_, AlertDescription::CloseNotify) => Ok(true),
        (1, AlertDescription::UserCanceled) => {
            count(&mut limits.warnings, MAX_WARNING_ALERTS, "warning alerts")?;
            Ok(false)
        }
        (1, other) => Err(Some(RecordError::WarningAlert(other))),
        (2, _) => Err(None),
        _ => Err(Some(RecordError::Malformed("alert"))),
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// The length of the whole record at the front of the unread bytes, if it has arrived.
    fn whole_record(&self) -> Result<Option<usize>, RecordError> {
        let unread = self.inbound.unread();
        let Some(len) = record::record_len(unread) else {
            return Ok(None);
        };
        if len > MAX_RECORD {
            return Err(RecordError::Oversized(len - record::HEADER_LEN));
        }
        Ok((unread.len() >= len).then_some(len))
    }

    /// Opens the whole record of `len` bytes at the front of the unread bytes and acts on it.
    fn open_record(&mut self, len: usize) -> Result<(), RecordError> {
        let Some(buffer) = self.inbound.buffer.as_deref_mut() else {
            return Ok(());
        };
        let at = self.inbound.unread.start;
        let (kind, plain) = self.keys.rx.open(&mut buffer[at..at + len])?;
        self.inbound.unread.start += len;
        let plain = at + plain.start..at + plain.end;
        if !plain.is_empty() {
            self.limits.empty_in_a_row = 0;
        }
        match kind {
            record::APPLICATION_DATA => {
                if !self.handshake.is_empty() {
                    return Err(RecordError::Interleaved("application data"));
                }
                if plain.is_empty() {
                    count(
                        &mut self.limits.empty_in_a_row,
                        MAX_EMPTY_IN_A_ROW,
                        "empty records",
                    )?;
                } else {
                    self.limits.handshake_in_a_row = 0;
                }
                self.plain = plain;
            }
            record::ALERT => {
                if !self.handshake.is_empty() {
                    return Err(RecordError::Interleaved("alert"));
                }
                match alert(&mut self.limits, &buffer[plain.clone()]) {
                    Ok(true) => self.read = ReadSide::Closed,
                    Ok(false) => {}
                    Err(Some(e)) => return Err(e),
                    Err(None) => {
                        let name = AlertDescription::from(buffer[plain.end - 1]);
                        debug!(alert = ?name, "the peer ended the TLS connection with an alert");
                        let why = format!("the peer sent TLS alert {name:?}");
                        self.read = ReadSide::Failed(io::ErrorKind::ConnectionAborted, why);
                        self.write = WriteSide::Failed;
                    }
                }
            }
            record::HANDSHAKE => {
                if plain.is_empty() {
                    return Err(RecordError::EmptyHandshakeFragment);
                }
                if self.handshake.len() + plain.len() > MAX_HANDSHAKE_MESSAGE + 4 {
                    return Err(RecordError::HandshakeTooLarge(
                        self.handshake.len() + plain.len(),
                    ));
                }
                self.handshake.extend_from_slice(&buffer[plain]);
                self.handshake_messages()?;
            }
            other => return Err(RecordError::UnexpectedType(other)),
        }
        Ok(())
    }

    /// Acts on the whole post-handshake messages received so far; a message cut at the end
    /// of its record waits for the rest.
    fn handshake_messages(&mut self) -> Result<(), RecordError> {
        let mut at = 0;
        while let Some(head) = self.handshake.get(at..at + 4) {
            let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
            if len > MAX_HANDSHAKE_MESSAGE {
                return Err(RecordError::HandshakeTooLarge(len));
            }
            let kind = head[0];
            let Some(body) = self.handshake.get(at + 4..at + 4 + len) else {
                break;
            };
            at += 4 + len;
            count(
                &mut self.limits.handshake_in_a_row,
                MAX_HANDSHAKE_IN_A_ROW,
                "TLS handshake messages without application data",
            )?;
            match kind {
                record::NEW_SESSION_TICKET if self.keys.is_server() => {
                    return Err(RecordError::TicketFromClient)
                }
                record::NEW_SESSION_TICKET => {}
                record::KEY_UPDATE => {
                    let request = match body {
                        [request @ (0 | 1)] => *request == 1,
                        [other] => return Err(RecordError::InvalidKeyUpdate(*other)),
                        _ => return Err(RecordError::Malformed("KeyUpdate")),
                    };
                    // Section 5.1: a key change must fall on a record boundary.
                    if at != self.handshake.len() {
                        return Err(RecordError::KeyUpdateNotAtRecordEnd);
                    }
                    self.keys.update_rx()?;
                    self.key_update_owed |= request;
                }
                other => return Err(RecordError::UnexpectedHandshake(other)),
            }
        }
        self.handshake.drain(..at);
        Ok(())
    }

    /// Ends the read side for a rule the peer broke: a log line, a fatal alert to the peer,
    /// and the error for the caller.
    fn refuse(&mut self, cx: &mut Context<'_>, err: RecordError) -> io::Error {
        let alert = err.alert();
        warn!(error = %err, ?alert, "TLS peer broke the protocol; closing with a fatal alert");
        self.read = ReadSide::Failed(io::ErrorKind::InvalidData, err.to_string());
        self.send_fatal_alert(cx, alert);
        io::Error::new(io::ErrorKind::InvalidData, err)
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
                ReadSide::Failed(kind, why) => {
                    return Poll::Ready(Err(io::Error::new(*kind, why.clone())))
                }
            }
            match this.whole_record() {
                Ok(Some(len)) => {
                    // Every few records cost a unit of the task's budget (tokio's socket reads
                    // cost one each), so a peer sending a flood of tiny records cannot hold a
                    // connection thread from its other connections. One unit per record cost
                    // 7% of 8-stream throughput; full records are 4 to a socket read.
                    this.limits.opened += 1;
                    if this.limits.opened == RECORDS_PER_BUDGET_UNIT {
                        ready!(tokio::task::coop::poll_proceed(cx)).made_progress();
                        this.limits.opened = 0;
                    }
                    match this.open_record(len) {
                        // A fatal alert from the peer shows at the top of the loop.
                        Ok(_) => continue,
                        Err(e) => return Poll::Ready(Err(this.refuse(cx, e))),
                    }
                }
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(this.refuse(cx, e))),
            }
            let pending = this.inbound.unread.len();
            if ready!(this.inbound.poll_fill(cx, &mut this.io))? == 0 {
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
