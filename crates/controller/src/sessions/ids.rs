//! Small text helpers of the session store: random resource ids, the host part of a worker
//! address, and the base64 that the session JSON uses for the certificate (the base64 crate).

use rand::distributions::{Alphanumeric, DistString};

/// Random part of every id Boundary mints: 10 base62 characters.
const ID_SUFFIX_LEN: usize = 10;

/// Prefix of session ids.
pub const SESSION_ID_PREFIX: &str = "s_";
/// Prefix of session connection ids.
pub const CONNECTION_ID_PREFIX: &str = "sc_";

/// A fresh session id, `s_` + 10 base62 characters.
pub fn new_session_id() -> String {
    with_random_suffix(SESSION_ID_PREFIX)
}

/// A fresh connection id, `sc_` + 10 base62 characters.
pub fn new_connection_id() -> String {
    with_random_suffix(CONNECTION_ID_PREFIX)
}

fn with_random_suffix(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + ID_SUFFIX_LEN);
    id.push_str(prefix);
    Alphanumeric.append_string(&mut rand::thread_rng(), &mut id, ID_SUFFIX_LEN);
    id
}

/// Standard base64 with padding (RFC 4648 section 4), as Go's `encoding/json` writes `[]byte`.
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_ten_base62_chars() {
        for (id, prefix) in [(new_session_id(), "s_"), (new_connection_id(), "sc_")] {
            let suffix = id.strip_prefix(prefix).unwrap();
            assert_eq!(suffix.len(), 10, "{id}");
            assert!(suffix.bytes().all(|c| c.is_ascii_alphanumeric()), "{id}");
        }
        assert_ne!(new_session_id(), new_session_id());
    }
}
