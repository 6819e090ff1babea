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

    // The cluster link (`cluster.rs`). `whose` names the certificate's owner: "CA",
    // "controller" or "worker".
    /// A cluster key cannot be generated, or does not load as the kind of key it must be.
    #[error("cluster {whose} key: {reason}")]
    ClusterKey { whose: &'static str, reason: String },
    /// A cluster certificate is not parseable X.509 DER.
    #[error("cluster {whose} certificate does not parse: {reason}")]
    ClusterCertificateParse { whose: &'static str, reason: String },
    /// The certificate given as the cluster CA cannot be one.
    #[error("cluster CA certificate is unusable: {reason}")]
    ClusterCaInvalid { reason: String },
    /// A cluster key is not the key its certificate certifies.
    #[error("cluster {whose} key does not match the public key of its certificate")]
    ClusterKeyMismatch { whose: &'static str },
    /// A cluster certificate was not issued by the CA it is stored with.
    #[error("cluster {whose} certificate was not issued by this cluster CA: {reason}")]
    ClusterIssuerMismatch {
        whose: &'static str,
        reason: &'static str,
    },
    /// A worker sent a public key the cluster CA will not certify.
    #[error("worker public key is not a P-256 or Ed25519 SubjectPublicKeyInfo: {reason}")]
    WorkerPublicKey { reason: String },
    /// A worker id cannot be the subject common name of its certificate.
    #[error("worker id {worker_id:?} cannot be a certificate common name: {reason}")]
    InvalidWorkerId {
        worker_id: String,
        reason: &'static str,
    },
    /// Now + the requested validity is past what X.509 can express (year 9999).
    #[error("cluster certificate validity of {validity:?} ends past year 9999, which X.509 cannot express")]
    ClusterValidityOutOfRange { validity: std::time::Duration },
    /// The system random source failed while drawing a serial number.
    #[error("system random source failed while issuing a cluster certificate")]
    ClusterRandomness,
    /// A cluster certificate could not be built or signed.
    #[error("cannot issue the cluster {whose} certificate: {source}")]
    ClusterIssue {
        whose: &'static str,
        source: rcgen::Error,
    },
    /// rustls refused a cluster TLS configuration.
    #[error("cannot build the {side} cluster TLS configuration: {source}")]
    ClusterConfig {
        side: &'static str,
        source: rustls::Error,
    },
    /// rustls refused to build a cluster certificate verifier.
    #[error("cannot build the {side} cluster certificate verifier: {source}")]
    ClusterVerifier {
        side: &'static str,
        source: rustls::server::VerifierBuilderError,
    },
    /// A controller's chain ends at its leaf, so a worker that pins only the CA fingerprint
    /// has nothing to check it against.
    #[error("controller sent no cluster CA certificate after its leaf; the pinned CA fingerprint cannot be checked")]
    ClusterCaNotSent,
    /// The CA certificate a controller sent does not hash to the fingerprint the worker pins.
    #[error("controller's cluster CA certificate does not match the pinned SHA-256 fingerprint")]
    ClusterCaFingerprintMismatch,
}
