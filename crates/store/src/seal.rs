//! Secrets at rest: AES-256-GCM under a key the controller is given (its config or a file),
//! never stored beside the data. Each value gets a fresh random 96-bit nonce and is bound to
//! the row it belongs to (the associated data), so a sealed value copied to another row does
//! not open.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Length of a sealing key.
pub const KEY_LEN: usize = 32;

/// The key that seals the store's secrets. Debug shows nothing of it.
pub struct SealingKey(LessSafeKey);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(***)")
    }
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a sealing key is {KEY_LEN} bytes, not {0}")]
    KeyLength(usize),
    #[error("the system's random source failed")]
    Randomness,
    #[error("the sealed value is damaged or was sealed under another key or for another row")]
    Open,
}

impl SealingKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let key =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::KeyLength(bytes.len()))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// A fresh random key (tests, and `postern database init` writing a key file).
    pub fn generate() -> Result<(Self, [u8; KEY_LEN]), SealError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealError::Randomness)?;
        Ok((Self::from_bytes(&bytes)?, bytes))
    }

    /// `plaintext` sealed for `row`, as base64 text (nonce, then ciphertext and tag).
    pub fn seal(&self, row: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Randomness)?;
        let mut sealed = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(row.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::Randomness)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// The plaintext of a value sealed for `row`.
    pub fn open(&self, row: &str, sealed: &str) -> Result<Vec<u8>, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(row.as_bytes()), &mut buffer)
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_row_and_key() {
        let (key, _) = SealingKey::generate().unwrap();
        let sealed = key.seal("s_1234567890", b"private key").unwrap();
        assert!(!sealed.contains("private"));
        assert_eq!(key.open("s_1234567890", &sealed).unwrap(), b"private key");
        assert_eq!(key.open("s_0000000000", &sealed), Err(SealError::Open));
        let (other, _) = SealingKey::generate().unwrap();
        assert_eq!(other.open("s_1234567890", &sealed), Err(SealError::Open));
        assert_ne!(sealed, key.seal("s_1234567890", b"private key").unwrap());
        assert_eq!(key.open("s_1234567890", "AAAA"), Err(SealError::Open));
        assert_eq!(
            key.open("s_1234567890", "not base64!"),
            Err(SealError::Open)
        );
        assert_eq!(
            SealingKey::from_bytes(&[0; 16]).unwrap_err(),
            SealError::KeyLength(16)
        );
        assert_eq!(format!("{key:?}"), "SealingKey(***)");
    }
}
