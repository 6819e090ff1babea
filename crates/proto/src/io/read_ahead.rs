//! [`ReadAhead`]: one large socket read serving rustls' small ones.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::pool::{PoolBuf, BUFFER_SIZE};

/// Serves small reads from one large socket read.
///
/// rustls asks its transport for at most 4 KiB at a time, so a 16 KiB record costs four
/// `recv` calls and as many wake-ups. Under TLS this wrapper reads up to 64 KiB per syscall
/// instead. The buffer goes back to the pool whenever a read finds it empty and the socket
/// has nothing either, so an idle connection holds none. Writes pass straight through.
#[derive(Debug)]
pub struct ReadAhead<S> {
    inner: S,
    /// Lent while bytes flow; the unread bytes are `buffer[start..end]`.
    buffer: Option<PoolBuf>,
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
            if buf.remaining() >= BUFFER_SIZE {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let buffer = this.buffer.get_or_insert_with(PoolBuf::take);
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
                    this.buffer = None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_small_reads_in_order_and_keeps_no_buffer_when_drained() {
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
    async fn releases_its_buffer_while_idle() {
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
}
