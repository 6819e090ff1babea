//! The controller-led activation token: what `postern workers create controller-led` prints
//! and a new worker trades, once, for its certificate.
//!
//! `pwat_` + base58 of: version (1 byte, 1) ‖ the cluster CA's SHA-256 (32) ‖ expiration in
//! Unix seconds (8, big-endian) ‖ worker id length (1) ‖ worker id ‖ HMAC-SHA256 of all
//! before it (32). The worker reads the CA fingerprint from it to trust the controller it
//! first dials; the controller checks the MAC with a key derived from the CA's private key
//! (so every controller sharing the CA can), the expiration, and that the worker has no
//! certificate yet, which makes the token single-use without storing it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What every activation token starts with.
pub const PREFIX: &str = "pwat_";
const VERSION: u8 = 1;
const FINGERPRINT_LEN: usize = 32;
const MAC_LEN: usize = 32;
const MAX_ID_LEN: usize = 64;

/// Why a token was refused. The text never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivationError {
    #[error("activation token does not start with {PREFIX}")]
    Prefix,
    #[error("activation token is not base58")]
    Encoding,
    #[error("activation token is malformed (wrong length or version)")]
    Malformed,
    #[error("activation token was not issued by this cluster")]
    Forged,
    #[error("activation token expired")]
    Expired,
}

/// The key controllers sign tokens with, derived from the cluster CA's private key. Debug
/// prints nothing of it.
#[derive(Clone)]
pub struct ActivationKey([u8; 32]);

impl ActivationKey {
    pub fn derive(ca_key_pkcs8_der: &[u8]) -> Self {
        // HMAC as a PRF: one derived key for one purpose, so the CA key itself is never the
        // MAC key.
        let mut mac = new_mac(ca_key_pkcs8_der);
        mac.update(b"postern worker activation token v1");
        Self(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for ActivationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActivationKey(***)")
    }
}

/// A token's contents.
#[derive(Clone, PartialEq, Eq)]
pub struct ActivationToken {
    pub worker_id: String,
    pub ca_fingerprint: [u8; FINGERPRINT_LEN],
    /// Whole seconds.
    pub expiration: SystemTime,
    mac: [u8; MAC_LEN],
}

impl fmt::Debug for ActivationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivationToken")
            .field("worker_id", &self.worker_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl ActivationToken {
    /// A token for `worker_id` valid for `validity`, as text.
    pub fn issue(
        key: &ActivationKey,
        worker_id: &str,
        ca_fingerprint: [u8; FINGERPRINT_LEN],
        validity: Duration,
    ) -> String {
        let expires = (SystemTime::now() + validity)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let id = &worker_id.as_bytes()[..worker_id.len().min(MAX_ID_LEN)];
        let mut payload = Vec::with_capacity(1 + FINGERPRINT_LEN + 8 + 1 + id.len() + MAC_LEN);
        payload.push(VERSION);
        payload.extend_from_slice(&ca_fingerprint);
        payload.extend_from_slice(&expires.to_be_bytes());
        payload.push(id.len() as u8);
        payload.extend_from_slice(id);
        let mut mac = new_mac(&key.0);
        mac.update(&payload);
        payload.extend_from_slice(&mac.finalize().into_bytes());
        format!("{PREFIX}{}", bs58::encode(payload).into_string())
    }

    /// Reads a token without checking its MAC (a worker cannot: it has no key).
    pub fn parse(text: &str) -> Result<Self, ActivationError> {
        let encoded = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(ActivationError::Prefix)?;
        let payload = bs58::decode(encoded)
            .into_vec()
            .map_err(|_| ActivationError::Encoding)?;
        let (&version, rest) = payload.split_first().ok_or(ActivationError::Malformed)?;
        if version != VERSION {
            return Err(ActivationError::Malformed);
        }
        let (fingerprint, rest) = split(rest, FINGERPRINT_LEN)?;
        let (expires, rest) = split(rest, 8)?;
        let (&id_len, rest) = rest.split_first().ok_or(ActivationError::Malformed)?;
        let (id, rest) = split(rest, usize::from(id_len))?;
        let (mac, rest) = split(rest, MAC_LEN)?;
        if !rest.is_empty() {
            return Err(ActivationError::Malformed);
        }
        let worker_id = std::str::from_utf8(id)
            .map_err(|_| ActivationError::Malformed)?
            .to_owned();
        let mut expires_be = [0u8; 8];
        expires_be.copy_from_slice(expires);
        let mut token = Self {
            worker_id,
            ca_fingerprint: [0; FINGERPRINT_LEN],
            expiration: UNIX_EPOCH + Duration::from_secs(u64::from_be_bytes(expires_be)),
            mac: [0; MAC_LEN],
        };
        token.ca_fingerprint.copy_from_slice(fingerprint);
        token.mac.copy_from_slice(mac);
        Ok(token)
    }

    /// Reads a token and checks it: issued with `key`, not expired at `now`.
    pub fn verify(
        text: &str,
        key: &ActivationKey,
        now: SystemTime,
    ) -> Result<Self, ActivationError> {
        let token = Self::parse(text)?;
        let mut mac = new_mac(&key.0);
        mac.update(&[VERSION]);
        mac.update(&token.ca_fingerprint);
        let expires = token
            .expiration
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        mac.update(&expires.to_be_bytes());
        mac.update(&[token.worker_id.len() as u8]);
        mac.update(token.worker_id.as_bytes());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&token.mac)
            .map_err(|_| ActivationError::Forged)?;
        if now >= token.expiration {
            return Err(ActivationError::Expired);
        }
        Ok(token)
    }
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

fn split(bytes: &[u8], at: usize) -> Result<(&[u8], &[u8]), ActivationError> {
    if bytes.len() < at {
        return Err(ActivationError::Malformed);
    }
    Ok(bytes.split_at(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn key(seed: u8) -> ActivationKey {
        ActivationKey::derive(&[seed; 48])
    }

    #[test]
    fn a_token_verifies_with_its_key_and_carries_the_fingerprint() {
        let text = ActivationToken::issue(&key(1), "w_1234567890", [7; 32], HOUR);
        assert!(text.starts_with(PREFIX));
        let token = ActivationToken::verify(&text, &key(1), SystemTime::now()).unwrap();
        assert_eq!(token.worker_id, "w_1234567890");
        assert_eq!(token.ca_fingerprint, [7; 32]);
        assert_eq!(ActivationToken::parse(&text).unwrap(), token);
    }

    #[test]
    fn another_cluster_expired_or_tampered_tokens_are_refused() {
        let text = ActivationToken::issue(&key(1), "w_1234567890", [7; 32], HOUR);
        let now = SystemTime::now();
        assert_eq!(
            ActivationToken::verify(&text, &key(2), now),
            Err(ActivationError::Forged)
        );
        assert_eq!(
            ActivationToken::verify(&text, &key(1), now + 2 * HOUR),
            Err(ActivationError::Expired)
        );
        // Another worker id under the same MAC.
        let mut payload = bs58::decode(&text[PREFIX.len()..]).into_vec().unwrap();
        let last_id_byte = payload.len() - MAC_LEN - 1;
        payload[last_id_byte] ^= 1;
        let tampered = format!("{PREFIX}{}", bs58::encode(payload).into_string());
        assert_eq!(
            ActivationToken::verify(&tampered, &key(1), now),
            Err(ActivationError::Forged)
        );
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let text = ActivationToken::issue(&key(1), "w_1234567890", [7; 32], HOUR);
        let payload = bs58::decode(&text[PREFIX.len()..]).into_vec().unwrap();
        for cut in 0..payload.len() {
            let short = format!("{PREFIX}{}", bs58::encode(&payload[..cut]).into_string());
            assert!(ActivationToken::parse(&short).is_err(), "cut at {cut}");
        }
        assert_eq!(ActivationToken::parse("at_x"), Err(ActivationError::Prefix));
        assert_eq!(
            ActivationToken::parse("pwat_0OIl"),
            Err(ActivationError::Encoding)
        );
        let mut long = payload.clone();
        long.push(0);
        let long = format!("{PREFIX}{}", bs58::encode(long).into_string());
        assert_eq!(
            ActivationToken::parse(&long),
            Err(ActivationError::Malformed)
        );
    }

    #[test]
    fn debug_shows_no_mac() {
        let text = ActivationToken::issue(&key(1), "w_1234567890", [7; 32], HOUR);
        let token = ActivationToken::parse(&text).unwrap();
        let shown = format!("{token:?} {:?}", key(1));
        assert!(shown.contains("w_1234567890") && !shown.contains("mac"));
    }
}
