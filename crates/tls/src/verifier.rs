//! The peer verifier both ends share: the peer's leaf must be the session certificate itself.
//!
//! Boundary's client builds a root pool holding only the session certificate and verifies the
//! worker's leaf for DNS name = session id; its worker requires the client's leaf to be
//! byte-equal to the session certificate. Since the only leaf that chains to a self-signed,
//! single-certificate pool is that certificate, both reduce to "byte-equal and within its
//! validity", which this one type checks for both sides. The DNS name check is implied: the
//! session certificate names the session id by construction (checked in `from_parts`).

use std::fmt;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, PeerIncompatible,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use subtle::ConstantTimeEq;

pub(crate) struct SessionCertVerifier {
    certificate: CertificateDer<'static>,
    not_before: UnixTime,
    not_after: UnixTime,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SessionCertVerifier {
    /// `not_before` / `not_after` in Unix seconds, as parsed from `certificate`.
    pub(crate) fn new(
        certificate: CertificateDer<'static>,
        not_before: i64,
        not_after: i64,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Self {
        let unix = |seconds: i64| {
            UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
        };
        Self {
            certificate,
            not_before: unix(not_before),
            not_after: unix(not_after),
            algorithms,
        }
    }

    fn check_peer(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> Result<(), Error> {
        let same: bool = self.certificate.as_ref().ct_eq(end_entity.as_ref()).into();
        if !same {
            // The session certificate is the only root: anything else has an unknown issuer.
            return Err(CertificateError::UnknownIssuer.into());
        }
        if now.as_secs() < self.not_before.as_secs() {
            return Err(CertificateError::NotValidYetContext {
                time: now,
                not_before: self.not_before,
            }
            .into());
        }
        if now.as_secs() > self.not_after.as_secs() {
            return Err(CertificateError::ExpiredContext {
                time: now,
                not_after: self.not_after,
            }
            .into());
        }
        Ok(())
    }

    fn verify_tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

impl fmt::Debug for SessionCertVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCertVerifier")
            .field("not_before", &self.not_before.as_secs())
            .field("not_after", &self.not_after.as_secs())
            .finish_non_exhaustive()
    }
}

/// The client's view of the worker.
impl ServerCertVerifier for SessionCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        // The SNI is the worker's host, not the session id; identity is the certificate.
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.check_peer(end_entity, now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        // Unreachable with a TLS 1.3-only config; refuse rather than trust if it ever is.
        Err(PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The worker's view of the client.
impl ClientCertVerifier for SessionCertVerifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.check_peer(end_entity, now)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        // Unreachable with a TLS 1.3-only config; refuse rather than trust if it ever is.
        Err(PeerIncompatible::Tls12NotOfferedOrEnabled.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
