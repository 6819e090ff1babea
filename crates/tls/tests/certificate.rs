//! Issued certificates carry exactly the fields Boundary's session certificate has, and
//! `from_parts` refuses each kind of bad token material with its own error.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{UnparsedPublicKey, ED25519};
use postern_tls::{SessionCredentials, TlsError};
use proptest::prelude::*;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

const SESSION: &str = "s_1234567890";
const OTHER_SESSION: &str = "s_0987654321";

fn unix_seconds(time: SystemTime) -> i64 {
    i64::try_from(time.duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn issue(session_id: &str) -> SessionCredentials {
    let hosts = ["worker.example".to_owned(), "127.0.0.1".to_owned()];
    let not_after = SystemTime::now() + Duration::from_secs(3600);
    SessionCredentials::issue(session_id, &hosts, not_after).unwrap()
}

#[test]
fn issued_certificate_has_the_session_fields() {
    let now = unix_seconds(SystemTime::now());
    // Sub-second part must be dropped, not rounded.
    let not_after = SystemTime::now() + Duration::new(8 * 3600, 987_654_321);
    let hosts = [
        "worker.example".to_owned(),
        "127.0.0.1".to_owned(),
        "[::1]".to_owned(),
    ];
    let creds = SessionCredentials::issue(SESSION, &hosts, not_after).unwrap();
    let (rest, cert) = X509Certificate::from_der(creds.certificate_der()).unwrap();
    assert!(rest.is_empty());

    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|cn| cn.as_str().unwrap())
        .collect();
    assert_eq!(cn, [SESSION]);
    assert_eq!(cert.subject(), cert.issuer(), "self-signed");

    let basic = cert
        .basic_constraints()
        .unwrap()
        .expect("basic constraints present");
    assert!(basic.value.ca);

    let usage = cert.key_usage().unwrap().expect("key usage present").value;
    assert!(usage.digital_signature());
    assert!(usage.key_encipherment());
    assert!(usage.key_agreement());
    assert!(usage.key_cert_sign());
    assert!(!usage.crl_sign() && !usage.non_repudiation() && !usage.data_encipherment());

    let eku = cert
        .extended_key_usage()
        .unwrap()
        .expect("EKU present")
        .value;
    assert!(eku.server_auth && eku.client_auth);

    let sans = &cert
        .subject_alternative_name()
        .unwrap()
        .expect("SANs present")
        .value;
    let expected = [
        GeneralName::DNSName(SESSION),
        GeneralName::DNSName("worker.example"),
        GeneralName::IPAddress(&[127, 0, 0, 1]),
        GeneralName::IPAddress(&std::net::Ipv6Addr::LOCALHOST.octets()),
    ];
    assert_eq!(sans.general_names, expected);

    let not_before = cert.validity().not_before.timestamp();
    assert!(
        (now - 61..=now - 59).contains(&not_before),
        "NotBefore {not_before} is not issue time - 60 s (now {now})"
    );
    assert_eq!(
        cert.validity().not_after.timestamp(),
        unix_seconds(not_after)
    );
    assert_eq!(unix_seconds(creds.not_after()), unix_seconds(not_after));
    assert_eq!(
        creds
            .not_after()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos(),
        0
    );

    let public_key = &cert.public_key().subject_public_key.data;
    assert_eq!(&public_key[..], &creds.private_key().as_bytes()[32..]);
    UnparsedPublicKey::new(&ED25519, &public_key[..])
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .expect("self-signature verifies with the session key");
}

#[test]
fn serials_are_random() {
    let first = issue(SESSION);
    let second = issue(SESSION);
    let serial = |creds: &SessionCredentials| {
        X509Certificate::from_der(creds.certificate_der())
            .unwrap()
            .1
            .raw_serial()
            .to_vec()
    };
    assert!(serial(&first).len() >= 16);
    assert_ne!(serial(&first), serial(&second));
    assert_ne!(
        first.private_key().as_bytes(),
        second.private_key().as_bytes()
    );
}

#[test]
fn debug_never_shows_the_key() {
    let creds = issue(SESSION);
    let shown = format!("{creds:?}");
    assert!(shown.contains(SESSION), "{shown}");
    assert_eq!(format!("{:?}", creds.private_key()), "SessionKey(***)");
    let key_bytes = format!("{:?}", creds.private_key().as_bytes());
    assert!(!shown.contains(&key_bytes[1..key_bytes.len() - 1]));
}

#[test]
fn from_parts_round_trip() {
    let issued = issue(SESSION);
    let loaded = SessionCredentials::from_parts(
        SESSION,
        issued.certificate_der(),
        issued.private_key().as_bytes(),
    )
    .unwrap();
    assert_eq!(loaded.session_id(), SESSION);
    assert_eq!(loaded.certificate_der(), issued.certificate_der());
    assert_eq!(
        loaded.private_key().as_bytes(),
        issued.private_key().as_bytes()
    );
    assert_eq!(loaded.not_after(), issued.not_after());
}

#[test]
fn from_parts_refuses_a_short_key() {
    let issued = issue(SESSION);
    let key = &issued.private_key().as_bytes()[..63];
    let error = SessionCredentials::from_parts(SESSION, issued.certificate_der(), key).unwrap_err();
    assert!(
        matches!(error, TlsError::KeyLength { actual: 63 }),
        "{error:?}"
    );
    assert!(error.to_string().contains("63 bytes"), "{error}");
}

#[test]
fn from_parts_refuses_a_mismatched_public_half() {
    let issued = issue(SESSION);
    let other = issue(SESSION);
    let mut key = issued.private_key().as_bytes().to_vec();
    key[32..].copy_from_slice(&other.private_key().as_bytes()[32..]);
    let error =
        SessionCredentials::from_parts(SESSION, issued.certificate_der(), &key).unwrap_err();
    assert!(matches!(error, TlsError::KeyMismatch), "{error:?}");
}

#[test]
fn from_parts_refuses_a_certificate_of_another_key() {
    let issued = issue(SESSION);
    let other = issue(SESSION);
    let error = SessionCredentials::from_parts(
        SESSION,
        other.certificate_der(),
        issued.private_key().as_bytes(),
    )
    .unwrap_err();
    assert!(
        matches!(error, TlsError::CertificateKeyMismatch),
        "{error:?}"
    );
}

#[test]
fn from_parts_refuses_a_certificate_of_another_session() {
    let other = issue(OTHER_SESSION);
    let error = SessionCredentials::from_parts(
        SESSION,
        other.certificate_der(),
        other.private_key().as_bytes(),
    )
    .unwrap_err();
    match error {
        TlsError::CertificateSessionMismatch { session_id } => assert_eq!(session_id, SESSION),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn from_parts_refuses_garbage_der() {
    let issued = issue(SESSION);
    let key = issued.private_key().as_bytes();
    let error = SessionCredentials::from_parts(SESSION, b"not a certificate", key).unwrap_err();
    assert!(
        matches!(error, TlsError::CertificateParse { .. }),
        "{error:?}"
    );
    let mut trailing = issued.certificate_der().to_vec();
    trailing.push(0);
    let error = SessionCredentials::from_parts(SESSION, &trailing, key).unwrap_err();
    assert!(
        matches!(error, TlsError::CertificateParse { .. }),
        "{error:?}"
    );
}

#[test]
fn from_parts_refuses_a_non_ed25519_certificate() {
    let issued = issue(SESSION);
    let ecdsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec![SESSION.to_owned()]).unwrap();
    let cert = params.self_signed(&ecdsa).unwrap();
    let error =
        SessionCredentials::from_parts(SESSION, cert.der(), issued.private_key().as_bytes())
            .unwrap_err();
    assert!(
        matches!(error, TlsError::CertificateNotEd25519),
        "{error:?}"
    );
}

#[test]
fn issue_refuses_unusable_names_and_times() {
    let later = SystemTime::now() + Duration::from_secs(60);
    let error = SessionCredentials::issue(SESSION, &["wörker".to_owned()], later).unwrap_err();
    assert!(
        matches!(error, TlsError::InvalidCertificateName { .. }),
        "{error:?}"
    );
    let error = SessionCredentials::issue("", &[], later).unwrap_err();
    assert!(
        matches!(error, TlsError::InvalidCertificateName { .. }),
        "{error:?}"
    );
    let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
    let error = SessionCredentials::issue(SESSION, &[], far).unwrap_err();
    assert!(matches!(error, TlsError::NotAfterOutOfRange), "{error:?}");
}

proptest! {
    #[test]
    fn from_parts_never_panics(certificate in proptest::collection::vec(any::<u8>(), 0..600),
                               key in proptest::collection::vec(any::<u8>(), 0..80)) {
        prop_assert!(SessionCredentials::from_parts(SESSION, &certificate, &key).is_err());
    }

    #[test]
    fn corrupted_certificates_never_panic(index in 0usize..4096, flip in 1u8..=255) {
        // A flipped byte either breaks a check or lands in a field nobody checks (the
        // signature, the serial): then the credentials carry exactly the bytes given.
        let issued = issue(SESSION);
        let mut der = issued.certificate_der().to_vec();
        let index = index % der.len();
        der[index] ^= flip;
        if let Ok(loaded) = SessionCredentials::from_parts(SESSION, &der, issued.private_key().as_bytes()) {
            prop_assert_eq!(loaded.certificate_der(), &der[..]);
        }
    }
}
