//! Resource ids: Boundary's prefix per kind, `_`, then 10 random base62 characters.

use rand::distributions::{Alphanumeric, DistString};

/// Random part of every id: 10 base62 characters.
pub(crate) const ID_SUFFIX_LEN: usize = 10;

pub const ORG_PREFIX: &str = "o";
pub const PROJECT_PREFIX: &str = "p";
pub const AUTH_METHOD_PREFIX: &str = "ampw";
pub const USER_PREFIX: &str = "u";
pub const ACCOUNT_PREFIX: &str = "acctpw";
pub const AUTH_TOKEN_PREFIX: &str = "at";
pub const HOST_CATALOG_PREFIX: &str = "hcst";
pub const HOST_SET_PREFIX: &str = "hsst";
pub const HOST_PREFIX: &str = "hst";
pub const TARGET_PREFIX: &str = "ttcp";
pub const GROUP_PREFIX: &str = "g";
pub const ROLE_PREFIX: &str = "r";
pub const WORKER_PREFIX: &str = "w";
/// The user every caller is, with or without a token.
pub const ANONYMOUS_USER_ID: &str = "u_anon";
/// The user every caller with a token is.
pub const AUTHENTICATED_USER_ID: &str = "u_auth";

/// A fresh id: `prefix` + `_` + 10 base62 characters.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 1 + ID_SUFFIX_LEN);
    id.push_str(prefix);
    id.push('_');
    Alphanumeric.append_string(&mut rand::thread_rng(), &mut id, ID_SUFFIX_LEN);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_ten_base62_chars() {
        let id = new_id(TARGET_PREFIX);
        let suffix = id.strip_prefix("ttcp_").unwrap();
        assert_eq!(suffix.len(), ID_SUFFIX_LEN);
        assert!(suffix.bytes().all(|c| c.is_ascii_alphanumeric()), "{id}");
        assert_ne!(new_id(TARGET_PREFIX), id);
    }
}
