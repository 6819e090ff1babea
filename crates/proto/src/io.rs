//! Byte plumbing shared by the client proxy and the worker: socket tuning, a byte-counting
//! stream wrapper, and the splice that joins a TCP connection to the WebSocket tunnel.
//!
//! Counting happens in one place, [`Counted`], around the plain TCP side, so the figures are
//! payload bytes and never include WebSocket or TLS framing.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Buffer size per direction while bytes flow.
pub const SPLICE_BUFFER: usize = 64 * 1024;

/// Disables Nagle (interactive protocols such as ssh must not wait 40 ms per keystroke) and
/// turns on keepalive so a vanished peer of an idle tunnel is noticed.
pub fn tune_tcp(stream: &TcpStream) -> io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    socket.set_tcp_nodelay(true)?;
    socket.set_keepalive(true)?;
    socket.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(Duration::from_secs(60)))
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

/// Size of one socket read under TLS, and of one batched write, while bytes flow.
pub const READ_AHEAD: usize = 64 * 1024;

/// Busy buffers kept for reuse; beyond this many, returned buffers are freed.
const POOL_LIMIT: usize = 128;

/// 64 KiB buffers shared by the connections that are moving bytes right now.
///
/// Handing them back to malloc after every burst fragments the heap: a freed 64 KiB chunk
/// gets split for small allocations, and the next burst grows the heap instead (measured:
/// idle connections then cost ~100 KiB of RSS each instead of ~35). Kept whole here, a
/// buffer serves burst after burst, and an idle connection holds none.
static POOL: std::sync::Mutex<Vec<Box<[u8]>>> = std::sync::Mutex::new(Vec::new());

fn take_buffer() -> Box<[u8]> {
    let reused = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop();
    reused.unwrap_or_else(|| vec![0; READ_AHEAD].into_boxed_slice())
}

fn give_back(buffer: Box<[u8]>) {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < POOL_LIMIT {
        pool.push(buffer);
    }
}

/// Serves small reads from one large socket read.
///
/// rustls asks its transport for at most 4 KiB at a time, so a 16 KiB record costs four
/// `recv` calls and as many wake-ups. Under TLS this wrapper reads up to [`READ_AHEAD`] bytes
/// per syscall instead. The buffer is released whenever a read finds it empty and the socket
/// has nothing either, so an idle connection holds none. Writes pass straight through.
#[derive(Debug)]
pub struct ReadAhead<S> {
    inner: S,
    /// From the pool while bytes flow; the unread bytes are `buffer[start..end]`.
    buffer: Option<Box<[u8]>>,
    start: usize,
    end: usize,
}

impl<S> ReadAhead<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            buffer: None,
            start: 0,
            end: 0,
        }
    }

    fn release(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            give_back(buffer);
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.start == this.end {
            // Nothing buffered. A caller asking for a large read gets it directly.
            if buf.remaining() >= READ_AHEAD {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let buffer = this.buffer.get_or_insert_with(take_buffer);
            let mut ahead = ReadBuf::new(buffer);
            let polled = Pin::new(&mut this.inner).poll_read(cx, &mut ahead);
            let filled = ahead.filled().len();
            match polled {
                Poll::Ready(Ok(())) if filled > 0 => {
                    this.start = 0;
                    this.end = filled;
                }
                // Idle, at EOF or failed: the buffer goes back until bytes arrive.
                other => {
                    this.release();
                    return other;
                }
            }
        }
        let Some(buffer) = &this.buffer else {
            return Poll::Ready(Ok(()));
        };
        let n = buf.remaining().min(this.end - this.start);
        buf.put_slice(&buffer[this.start..this.start + n]);
        this.start += n;
        Poll::Ready(Ok(()))
    }
}

impl<S> Drop for ReadAhead<S> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Gathers small writes into one socket write.
///
/// The TLS side hands over at most one record's plaintext (16 KiB) per read, and the splice
/// writes each piece out at once; this wrapper collects up to [`READ_AHEAD`] bytes and writes
/// them with one syscall when full or when the splice flushes (it does whenever its reader
/// would block). Like [`ReadAhead`], it holds a buffer only while bytes wait. Reads pass
/// straight through.
#[derive(Debug)]
pub struct WriteBatch<S> {
    inner: S,
    /// From the pool while bytes wait; they are `buffer[written..filled]`.
    buffer: Option<Box<[u8]>>,
    written: usize,
    filled: usize,
}

impl<S> WriteBatch<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            buffer: None,
            written: 0,
            filled: 0,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> WriteBatch<S> {
    /// Writes out everything gathered; releases the buffer once it is empty.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(buffer) = &self.buffer {
            while self.written < self.filled {
                let pending = &buffer[self.written..self.filled];
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, pending))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.written += n;
            }
        }
        if let Some(buffer) = self.buffer.take() {
            give_back(buffer);
        }
        self.written = 0;
        self.filled = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S> Drop for WriteBatch<S> {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            give_back(buffer);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteBatch<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteBatch<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.filled + buf.len() > READ_AHEAD {
            ready!(this.poll_drain(cx))?;
            if buf.len() >= READ_AHEAD {
                return Pin::new(&mut this.inner).poll_write(cx, buf);
            }
        }
        let buffer = this.buffer.get_or_insert_with(take_buffer);
        buffer[this.filled..this.filled + buf.len()].copy_from_slice(buf);
        this.filled += buf.len();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Copies both ways until both directions have ended, passing half-close through: EOF read
/// on one side shuts down writing on the other while the other direction keeps flowing.
/// Returns the bytes copied `(a_to_b, b_to_a)`.
pub async fn splice<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    tokio::io::copy_bidirectional_with_sizes(a, b, SPLICE_BUFFER, SPLICE_BUFFER).await
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

    #[tokio::test]
    async fn read_ahead_serves_small_reads_in_order_and_keeps_no_buffer_when_drained() {
        let (a, mut b) = tokio::io::duplex(256 * 1024);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        b.write_all(&data).await.unwrap();
        drop(b);
        let mut ahead = ReadAhead::new(a);
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = ahead.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(got, data);
        assert!(ahead.buffer.is_none(), "buffer released at EOF");
    }

    #[tokio::test]
    async fn read_ahead_releases_its_buffer_while_idle() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut ahead = ReadAhead::new(a);
        b.write_all(b"hello").await.unwrap();
        let mut chunk = [0u8; 16];
        assert_eq!(ahead.read(&mut chunk).await.unwrap(), 5);
        // Nothing more has arrived: the next read parks and must not hold 64 KiB meanwhile.
        let pending =
            tokio::time::timeout(std::time::Duration::from_millis(20), ahead.read(&mut chunk))
                .await;
        assert!(pending.is_err());
        assert!(ahead.buffer.is_none());
    }

    #[tokio::test]
    async fn write_batch_delivers_everything_in_order_on_flush_and_shutdown() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut batch = WriteBatch::new(a);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        for chunk in data.chunks(16 * 1024 + 7) {
            batch.write_all(chunk).await.unwrap();
        }
        batch.flush().await.unwrap();
        assert!(batch.buffer.is_none(), "flushed batch holds no buffer");
        batch.write_all(b"tail").await.unwrap();
        batch.shutdown().await.unwrap();
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(&got[..data.len()], &data[..]);
        assert_eq!(&got[data.len()..], b"tail");
    }
}
