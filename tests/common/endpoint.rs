//! Endpoints on 127.0.0.1:0 that stand in for sshd or postgres: echo, observe how reading
//! ended, reset. Shared by the end-to-end tests (`tests/common`) and the worker's own tests
//! (`crates/worker/tests/support`), which include this file by path; tokio is all it needs.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub fn spawn_acceptor(listener: TcpListener, serve: impl Fn(TcpStream) + Send + 'static) {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            serve(stream);
        }
    });
}

/// An endpoint copying back everything it reads; at EOF it shuts its write side down.
pub async fn echo_endpoint() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    spawn_acceptor(listener, |mut stream| {
        tokio::spawn(async move {
            let (mut read, mut write) = stream.split();
            if let Err(e) = tokio::io::copy(&mut read, &mut write).await {
                eprintln!("echo endpoint: {e}");
            }
            if let Err(e) = write.shutdown().await {
                eprintln!("echo endpoint shutdown: {e}");
            }
        });
    });
    addr
}

/// How an endpoint's reading of one connection ended: the bytes it read, then `Ok(())` for an
/// orderly end (FIN) or the error kind (a reset: `ConnectionReset`).
#[derive(Debug, PartialEq, Eq)]
pub struct ReadEnd {
    pub bytes: usize,
    pub how: Result<(), std::io::ErrorKind>,
}

/// An endpoint that echoes what it reads and reports how each connection's reading ended.
pub async fn observing_endpoint() -> (SocketAddr, mpsc::UnboundedReceiver<ReadEnd>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    spawn_acceptor(listener, move |mut stream| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut bytes = 0;
            let how = loop {
                match stream.read(&mut buf).await {
                    Ok(0) => break Ok(()),
                    Ok(n) => {
                        bytes += n;
                        if let Err(e) = stream.write_all(&buf[..n]).await {
                            break Err(e.kind());
                        }
                    }
                    Err(e) => break Err(e.kind()),
                }
            };
            let _ = stream.shutdown().await;
            tx.send(ReadEnd { bytes, how }).unwrap();
        });
    });
    (addr, rx)
}

/// An endpoint that reads `len` bytes of each connection, then resets it.
pub async fn resetting_endpoint(len: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    spawn_acceptor(listener, move |mut stream| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; len];
            if stream.read_exact(&mut buf).await.is_ok() {
                postern_io::reset_on_close(&stream).unwrap();
            }
        });
    });
    addr
}
