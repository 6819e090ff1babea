//! What a session costs before its first handshake: building the client's and the worker's
//! rustls configs (per session, on both sides) and minting the session credentials (per
//! session, on the controller), each against the stock rustls or rcgen work it wraps.
//!
//! `cargo bench -p postern-tls --bench handshake` (`-- --quick` for a smoke run, which is
//! also what `cargo test --benches` runs). Runs alternate between the measurements and the
//! table gives each one's median time per operation, and postern's against its peer's:
//!
//! - config pair: `worker_config` + `client_config` for credentials already built. The
//!   worker's config is built once per credentials and shared, so this is mostly the
//!   client's.
//! - per session: the same from a token's certificate and key, `SessionCredentials::from_parts`
//!   (key and certificate checks) included; the peer builds a stock mutual-TLS pair (WebPKI
//!   verifiers, same provider) from the same bytes.
//! - issue: `SessionCredentials::issue`; the peer is rcgen minting a self-signed Ed25519
//!   certificate with a fresh key and nothing else.
//!
//! No pass/fail: timings on a shared machine vary run to run; the ratios come from one run.

use std::error::Error;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use postern_tls::{client_config, worker_config, SessionCredentials};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const SESSION: &str = "s_1234567890";
const WORKER: &str = "127.0.0.1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Measure {
    ConfigPair,
    PerSession,
    StockPair,
    Issue,
    Rcgen,
}

impl Measure {
    const ALL: [Measure; 5] = [
        Measure::ConfigPair,
        Measure::PerSession,
        Measure::StockPair,
        Measure::Issue,
        Measure::Rcgen,
    ];

    /// Operations per run: minting is a hundred times the work of a config.
    fn rounds(self, quick: bool) -> u32 {
        let full = match self {
            Measure::ConfigPair | Measure::PerSession | Measure::StockPair => 2000,
            Measure::Issue | Measure::Rcgen => 200,
        };
        if quick {
            full / 20
        } else {
            full
        }
    }
}

fn issue() -> Result<SessionCredentials> {
    let not_after = SystemTime::now() + Duration::from_secs(3600);
    Ok(SessionCredentials::issue(
        SESSION,
        &[WORKER.to_owned()],
        not_after,
    )?)
}

/// The PKCS#8 v1 form of the session key's Ed25519 seed (RFC 8410).
fn pkcs8(creds: &SessionCredentials) -> PrivateKeyDer<'static> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&creds.private_key().as_bytes()[..32]);
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der))
}

/// Stock rustls doing what the session configs do: mutual TLS 1.3 over one certificate,
/// trusted as its own root.
fn stock_pair(
    creds: &SessionCredentials,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<(Arc<ServerConfig>, Arc<ClientConfig>)> {
    let certificate = CertificateDer::from(creds.certificate_der().to_vec());
    let mut roots = RootCertStore::empty();
    roots.add(certificate.clone())?;
    let roots = Arc::new(roots);
    let verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?;
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![certificate.clone()], pkcs8(creds))?;
    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![certificate], pkcs8(creds))?;
    Ok((Arc::new(server), Arc::new(client)))
}

fn rcgen_self_signed() -> Result<Vec<u8>> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    let params = rcgen::CertificateParams::new(vec![SESSION.to_owned(), WORKER.to_owned()])?;
    Ok(params.self_signed(&key)?.der().to_vec())
}

/// Median time per operation of one run of `measure`.
fn run(measure: Measure, rounds: u32, creds: &SessionCredentials) -> Result<Duration> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = creds.private_key().as_bytes().to_vec();
    let started = Instant::now();
    for _ in 0..rounds {
        match measure {
            Measure::ConfigPair => {
                black_box(worker_config(creds)?);
                black_box(client_config(creds)?);
            }
            Measure::PerSession => {
                let fresh = SessionCredentials::from_parts(SESSION, creds.certificate_der(), &key)?;
                black_box(worker_config(&fresh)?);
                black_box(client_config(&fresh)?);
            }
            Measure::StockPair => {
                black_box(stock_pair(creds, &provider)?);
            }
            Measure::Issue => {
                black_box(issue()?);
            }
            Measure::Rcgen => {
                black_box(rcgen_self_signed()?);
            }
        }
    }
    Ok(started.elapsed() / rounds)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; without it this is `cargo test --benches`: a smoke run.
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let runs = if quick { 1 } else { 5 };
    let creds = issue()?;
    println!("session setup: {runs} runs of each measurement, alternating");
    let mut results: Vec<(Measure, Duration)> = Vec::new();
    for i in 0..runs {
        // Which goes first rotates too, so none always follows the same one.
        for k in 0..Measure::ALL.len() {
            let measure = Measure::ALL[(i + k) % Measure::ALL.len()];
            let per_op = run(measure, measure.rounds(quick), &creds)?;
            println!("run {}/{runs}: {measure:?} {per_op:?}", i + 1);
            results.push((measure, per_op));
        }
    }
    let figure = |m: Measure| {
        median(
            results
                .iter()
                .filter(|(x, _)| *x == m)
                .map(|(_, d)| *d)
                .collect(),
        )
    };
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let (pair, session, stock) = (
        figure(Measure::ConfigPair),
        figure(Measure::PerSession),
        figure(Measure::StockPair),
    );
    let (issued, rcgen) = (figure(Measure::Issue), figure(Measure::Rcgen));
    println!();
    println!("worker_config + client_config: {pair:?} per pair; issue: {issued:?}");
    println!();
    println!("measure                          per op     peer       postern / peer");
    println!(
        "config pair, credentials built   {:<10} -",
        format!("{pair:.1?}")
    );
    println!(
        "config pair from token bytes     {:<10} {:<10} {:.2}x (stock mutual-TLS pair)",
        format!("{session:.1?}"),
        format!("{stock:.1?}"),
        ratio(session, stock)
    );
    println!(
        "issue credentials                {:<10} {:<10} {:.2}x (rcgen self-signed)",
        format!("{issued:.1?}"),
        format!("{rcgen:.1?}"),
        ratio(issued, rcgen)
    );
    Ok(())
}
