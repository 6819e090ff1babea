//! The TLS 1.3 record layer after the handshake (RFC 8446 section 5): one [`RecordKey`] per
//! direction seals records into a caller's buffer and opens them in place, and follows the
//! peer's and our own KeyUpdates (section 4.6.3).
//!
//! rustls runs the handshake; its `dangerous_extract_secrets` hands over the keys, IVs and
//! sequence numbers (the same hand-over kernel TLS takes), and the traffic secrets come from
//! [`crate::handshake`]'s key-log capture, for KeyUpdate.

use std::fmt;
use std::ops::Range;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use aws_lc_rs::hkdf;
use rustls::ConnectionTrafficSecrets;
use zeroize::Zeroizing;

/// Record content types (RFC 8446 section 5.1).
pub(crate) const ALERT: u8 = 21;
pub(crate) const HANDSHAKE: u8 = 22;
pub(crate) const APPLICATION_DATA: u8 = 23;

/// The header every record starts with: type, legacy version, length.
pub(crate) const HEADER_LEN: usize = 5;
/// Most plaintext one record carries.
pub(crate) const MAX_PLAINTEXT: usize = 1 << 14;
const TAG_LEN: usize = 16;
/// Most ciphertext one record may carry: plaintext, content type, padding and tag.
pub(crate) const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 256;
/// The longest record on the wire.
pub(crate) const MAX_RECORD: usize = HEADER_LEN + MAX_CIPHERTEXT;
/// Bytes a record adds to its plaintext when we seal it (no padding).
pub(crate) const OVERHEAD: usize = HEADER_LEN + 1 + TAG_LEN;

/// Why a record could not be opened or sealed. The messages name the fault; none carries
/// key material.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("TLS record failed to decrypt (corrupted or forged)")]
    Decrypt,
    #[error("TLS record of {0} bytes is larger than TLS 1.3 allows")]
    Oversized(usize),
    #[error(
        "TLS record of type {0} where only application data, alerts or handshake messages may come"
    )]
    UnexpectedType(u8),
    #[error("TLS record with no content type (all padding)")]
    NoContentType,
    #[error("the peer's TLS KeyUpdate carries an invalid request value {0}")]
    InvalidKeyUpdate(u8),
    #[error("unsupported TLS cipher suite after the handshake")]
    UnsupportedSuite,
    #[error("TLS key has sealed the most records it may ({0}) without a KeyUpdate")]
    Exhausted(u64),
}

/// Which AEAD and hash a connection negotiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Suite {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Suite {
    fn aead(self) -> &'static aead::Algorithm {
        match self {
            Suite::Aes128Gcm => &aead::AES_128_GCM,
            Suite::Aes256Gcm => &aead::AES_256_GCM,
            Suite::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }

    fn hkdf(self) -> hkdf::Algorithm {
        match self {
            Suite::Aes256Gcm => hkdf::HKDF_SHA384,
            _ => hkdf::HKDF_SHA256,
        }
    }

    /// Records one key may protect before a KeyUpdate: rustls' limits for TLS 1.3 (from
    /// RFC 8446 section 5.5 and the AEAD limits draft).
    fn record_limit(self) -> u64 {
        match self {
            Suite::Aes128Gcm => 1 << 24,
            Suite::Aes256Gcm => 1 << 23,
            Suite::ChaCha20Poly1305 => u64::MAX,
        }
    }
}

/// The keys, IV and sequence number of one direction, and the traffic secret they came from.
pub(crate) struct RecordKey {
    suite: Suite,
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    seq: u64,
    secret: Zeroizing<Vec<u8>>,
    /// After this many records under one key a KeyUpdate is due (lowered in tests).
    limit: u64,
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordKey")
            .field("suite", &self.suite)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// HKDF-Expand-Label(secret, label, "", len) of RFC 8446 section 7.1.
fn expand_label(alg: hkdf::Algorithm, secret: &[u8], label: &str, out: &mut [u8]) {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let out_len = (out.len() as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    let info: [&[u8]; 5] = [&out_len, &label_len, b"tls13 ", label.as_bytes(), &[0]];
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    // Lengths here are a key, an IV or a hash: far below HKDF's limit of 255 hash lengths.
    if let Ok(okm) = prk.expand(&info, Len(out.len())) {
        let _ = okm.fill(out);
    }
}

impl RecordKey {
    /// One direction as rustls hands it over: `seq` and the derived key and IV, plus the
    /// traffic secret they were derived from.
    pub(crate) fn new(
        seq: u64,
        extracted: ConnectionTrafficSecrets,
        secret: Zeroizing<Vec<u8>>,
    ) -> Result<Self, RecordError> {
        let (suite, key, iv) = match extracted {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (Suite::Aes128Gcm, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (Suite::Aes256Gcm, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (Suite::ChaCha20Poly1305, key, iv)
            }
            _ => return Err(RecordError::UnsupportedSuite),
        };
        let key = UnboundKey::new(suite.aead(), key.as_ref())
            .map_err(|_| RecordError::UnsupportedSuite)?;
        let iv: [u8; NONCE_LEN] = iv
            .as_ref()
            .try_into()
            .map_err(|_| RecordError::UnsupportedSuite)?;
        Ok(RecordKey {
            suite,
            key: LessSafeKey::new(key),
            iv,
            seq,
            secret,
            limit: suite.record_limit(),
        })
    }

    /// Moves to the next traffic secret (a KeyUpdate): new key and IV, sequence from 0.
    pub(crate) fn update(&mut self) -> Result<(), RecordError> {
        let alg = self.suite.hkdf();
        let mut next = Zeroizing::new(vec![0u8; self.secret.len()]);
        expand_label(alg, &self.secret, "traffic upd", &mut next);
        let mut key = Zeroizing::new(vec![0u8; self.suite.aead().key_len()]);
        expand_label(alg, &next, "key", &mut key);
        expand_label(alg, &next, "iv", &mut self.iv);
        let key =
            UnboundKey::new(self.suite.aead(), &key).map_err(|_| RecordError::UnsupportedSuite)?;
        self.key = LessSafeKey::new(key);
        self.secret = next;
        self.seq = 0;
        Ok(())
    }

    /// Whether the key is down to its last record, kept for the KeyUpdate (or close_notify)
    /// that must go under it.
    pub(crate) fn needs_update(&self) -> bool {
        self.seq + 1 >= self.limit
    }

    /// The nonce of the next record: the IV with the sequence number XORed in.
    fn next_nonce(&mut self) -> Nonce {
        let mut nonce = self.iv;
        for (n, s) in nonce[NONCE_LEN - 8..]
            .iter_mut()
            .zip(self.seq.to_be_bytes())
        {
            *n ^= s;
        }
        self.seq += 1;
        Nonce::assume_unique_for_key(nonce)
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
        let plain: usize = parts.iter().map(|p| p.len()).sum();
        let inner = plain + 1;
        let len = HEADER_LEN + inner + TAG_LEN;
        let mut at = HEADER_LEN;
        for part in parts {
            out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        out[at] = content_type;
        let body = (inner + TAG_LEN) as u16;
        let [hi, lo] = body.to_be_bytes();
        let header = [APPLICATION_DATA, 3, 3, hi, lo];
        out[..HEADER_LEN].copy_from_slice(&header);
        if self.seq >= self.limit {
            return Err(RecordError::Exhausted(self.limit));
        }
        let nonce = self.next_nonce();
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(header), &mut out[HEADER_LEN..at + 1])
            .map_err(|_| RecordError::Oversized(inner))?;
        out[at + 1..len].copy_from_slice(tag.as_ref());
        Ok(len)
    }

    /// Opens the record `record` (header included) in place. Returns its content type and
    /// where its plaintext now lies within `record`.
    pub(crate) fn open(&mut self, record: &mut [u8]) -> Result<(u8, Range<usize>), RecordError> {
        let (header, body) = record.split_at_mut(HEADER_LEN);
        if header[0] != APPLICATION_DATA {
            return Err(RecordError::UnexpectedType(header[0]));
        }
        if body.len() > MAX_CIPHERTEXT {
            return Err(RecordError::Oversized(body.len()));
        }
        // No limit on opening: a peer that never updates its key (Go, as far as we know, does
        // not start KeyUpdates) takes that risk itself; refusing its records would end the
        // connection.
        let nonce = self.next_nonce();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(&*header), body)
            .map_err(|_| RecordError::Decrypt)?;
        // The content type is the last non-zero byte; zeros after it are padding.
        let end = plain
            .iter()
            .rposition(|&b| b != 0)
            .ok_or(RecordError::NoContentType)?;
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

    fn key(suite_secret: u8) -> RecordKey {
        // AES-256-GCM: rustls' AeadKey is built from 32 bytes.
        let secrets = ConnectionTrafficSecrets::Aes256Gcm {
            key: rustls::crypto::cipher::AeadKey::from([suite_secret; 32]),
            iv: rustls::crypto::cipher::Iv::new([7; 12]),
        };
        RecordKey::new(0, secrets, Zeroizing::new(vec![suite_secret; 48])).unwrap()
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
    fn both_sides_follow_a_key_update() {
        let (mut tx, mut rx) = (key(2), key(2));
        tx.update().unwrap();
        rx.update().unwrap();
        let mut out = vec![0u8; 10 + OVERHEAD];
        let n = tx.seal(APPLICATION_DATA, &[b"after"], &mut out).unwrap();
        let (_, plain) = rx.open(&mut out[..n]).unwrap();
        assert_eq!(&out[plain], b"after");
        // A side that did not update cannot read it.
        let mut stale = key(2);
        let n = tx.seal(APPLICATION_DATA, &[b"after"], &mut out).unwrap();
        assert!(stale.open(&mut out[..n]).is_err());
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
}
