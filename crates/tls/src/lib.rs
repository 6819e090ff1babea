//! Session certificates, the rustls configurations both ends of a data connection use, and
//! the TLS connection itself.
//!
//! A Boundary session has one self-signed Ed25519 certificate that BOTH the client proxy and
//! the worker present. Credentials enter this crate either freshly minted
//! ([`SessionCredentials::issue`], what a controller does) or from the certificate and key an
//! authorization token carries ([`SessionCredentials::from_parts`]). They leave as
//! `Arc<rustls::ClientConfig>` / `Arc<rustls::ServerConfig>` whose custom verifiers accept
//! exactly the session certificate: it is a CA certificate used as a leaf, which stock WebPKI
//! verification rejects.
//!
//! A client runs [`connect`]. A worker runs [`accept`], which reads the ClientHello, asks
//! [`requested_session`] which session it names, then finishes the handshake
//! ([`Accepting::finish`]) with [`worker_config`] for a known session or [`refusal_config`]
//! for an unknown one. Either way the bytes then flow through [`TlsStream`], whose records
//! rustls' unbuffered API seals and opens in buffers postern lends it (`stream.rs` says why).
//! Both ends work over any `AsyncRead + AsyncWrite` transport.
//!
//! All configs use the `aws-lc-rs` provider explicitly, never the process-wide default.
#![forbid(unsafe_code)]

pub mod cluster;
mod config;
mod credentials;
mod error;
mod handshake;
mod record;
mod refusal;
mod stream;
mod verifier;

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

pub use config::{
    client_config, requested_session, worker_config, worker_host, worker_server_name,
};
pub use credentials::{SessionCredentials, SessionKey};
pub use error::TlsError;
pub use handshake::{accept, connect, Accepting};
pub use refusal::refusal_config;
pub use stream::TlsStream;

/// The ALPN protocol a worker answers with (and a client offers first).
pub const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// The `aws-lc-rs` provider, built once: configs are built per session and should stay
/// cheap. Against `ring` (same run, alternating binaries) it cut connection setup p50 from
/// 1.10-1.17 to 1.03-1.04 ms and raised connections/s by 15-20%: X25519 and Ed25519 are
/// most of a handshake's CPU. It is the only crypto provider postern builds; the session
/// certificates are minted with it too.
///
/// TLS_AES_128_GCM_SHA256 comes first, as in Go's order on AES hardware (so Boundary's own
/// peers pick it too): 10 AES rounds instead of 14 per block.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut provider = rustls::crypto::aws_lc_rs::default_provider();
            provider
                .cipher_suites
                .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
            Arc::new(provider)
        })
        .clone()
}
