#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{client_config, worker_config, worker_server_name, SessionCredentials};

/// Our key runs out every few records: each time a KeyUpdate must go out under the old
/// key and the rest under the new one, and rustls on the other end must read it all.
#[tokio::test]
async fn we_update_our_key_when_it_has_protected_all_it_may() {
    let not_after = SystemTime::now() + Duration::from_secs(3600);
    let creds =
        SessionCredentials::issue("s_1234567890", &["127.0.0.1".to_owned()], not_after).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let expect = data.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(worker_config(&creds).unwrap());
    let worker = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.unwrap();
        assert!(got == expect, "got {} bytes", got.len());
    });
    let tcp = TcpStream::connect(&address).await.unwrap();
    let name = worker_server_name(&address).unwrap();
    let mut tls = crate::connect(client_config(&creds).unwrap(), name, tcp)
        .await
        .unwrap();
    tls.keys.set_tx_limit(3);
    for chunk in data.chunks(50_000) {
        tls.write_all(chunk).await.unwrap();
    }
    tls.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), worker)
        .await
        .unwrap()
        .unwrap();
}
