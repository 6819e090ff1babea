//! The session certificate and its Ed25519 key.
//!
//! Both constructors end in [`SessionCredentials::from_parts`], so a minted certificate is
//! checked exactly like one read from a token. The rustls signing key and the peer verifier are
//! built once here, which keeps the per-session configs in `config.rs` cheap to build.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use subtle::ConstantTimeEq;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::OID_SIG_ED25519;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::verifier::SessionCertVerifier;
use crate::{provider, TlsError};

const SEED_LEN: usize = 32;
const KEY_LEN: usize = 64;
/// How far back NotBefore goes, for clocks a little behind ours (as Boundary does).
const BACKDATE: Duration = Duration::from_secs(60);
/// 9999-12-31T23:59:59Z, the last instant an X.509 GeneralizedTime can name.
const LAST_X509_SECOND: u64 = 253_402_300_799;
/// A PKCS#8 v1 wrapper (RFC 8410) for an Ed25519 seed: what aws-lc-rs and rustls load.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The 64-byte Ed25519 key of a session: 32-byte seed then 32-byte public key, as Go's
/// `ed25519.PrivateKey` (and so a Boundary token) carries it. Debug prints `***`; the bytes
/// are overwritten on drop.
pub struct SessionKey([u8; KEY_LEN]);

impl SessionKey {
    /// The 64 bytes: seed then public key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn seed(&self) -> &[u8] {
        &self.0[..SEED_LEN]
    }

    fn public_key(&self) -> &[u8] {
        &self.0[SEED_LEN..]
    }

    /// The seed wrapped as PKCS#8 for aws-lc-rs/rcgen/rustls. The caller wipes it after use.
    fn pkcs8(&self) -> [u8; PKCS8_ED25519_PREFIX.len() + SEED_LEN] {
        let mut der = [0u8; PKCS8_ED25519_PREFIX.len() + SEED_LEN];
        der[..PKCS8_ED25519_PREFIX.len()].copy_from_slice(&PKCS8_ED25519_PREFIX);
        der[PKCS8_ED25519_PREFIX.len()..].copy_from_slice(self.seed());
        der
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(***)")
    }
}

impl Drop for SessionKey {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    // Keeps the stores from being optimised away as dead.
    std::hint::black_box(bytes);
}

/// A session's certificate and key, ready to build either end's TLS config. Cheap to clone.
#[derive(Clone)]
pub struct SessionCredentials(Arc<Inner>);

struct Inner {
    session_id: String,
    certificate: CertificateDer<'static>,
    key: SessionKey,
    not_after: SystemTime,
    certified_key: Arc<CertifiedKey>,
    verifier: Arc<SessionCertVerifier>,
    /// Built at the first connection, then shared by all of this session's connections.
    worker_config: OnceLock<Arc<ServerConfig>>,
}

impl fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("session_id", &self.0.session_id)
            .field("not_after", &self.0.not_after)
            .finish_non_exhaustive()
    }
}

impl SessionCredentials {
    /// Mint a new certificate + key. `worker_hosts`: host names or IP literals of the workers
    /// (IPs go to IP SANs, names to DNS SANs after the session id).
    pub fn issue(
        session_id: &str,
        worker_hosts: &[String],
        not_after: SystemTime,
    ) -> Result<Self, TlsError> {
        let rng = SystemRandom::new();
        let mut seed = [0u8; SEED_LEN];
        rng.fill(&mut seed).map_err(|_| TlsError::Randomness)?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| TlsError::Randomness)?;
        let mut key_bytes = [0u8; KEY_LEN];
        key_bytes[..SEED_LEN].copy_from_slice(&seed);
        key_bytes[SEED_LEN..].copy_from_slice(pair.public_key().as_ref());
        wipe(&mut seed);
        let key = SessionKey(key_bytes);
        wipe(&mut key_bytes);

        let mut pkcs8 = key.pkcs8();
        let signer = KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(&pkcs8[..]),
            &rcgen::PKCS_ED25519,
        );
        wipe(&mut pkcs8);
        let signer = signer?;

        let params = certificate_params(session_id, worker_hosts, not_after, &rng)?;
        let certificate = params.self_signed(&signer)?;
        Self::from_parts(session_id, certificate.der(), key.as_bytes())
    }

    /// From a token's certificate DER and 64-byte private key: checks the key length, that the
    /// public half matches the seed, that the certificate parses, is Ed25519 with that public
    /// key, and names `session_id` in its DNS SANs.
    pub fn from_parts(
        session_id: &str,
        certificate_der: &[u8],
        private_key: &[u8],
    ) -> Result<Self, TlsError> {
        let mut key_bytes: [u8; KEY_LEN] =
            private_key.try_into().map_err(|_| TlsError::KeyLength {
                actual: private_key.len(),
            })?;
        let key = SessionKey(key_bytes);
        wipe(&mut key_bytes);
        Ed25519KeyPair::from_seed_and_public_key(key.seed(), key.public_key())
            .map_err(|_| TlsError::KeyMismatch)?;

        let facts = CertificateFacts::parse(certificate_der)?;
        if facts.public_key != key.public_key() {
            return Err(TlsError::CertificateKeyMismatch);
        }
        if !facts.dns_names.iter().any(|name| name == session_id) {
            return Err(TlsError::CertificateSessionMismatch {
                session_id: session_id.to_owned(),
            });
        }

        let certificate = CertificateDer::from(certificate_der.to_vec());
        let mut pkcs8 = key.pkcs8();
        let signing_key =
            rustls::crypto::aws_lc_rs::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(&pkcs8[..]));
        wipe(&mut pkcs8);
        let certified_key = Arc::new(CertifiedKey::new(vec![certificate.clone()], signing_key?));
        let verifier = Arc::new(SessionCertVerifier::new(
            certificate.clone(),
            facts.not_before,
            facts.not_after,
            provider().signature_verification_algorithms,
        ));

        Ok(Self(Arc::new(Inner {
            session_id: session_id.to_owned(),
            certificate,
            key,
            not_after: system_time(facts.not_after),
            certified_key,
            verifier,
            worker_config: OnceLock::new(),
        })))
    }

    /// The worker's config for this session, built once (see [`crate::worker_config`]).
    pub(crate) fn worker_config(
        &self,
        build: impl FnOnce(&Self) -> Result<Arc<ServerConfig>, TlsError>,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        if let Some(config) = self.0.worker_config.get() {
            return Ok(config.clone());
        }
        let config = build(self)?;
        Ok(self.0.worker_config.get_or_init(|| config).clone())
    }

    pub fn session_id(&self) -> &str {
        &self.0.session_id
    }

    /// Whether these are the credentials [`Self::from_parts`] would make of these parts (the
    /// key compared in constant time): a store that keeps credentials it made reuses them
    /// instead of checking and parsing the same parts again.
    pub fn is_made_of(&self, session_id: &str, certificate_der: &[u8], private_key: &[u8]) -> bool {
        let same_key: bool = self.0.key.as_bytes().ct_eq(private_key).into();
        same_key && self.0.session_id == session_id && *self.0.certificate == *certificate_der
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.0.certificate
    }

    pub fn private_key(&self) -> &SessionKey {
        &self.0.key
    }

    /// The certificate's NotAfter: the session expiration, to the second.
    pub fn not_after(&self) -> SystemTime {
        self.0.not_after
    }

    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        self.0.certified_key.clone()
    }

    pub(crate) fn verifier(&self) -> Arc<SessionCertVerifier> {
        self.0.verifier.clone()
    }
}

fn certificate_params(
    session_id: &str,
    worker_hosts: &[String],
    not_after: SystemTime,
    rng: &SystemRandom,
) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, session_id);
    params.distinguished_name = subject;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.subject_alt_names = vec![dns_san(session_id)?];
    for host in worker_hosts {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        params
            .subject_alt_names
            .push(match literal.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => dns_san(host)?,
            });
    }
    let mut serial = [0u8; 16];
    rng.fill(&mut serial).map_err(|_| TlsError::Randomness)?;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = SystemTime::now();
    params.not_before = now.checked_sub(BACKDATE).unwrap_or(UNIX_EPOCH).into();
    let representable = not_after
        .duration_since(UNIX_EPOCH)
        .is_ok_and(|since| since.as_secs() <= LAST_X509_SECOND);
    if !representable {
        return Err(TlsError::NotAfterOutOfRange);
    }
    params.not_after = not_after.into();
    Ok(params)
}

fn dns_san(name: &str) -> Result<SanType, TlsError> {
    let name_error = |reason: String| TlsError::InvalidCertificateName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(name_error("empty name".to_owned()));
    }
    let ia5 = name
        .try_into()
        .map_err(|e: rcgen::Error| name_error(e.to_string()))?;
    Ok(SanType::DnsName(ia5))
}

/// What the crate needs from a parsed session certificate.
struct CertificateFacts {
    public_key: Vec<u8>,
    dns_names: Vec<String>,
    /// Unix seconds.
    not_before: i64,
    not_after: i64,
}

impl CertificateFacts {
    fn parse(der: &[u8]) -> Result<Self, TlsError> {
        let parse_error = |reason: String| TlsError::CertificateParse { reason };
        let (rest, certificate) =
            X509Certificate::from_der(der).map_err(|e| parse_error(e.to_string()))?;
        if !rest.is_empty() {
            return Err(parse_error(format!("{} trailing bytes", rest.len())));
        }
        let spki = certificate.public_key();
        if spki.algorithm.algorithm != OID_SIG_ED25519 {
            return Err(TlsError::CertificateNotEd25519);
        }
        let dns_names = match certificate.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(parse_error(format!("subject alternative names: {e}"))),
        };
        let validity = certificate.validity();
        Ok(Self {
            public_key: spki.subject_public_key.data.to_vec(),
            dns_names,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        })
    }
}

pub(crate) fn system_time(unix_seconds: i64) -> SystemTime {
    let magnitude = Duration::from_secs(unix_seconds.unsigned_abs());
    let time = if unix_seconds >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    };
    // X.509 times fit every platform's SystemTime; the fallback is unreachable in practice.
    time.unwrap_or(UNIX_EPOCH)
}
