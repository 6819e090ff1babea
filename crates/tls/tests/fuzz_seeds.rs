//! The fuzz targets' seed corpus (`fuzz/seeds/`), made from postern's own client, and a
//! check that the committed seeds are still what the targets expect. Regenerate with
//! `POSTERN_WRITE_FUZZ_SEEDS=1 cargo nextest run -p postern-tls --test fuzz_seeds`.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_tls::{client_config, requested_session, worker_server_name, SessionCredentials};
use tokio::io::AsyncReadExt;

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target)
}

/// The first flight of postern's client (its ClientHello), as `tls_handshake` reads input:
/// chunks of at most 255 bytes, each after its length.
async fn client_hello(config: Arc<rustls::ClientConfig>) -> Vec<u8> {
    let (ours, mut theirs) = support::scripted_pair();
    let name = worker_server_name("127.0.0.1:9202").unwrap();
    let client = tokio::spawn(postern_tls::connect(config, name, ours));
    let mut hello = vec![0u8; 16 * 1024];
    let n = theirs.read(&mut hello).await.unwrap();
    client.abort();
    hello[..n]
        .chunks(255)
        .flat_map(|chunk| [&[chunk.len() as u8][..], chunk].concat())
        .collect()
}

/// `tls_records` scripts (see the target for the operations): data, KeyUpdates asked for
/// and not, a KeyUpdate cut across records, a read boundary, close_notify.
fn record_scripts() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("data", [&[0, 5][..], b"hello"].concat()),
        (
            "key-updates",
            [
                &[3, 1, 0, 3][..],
                b"abc",
                &[6, 3, 0, 0, 2],
                b"de",
                &[7, 1, 0, 1],
                b"f",
            ]
            .concat(),
        ),
        ("close", [&[0, 2][..], b"hi", &[2, 1, 0]].concat()),
        (
            "padded",
            [&[4, 23, 2][..], b"hi", &[9, 6, 4, 22, 5, 24, 0, 0, 1, 1, 0]].concat(),
        ),
    ]
}

fn hello_to_bytes(chunked: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut rest = chunked;
    while let Some((&len, tail)) = rest.split_first() {
        bytes.extend_from_slice(&tail[..usize::from(len)]);
        rest = &tail[usize::from(len)..];
    }
    bytes
}

#[tokio::test]
async fn the_committed_fuzz_seeds_are_what_the_targets_expect() {
    let not_after = SystemTime::now() + Duration::from_secs(3600);
    let creds =
        SessionCredentials::issue("s_1234567890", &["127.0.0.1".to_owned()], not_after).unwrap();
    let with_alpn = client_config(&creds).unwrap();
    let mut without_alpn = (*with_alpn).clone();
    without_alpn.alpn_protocols.clear();
    let hellos = [
        ("client-hello", with_alpn),
        ("client-hello-no-session", Arc::new(without_alpn)),
    ];
    let write = std::env::var_os("POSTERN_WRITE_FUZZ_SEEDS").is_some();
    for (name, config) in hellos {
        let path = corpus("tls_handshake").join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, client_hello(config).await).unwrap();
        }
        // A ClientHello (random each time it is made) that rustls accepts, asking for the
        // session or not.
        let seed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut acceptor = rustls::server::Acceptor::default();
        acceptor.read_tls(&mut &hello_to_bytes(&seed)[..]).unwrap();
        let accepted = acceptor
            .accept()
            .ok()
            .flatten()
            .expect("a whole ClientHello");
        let session = requested_session(&accepted.client_hello());
        assert_eq!(session.is_some(), name == "client-hello", "{name}");
    }
    for (name, script) in record_scripts() {
        let path = corpus("tls_records").join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &script).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            script,
            "{name}: regenerate the seeds"
        );
    }
}
