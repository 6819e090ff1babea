//! Real TLS handshakes over 127.0.0.1 between the client and worker configs, with the worker
//! choosing its config from the ClientHello the way the worker crate does.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_tls::{
    client_config, refusal_config, requested_session, worker_config, worker_server_name,
    SessionCredentials,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{AlertDescription, CertificateError, ClientConfig, Error, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::{LazyConfigAcceptor, TlsConnector};

const SESSION: &str = "s_1234567890";
const OTHER_SESSION: &str = "s_0987654321";
const DEADLINE: Duration = Duration::from_secs(10);

fn issue(session_id: &str) -> SessionCredentials {
    let not_after = SystemTime::now() + Duration::from_secs(3600);
    SessionCredentials::issue(session_id, &["127.0.0.1".to_owned()], not_after).unwrap()
}

/// What the worker side saw: the session the ClientHello asked for, and the handshake outcome.
struct WorkerSide {
    requested: Option<String>,
    sni: Option<String>,
    result: io::Result<tokio_rustls::server::TlsStream<TcpStream>>,
}

/// One connection: the worker reads the ClientHello, lets `choose` pick its config, and after a
/// good handshake echoes four bytes. Returns the client's outcome (connect + one round trip)
/// and the worker's.
async fn connect(
    client: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    choose: impl FnOnce(Option<&str>) -> Arc<ServerConfig> + Send + 'static,
) -> (
    io::Result<tokio_rustls::client::TlsStream<TcpStream>>,
    WorkerSide,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let worker = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
        let start = acceptor.await.unwrap();
        let hello = start.client_hello();
        let requested = requested_session(&hello);
        let sni = hello.server_name().map(str::to_owned);
        let config = choose(requested.as_deref());
        let mut result = start.into_stream(config).await;
        if let Ok(tls) = &mut result {
            let mut ping = [0u8; 4];
            if tls.read_exact(&mut ping).await.is_ok() {
                tls.write_all(&ping).await.unwrap();
                tls.flush().await.unwrap();
            }
        }
        WorkerSide {
            requested,
            sni,
            result,
        }
    });

    let server_name =
        server_name.unwrap_or_else(|| worker_server_name(&address.to_string()).unwrap());
    let client = async {
        let tcp = TcpStream::connect(address).await?;
        let mut tls = TlsConnector::from(client).connect(server_name, tcp).await?;
        // TLS 1.3: the worker judges the client's certificate after the client has finished,
        // so a refusal only shows on the first read.
        tls.write_all(b"ping").await?;
        let mut pong = [0u8; 4];
        tls.read_exact(&mut pong).await?;
        assert_eq!(&pong, b"ping");
        Ok(tls)
    };
    let client = timeout(DEADLINE, client)
        .await
        .expect("client side timed out");
    let worker = timeout(DEADLINE, worker)
        .await
        .expect("worker side timed out")
        .unwrap();
    (client, worker)
}

fn tls_error(result: &io::Result<impl Sized>) -> &Error {
    let error = result.as_ref().err().expect("expected a TLS failure");
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .unwrap_or_else(|| panic!("not a rustls error: {error:?}"))
}

/// A client config the product never builds: any certificate (or none), any ALPN, any version.
fn custom_client(
    certificate: Option<&SessionCredentials>,
    alpn: &[&str],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer));
    let mut config = match certificate {
        Some(creds) => {
            // The token's 64-byte key is seed || public key; PKCS#8 v1 wraps the seed.
            let mut pkcs8 = pkcs8_ed25519_prefix();
            pkcs8.extend_from_slice(&creds.private_key().as_bytes()[..32]);
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8));
            let chain = vec![CertificateDer::from(creds.certificate_der().to_vec())];
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

fn pkcs8_ed25519_prefix() -> Vec<u8> {
    vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ]
}

#[derive(Debug)]
struct AcceptAnyServer;

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The worker's lookup: only `creds` is known.
fn lookup(creds: SessionCredentials) -> impl FnOnce(Option<&str>) -> Arc<ServerConfig> {
    move |requested| match requested {
        Some(id) if id == creds.session_id() => worker_config(&creds).unwrap(),
        _ => refusal_config(),
    }
}

#[tokio::test]
async fn session_handshake_succeeds() {
    let creds = issue(SESSION);
    let (client, worker) =
        connect(client_config(&creds).unwrap(), None, lookup(creds.clone())).await;
    let client = client.unwrap();
    let server = worker.result.unwrap();

    assert_eq!(worker.requested.as_deref(), Some(SESSION));
    assert_eq!(worker.sni, None, "an IP worker address sends no SNI");
    let (_, client_conn) = client.get_ref();
    let (_, server_conn) = server.get_ref();
    assert_eq!(client_conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(server_conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        client_conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        server_conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    // Go's order on AES hardware, which Boundary's peers use too.
    assert_eq!(
        server_conn.negotiated_cipher_suite().map(|s| s.suite()),
        Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
    );
    let presented = |certs: Option<&[CertificateDer<'_>]>| certs.unwrap()[0].to_vec();
    assert_eq!(
        presented(server_conn.peer_certificates()),
        creds.certificate_der()
    );
    assert_eq!(
        presented(client_conn.peer_certificates()),
        creds.certificate_der()
    );
}

#[tokio::test]
async fn sni_only_client_is_recognised() {
    let creds = issue(SESSION);
    let mut old_client = (*client_config(&creds).unwrap()).clone();
    old_client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let sni = ServerName::try_from(SESSION).unwrap();
    let (client, worker) = connect(Arc::new(old_client), Some(sni), lookup(creds)).await;
    assert_eq!(worker.sni.as_deref(), Some(SESSION));
    assert_eq!(worker.requested.as_deref(), Some(SESSION));
    client.unwrap();
    worker.result.unwrap();
}

#[tokio::test]
async fn client_with_another_sessions_certificate_is_refused() {
    let creds = issue(SESSION);
    let other = issue(OTHER_SESSION);
    let client = custom_client(
        Some(&other),
        &["http/1.1", SESSION],
        &[&rustls::version::TLS13],
    );
    let (client, worker) = connect(client, None, lookup(creds)).await;
    assert!(matches!(
        tls_error(&worker.result),
        Error::InvalidCertificate(CertificateError::UnknownIssuer)
    ));
    assert!(matches!(
        tls_error(&client),
        Error::AlertReceived(AlertDescription::UnknownCA)
    ));
}

#[tokio::test]
async fn client_without_certificate_is_refused() {
    let creds = issue(SESSION);
    let client = custom_client(None, &["http/1.1", SESSION], &[&rustls::version::TLS13]);
    let (client, worker) = connect(client, None, lookup(creds)).await;
    assert!(matches!(
        tls_error(&worker.result),
        Error::NoCertificatesPresented
    ));
    assert!(matches!(
        tls_error(&client),
        Error::AlertReceived(AlertDescription::CertificateRequired)
    ));
}

#[tokio::test]
async fn worker_with_another_certificate_is_refused_by_the_client() {
    let creds = issue(SESSION);
    let impostor = issue(SESSION);
    let (client, worker) = connect(client_config(&creds).unwrap(), None, move |_| {
        worker_config(&impostor).unwrap()
    })
    .await;
    assert!(matches!(
        tls_error(&client),
        Error::InvalidCertificate(CertificateError::UnknownIssuer)
    ));
    assert!(matches!(
        tls_error(&worker.result),
        Error::AlertReceived(AlertDescription::UnknownCA)
    ));
}

#[tokio::test]
async fn expired_session_certificate_is_refused_by_the_client() {
    let not_after = SystemTime::now() - Duration::from_secs(5);
    let creds = SessionCredentials::issue(SESSION, &[], not_after).unwrap();
    let (client, _worker) =
        connect(client_config(&creds).unwrap(), None, lookup(creds.clone())).await;
    assert!(matches!(
        tls_error(&client),
        Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
    ));
}

#[tokio::test]
async fn tls12_client_is_refused() {
    let creds = issue(SESSION);
    let client = custom_client(
        Some(&creds),
        &["http/1.1", SESSION],
        &[&rustls::version::TLS12],
    );
    let (client, worker) = connect(client, None, lookup(creds)).await;
    assert_eq!(worker.requested.as_deref(), Some(SESSION));
    assert!(
        matches!(
            tls_error(&worker.result),
            Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOfferedOrEnabled)
        ),
        "{:?}",
        tls_error(&worker.result)
    );
    assert!(matches!(
        tls_error(&client),
        Error::AlertReceived(AlertDescription::ProtocolVersion)
    ));
}

#[tokio::test]
async fn unknown_session_gets_a_handshake_failure_alert() {
    let known = issue(SESSION);
    let stranger = issue(OTHER_SESSION);
    let (client, worker) = connect(client_config(&stranger).unwrap(), None, lookup(known)).await;
    assert_eq!(worker.requested.as_deref(), Some(OTHER_SESSION));
    assert!(matches!(
        tls_error(&worker.result),
        Error::PeerIncompatible(rustls::PeerIncompatible::NoKxGroupsInCommon)
    ));
    assert!(matches!(
        tls_error(&client),
        Error::AlertReceived(AlertDescription::HandshakeFailure)
    ));
}
