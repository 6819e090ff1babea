//! Checks on request values; each error names the request field (its JSON path).

use std::net::Ipv6Addr;

use postern_api::ConnectionLimit;

use super::ResourceError;

/// Longest host address accepted (a DNS name's limit).
const MAX_ADDRESS_LEN: usize = 255;

/// A host name or IP address without scheme, port or path, trimmed.
pub(crate) fn address(field: &str, value: &str) -> Result<String, ResourceError> {
    let address = value.trim();
    let invalid = |message: &str| Err(ResourceError::invalid(field, message));
    if address.is_empty() {
        return invalid("must not be empty");
    }
    if address.len() > MAX_ADDRESS_LEN {
        return invalid("must be at most 255 characters");
    }
    if address.contains("://") {
        return invalid("must be a host name or IP address, without a scheme");
    }
    if address.contains(['/', '@', '?', '#']) || address.contains(char::is_whitespace) {
        return invalid("must be a host name or IP address");
    }
    if address.contains(['[', ']'])
        || (address.contains(':') && address.parse::<Ipv6Addr>().is_err())
    {
        return invalid("must not include a port (IPv6 addresses go without brackets)");
    }
    Ok(address.to_owned())
}

/// `tcp://address:port`, bracketing an IPv6 address.
pub(crate) fn endpoint(address: &str, port: u32) -> String {
    if address.contains(':') {
        format!("tcp://[{address}]:{port}")
    } else {
        format!("tcp://{address}:{port}")
    }
}

/// A tcp target's default port: required, 1..=65535.
pub(crate) fn default_port(port: Option<u32>) -> Result<u32, ResourceError> {
    const FIELD: &str = "attributes.default_port";
    match port {
        None => Err(ResourceError::invalid(
            FIELD,
            "is required for a tcp target",
        )),
        Some(port @ 1..=65535) => Ok(port),
        Some(port) => Err(ResourceError::invalid(
            FIELD,
            format!("{port} is not a port: use 1..65535"),
        )),
    }
}

/// A target's default client port: 0 (none) ..= 65535.
pub(crate) fn default_client_port(port: u32) -> Result<u32, ResourceError> {
    if port > 65535 {
        return Err(ResourceError::invalid(
            "attributes.default_client_port",
            format!("{port} is not a port: use 1..65535, or 0 for none"),
        ));
    }
    Ok(port)
}

pub(crate) fn session_max_seconds(seconds: u32) -> Result<u32, ResourceError> {
    if seconds == 0 {
        return Err(ResourceError::invalid(
            "session_max_seconds",
            "must be greater than 0",
        ));
    }
    Ok(seconds)
}

pub(crate) fn session_connection_limit(limit: i32) -> Result<ConnectionLimit, ResourceError> {
    ConnectionLimit::try_from(limit)
        .map_err(|e| ResourceError::invalid("session_connection_limit", e.to_string()))
}

/// A password account's login name: not empty, no whitespace.
pub(crate) fn login_name(value: &str) -> Result<String, ResourceError> {
    const FIELD: &str = "attributes.login_name";
    if value.is_empty() {
        return Err(ResourceError::invalid(FIELD, "must not be empty"));
    }
    if value.contains(char::is_whitespace) {
        return Err(ResourceError::invalid(FIELD, "must not contain whitespace"));
    }
    Ok(value.to_owned())
}

pub(crate) fn password(value: &str) -> Result<(), ResourceError> {
    if value.chars().count() < super::MIN_PASSWORD_LENGTH {
        return Err(ResourceError::invalid(
            "attributes.password",
            format!("must be at least {} characters", super::MIN_PASSWORD_LENGTH),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_hosts_or_ips_without_port() {
        for ok in ["127.0.0.1", "db.internal", " host ", "::1", "fe80::1"] {
            assert_eq!(address("a", ok).unwrap(), ok.trim());
        }
        for bad in [
            "",
            "  ",
            "tcp://h",
            "h:22",
            "127.0.0.1:22",
            "[::1]",
            "[::1]:22",
            "h/x",
            "a b",
        ] {
            let err = address("attributes.address", bad).unwrap_err();
            assert!(
                matches!(&err, ResourceError::InvalidArgument { field, .. } if field == "attributes.address"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn endpoints_bracket_ipv6() {
        assert_eq!(endpoint("127.0.0.1", 22), "tcp://127.0.0.1:22");
        assert_eq!(endpoint("::1", 22), "tcp://[::1]:22");
    }

    #[test]
    fn limits_and_ports() {
        assert!(default_port(None).is_err());
        assert!(default_port(Some(0)).is_err());
        assert!(default_port(Some(65536)).is_err());
        assert_eq!(default_port(Some(22)).unwrap(), 22);
        assert!(session_connection_limit(0).is_err());
        assert!(session_connection_limit(-2).is_err());
        assert_eq!(session_connection_limit(-1).unwrap().wire(), -1);
        assert!(session_max_seconds(0).is_err());
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
    }

    proptest! {
        #[test]
        fn accepted_addresses_have_no_port_or_scheme(value in "\\PC{0,40}") {
            if let Ok(address) = address("a", &value) {
                prop_assert!(!address.is_empty());
                prop_assert!(!address.contains("://"));
                prop_assert!(address.parse::<std::net::SocketAddr>().is_err());
            }
        }
    }
}
