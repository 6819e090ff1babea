//! Byte plumbing shared by the client proxy and the worker: socket tuning, a byte-counting
//! stream wrapper, the splice that joins a TCP connection to the WebSocket tunnel, the pool
//! of 64 KiB buffers the splice and TLS lend, and the [`ConnectionThreads`] that carry
//! proxied connections.
//!
//! Counting happens in one place, [`Counted`], around the plain TCP side, so the figures are
//! payload bytes and never include WebSocket or TLS framing.
#![forbid(unsafe_code)]

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

mod pool;
mod splice;
mod threads;

pub use pool::{PoolBuf, BUFFER_SIZE};
pub use splice::{splice, End, SpliceError, SpliceWrite};
pub use threads::ConnectionThreads;

/// Disables Nagle (interactive protocols such as ssh must not wait 40 ms per keystroke) and
/// turns on keepalive so a vanished peer of an idle tunnel is noticed.
pub fn tune_tcp(stream: &TcpStream) -> io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    socket.set_tcp_nodelay(true)?;
    socket.set_keepalive(true)?;
    socket.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(60)))
}

/// Makes the socket's close a reset (RST) instead of an orderly FIN: for a connection whose
/// other side ended abnormally, so its peer (a database, an ssh server, the user's client)
/// can tell an aborted transfer from a finished one.
pub fn reset_on_close(stream: &TcpStream) -> io::Result<()> {
    socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO))
}

/// Running totals of one proxied connection, readable while it is live.
#[derive(Debug, Default)]
pub struct ByteCounts {
    /// Payload bytes from the client toward the endpoint.
    up: AtomicU64,
    /// Payload bytes from the endpoint toward the client.
    down: AtomicU64,
}

impl ByteCounts {
    pub fn up(&self) -> u64 {
        self.up.load(Ordering::Relaxed)
    }

    pub fn down(&self) -> u64 {
        self.down.load(Ordering::Relaxed)
    }
}

/// Which way bytes read through a [`Counted`] stream travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The wrapped stream is the endpoint: reads are bytes down, writes are bytes up.
    Endpoint,
    /// The wrapped stream is the local client: reads are bytes up, writes are bytes down.
    Client,
}

/// A stream wrapper adding every byte read and written to shared [`ByteCounts`].
#[derive(Debug)]
pub struct Counted<S> {
    inner: S,
    side: Side,
    counts: Arc<ByteCounts>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, side: Side, counts: Arc<ByteCounts>) -> Self {
        Self {
            inner,
            side,
            counts,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    fn read_counter(&self) -> &AtomicU64 {
        match self.side {
            Side::Endpoint => &self.counts.down,
            Side::Client => &self.counts.up,
        }
    }

    fn write_counter(&self) -> &AtomicU64 {
        match self.side {
            Side::Endpoint => &self.counts.up,
            Side::Client => &self.counts.down,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        if read > 0 {
            self.read_counter().fetch_add(read, Ordering::Relaxed);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> SpliceWrite for Counted<S> {}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            self.write_counter().fetch_add(n as u64, Ordering::Relaxed);
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counted_adds_reads_and_writes_to_the_right_direction() {
        let (a, mut b) = tokio::io::duplex(1024);
        let counts = Arc::new(ByteCounts::default());
        let mut endpoint = Counted::new(a, Side::Endpoint, counts.clone());
        endpoint.write_all(b"hello").await.unwrap();
        b.write_all(b"worlds!").await.unwrap();
        let mut buf = [0u8; 7];
        endpoint.read_exact(&mut buf).await.unwrap();
        assert_eq!((counts.up(), counts.down()), (5, 7));
    }
}
