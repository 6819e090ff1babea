//! The one error type of this crate.

/// What went wrong while minting, loading or configuring session TLS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The session private key is not the 64 bytes of a Go `ed25519.PrivateKey`.
    #[error(
        "session private key is {actual} bytes, expected 64 (32-byte seed + 32-byte public key)"
    )]
    KeyLength { actual: usize },
    /// The public half of the 64-byte key is not the one its seed derives.
    #[error("session private key is inconsistent: its public half does not match its seed")]
    KeyMismatch,
    /// The session certificate is not a parseable X.509 DER certificate.
    #[error("session certificate does not parse: {reason}")]
    CertificateParse { reason: String },
    /// The session certificate's key is not Ed25519.
    #[error("session certificate key is not Ed25519")]
    CertificateNotEd25519,
    /// The session certificate certifies some other key than the session private key.
    #[error("session certificate public key does not match the session private key")]
    CertificateKeyMismatch,
    /// The session certificate does not name the session in its DNS SANs.
    #[error("session certificate does not name session {session_id} in its DNS SANs")]
    CertificateSessionMismatch { session_id: String },
    /// A name cannot go into the certificate (not ASCII, or not a DNS name / IP literal).
    #[error("cannot put {name:?} into the session certificate: {reason}")]
    InvalidCertificateName { name: String, reason: String },
    /// The requested NotAfter is before 1970 or past what X.509 can express (year 9999).
    #[error("session expiration is outside 1970..=9999 and cannot be a certificate NotAfter")]
    NotAfterOutOfRange,
    /// The certificate could not be built or signed.
    #[error("cannot issue the session certificate: {0}")]
    Issue(#[from] rcgen::Error),
    /// The system random source failed while minting a key or serial number.
    #[error("system random source failed while issuing the session certificate")]
    Randomness,
    /// rustls refused the session key or the configuration.
    #[error("cannot build the session TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// A worker address has no usable host part.
    #[error("worker address {address:?} is not host:port with a DNS name or IP address")]
    InvalidWorkerAddress { address: String },
}
