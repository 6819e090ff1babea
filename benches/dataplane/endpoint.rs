//! The endpoints every path ends at, served on the harness's tokio runtime:
//! - echo: copies back what it reads, shuts down its write side at EOF (setup latency,
//!   connection rate, idle connections); it counts its live connections;
//! - bulk: the built-in throughput peer (used when iperf3 is absent): the first byte says
//!   which way data flows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// First byte on a bulk connection: the client sends until it half-closes; the endpoint
/// answers with the byte count it received as 8 bytes big-endian.
pub const BULK_UP: u8 = b'U';
/// First byte on a bulk connection: the endpoint sends until the client goes away.
pub const BULK_DOWN: u8 = b'D';
/// Read and write size of the bulk endpoint and the built-in client.
pub const BULK_CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Endpoints {
    pub echo: SocketAddr,
    pub bulk: SocketAddr,
    /// Echo connections open right now.
    pub echo_live: Arc<AtomicUsize>,
}

impl Endpoints {
    pub fn echo_live(&self) -> usize {
        self.echo_live.load(Ordering::Relaxed)
    }
}

/// Binds both endpoints on 127.0.0.1:0 and serves them for the life of the runtime.
pub async fn start() -> Result<Endpoints> {
    let echo = TcpListener::bind("127.0.0.1:0").await?;
    let bulk = TcpListener::bind("127.0.0.1:0").await?;
    let endpoints = Endpoints {
        echo: echo.local_addr()?,
        bulk: bulk.local_addr()?,
        echo_live: Arc::default(),
    };
    let live = endpoints.echo_live.clone();
    tokio::spawn(accept_loop(echo, move |stream| {
        let live = live.clone();
        async move {
            live.fetch_add(1, Ordering::Relaxed);
            let result = echo_one(stream).await;
            live.fetch_sub(1, Ordering::Relaxed);
            result
        }
    }));
    tokio::spawn(accept_loop(bulk, bulk_one));
    Ok(endpoints)
}

async fn accept_loop<F, Fut>(listener: TcpListener, serve: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let served = serve(stream);
                tokio::spawn(async move {
                    // A reset from a client the harness dropped is normal at the end of a run.
                    if let Err(e) = served.await {
                        if !matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                        ) {
                            eprintln!("endpoint: {e}");
                        }
                    }
                });
            }
            Err(e) => {
                eprintln!("endpoint accept failed: {e}");
                // Out of descriptors: give the harness a moment to close some.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

async fn echo_one(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (mut read, mut write) = stream.split();
    tokio::io::copy(&mut read, &mut write).await?;
    write.shutdown().await
}

async fn bulk_one(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; BULK_CHUNK];
    let mode = stream.read_u8().await?;
    if mode == BULK_UP {
        let mut received: u64 = 0;
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        stream.write_all(&received.to_be_bytes()).await?;
        stream.shutdown().await
    } else {
        buf.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (i % 251) as u8);
        loop {
            stream.write_all(&buf).await?;
        }
    }
}
