//! Secrets the store keeps: password digests and auth-token secrets.
//!
//! Passwords are stored as SHA-256 over a random 16-byte salt and the password; token secrets
//! (40 random base58 characters, far too many to guess) as their SHA-256. Both are compared in
//! constant time. A memory-hard KDF (argon2) for passwords belongs with the durable store.

use std::fmt;

use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ids::ID_SUFFIX_LEN;
use super::AUTH_TOKEN_PREFIX;

const SALT_LEN: usize = 16;
/// Random base58 characters of a token secret (at least 32; 40 gives ~234 bits).
pub(crate) const TOKEN_SECRET_LEN: usize = 40;
const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// A salted password digest. Debug shows nothing of it.
#[derive(Clone)]
pub(crate) struct PasswordDigest {
    salt: [u8; SALT_LEN],
    digest: [u8; 32],
}

impl PasswordDigest {
    pub(crate) fn new(password: &str) -> Self {
        let mut salt = [0u8; SALT_LEN];
        rand::thread_rng().fill_bytes(&mut salt);
        Self {
            salt,
            digest: salted(&salt, password),
        }
    }

    /// Constant time in the digest comparison.
    pub(crate) fn verify(&self, password: &str) -> bool {
        salted(&self.salt, password).ct_eq(&self.digest).into()
    }
}

impl fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordDigest(***)")
    }
}

fn salted(salt: &[u8], password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

/// The digest of an auth token's secret part. Debug shows nothing of it.
#[derive(Clone)]
pub(crate) struct TokenDigest([u8; 32]);

impl TokenDigest {
    pub(crate) fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    pub(crate) fn matches(&self, secret: &str) -> bool {
        Self::of(secret).0.ct_eq(&self.0).into()
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(***)")
    }
}

/// A fresh token secret: [`TOKEN_SECRET_LEN`] random base58 characters.
pub(crate) fn new_token_secret() -> String {
    let mut rng = rand::thread_rng();
    (0..TOKEN_SECRET_LEN)
        .map(|_| char::from(BASE58_ALPHABET[rng.gen_range(0..BASE58_ALPHABET.len())]))
        .collect()
}

/// Splits a bearer token `at_<10 base62>_<secret>` into its id and secret; `None` when it
/// does not have that shape (the secret must be at least 32 base58 characters).
pub(crate) fn split_token(token: &str) -> Option<(&str, &str)> {
    let id_len = AUTH_TOKEN_PREFIX.len() + 1 + ID_SUFFIX_LEN;
    let id = token.get(..id_len)?;
    let secret = token.get(id_len..)?.strip_prefix('_')?;
    let suffix = id.strip_prefix(AUTH_TOKEN_PREFIX)?.strip_prefix('_')?;
    let id_ok = suffix.bytes().all(|b| b.is_ascii_alphanumeric());
    let secret_ok = secret.len() >= 32 && secret.bytes().all(|b| BASE58_ALPHABET.contains(&b));
    (id_ok && secret_ok).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn passwords_verify_only_themselves_and_are_salted() {
        let digest = PasswordDigest::new("correct horse");
        assert!(digest.verify("correct horse"));
        assert!(!digest.verify("correct hors"));
        assert!(!digest.verify(""));
        assert_ne!(digest.digest, PasswordDigest::new("correct horse").digest);
        assert_eq!(format!("{digest:?}"), "PasswordDigest(***)");
    }

    #[test]
    fn token_secrets_are_base58_and_split_back() {
        let secret = new_token_secret();
        assert_eq!(secret.len(), TOKEN_SECRET_LEN);
        let token = format!("at_AbCdE12345_{secret}");
        assert_eq!(
            split_token(&token),
            Some(("at_AbCdE12345", secret.as_str()))
        );
        assert!(TokenDigest::of(&secret).matches(&secret));
        assert!(!TokenDigest::of(&secret).matches(&new_token_secret()));
    }

    #[test]
    fn malformed_tokens_do_not_split() {
        let secret = "1".repeat(32);
        for token in [
            String::new(),
            "at_".into(),
            format!("at_AbCdE12345{secret}"),
            format!("at_AbCdE1234_{secret}"),
            format!("xx_AbCdE12345_{secret}"),
            format!("at_AbCdE1234!_{secret}"),
            format!("at_AbCdE12345_{}", "1".repeat(31)),
            format!("at_AbCdE12345_{secret}0"),
            format!("at_AbCdE12345_{secret}_"),
        ] {
            assert_eq!(split_token(&token), None, "{token}");
        }
    }

    proptest! {
        #[test]
        fn split_token_never_panics(token in "\\PC{0,80}") {
            if let Some((id, secret)) = split_token(&token) {
                prop_assert_eq!(format!("{id}_{secret}"), token);
            }
        }
    }
}
