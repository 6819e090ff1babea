//! Small text helpers of the session store: random resource ids, the host part of a worker
//! address, and the base64 that the session JSON uses for the certificate.

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

/// The host part of a worker address (`host:port`, `[v6]:port`, or a bare host), which goes
/// into the session certificate's SANs.
pub fn worker_host(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        if let Some((host, _)) = rest.split_once(']') {
            return host;
        }
    }
    match address.rsplit_once(':') {
        // A bare IPv6 literal has several colons and no port.
        Some((host, port))
            if !host.contains(':')
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => address,
    }
}

/// Standard base64 with padding (RFC 4648 section 4), as Go's `encoding/json` writes `[]byte`.
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_have_prefix_and_ten_base62_chars() {
        for (id, prefix) in [(new_session_id(), "s_"), (new_connection_id(), "sc_")] {
            let suffix = id.strip_prefix(prefix).unwrap();
            assert_eq!(suffix.len(), 10, "{id}");
            assert!(suffix.bytes().all(|c| c.is_ascii_alphanumeric()), "{id}");
        }
        assert_ne!(new_session_id(), new_session_id());
    }

    #[test]
    fn worker_host_takes_the_host_part() {
        assert_eq!(worker_host("127.0.0.1:9202"), "127.0.0.1");
        assert_eq!(worker_host("worker.example.com:9202"), "worker.example.com");
        assert_eq!(worker_host("[::1]:9202"), "::1");
        assert_eq!(worker_host("[fe80::1]"), "fe80::1");
        assert_eq!(worker_host("::1"), "::1");
        assert_eq!(worker_host("worker"), "worker");
        assert_eq!(worker_host("worker:"), "worker:");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
        }
        assert_eq!(base64_encode(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    proptest! {
        #[test]
        fn worker_host_is_a_substring_and_never_panics(address in ".{0,40}") {
            let host = worker_host(&address);
            prop_assert!(address.contains(host));
        }

        #[test]
        fn worker_host_strips_any_port(host in "[a-z0-9.-]{1,20}", port in 0u16..) {
            let address = format!("{host}:{port}");
            prop_assert_eq!(worker_host(&address), host.as_str());
        }

        #[test]
        fn base64_length_is_padded_to_four(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let encoded = base64_encode(&bytes);
            prop_assert_eq!(encoded.len(), bytes.len().div_ceil(3) * 4);
        }
    }
}
