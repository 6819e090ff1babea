//! A server config whose every handshake fails with a `handshake_failure` alert.
//!
//! A worker that reads a ClientHello for an unknown session must answer with a TLS alert, not
//! a reset. rustls has no "refuse" switch, and a certificate resolver returning nothing sends
//! `access_denied`, so this config offers a key exchange group that declares itself unusable:
//! the server finds no group in common and sends `handshake_failure` before its ServerHello,
//! so nothing about this worker's keys or certificates goes out.

use std::sync::{Arc, OnceLock};

use rustls::crypto::{ActiveKeyExchange, CryptoProvider, SupportedKxGroup};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{
    Error, NamedGroup, ProtocolVersion, ServerConfig, SignatureAlgorithm, SignatureScheme,
};

use crate::provider;

/// A config that refuses every handshake with `handshake_failure`. Built once, then shared.
pub fn refusal_config() -> Arc<ServerConfig> {
    static REFUSAL: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    REFUSAL.get_or_init(build).clone()
}

fn build() -> Arc<ServerConfig> {
    let provider = CryptoProvider {
        kx_groups: vec![&UnusableGroup],
        ..(*provider()).clone()
    };
    // The certificate is resolved before the key exchange fails; it is never sent.
    let placeholder = Arc::new(CertifiedKey::new(Vec::new(), Arc::new(NoSigningKey)));
    let config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map(|builder| {
            builder
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(placeholder)))
        });
    match config {
        Ok(config) => Arc::new(config),
        // The builder only checks that a TLS 1.3 suite and an ECDHE group exist, which the
        // aws-lc-rs provider and `UnusableGroup` provide; this arm is never taken.
        Err(error) => unreachable!("refusal config is statically consistent: {error}"),
    }
}

/// Named like X25519 so the builder's consistency check passes; never usable.
#[derive(Debug)]
struct UnusableGroup;

impl SupportedKxGroup for UnusableGroup {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        Err(Error::General("session refused".to_owned()))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }

    fn usable_for_version(&self, _version: ProtocolVersion) -> bool {
        false
    }
}

/// A key that can sign nothing: the refusal config holds no key material.
#[derive(Debug)]
struct NoSigningKey;

impl SigningKey for NoSigningKey {
    fn choose_scheme(&self, _offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        None
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ED25519
    }
}
