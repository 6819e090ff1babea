//! TLS 1.3 records after the handshake (RFC 8446 section 5): one [`RecordKey`] per direction
//! seals records into a caller's buffer and opens them in place.
//!
//! Keys come from rustls: the first pair when the handshake hands over, every later one from
//! `rustls::kernel::KernelConnection` when a KeyUpdate moves a direction to its next traffic
//! secret ([`crate::stream`] decides when). No key derivation happens here.

use std::fmt;
use std::ops::Range;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use rustls::{AlertDescription, ConnectionTrafficSecrets};

/// Record content types (RFC 8446 section 5.1).
pub(crate) const ALERT: u8 = 21;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;

/// The header every record starts with: type, legacy version, length.
pub(crate) const HEADER_LEN: usize = 5;
/// Most plaintext one record may carry (RFC 8446 section 5.1: 2^14).
pub(crate) const MAX_PLAINTEXT: usize = 1 << 14;
const TAG_LEN: usize = 16;
/// Most ciphertext one record may carry: plaintext, content type, padding and tag
/// (section 5.2: 2^14 + 256).
pub(crate) const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 256;
/// The longest record on the wire.
pub(crate) const MAX_RECORD: usize = HEADER_LEN + MAX_CIPHERTEXT;
/// Bytes a record adds to its plaintext when we seal it (no padding).
pub(crate) const OVERHEAD: usize = HEADER_LEN + 1 + TAG_LEN;

/// What is wrong with what the peer sent, or why we cannot send. Each names the fault and,
/// for the peer's faults, the alert we answer with; none carries key material.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("TLS record failed to decrypt (corrupted or forged)")]
    Decrypt,
    #[error("TLS record of {0} bytes is larger than TLS 1.3 allows")]
    Oversized(usize),
    #[error("TLS record carries {0} bytes of plaintext, more than the 16384 TLS 1.3 allows")]
    PlaintextOversized(usize),
    #[error("unprotected TLS record of type {0} after the handshake")]
    Unprotected(u8),
    #[error("TLS record of inner type {0} where only application data, alerts or handshake messages may come")]
    UnexpectedType(u8),
    #[error("TLS record with no content type (all padding)")]
    NoContentType,
    #[error("TLS {0} record in the middle of a fragmented handshake message")]
    Interleaved(&'static str),
    #[error("zero-length TLS handshake fragment")]
    EmptyHandshakeFragment,
    #[error("TLS KeyUpdate does not end its record")]
    KeyUpdateNotAtRecordEnd,
    #[error("the peer's TLS KeyUpdate carries an invalid request value {0}")]
    InvalidKeyUpdate(u8),
    #[error("malformed TLS {0} message from the peer")]
    Malformed(&'static str),
    #[error("TLS NewSessionTicket sent by a client")]
    TicketFromClient,
    #[error("unexpected TLS handshake message of type {0} after the handshake")]
    UnexpectedHandshake(u8),
    #[error("TLS handshake message of {0} bytes after the handshake is larger than allowed")]
    HandshakeTooLarge(usize),
    #[error("more than {limit} {what} in a row from the peer")]
    TooMany { what: &'static str, limit: u32 },
    #[error("TLS warning alert {0:?}, which TLS 1.3 does not allow")]
    WarningAlert(AlertDescription),
    #[error("the peer's record sequence number ran out")]
    SequenceExhausted,
    #[error("unsupported TLS cipher suite after the handshake")]
    UnsupportedSuite,
    #[error("TLS key has sealed the most records it may ({0}) without a KeyUpdate")]
    Exhausted(u64),
    #[error("TLS key update failed: {0}")]
    KeyUpdate(rustls::Error),
}

impl RecordError {
    /// The fatal alert that answers this fault of the peer's (RFC 8446 section 6.2).
    pub(crate) fn alert(&self) -> AlertDescription {
        match self {
            RecordError::Decrypt => AlertDescription::BadRecordMac,
            RecordError::Oversized(_) | RecordError::PlaintextOversized(_) => {
                AlertDescription::RecordOverflow
            }
            RecordError::InvalidKeyUpdate(_) => AlertDescription::IllegalParameter,
            RecordError::Malformed(_)
            | RecordError::EmptyHandshakeFragment
            | RecordError::WarningAlert(_) => AlertDescription::DecodeError,
            RecordError::Unprotected(_)
            | RecordError::UnexpectedType(_)
            | RecordError::NoContentType
            | RecordError::Interleaved(_)
            | RecordError::KeyUpdateNotAtRecordEnd
            | RecordError::TicketFromClient
            | RecordError::UnexpectedHandshake(_)
            | RecordError::HandshakeTooLarge(_)
            | RecordError::TooMany { .. } => AlertDescription::UnexpectedMessage,
            RecordError::SequenceExhausted
            | RecordError::UnsupportedSuite
            | RecordError::Exhausted(_)
            | RecordError::KeyUpdate(_) => AlertDescription::InternalError,
        }
    }
}

/// The AEAD key, IV and sequence number of one direction.
pub(crate) struct RecordKey {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    seq: u64,
    /// Records this key may protect: the cipher suite's confidentiality limit for sealing,
    /// none for opening.
    limit: u64,
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordKey")
            .field("seq", &self.seq)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl RecordKey {
    /// One direction as rustls gives it: the next sequence number and the key and IV.
    pub(crate) fn new(
        seq: u64,
        secrets: ConnectionTrafficSecrets,
        limit: u64,
    ) -> Result<Self, RecordError> {
        let (algorithm, key, iv) = match &secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            _ => return Err(RecordError::UnsupportedSuite),
        };
        let key =
            UnboundKey::new(algorithm, key.as_ref()).map_err(|_| RecordError::UnsupportedSuite)?;
        let iv: [u8; NONCE_LEN] = iv
            .as_ref()
            .try_into()
            .map_err(|_| RecordError::UnsupportedSuite)?;
        Ok(RecordKey {
            key: LessSafeKey::new(key),
            iv,
            seq,
            limit,
        })
    }

    /// Whether the key is down to its last record, kept for the KeyUpdate (or alert) that
    /// must go under it.
    pub(crate) fn needs_update(&self) -> bool {
        self.seq.saturating_add(1) >= self.limit
    }

    /// The nonce of the next record: the IV with the sequence number XORed in.
    fn next_nonce(&mut self) -> Result<Nonce, RecordError> {
        let mut nonce = self.iv;
        for (n, s) in nonce[NONCE_LEN - 8..]
            .iter_mut()
            .zip(self.seq.to_be_bytes())
        {
            *n ^= s;
        }
        // A sequence number never wraps (section 5.3): the connection ends first.
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or(RecordError::SequenceExhausted)?;
        Ok(Nonce::assume_unique_for_key(nonce))
    }

    /// Seals one record of `content_type` into the front of `out`, its plaintext gathered
    /// from `parts` (at most [`MAX_PLAINTEXT`] bytes in all). Returns the record's length.
    /// `out` must hold the plaintext plus [`OVERHEAD`].
    pub(crate) fn seal(
        &mut self,
        content_type: u8,
        parts: &[&[u8]],
        out: &mut [u8],
    ) -> Result<usize, RecordError> {
        if self.seq >= self.limit {
            return Err(RecordError::Exhausted(self.limit));
        }
        let plain: usize = parts.iter().map(|p| p.len()).sum();
        if plain > MAX_PLAINTEXT {
            return Err(RecordError::PlaintextOversized(plain));
        }
        let inner = plain + 1;
        let len = HEADER_LEN + inner + TAG_LEN;
        let mut at = HEADER_LEN;
        for part in parts {
            out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        out[at] = content_type;
        let [hi, lo] = ((inner + TAG_LEN) as u16).to_be_bytes();
        let header = [APPLICATION_DATA, 3, 3, hi, lo];
        out[..HEADER_LEN].copy_from_slice(&header);
        let nonce = self.next_nonce()?;
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(header), &mut out[HEADER_LEN..at + 1])
            .map_err(|_| RecordError::Oversized(inner))?;
        out[at + 1..len].copy_from_slice(tag.as_ref());
        Ok(len)
    }

    /// Opens the record `record` (header included, its length already checked against
    /// [`MAX_RECORD`]) in place. Returns its inner content type and where its plaintext now
    /// lies within `record`.
    pub(crate) fn open(&mut self, record: &mut [u8]) -> Result<(u8, Range<usize>), RecordError> {
        let (header, body) = record.split_at_mut(HEADER_LEN);
        if header[0] != APPLICATION_DATA {
            return Err(RecordError::Unprotected(header[0]));
        }
        if body.len() > MAX_CIPHERTEXT {
            return Err(RecordError::Oversized(body.len()));
        }
        let nonce = self.next_nonce()?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(&*header), body)
            .map_err(|_| RecordError::Decrypt)?;
        // The content type is the last non-zero byte; zeros after it are padding.
        let end = plain
            .iter()
            .rposition(|&b| b != 0)
            .ok_or(RecordError::NoContentType)?;
        if end > MAX_PLAINTEXT {
            return Err(RecordError::PlaintextOversized(end));
        }
        Ok((plain[end], HEADER_LEN..HEADER_LEN + end))
    }

    #[cfg(test)]
    pub(crate) fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }
}

/// The length of the record starting `buf`, header included, once its header is there.
pub(crate) fn record_len(buf: &[u8]) -> Option<usize> {
    let header = buf.get(..HEADER_LEN)?;
    Some(HEADER_LEN + u16::from_be_bytes([header[3], header[4]]) as usize)
}

/// Handshake message type of a KeyUpdate (RFC 8446 section 4).
pub(crate) const KEY_UPDATE: u8 = 24;
/// Handshake message type of a NewSessionTicket: a ticket we never use.
pub(crate) const NEW_SESSION_TICKET: u8 = 4;

/// The KeyUpdate handshake message; `request` asks the peer to update its key too.
pub(crate) fn key_update_message(request: bool) -> [u8; 5] {
    [KEY_UPDATE, 0, 0, 1, u8::from(request)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: u8) -> RecordKey {
        let secrets = ConnectionTrafficSecrets::Aes256Gcm {
            key: rustls::crypto::cipher::AeadKey::from([secret; 32]),
            iv: rustls::crypto::cipher::Iv::new([7; 12]),
        };
        RecordKey::new(0, secrets, u64::MAX).unwrap()
    }

    #[test]
    fn sealed_records_open_and_tampering_is_caught() {
        let (mut tx, mut rx) = (key(1), key(1));
        let mut out = vec![0u8; 100 + OVERHEAD];
        let n = tx
            .seal(APPLICATION_DATA, &[b"head", b"payload"], &mut out)
            .unwrap();
        assert_eq!(n, 11 + OVERHEAD);
        assert_eq!(record_len(&out), Some(n));
        let mut record = out[..n].to_vec();
        let (kind, plain) = rx.open(&mut record).unwrap();
        assert_eq!(
            (kind, &record[plain]),
            (APPLICATION_DATA, &b"headpayload"[..])
        );

        let n = tx.seal(ALERT, &[&[1, 0]], &mut out).unwrap();
        out[HEADER_LEN + 1] ^= 1;
        assert!(matches!(rx.open(&mut out[..n]), Err(RecordError::Decrypt)));
    }

    #[test]
    fn a_key_refuses_to_seal_past_its_limit() {
        let mut tx = key(3);
        tx.set_limit(2);
        let mut out = vec![0u8; 10 + OVERHEAD];
        tx.seal(APPLICATION_DATA, &[b"x"], &mut out).unwrap();
        assert!(
            tx.needs_update(),
            "the last record is kept for the KeyUpdate"
        );
        tx.seal(HANDSHAKE, &[&key_update_message(false)], &mut out)
            .unwrap();
        assert!(matches!(
            tx.seal(APPLICATION_DATA, &[b"x"], &mut out),
            Err(RecordError::Exhausted(2))
        ));
    }

    #[test]
    fn plaintext_over_two_to_the_fourteen_is_refused_both_ways() {
        let (mut tx, mut rx) = (key(4), key(4));
        let mut out = vec![0u8; MAX_RECORD + 64];
        let big = vec![1u8; MAX_PLAINTEXT + 1];
        assert!(matches!(
            tx.seal(APPLICATION_DATA, &[&big], &mut out),
            Err(RecordError::PlaintextOversized(16385))
        ));
        // A peer's record whose ciphertext fits the record limit but whose plaintext is one
        // byte over: 2^14 + 1 bytes of content, then the content type.
        let over = vec![5u8; MAX_PLAINTEXT + 2];
        let record_len = seal_unchecked(&mut tx, &over, &mut out);
        assert!(matches!(
            rx.open(&mut out[..record_len]),
            Err(RecordError::PlaintextOversized(16385))
        ));
    }

    /// What a hostile peer would send: a record whose inner plaintext is `inner` (content
    /// type included), with no size check.
    fn seal_unchecked(key: &mut RecordKey, inner: &[u8], out: &mut [u8]) -> usize {
        let len = HEADER_LEN + inner.len() + TAG_LEN;
        let [hi, lo] = ((inner.len() + TAG_LEN) as u16).to_be_bytes();
        let header = [APPLICATION_DATA, 3, 3, hi, lo];
        out[..HEADER_LEN].copy_from_slice(&header);
        out[HEADER_LEN..HEADER_LEN + inner.len()].copy_from_slice(inner);
        let nonce = key.next_nonce().unwrap();
        let tag = key
            .key
            .seal_in_place_separate_tag(
                nonce,
                Aad::from(header),
                &mut out[HEADER_LEN..HEADER_LEN + inner.len()],
            )
            .unwrap();
        out[HEADER_LEN + inner.len()..len].copy_from_slice(tag.as_ref());
        len
    }
}
