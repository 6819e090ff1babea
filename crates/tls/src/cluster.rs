//! The PKI of the controller<->worker cluster link: gRPC over mutual TLS 1.3, ALPN `h2`.
//!
//! All trust comes from one cluster CA that the controllers share ([`ClusterCa`]; storing it
//! is the caller's job). A controller presents a CA-signed server certificate whose only name
//! is [`CLUSTER_SERVER_NAME`]: workers trust the CA, not host names, so every controller
//! carries that name and a worker checks it whatever address it dialled. A worker presents a
//! CA-signed client certificate whose subject CN is its worker id ([`peer_worker_id`]).
//! Before activation a worker has no certificate and knows only the CA's SHA-256 fingerprint,
//! from its activation token ([`ClusterTrust::Fingerprint`]): the controller sends the CA as
//! the last certificate of its chain and the worker trusts it only if it hashes to that pin.
//! After activation the worker keeps the CA itself ([`ClusterTrust::Ca`]).
//!
//! Chains, validity and extended key usage are checked by rustls' own WebPKI verifiers; this
//! module only chooses the trust anchor and the name.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm,
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ED25519,
};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm, SigningKey,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, InconsistentKeys, OtherError,
    PeerIncompatible, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use subtle::ConstantTimeEq;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ECDSA_WITH_SHA256, OID_SIG_ED25519,
    OID_X509_COMMON_NAME,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

use crate::credentials::system_time;
use crate::{provider, TlsError};

/// The DNS name every controller's cluster certificate carries and every worker verifies
/// (trust comes from the cluster CA, not from host names).
pub const CLUSTER_SERVER_NAME: &str = "postern-cluster";
/// ALPN of the link.
pub const CLUSTER_ALPN: &[u8] = b"h2";

const CA_COMMON_NAME: &str = "postern cluster CA";
/// Ten years, leap days included.
const CA_VALIDITY: Duration = Duration::from_secs(3653 * 24 * 60 * 60);
/// How far back NotBefore goes, for peers whose clocks are a little behind ours.
const BACKDATE: Duration = Duration::from_secs(60);
/// 9999-12-31T23:59:59Z, the last instant an X.509 GeneralizedTime can name.
const LAST_X509_SECOND: u64 = 253_402_300_799;
/// RFC 5280's upper bound for a common name.
const MAX_WORKER_ID_LEN: usize = 64;

/// The cluster CA: its certificate and ECDSA P-256 key. Debug shows the fingerprint only.
pub struct ClusterCa {
    certificate: CertificateDer<'static>,
    issuer: Issuer<'static, P256Key>,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field("fingerprint", &hex(&self.fingerprint()))
            .finish_non_exhaustive()
    }
}

impl ClusterCa {
    /// A new self-signed CA: ECDSA P-256, CN "postern cluster CA", basicConstraints CA with
    /// path length 0 (it issues leaves only), keyCertSign, valid 10 years (backdated 60 s).
    pub fn generate() -> Result<Self, TlsError> {
        let key = P256Key::generate("CA")?;
        let mut params = ca_params();
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        set_validity(&mut params, CA_VALIDITY)?;
        params.serial_number = Some(random_serial()?);
        let certificate = params.self_signed(&key).map_err(issue_error("CA"))?;
        Self::from_der(certificate.der(), key.pkcs8())
    }

    /// From stored parts: checks the certificate parses, is a CA named as [`Self::generate`]
    /// names it (certificates issued later must name it byte for byte), and that the key is
    /// its key.
    pub fn from_der(certificate_der: &[u8], key_pkcs8_der: &[u8]) -> Result<Self, TlsError> {
        let certificate = parse_certificate(certificate_der, "CA")?;
        check_is_ca(&certificate)?;
        if !names_only(&certificate, CA_COMMON_NAME) {
            return Err(TlsError::ClusterCaInvalid {
                reason: format!("its subject is not CN={CA_COMMON_NAME}"),
            });
        }
        let key = P256Key::from_pkcs8(key_pkcs8_der, "CA")?;
        if certificate.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(TlsError::ClusterKeyMismatch { whose: "CA" });
        }
        Ok(Self {
            certificate: CertificateDer::from(certificate_der.to_vec()),
            issuer: Issuer::new(ca_params(), key),
        })
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    /// The key as PKCS#8 DER, for the caller to seal and store. Wiped when `self` drops.
    pub fn key_pkcs8_der(&self) -> &[u8] {
        self.issuer.key().pkcs8()
    }

    /// SHA-256 of the CA certificate's DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        sha256(&self.certificate)
    }

    /// A controller's cluster identity: a fresh P-256 key, SAN DNS [`CLUSTER_SERVER_NAME`],
    /// EKU serverAuth, signed by the CA. The chain is [leaf, CA certificate]: a worker that
    /// pins only the CA fingerprint needs the CA sent.
    pub fn issue_controller(&self, validity: Duration) -> Result<ClusterIdentity, TlsError> {
        let key = P256Key::generate("controller")?;
        let mut params = leaf_params(CLUSTER_SERVER_NAME, validity)?;
        let name = CLUSTER_SERVER_NAME
            .try_into()
            .map_err(issue_error("controller"))?;
        params.subject_alt_names = vec![SanType::DnsName(name)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params
            .signed_by(&key, &self.issuer)
            .map_err(issue_error("controller"))?;
        ClusterIdentity::assemble(leaf.der(), &self.certificate, key.pkcs8(), "controller")
    }

    /// A worker's certificate for the public key it sent (a SubjectPublicKeyInfo DER, P-256
    /// or Ed25519): subject CN = `worker_id`, EKU clientAuth, not a CA, signed by the CA,
    /// NotBefore backdated 60 s, NotAfter now + `validity`. Returns the certificate DER.
    pub fn issue_worker(
        &self,
        worker_id: &str,
        public_key_spki_der: &[u8],
        validity: Duration,
    ) -> Result<Vec<u8>, TlsError> {
        check_worker_id(worker_id)?;
        let public_key = WorkerPublicKey::from_spki(public_key_spki_der)?;
        let mut params = leaf_params(worker_id, validity)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let certificate = params
            .signed_by(&public_key, &self.issuer)
            .map_err(issue_error("worker"))?;
        Ok(certificate.der().to_vec())
    }
}

/// A certificate chain and its private key, for one side of the link. Cheap to clone; Debug
/// shows the validity only.
#[derive(Clone)]
pub struct ClusterIdentity {
    leaf: CertificateDer<'static>,
    certified_key: Arc<CertifiedKey>,
    not_after: SystemTime,
}

impl fmt::Debug for ClusterIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterIdentity")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl ClusterIdentity {
    /// A worker's identity from its stored certificate, the CA certificate and its key
    /// (PKCS#8 DER, any key rustls signs with): checks the CA signed the certificate and the
    /// key matches it. Validity is not checked here: the handshake does that.
    pub fn from_der(
        certificate_der: &[u8],
        ca_der: &[u8],
        key_pkcs8_der: &[u8],
    ) -> Result<Self, TlsError> {
        Self::assemble(certificate_der, ca_der, key_pkcs8_der, "worker")
    }

    fn assemble(
        leaf_der: &[u8],
        ca_der: &[u8],
        key_pkcs8_der: &[u8],
        whose: &'static str,
    ) -> Result<Self, TlsError> {
        let ca = parse_certificate(ca_der, "CA")?;
        check_is_ca(&ca)?;
        let leaf = parse_certificate(leaf_der, whose)?;
        check_signed_by(&leaf, &ca, whose)?;
        let not_after = system_time(leaf.validity().not_after.timestamp());

        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8_der));
        let key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key_der).map_err(|e| {
            TlsError::ClusterKey {
                whose,
                reason: format!("not a PKCS#8 key rustls can sign with ({e})"),
            }
        })?;
        let chain = vec![
            CertificateDer::from(leaf_der.to_vec()),
            CertificateDer::from(ca_der.to_vec()),
        ];
        let certified_key = CertifiedKey::new(chain, key);
        match certified_key.keys_match() {
            Ok(()) => {}
            Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
                return Err(TlsError::ClusterKeyMismatch { whose })
            }
            Err(e) => {
                return Err(TlsError::ClusterKey {
                    whose,
                    reason: format!("cannot compare it with its certificate ({e})"),
                })
            }
        }
        Ok(Self {
            leaf: CertificateDer::from(leaf_der.to_vec()),
            certified_key: Arc::new(certified_key),
            not_after,
        })
    }

    /// The leaf certificate.
    pub fn certificate_der(&self) -> &[u8] {
        &self.leaf
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
}

/// A worker's new key pair (ECDSA P-256), before it has a certificate. Debug prints `***`.
pub struct WorkerKey(P256Key);

impl fmt::Debug for WorkerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WorkerKey(***)")
    }
}

impl WorkerKey {
    pub fn generate() -> Result<Self, TlsError> {
        P256Key::generate("worker").map(Self)
    }

    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, TlsError> {
        P256Key::from_pkcs8(der, "worker").map(Self)
    }

    /// The public key as SubjectPublicKeyInfo DER: what the worker sends to be certified.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        self.0.subject_public_key_info()
    }

    /// The key as PKCS#8 DER, to store (mode 0600 is the caller's job).
    pub fn pkcs8_der(&self) -> &[u8] {
        self.0.pkcs8()
    }
}

/// What a worker trusts when it dials a controller.
pub enum ClusterTrust {
    /// The CA certificate (DER), after activation.
    Ca(Vec<u8>),
    /// Only the CA's SHA-256 fingerprint, from an activation token. The controller must send
    /// the CA as the last certificate of its chain; it is trusted only if it hashes to this
    /// fingerprint, and the leaf must then verify against it as the only root.
    Fingerprint([u8; 32]),
}

impl fmt::Debug for ClusterTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Both forms show the fingerprint: a CA certificate is public, and the hash is what an
        // operator compares.
        match self {
            Self::Ca(der) => write!(f, "Ca(sha256 {})", hex(&sha256(der))),
            Self::Fingerprint(pin) => write!(f, "Fingerprint({})", hex(pin)),
        }
    }
}

/// The controller's cluster listener config: TLS 1.3 only, ALPN h2, `identity` as its
/// certificate. A client certificate is optional at the TLS layer (an activating worker has
/// none yet), but one presented must chain to the CA, be valid now and allow clientAuth, or
/// the handshake fails.
pub fn controller_server_config(
    ca_der: &[u8],
    identity: &ClusterIdentity,
) -> Result<Arc<ServerConfig>, TlsError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(ca_roots(ca_der)?, provider())
        .allow_unauthenticated()
        .build()
        .map_err(|source| TlsError::ClusterVerifier {
            side: "controller",
            source,
        })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error("controller"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(
            identity.certified_key.clone(),
        )));
    config.alpn_protocols = vec![CLUSTER_ALPN.to_vec()];
    // A resumed session would skip the client-certificate check, so a worker certificate that
    // expired since the first handshake would still get in. Links are long-lived; full
    // handshakes cost nothing that matters.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    Ok(Arc::new(config))
}

/// A worker's client config: TLS 1.3 only, ALPN h2, the controller verified by `trust` for
/// [`CLUSTER_SERVER_NAME`] (whatever name or address the caller dials); presents `identity`
/// when given.
pub fn worker_client_config(
    trust: &ClusterTrust,
    identity: Option<&ClusterIdentity>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier = Arc::new(ControllerVerifier::new(trust)?);
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(config_error("worker"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        Some(identity) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(
            identity.certified_key.clone(),
        ))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![CLUSTER_ALPN.to_vec()];
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// The worker id (subject CN) of a client certificate the handshake already verified; `None`
/// if there is none or the certificate does not parse.
pub fn peer_worker_id(certificate_der: &[u8]) -> Option<String> {
    let (_, certificate) = X509Certificate::from_der(certificate_der).ok()?;
    let common_name = certificate.subject().iter_common_name().next()?;
    common_name.as_str().ok().map(str::to_owned)
}

/// The worker's view of a controller. rustls' WebPKI verifier does the checking; this picks
/// its root (the stored CA, or the pinned CA the controller sent) and pins the name.
#[derive(Debug)]
struct ControllerVerifier {
    anchor: Anchor,
    name: ServerName<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

#[derive(Debug)]
enum Anchor {
    Ca(Arc<WebPkiServerVerifier>),
    Fingerprint([u8; 32]),
}

impl ControllerVerifier {
    fn new(trust: &ClusterTrust) -> Result<Self, TlsError> {
        let anchor = match trust {
            ClusterTrust::Ca(ca_der) => {
                Anchor::Ca(server_verifier(ca_roots(ca_der)?).map_err(|source| {
                    TlsError::ClusterVerifier {
                        side: "worker",
                        source,
                    }
                })?)
            }
            ClusterTrust::Fingerprint(pin) => Anchor::Fingerprint(*pin),
        };
        let name =
            ServerName::try_from(CLUSTER_SERVER_NAME).map_err(|e| TlsError::ClusterConfig {
                side: "worker",
                source: rustls::Error::General(e.to_string()),
            })?;
        Ok(Self {
            anchor,
            name,
            algorithms: provider().signature_verification_algorithms,
        })
    }
}

impl ServerCertVerifier for ControllerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        // The dialled host or address: every controller is named CLUSTER_SERVER_NAME instead.
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.anchor {
            Anchor::Ca(webpki) => {
                webpki.verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
            }
            Anchor::Fingerprint(pin) => {
                let Some((ca, rest)) = intermediates.split_last() else {
                    return Err(pin_refusal(TlsError::ClusterCaNotSent));
                };
                let same: bool = sha256(ca).ct_eq(pin).into();
                if !same {
                    return Err(pin_refusal(TlsError::ClusterCaFingerprintMismatch));
                }
                let mut roots = RootCertStore::empty();
                roots.add(ca.clone())?;
                let webpki = server_verifier(Arc::new(roots)).map_err(|e| {
                    rustls::Error::General(format!("cluster CA cannot be a root: {e}"))
                })?;
                webpki.verify_server_cert(end_entity, rest, &self.name, ocsp_response, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Unreachable with a TLS 1.3-only config; refuse rather than trust if it ever is.
        Err(PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn server_verifier(
    roots: Arc<RootCertStore>,
) -> Result<Arc<WebPkiServerVerifier>, rustls::server::VerifierBuilderError> {
    WebPkiServerVerifier::builder_with_provider(roots, provider()).build()
}

/// A refusal that carries our own error, so the worker's log says why.
fn pin_refusal(error: TlsError) -> rustls::Error {
    CertificateError::Other(OtherError(Arc::new(error))).into()
}

/// A root store holding only the cluster CA, after checking it is one.
fn ca_roots(ca_der: &[u8]) -> Result<Arc<RootCertStore>, TlsError> {
    check_is_ca(&parse_certificate(ca_der, "CA")?)?;
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der))
        .map_err(|e| TlsError::ClusterCaInvalid {
            reason: format!("not usable as a trust anchor ({e})"),
        })?;
    Ok(Arc::new(roots))
}

/// An ECDSA P-256 key pair (for signing) and its PKCS#8 DER (for storing), which is wiped on
/// drop. It is the CA's, a controller's or a worker's key.
struct P256Key {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl P256Key {
    fn generate(whose: &'static str) -> Result<Self, TlsError> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|_| TlsError::ClusterKey {
                    whose,
                    reason: "ECDSA P-256 key generation failed".to_owned(),
                })?;
        Self::from_pkcs8(pkcs8.as_ref(), whose)
    }

    fn from_pkcs8(der: &[u8], whose: &'static str) -> Result<Self, TlsError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der).map_err(|e| {
            TlsError::ClusterKey {
                whose,
                reason: format!("not an ECDSA P-256 PKCS#8 key ({e})"),
            }
        })?;
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(der.to_vec()),
        })
    }

    fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
}

impl PublicKeyData for P256Key {
    fn der_bytes(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for P256Key {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let signature = self
            .pair
            .sign(&SystemRandom::new(), message)
            .map_err(|_| rcgen::Error::RingUnspecified)?;
        Ok(signature.as_ref().to_vec())
    }
}

/// A public key a worker sent, checked to be one the CA certifies.
struct WorkerPublicKey {
    algorithm: &'static SignatureAlgorithm,
    key: Vec<u8>,
}

impl WorkerPublicKey {
    fn from_spki(der: &[u8]) -> Result<Self, TlsError> {
        let invalid = |reason: String| TlsError::WorkerPublicKey { reason };
        let (rest, spki) =
            SubjectPublicKeyInfo::from_der(der).map_err(|e| invalid(format!("not DER ({e})")))?;
        if !rest.is_empty() {
            return Err(invalid(format!("{} trailing bytes", rest.len())));
        }
        if spki.subject_public_key.unused_bits != 0 {
            return Err(invalid("the key BIT STRING has unused bits".to_owned()));
        }
        let key = spki.subject_public_key.data.as_ref();
        let oid = &spki.algorithm.algorithm;
        let parameters = spki.algorithm.parameters.as_ref();
        let (algorithm, verification, key_len): (_, &'static dyn VerificationAlgorithm, _) =
            if *oid == OID_KEY_TYPE_EC_PUBLIC_KEY {
                if parameters.and_then(|p| p.as_oid().ok()).as_ref() != Some(&OID_EC_P256) {
                    return Err(invalid("an EC key on a curve other than P-256".to_owned()));
                }
                // An uncompressed point: what WebPKI verifiers accept.
                (&rcgen::PKCS_ECDSA_P256_SHA256, &ECDSA_P256_SHA256_ASN1, 65)
            } else if *oid == OID_SIG_ED25519 {
                if parameters.is_some() {
                    return Err(invalid("Ed25519 algorithm with parameters".to_owned()));
                }
                (&rcgen::PKCS_ED25519, &ED25519, 32)
            } else {
                return Err(invalid(format!("algorithm {oid}")));
            };
        if key.len() != key_len {
            return Err(invalid(format!(
                "{} key bytes, expected {key_len}",
                key.len()
            )));
        }
        ParsedPublicKey::new(verification, key)
            .map_err(|e| invalid(format!("not a valid point ({e})")))?;
        Ok(Self {
            algorithm,
            key: key.to_vec(),
        })
    }
}

impl PublicKeyData for WorkerPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

/// What the CA signs with: its name and key usage. Issued certificates copy the name into
/// their issuer field, so it must stay byte-equal to the CA's subject.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(CA_COMMON_NAME);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    params
}

fn leaf_params(subject: &str, validity: Duration) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(subject);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params, validity)?;
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// NotBefore = now - 60 s, NotAfter = now + `validity`.
fn set_validity(params: &mut CertificateParams, validity: Duration) -> Result<(), TlsError> {
    let now = SystemTime::now();
    let not_after = now
        .checked_add(validity)
        .filter(|end| {
            end.duration_since(UNIX_EPOCH)
                .is_ok_and(|since| since.as_secs() <= LAST_X509_SECOND)
        })
        .ok_or(TlsError::ClusterValidityOutOfRange { validity })?;
    params.not_before = now.checked_sub(BACKDATE).unwrap_or(UNIX_EPOCH).into();
    params.not_after = not_after.into();
    Ok(())
}

fn random_serial() -> Result<SerialNumber, TlsError> {
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| TlsError::ClusterRandomness)?;
    // A positive INTEGER without a leading zero byte.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&serial))
}

fn check_worker_id(worker_id: &str) -> Result<(), TlsError> {
    let reason = if worker_id.is_empty() {
        Some("it is empty")
    } else if worker_id.len() > MAX_WORKER_ID_LEN {
        Some("it is longer than 64 bytes")
    } else if worker_id.chars().any(char::is_control) {
        Some("it contains control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TlsError::InvalidWorkerId {
            worker_id: worker_id.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn parse_certificate<'a>(
    der: &'a [u8],
    whose: &'static str,
) -> Result<X509Certificate<'a>, TlsError> {
    let parse_error = |reason: String| TlsError::ClusterCertificateParse { whose, reason };
    let (rest, certificate) =
        X509Certificate::from_der(der).map_err(|e| parse_error(e.to_string()))?;
    if !rest.is_empty() {
        return Err(parse_error(format!("{} trailing bytes", rest.len())));
    }
    Ok(certificate)
}

/// Whether `ca` signed `leaf`. Every cluster CA has the same name, so only the signature
/// tells one cluster's certificates from another's.
fn check_signed_by(
    leaf: &X509Certificate<'_>,
    ca: &X509Certificate<'_>,
    whose: &'static str,
) -> Result<(), TlsError> {
    let mismatch = |reason| Err(TlsError::ClusterIssuerMismatch { whose, reason });
    if leaf.issuer().as_raw() != ca.subject().as_raw() {
        return mismatch("its issuer is not the CA's subject");
    }
    if leaf.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA256 {
        return mismatch("it is not signed with ECDSA P-256 SHA-256, as the CA signs");
    }
    let ca_key = UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_ASN1,
        &ca.public_key().subject_public_key.data,
    );
    match ca_key.verify(leaf.tbs_certificate.as_ref(), &leaf.signature_value.data) {
        Ok(()) => Ok(()),
        Err(_) => mismatch("its signature does not verify with the CA's key"),
    }
}

fn check_is_ca(certificate: &X509Certificate<'_>) -> Result<(), TlsError> {
    let invalid = |reason: String| TlsError::ClusterCaInvalid { reason };
    match certificate.basic_constraints() {
        Ok(Some(constraints)) if constraints.value.ca => {}
        Ok(_) => return Err(invalid("basicConstraints does not say CA".to_owned())),
        Err(e) => return Err(invalid(format!("basicConstraints: {e}"))),
    }
    match certificate.key_usage() {
        Ok(None) => Ok(()),
        Ok(Some(usage)) if usage.value.key_cert_sign() => Ok(()),
        Ok(Some(_)) => Err(invalid("keyUsage lacks keyCertSign".to_owned())),
        Err(e) => Err(invalid(format!("keyUsage: {e}"))),
    }
}

/// Whether the subject is exactly one UTF8String common name equal to `name`, as rcgen
/// encodes [`common_name`].
fn names_only(certificate: &X509Certificate<'_>, name: &str) -> bool {
    let mut attributes = certificate.subject().iter_attributes();
    match (attributes.next(), attributes.next()) {
        (Some(attribute), None) => {
            *attribute.attr_type() == OID_X509_COMMON_NAME
                && attribute.attr_value().tag() == Tag::Utf8String
                && attribute.as_str().is_ok_and(|value| value == name)
        }
        _ => false,
    }
}

fn issue_error(whose: &'static str) -> impl Fn(rcgen::Error) -> TlsError {
    move |source| TlsError::ClusterIssue { whose, source }
}

fn config_error(side: &'static str) -> impl Fn(rustls::Error) -> TlsError {
    move |source| TlsError::ClusterConfig { side, source }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest(&SHA256, bytes).as_ref());
    hash
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
