//! Secrets the store keeps: password digests and auth-token secrets.
//!
//! Passwords are stored as Argon2id hashes (parameters below), upgraded at the next login
//! when the parameters change. Token secrets (40 random
//! base58 characters, far too many to guess) are stored as their SHA-256. Comparisons are
//! constant-time.

use std::fmt;

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ids::ID_SUFFIX_LEN;
use super::AUTH_TOKEN_PREFIX;

const SALT_LEN: usize = 16;
/// Random base58 characters of a token secret (at least 32; 40 gives ~234 bits).
pub(crate) const TOKEN_SECRET_LEN: usize = 40;
const BASE58_ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Argon2id's cost: 19 MiB of memory, 2 passes, 1 lane (OWASP's recommended minimum for
/// Argon2id). One hash takes about 20-40 ms of one core, so an online guesser gets a few dozen
/// tries per second per core before the login throttle (`api::throttle`) stops them.
pub(crate) const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub(crate) const ARGON2_PASSES: u32 = 2;
pub(crate) const ARGON2_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    // The constants are within Argon2's limits, which `Params::new` checks.
    let params =
        Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A password as the store keeps it: Argon2id in its PHC string form
/// (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), which carries its own parameters and salt.
/// Debug shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordDigest(String);

impl PasswordDigest {
    /// Hashes with Argon2id and a fresh random salt. CPU-heavy: call it off the async
    /// threads where a caller waits on it.
    pub(crate) fn new(password: &str) -> Self {
        let mut salt = [0u8; SALT_LEN];
        rand::thread_rng().fill_bytes(&mut salt);
        let hash = SaltString::encode_b64(&salt).and_then(|salt| {
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
        });
        // Only a salt or output length outside Argon2's limits fails, and ours are fixed
        // within them; a digest nothing matches is the safe answer regardless.
        Self(hash.unwrap_or_default())
    }

    /// A hash as stored (a PHC string). Nothing is checked here: a malformed one matches no
    /// password, and is replaced at the next login that could not happen.
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, to store.
    pub fn phc(&self) -> &str {
        &self.0
    }

    /// Whether `password` is the one hashed, by the parameters stored with the hash; the
    /// final comparison is constant-time. CPU-heavy, as [`PasswordDigest::new`].
    pub(crate) fn verify(&self, password: &str) -> bool {
        PasswordHash::new(&self.0).is_ok_and(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    }

    /// Whether a successful login should store a new hash: one made with other parameters
    /// (or another variant) than today's. Raising the constants above thus upgrades every
    /// password as its owner next logs in.
    pub(crate) fn needs_upgrade(&self) -> bool {
        let Ok(parsed) = PasswordHash::new(&self.0) else {
            return true;
        };
        let current = argon2();
        let current = current.params();
        parsed.algorithm != Algorithm::Argon2id.ident()
            || Params::try_from(&parsed).map_or(true, |params| {
                (params.m_cost(), params.t_cost(), params.p_cost())
                    != (current.m_cost(), current.t_cost(), current.p_cost())
            })
    }
}

impl fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordDigest(***)")
    }
}

/// The digest of an auth token's secret part. Debug shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// The digest as stored: 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A digest from [`TokenDigest::to_hex`]'s form; `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(bytes))
    }

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
    random_base58(TOKEN_SECRET_LEN)
}

/// A fresh password for a generated account (`postern database init`'s admin): 20 random
/// base58 characters, about 117 bits.
pub fn generate_password() -> String {
    random_base58(20)
}

fn random_base58(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
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
        assert_ne!(digest, PasswordDigest::new("correct horse"));
        assert_eq!(format!("{digest:?}"), "PasswordDigest(***)");
        let phc = &digest.0;
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!digest.needs_upgrade());
    }

    #[test]
    fn hashes_with_other_parameters_verify_and_ask_for_an_upgrade() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(&[1u8; SALT_LEN]).unwrap();
        let weak = weak.hash_password(b"pw", &salt).unwrap().to_string();
        let weak = PasswordDigest::from_phc(weak);
        assert!(weak.verify("pw"));
        assert!(weak.needs_upgrade());
        let garbage = PasswordDigest::from_phc("$argon2id$nonsense".into());
        assert!(!garbage.verify("pw"));
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
    fn token_digests_round_trip_through_hex_and_nothing_else() {
        let digest = TokenDigest::of(&new_token_secret());
        let hex = digest.to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(TokenDigest::from_hex(&hex), Some(digest));
        for bad in [&hex[..62], "", &"g".repeat(64), &format!("{}é", &hex[..62])] {
            assert_eq!(TokenDigest::from_hex(bad), None, "{bad}");
        }
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
