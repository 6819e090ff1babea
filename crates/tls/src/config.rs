//! The client's and the worker's rustls configs for one session.
//!
//! Both are TLS 1.3 only, present the session certificate and verify the peer with the shared
//! [`SessionCertVerifier`](crate::verifier::SessionCertVerifier). Resumption is off on both
//! sides: every connection proves possession of the session key again, and a ticket would be
//! useless across sessions anyway.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::server::{ClientHello, NoServerSessionStorage};
use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;

use crate::{provider, SessionCredentials, TlsError, ALPN_HTTP_1_1};

/// Session ids (and so the ALPN value / SNI a worker looks for) start with this.
const SESSION_ID_PREFIX: &str = "s_";

/// The client proxy's config: presents the session certificate, offers ALPN
/// `["http/1.1", session_id]`, accepts only a worker presenting the session certificate.
pub fn client_config(creds: &SessionCredentials) -> Result<Arc<ClientConfig>, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(creds.verifier())
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(creds.certified_key())));
    config.alpn_protocols = vec![
        ALPN_HTTP_1_1.to_vec(),
        creds.session_id().as_bytes().to_vec(),
    ];
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// The worker's config for a known session: presents the session certificate, answers ALPN
/// `http/1.1`, requires the client to present the session certificate too. Built once per
/// session and shared by its connections (each would otherwise hold its own copy).
pub fn worker_config(creds: &SessionCredentials) -> Result<Arc<ServerConfig>, TlsError> {
    creds.worker_config(build_worker_config)
}

fn build_worker_config(creds: &SessionCredentials) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(creds.verifier())
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(creds.certified_key())));
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// The ServerName a client sends: host part of "host:port" (IPv6 "[::1]:9202" too). An IP
/// address gives `ServerName::IpAddress`, for which rustls sends no SNI.
pub fn worker_server_name(worker_address: &str) -> Result<ServerName<'static>, TlsError> {
    let invalid = || TlsError::InvalidWorkerAddress {
        address: worker_address.to_owned(),
    };
    let host = worker_host(worker_address).ok_or_else(invalid)?;
    ServerName::try_from(host)
        .map(|name| name.to_owned())
        .map_err(|_| invalid())
}

/// The host of `host:port`, `[v6]:port`, a bare host or a bare IPv6 literal: what goes into
/// the session certificate's SANs and the client's SNI. `None` for an unusable address.
pub fn worker_host(address: &str) -> Option<&str> {
    let (host, port) = if let Some(bracketed) = address.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']')?;
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match address.rsplit_once(':') {
            // More than one colon without brackets: a bare IPv6 literal.
            Some((host, _)) if host.contains(':') => (address, None),
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        }
    };
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok());
    (!host.is_empty() && port_ok).then_some(host)
}

/// The session a ClientHello asks for: the first ALPN value starting `s_`, else an SNI
/// starting `s_` (what old clients sent).
pub fn requested_session(hello: &ClientHello<'_>) -> Option<String> {
    session_from_offer(hello.alpn().into_iter().flatten(), hello.server_name())
}

fn session_from_offer<'a>(
    alpn: impl IntoIterator<Item = &'a [u8]>,
    sni: Option<&str>,
) -> Option<String> {
    alpn.into_iter()
        .filter(|protocol| protocol.starts_with(SESSION_ID_PREFIX.as_bytes()))
        .find_map(|protocol| std::str::from_utf8(protocol).ok())
        .or_else(|| sni.filter(|name| name.starts_with(SESSION_ID_PREFIX)))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn socket_addresses_name_their_ip(ip in any::<IpAddr>(), port in any::<u16>()) {
            let address = SocketAddr::new(ip, port).to_string();
            let name = worker_server_name(&address).unwrap();
            prop_assert_eq!(name, ServerName::IpAddress(ip.into()));
        }

        #[test]
        fn any_address_text_is_handled(address in "\\PC{0,40}") {
            if let Ok(ServerName::DnsName(name)) = worker_server_name(&address) {
                prop_assert!(address.starts_with(name.as_ref()));
            }
        }

        #[test]
        fn alpn_session_is_found_anywhere(
            before in proptest::collection::vec("[a-z/.0-9]{1,12}", 0..4),
            id in "s_[A-Za-z0-9]{10}",
        ) {
            let mut offer: Vec<&[u8]> = before.iter().map(|p| p.as_bytes()).collect();
            offer.push(id.as_bytes());
            prop_assert_eq!(session_from_offer(offer, Some("worker.example")), Some(id.clone()));
        }
    }

    #[test]
    fn worker_host_forms() {
        assert_eq!(worker_host("127.0.0.1:9202"), Some("127.0.0.1"));
        assert_eq!(worker_host("worker.example:9202"), Some("worker.example"));
        assert_eq!(worker_host("[::1]:9202"), Some("::1"));
        assert_eq!(worker_host("[::1]"), Some("::1"));
        assert_eq!(worker_host("::1"), Some("::1"));
        assert_eq!(worker_host("worker"), Some("worker"));
        assert_eq!(worker_host(":9202"), None);
        assert_eq!(worker_host("worker:port"), None);
        assert_eq!(worker_host("[::1]9202"), None);
        assert_eq!(worker_host("[::1"), None);
    }

    #[test]
    fn server_names() {
        let ip = worker_server_name("[::1]:9202").unwrap();
        assert!(matches!(ip, ServerName::IpAddress(_)));
        let dns = worker_server_name("worker.example:9202").unwrap();
        assert_eq!(dns, ServerName::try_from("worker.example").unwrap());
        assert!(matches!(
            worker_server_name("bad host:1"),
            Err(TlsError::InvalidWorkerAddress { .. })
        ));
    }

    #[test]
    fn alpn_wins_over_sni() {
        let alpn: [&[u8]; 3] = [b"http/1.1", b"s_alpn000001", b"s_alpn000002"];
        assert_eq!(
            session_from_offer(alpn, Some("s_sni0000001")).as_deref(),
            Some("s_alpn000001")
        );
        let plain: [&[u8]; 1] = [b"http/1.1"];
        assert_eq!(
            session_from_offer(plain, Some("s_sni0000001")).as_deref(),
            Some("s_sni0000001")
        );
        assert_eq!(session_from_offer(plain, Some("worker.example")), None);
        assert_eq!(session_from_offer([], None), None);
        let not_utf8: [&[u8]; 1] = [b"s_\xff"];
        assert_eq!(session_from_offer(not_utf8, None), None);
    }
}
