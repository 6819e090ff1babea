//! postern's TLS against OpenSSL (Debian's `openssl s_server` / `s_client`), an independent
//! implementation: data both ways across KeyUpdates that OpenSSL starts on command ("K" asks
//! for ours back, "k" does not), which our side must follow and answer.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use base64::Engine;
use postern_tls::{client_config, worker_config, worker_server_name, SessionCredentials};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, Lines,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(20);

/// The session certificate and key as PEM files OpenSSL reads, in a fresh directory.
fn pem_files(creds: &SessionCredentials, dir: &Path) -> (PathBuf, PathBuf) {
    let pem = |label: &str, der: &[u8]| {
        let text = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = text
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    };
    // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): a fixed prefix, then the seed.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&creds.private_key().as_bytes()[..32]);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, pem("CERTIFICATE", creds.certificate_der())).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", &pkcs8)).unwrap();
    (cert, key)
}

fn credentials() -> SessionCredentials {
    let not_after = SystemTime::now() + Duration::from_secs(3600);
    SessionCredentials::issue("s_1234567890", &["127.0.0.1".to_owned()], not_after).unwrap()
}

type Output<R> = Lines<BufReader<R>>;

/// An `openssl` subcommand with its standard streams piped (and line-buffered: s_server
/// reports its commands through stdio).
fn openssl(args: &[&str]) -> (Child, ChildStdin, Output<ChildStdout>, Output<ChildStderr>) {
    let mut child = Command::new("stdbuf")
        .args(["-oL", "-eL", "openssl"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): apt-get install openssl"));
    let stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    (child, stdin, stdout, stderr)
}

/// Reads OpenSSL's output until a line containing `needle`; returns that line.
async fn line_with<R: AsyncRead + Unpin>(lines: &mut Output<R>, needle: &str) -> String {
    timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("openssl ended before printing {needle:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("openssl did not print {needle:?} within {DEADLINE:?}"))
}

async fn command(stdin: &mut ChildStdin, line: &str) {
    stdin.write_all(line.as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();
}

async fn read_line<S: AsyncRead + Unpin>(tls: &mut S, expect: &str) {
    let mut got = vec![0u8; expect.len()];
    timeout(DEADLINE, tls.read_exact(&mut got))
        .await
        .expect("no data from openssl")
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&got), expect);
}

async fn write_line<S: AsyncWrite + Unpin>(tls: &mut S, line: &str) {
    tls.write_all(line.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
}

/// Many lines at once, so the data spans records on both sides of a KeyUpdate.
fn bulk(tag: &str) -> String {
    (0..2000)
        .map(|i| format!("{tag}-{i:05}-{}\n", "x".repeat(60)))
        .collect()
}

#[tokio::test]
async fn our_client_and_openssl_s_server_cross_key_updates_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let creds = credentials();
    let (cert, key) = pem_files(&creds, dir.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let (_server, mut stdin, mut stdout, _stderr) = openssl(&[
        "s_server",
        "-tls1_3",
        "-cert",
        cert,
        "-key",
        key,
        "-CAfile",
        cert,
        "-Verify",
        "1",
        "-verify_return_error",
        "-accept",
        "127.0.0.1:0",
        "-naccept",
        "1",
    ]);
    let accept = line_with(&mut stdout, "ACCEPT").await;
    let address = accept.rsplit(' ').next().unwrap().to_owned();
    let tcp = TcpStream::connect(&address).await.unwrap();
    let name = worker_server_name(&address).unwrap();
    let mut tls = timeout(
        DEADLINE,
        postern_tls::connect(client_config(&creds).unwrap(), name, tcp),
    )
    .await
    .unwrap()
    .unwrap();

    write_line(&mut tls, "client-hello\n").await;
    line_with(&mut stdout, "client-hello").await;
    for (update, round) in [("K\n", "one"), ("k\n", "two"), ("K\n", "three")] {
        // OpenSSL updates its key (and with "K" asks for ours), then sends under the new one.
        // It drops whatever follows a command in the same read: wait for it to be done.
        command(&mut stdin, update).await;
        line_with(&mut stdout, "SSL_do_handshake -> 1").await;
        let from_server = format!("server-{round}\n");
        command(&mut stdin, &from_server).await;
        read_line(&mut tls, &from_server).await;
        // Ours goes first where it was asked for; OpenSSL must read what follows.
        let lines = bulk(&format!("client-{round}"));
        write_line(&mut tls, &lines).await;
        line_with(&mut stdout, &format!("client-{round}-01999")).await;
    }
    tls.shutdown().await.unwrap();
}

#[tokio::test]
async fn openssl_s_client_and_our_worker_cross_key_updates_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let creds = credentials();
    let (cert, key) = pem_files(&creds, dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let config = worker_config(&creds).unwrap();
    let worker = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let accepting = postern_tls::accept(tcp).await.unwrap();
        let mut tls = accepting.finish(config).await.unwrap();
        // Echo until OpenSSL hangs up.
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => {
                    total += n;
                    tls.write_all(&buf[..n]).await.unwrap();
                    tls.flush().await.unwrap();
                }
            }
        }
    });
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    // Interactive mode (no -quiet, no -ign_eof): lines starting K or k are commands.
    let (_client, mut stdin, mut stdout, mut stderr) = openssl(&[
        "s_client",
        "-tls1_3",
        "-connect",
        &address,
        "-cert",
        cert,
        "-key",
        key,
        "-CAfile",
        cert,
        "-verify_return_error",
    ]);
    command(&mut stdin, "echo-hello\n").await;
    line_with(&mut stdout, "echo-hello").await;
    for (update, round) in [("K\n", "one"), ("k\n", "two"), ("K\n", "three")] {
        command(&mut stdin, update).await;
        line_with(&mut stderr, "KEYUPDATE").await;
        let lines = bulk(&format!("round-{round}"));
        command(&mut stdin, &lines).await;
        line_with(&mut stdout, &format!("round-{round}-01999")).await;
    }
    drop(stdin);
    let echoed = timeout(DEADLINE, worker).await.unwrap().unwrap();
    assert!(
        echoed > 3 * 2000 * 70,
        "the worker echoed only {echoed} bytes"
    );
}
