//! The trust-on-first-use token: one random 20-character base62 value per client process,
//! sent in every handshake of a session. The first handshake pins it; later ones must match.

use rand::distributions::{Alphanumeric, DistString};
use subtle::ConstantTimeEq;

/// Exact length Boundary requires; anything else is refused with "invalid tofu token".
pub const TOFU_TOKEN_LEN: usize = 20;

/// A TOFU token. Debug prints `***`; equality is constant-time.
#[derive(Clone)]
pub struct TofuToken(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("tofu token must be exactly {TOFU_TOKEN_LEN} characters, got {0}")]
pub struct TofuLengthError(pub usize);

impl TofuToken {
    /// A fresh random token for this client process.
    pub fn generate() -> Self {
        Self(Alphanumeric.sample_string(&mut rand::thread_rng(), TOFU_TOKEN_LEN))
    }

    /// Accepts a token received in a handshake; only its length is checked, as Boundary does.
    pub fn parse(value: &str) -> Result<Self, TofuLengthError> {
        if value.len() == TOFU_TOKEN_LEN {
            Ok(Self(value.to_owned()))
        } else {
            Err(TofuLengthError(value.len()))
        }
    }

    /// The token's text, for the handshake message only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for TofuToken {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for TofuToken {}

impl std::fmt::Debug for TofuToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TofuToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_base62_of_the_right_length_and_differ() {
        let a = TofuToken::generate();
        let b = TofuToken::generate();
        assert_eq!(a.expose().len(), TOFU_TOKEN_LEN);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn parse_checks_length_only() {
        assert!(TofuToken::parse("abcdefghijklmnopqrst").is_ok());
        assert_eq!(TofuToken::parse("short").unwrap_err(), TofuLengthError(5));
        assert_eq!(TofuToken::parse("").unwrap_err(), TofuLengthError(0));
    }

    #[test]
    fn debug_hides_the_value() {
        let t = TofuToken::parse("abcdefghijklmnopqrst").unwrap();
        assert_eq!(format!("{t:?}"), "TofuToken(***)");
    }
}
