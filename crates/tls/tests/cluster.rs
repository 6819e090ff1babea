//! The cluster link's PKI: real TLS 1.3 handshakes over 127.0.0.1 between the controller's
//! listener config and a worker's client config, the certificates they carry, and OpenSSL as
//! an independent verifier of the chains.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use postern_tls::cluster::{
    controller_server_config, peer_worker_id, worker_client_config, ClusterCa, ClusterIdentity,
    ClusterTrust, WorkerKey, CLUSTER_ALPN, CLUSTER_SERVER_NAME,
};
use postern_tls::TlsError;
use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, PublicKeyData as _,
};
use rustls::{CertificateError, ClientConfig, Error, ServerConfig};
use rustls_pki_types::{PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

const DEADLINE: Duration = Duration::from_secs(10);
const WORKER_ID: &str = "w_1234567890";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// What the controller saw of a connection that completed.
#[derive(Debug)]
struct ControllerSide {
    peer_certificates: Option<Vec<Vec<u8>>>,
    alpn: Option<Vec<u8>>,
}

/// What the worker saw of a connection that completed.
#[derive(Debug)]
struct WorkerSide {
    alpn: Option<Vec<u8>>,
}

/// One connection: the worker dials (by IP, naming nothing in particular), both sides finish
/// the handshake and exchange four bytes each way. In TLS 1.3 the client's handshake ends
/// before the server has checked its certificate, so only the round trip shows a refusal on
/// the worker's side.
async fn connect(
    controller: Arc<ServerConfig>,
    worker: Arc<ClientConfig>,
) -> (io::Result<WorkerSide>, io::Result<ControllerSide>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let controller_task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let mut tls = TlsAcceptor::from(controller).accept(tcp).await?;
        let mut ping = [0u8; 4];
        tls.read_exact(&mut ping).await?;
        tls.write_all(b"pong").await?;
        tls.flush().await?;
        let (_, connection) = tls.get_ref();
        Ok(ControllerSide {
            peer_certificates: connection
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.to_vec()).collect()),
            alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
        })
    });
    let worker_side = async {
        let tcp = TcpStream::connect(address).await?;
        let dialled = ServerName::IpAddress(address.ip().into());
        let mut tls = TlsConnector::from(worker).connect(dialled, tcp).await?;
        tls.write_all(b"ping").await?;
        let mut pong = [0u8; 4];
        tls.read_exact(&mut pong).await?;
        assert_eq!(&pong, b"pong");
        let (_, connection) = tls.get_ref();
        Ok(WorkerSide {
            alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
        })
    };
    let worker_side = timeout(DEADLINE, worker_side)
        .await
        .expect("worker side in time");
    let controller_side = timeout(DEADLINE, controller_task)
        .await
        .expect("controller side in time")
        .unwrap();
    (worker_side, controller_side)
}

/// The rustls error inside a failed side.
fn tls_error<T: std::fmt::Debug>(result: &io::Result<T>) -> &Error {
    let error = result.as_ref().expect_err("the handshake should fail");
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .unwrap_or_else(|| panic!("not a TLS error: {error:?}"))
}

/// The postern error a worker's refusal of a controller carries.
fn pin_refusal<T: std::fmt::Debug>(result: &io::Result<T>) -> &TlsError {
    match tls_error(result) {
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            other.0.downcast_ref().expect("a postern error")
        }
        error => panic!("not a refusal by postern's verifier: {error:?}"),
    }
}

/// A CA and its controller, the controller's listener config.
struct Cluster {
    ca: ClusterCa,
    controller: Arc<ServerConfig>,
}

fn cluster() -> Cluster {
    let ca = ClusterCa::generate().unwrap();
    let identity = ca.issue_controller(DAY).unwrap();
    let controller = controller_server_config(ca.certificate_der(), &identity).unwrap();
    Cluster { ca, controller }
}

/// A worker identity issued by `ca`, the way activation makes one.
fn worker_identity(ca: &ClusterCa, validity: Duration) -> ClusterIdentity {
    let key = WorkerKey::generate().unwrap();
    let certificate = ca
        .issue_worker(WORKER_ID, &key.public_key_spki_der(), validity)
        .unwrap();
    ClusterIdentity::from_der(&certificate, ca.certificate_der(), key.pkcs8_der()).unwrap()
}

/// The CA as rcgen sees it, to sign what `ClusterCa` would not issue.
fn ca_issuer(ca: &ClusterCa) -> Issuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "postern cluster CA");
    Issuer::new(params, KeyPair::try_from(ca.key_pkcs8_der()).unwrap())
}

/// A worker certificate signed by the CA but valid over a window of the test's choosing,
/// which `issue_worker` (NotBefore always now - 60 s) cannot make.
fn worker_certificate_valid(
    ca: &ClusterCa,
    key: &WorkerKey,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Vec<u8> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, WORKER_ID);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    let worker_key = KeyPair::try_from(key.pkcs8_der()).unwrap();
    params
        .signed_by(&worker_key, &ca_issuer(ca))
        .unwrap()
        .der()
        .to_vec()
}

fn ca_trust(ca: &ClusterCa) -> ClusterTrust {
    ClusterTrust::Ca(ca.certificate_der().to_vec())
}

#[tokio::test]
async fn worker_with_ca_issued_certificate_is_identified() {
    let Cluster { ca, controller } = cluster();
    let identity = worker_identity(&ca, DAY);
    let worker = worker_client_config(&ca_trust(&ca), Some(&identity)).unwrap();

    let (worker_side, controller_side) = connect(controller, worker).await;

    assert_eq!(worker_side.unwrap().alpn.as_deref(), Some(CLUSTER_ALPN));
    let controller_side = controller_side.unwrap();
    assert_eq!(controller_side.alpn.as_deref(), Some(CLUSTER_ALPN));
    let chain = controller_side.peer_certificates.unwrap();
    assert_eq!(chain[0], identity.certificate_der());
    assert_eq!(peer_worker_id(&chain[0]).as_deref(), Some(WORKER_ID));
}

#[tokio::test]
async fn activating_worker_without_certificate_completes_with_the_pinned_fingerprint() {
    let Cluster { ca, controller } = cluster();
    let worker = worker_client_config(&ClusterTrust::Fingerprint(ca.fingerprint()), None).unwrap();

    let (worker_side, controller_side) = connect(controller, worker).await;

    assert_eq!(worker_side.unwrap().alpn.as_deref(), Some(CLUSTER_ALPN));
    assert_eq!(controller_side.unwrap().peer_certificates, None);
}

#[tokio::test]
async fn worker_without_certificate_completes_with_the_ca() {
    let Cluster { ca, controller } = cluster();
    let worker = worker_client_config(&ca_trust(&ca), None).unwrap();

    let (worker_side, controller_side) = connect(controller, worker).await;

    worker_side.unwrap();
    assert_eq!(controller_side.unwrap().peer_certificates, None);
}

#[tokio::test]
async fn worker_with_a_wrong_fingerprint_refuses_the_controller() {
    let Cluster { ca, controller } = cluster();
    let mut pin = ca.fingerprint();
    pin[31] ^= 1;
    let worker = worker_client_config(&ClusterTrust::Fingerprint(pin), None).unwrap();

    let (worker_side, controller_side) = connect(controller, worker).await;

    assert_eq!(
        pin_refusal(&worker_side).to_string(),
        "controller's cluster CA certificate does not match the pinned SHA-256 fingerprint"
    );
    assert!(controller_side.is_err());
}

#[tokio::test]
async fn controller_that_omits_the_ca_is_refused_by_a_pinning_worker() {
    let ca = ClusterCa::generate().unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new([CLUSTER_SERVER_NAME.to_owned()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = params.signed_by(&key, &ca_issuer(&ca)).unwrap();
    let leaf_only = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    )
    .unwrap();
    let leaf_only = Arc::new(leaf_only);

    // A worker holding the CA needs nothing more than the leaf.
    let worker = worker_client_config(&ca_trust(&ca), None).unwrap();
    let (worker_side, _) = connect(leaf_only.clone(), worker).await;
    worker_side.unwrap();

    let worker = worker_client_config(&ClusterTrust::Fingerprint(ca.fingerprint()), None).unwrap();
    let (worker_side, _) = connect(leaf_only, worker).await;
    assert!(matches!(
        pin_refusal(&worker_side),
        TlsError::ClusterCaNotSent
    ));
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused_by_the_controller() {
    let Cluster { ca, controller } = cluster();
    let other_ca = ClusterCa::generate().unwrap();
    let identity = worker_identity(&other_ca, DAY);
    let worker = worker_client_config(&ca_trust(&ca), Some(&identity)).unwrap();

    let (worker_side, controller_side) = connect(controller, worker).await;

    // Every cluster CA has the same name: WebPKI finds the issuer, then the signature fails.
    assert_eq!(
        tls_error(&controller_side),
        &Error::InvalidCertificate(CertificateError::BadSignature)
    );
    assert!(worker_side.is_err());
}

#[tokio::test]
async fn controller_identity_is_not_a_worker_identity() {
    let Cluster { ca, controller } = cluster();
    // Signed by the right CA, but for serverAuth only.
    let controller_identity = ca.issue_controller(DAY).unwrap();
    let worker = worker_client_config(&ca_trust(&ca), Some(&controller_identity)).unwrap();

    let (worker_side, controller_side) = connect(controller, worker).await;

    let error = tls_error(&controller_side);
    assert!(
        matches!(
            error,
            Error::InvalidCertificate(CertificateError::InvalidPurposeContext { .. })
                | Error::InvalidCertificate(CertificateError::InvalidPurpose)
        ),
        "{error:?}"
    );
    assert!(worker_side.is_err());
}

#[tokio::test]
async fn controller_from_another_ca_is_refused_by_the_worker() {
    let Cluster { ca, .. } = cluster();
    let Cluster {
        controller: other_controller,
        ..
    } = cluster();

    let worker = worker_client_config(&ca_trust(&ca), None).unwrap();
    let (worker_side, _) = connect(other_controller.clone(), worker).await;
    assert_eq!(
        tls_error(&worker_side),
        &Error::InvalidCertificate(CertificateError::BadSignature)
    );

    // The pinned fingerprint is the trusted CA's; the other controller sends its own CA.
    let worker = worker_client_config(&ClusterTrust::Fingerprint(ca.fingerprint()), None).unwrap();
    let (worker_side, _) = connect(other_controller, worker).await;
    assert!(matches!(
        pin_refusal(&worker_side),
        TlsError::ClusterCaFingerprintMismatch
    ));
}

#[tokio::test]
async fn expired_worker_certificate_is_refused() {
    let Cluster { ca, controller } = cluster();
    let key = WorkerKey::generate().unwrap();
    let now = SystemTime::now();
    let connect_with = |certificate: Vec<u8>| {
        let identity =
            ClusterIdentity::from_der(&certificate, ca.certificate_der(), key.pkcs8_der()).unwrap();
        let worker = worker_client_config(&ca_trust(&ca), Some(&identity)).unwrap();
        connect(controller.clone(), worker)
    };

    // The same helper with a window around now is accepted: only time differs below.
    let current = worker_certificate_valid(&ca, &key, now - DAY, now + DAY);
    let (worker_side, controller_side) = connect_with(current).await;
    worker_side.unwrap();
    controller_side.unwrap();

    let expired = worker_certificate_valid(&ca, &key, now - 2 * DAY, now - DAY);
    let (worker_side, controller_side) = connect_with(expired).await;
    let error = tls_error(&controller_side);
    assert!(
        matches!(
            error,
            Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
        ),
        "{error:?}"
    );
    assert!(worker_side.is_err());

    let not_yet_valid = worker_certificate_valid(&ca, &key, now + DAY, now + 2 * DAY);
    let (_, controller_side) = connect_with(not_yet_valid).await;
    let error = tls_error(&controller_side);
    assert!(
        matches!(
            error,
            Error::InvalidCertificate(CertificateError::NotValidYetContext { .. })
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn ed25519_worker_key_is_certified_and_accepted() {
    let Cluster { ca, controller } = cluster();
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let certificate = ca
        .issue_worker(WORKER_ID, &key.subject_public_key_info(), DAY)
        .unwrap();
    let identity =
        ClusterIdentity::from_der(&certificate, ca.certificate_der(), &key.serialize_der())
            .unwrap();
    let worker = worker_client_config(&ca_trust(&ca), Some(&identity)).unwrap();

    let (worker_side, controller_side) = connect(controller, worker).await;

    worker_side.unwrap();
    let chain = controller_side.unwrap().peer_certificates.unwrap();
    assert_eq!(peer_worker_id(&chain[0]).as_deref(), Some(WORKER_ID));
}

#[test]
fn certificates_carry_the_profile_of_their_role() {
    let ca = ClusterCa::generate().unwrap();
    let (_, ca_cert) = X509Certificate::from_der(ca.certificate_der()).unwrap();
    assert_eq!(ca_cert.subject().to_string(), "CN=postern cluster CA");
    assert!(ca_cert.basic_constraints().unwrap().unwrap().value.ca);
    assert!(ca_cert.key_usage().unwrap().unwrap().value.key_cert_sign());
    let validity = ca_cert.validity();
    let ten_years = validity.not_after.timestamp() - validity.not_before.timestamp();
    assert!(
        (3652 * 86_400..=3654 * 86_400).contains(&ten_years),
        "{ten_years}"
    );

    let controller = ca.issue_controller(DAY).unwrap();
    let (_, leaf) = X509Certificate::from_der(controller.certificate_der()).unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        san.value.general_names,
        vec![GeneralName::DNSName(CLUSTER_SERVER_NAME)]
    );
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    assert_eq!(leaf.issuer().as_raw(), ca_cert.subject().as_raw());
    let until = controller
        .not_after()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        until <= DAY && until > DAY - Duration::from_secs(5),
        "{until:?}"
    );

    let key = WorkerKey::generate().unwrap();
    let der = ca
        .issue_worker(WORKER_ID, &key.public_key_spki_der(), DAY)
        .unwrap();
    let (_, worker) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(worker.subject().to_string(), format!("CN={WORKER_ID}"));
    let eku = worker.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(!worker.basic_constraints().unwrap().unwrap().value.ca);
    assert_eq!(worker.public_key().raw, key.public_key_spki_der());
    let validity = worker.validity();
    let lifetime = validity.not_after.timestamp() - validity.not_before.timestamp();
    assert_eq!(lifetime, DAY.as_secs() as i64 + 60);
}

#[test]
fn garbage_public_keys_are_refused() {
    let ca = ClusterCa::generate().unwrap();
    let p256 = WorkerKey::generate().unwrap().public_key_spki_der();
    let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
        .unwrap()
        .subject_public_key_info();
    let mut off_curve = p256.clone();
    let last = off_curve.len() - 1;
    off_curve[last] ^= 1;
    let mut trailing = p256.clone();
    trailing.push(0);

    let cases: [(&str, &[u8], &str); 6] = [
        ("empty", &[], "not DER"),
        ("text", b"not a key at all", "not DER"),
        ("P-384", &p384, "curve other than P-256"),
        ("off the curve", &off_curve, "not a valid point"),
        ("trailing byte", &trailing, "1 trailing bytes"),
        ("a certificate", ca.certificate_der(), "not DER"),
    ];
    for (what, spki, expected) in cases {
        let error = ca.issue_worker(WORKER_ID, spki, DAY).unwrap_err();
        assert!(
            matches!(error, TlsError::WorkerPublicKey { .. }),
            "{what}: {error:?}"
        );
        let text = error.to_string();
        assert!(text.contains(expected), "{what}: {text}");
    }
}

#[test]
fn truncated_public_keys_are_refused() {
    let ca = ClusterCa::generate().unwrap();
    let ed25519 = KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .unwrap()
        .subject_public_key_info();
    for spki in [
        WorkerKey::generate().unwrap().public_key_spki_der(),
        ed25519,
    ] {
        ca.issue_worker(WORKER_ID, &spki, DAY).unwrap();
        for len in 0..spki.len() {
            let result = ca.issue_worker(WORKER_ID, &spki[..len], DAY);
            assert!(
                matches!(result, Err(TlsError::WorkerPublicKey { .. })),
                "{len} of {} bytes: {result:?}",
                spki.len()
            );
        }
    }
}

#[test]
fn bad_worker_ids_and_validities_are_refused() {
    let ca = ClusterCa::generate().unwrap();
    let spki = WorkerKey::generate().unwrap().public_key_spki_der();
    for worker_id in ["", "w_\n123", &"w".repeat(65)] {
        let error = ca.issue_worker(worker_id, &spki, DAY).unwrap_err();
        assert!(
            matches!(error, TlsError::InvalidWorkerId { .. }),
            "{worker_id:?}: {error:?}"
        );
    }
    ca.issue_worker(&"w".repeat(64), &spki, DAY).unwrap();

    let error = ca
        .issue_worker(WORKER_ID, &spki, Duration::MAX)
        .unwrap_err();
    assert!(error.to_string().contains("past year 9999"), "{error}");
    let error = ca.issue_controller(Duration::MAX).unwrap_err();
    assert!(matches!(error, TlsError::ClusterValidityOutOfRange { .. }));
}

#[test]
fn ca_round_trips_through_its_stored_parts() {
    let ca = ClusterCa::generate().unwrap();
    let loaded = ClusterCa::from_der(ca.certificate_der(), ca.key_pkcs8_der()).unwrap();
    assert_eq!(loaded.certificate_der(), ca.certificate_der());
    assert_eq!(loaded.key_pkcs8_der(), ca.key_pkcs8_der());
    assert_eq!(loaded.fingerprint(), ca.fingerprint());
    let fingerprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, ca.certificate_der());
    assert_eq!(&ca.fingerprint()[..], fingerprint.as_ref());

    // What the reloaded CA issues chains to the original certificate.
    let identity = worker_identity(&loaded, DAY);
    assert_eq!(
        peer_worker_id(identity.certificate_der()).as_deref(),
        Some(WORKER_ID)
    );

    let other = ClusterCa::generate().unwrap();
    let error = ClusterCa::from_der(ca.certificate_der(), other.key_pkcs8_der()).unwrap_err();
    assert!(
        matches!(error, TlsError::ClusterKeyMismatch { whose: "CA" }),
        "{error:?}"
    );
    let error = ClusterCa::from_der(ca.certificate_der(), b"not a key").unwrap_err();
    assert!(
        matches!(error, TlsError::ClusterKey { whose: "CA", .. }),
        "{error:?}"
    );
    let error = ClusterCa::from_der(b"not a certificate", ca.key_pkcs8_der()).unwrap_err();
    assert!(
        matches!(error, TlsError::ClusterCertificateParse { whose: "CA", .. }),
        "{error:?}"
    );

    // A worker's certificate is no CA.
    let key = WorkerKey::generate().unwrap();
    let worker = ca
        .issue_worker(WORKER_ID, &key.public_key_spki_der(), DAY)
        .unwrap();
    let error = ClusterCa::from_der(&worker, key.pkcs8_der()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cluster CA certificate is unusable: basicConstraints does not say CA"
    );
}

#[tokio::test]
async fn worker_identity_checks_its_parts() {
    let Cluster { ca, controller } = cluster();
    let key = WorkerKey::generate().unwrap();
    let certificate = ca
        .issue_worker(WORKER_ID, &key.public_key_spki_der(), DAY)
        .unwrap();

    let other_key = WorkerKey::generate().unwrap();
    let error =
        ClusterIdentity::from_der(&certificate, ca.certificate_der(), other_key.pkcs8_der())
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cluster worker key does not match the public key of its certificate"
    );
    let other_ca = ClusterCa::generate().unwrap();
    let error =
        ClusterIdentity::from_der(&certificate, other_ca.certificate_der(), key.pkcs8_der())
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cluster worker certificate was not issued by this cluster CA: \
         its signature does not verify with the CA's key"
    );

    // The key survives storage: the reloaded key still fits its certificate.
    let reloaded = WorkerKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
    assert_eq!(reloaded.public_key_spki_der(), key.public_key_spki_der());
    assert_eq!(reloaded.pkcs8_der(), key.pkcs8_der());
    let identity =
        ClusterIdentity::from_der(&certificate, ca.certificate_der(), reloaded.pkcs8_der())
            .unwrap();
    let worker = worker_client_config(&ca_trust(&ca), Some(&identity)).unwrap();
    let (worker_side, controller_side) = connect(controller, worker).await;
    worker_side.unwrap();
    controller_side.unwrap();

    let error = WorkerKey::from_pkcs8_der(b"garbage").unwrap_err();
    assert!(
        matches!(
            error,
            TlsError::ClusterKey {
                whose: "worker",
                ..
            }
        ),
        "{error:?}"
    );
}

/// The 32-byte private scalar inside a P-256 PKCS#8 (ECPrivateKey: version 1, then the
/// scalar as a 32-byte OCTET STRING).
fn private_scalar(pkcs8: &[u8]) -> &[u8] {
    let marker = [0x02, 0x01, 0x01, 0x04, 0x20];
    let at = pkcs8
        .windows(marker.len())
        .position(|window| window == marker)
        .unwrap()
        + marker.len();
    &pkcs8[at..at + 32]
}

#[test]
fn debug_never_shows_a_key() {
    let ca = ClusterCa::generate().unwrap();
    let worker_key = WorkerKey::generate().unwrap();
    let identity = worker_identity(&ca, DAY);
    let controller = ca.issue_controller(DAY).unwrap();

    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let list = |bytes: &[u8]| {
        let text = format!("{bytes:?}");
        text.trim_matches(['[', ']']).to_owned()
    };
    let keys = [ca.key_pkcs8_der(), worker_key.pkcs8_der()];
    let outputs = [
        format!("{ca:?}"),
        format!("{ca:#?}"),
        format!("{worker_key:?}"),
        format!("{identity:?}"),
        format!("{controller:#?}"),
    ];
    for output in &outputs {
        assert!(output.len() < 160, "{output}");
        for key in keys {
            for secret in [key, private_scalar(key)] {
                for encoded in [hex(secret), base64(secret), list(secret)] {
                    assert!(!output.contains(&encoded), "{output} shows {encoded}");
                }
            }
        }
    }
    assert_eq!(format!("{worker_key:?}"), "WorkerKey(***)");
}

/// `openssl verify` on a chain of ours, or `None` if there is no openssl.
fn openssl_verify(dir: &Path, ca: &[u8], leaf: &[u8], args: &[&str]) -> Option<(bool, String)> {
    let pem = |der: &[u8]| {
        let text = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = text
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    };
    std::fs::write(dir.join("ca.pem"), pem(ca)).unwrap();
    std::fs::write(dir.join("leaf.pem"), pem(leaf)).unwrap();
    let output = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(dir.join("ca.pem"))
        .args(args)
        .arg(dir.join("leaf.pem"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    Some((output.status.success(), text))
}

#[test]
fn openssl_verifies_the_chains() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ClusterCa::generate().unwrap();
    let worker = worker_identity(&ca, DAY);
    let controller = ca.issue_controller(DAY).unwrap();
    let ca_der = ca.certificate_der();

    let Some((ok, text)) = openssl_verify(
        dir.path(),
        ca_der,
        worker.certificate_der(),
        &["-purpose", "sslclient"],
    ) else {
        eprintln!("openssl is not on PATH: skipping the independent check");
        return;
    };
    assert!(ok && text.contains("leaf.pem: OK"), "{text}");

    let server = [
        "-purpose",
        "sslserver",
        "-verify_hostname",
        CLUSTER_SERVER_NAME,
    ];
    let (ok, text) =
        openssl_verify(dir.path(), ca_der, controller.certificate_der(), &server).unwrap();
    assert!(ok && text.contains("leaf.pem: OK"), "{text}");

    // And OpenSSL refuses each leaf in the other's role.
    let (ok, text) = openssl_verify(dir.path(), ca_der, worker.certificate_der(), &server).unwrap();
    assert!(!ok, "{text}");
    let client = ["-purpose", "sslclient"];
    let (ok, text) =
        openssl_verify(dir.path(), ca_der, controller.certificate_der(), &client).unwrap();
    assert!(!ok, "{text}");
}
