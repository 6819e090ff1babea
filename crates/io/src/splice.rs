//! [`splice`]: both directions of a proxied connection, holding buffers only while bytes flow.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::pool::PoolBuf;

/// How a [`splice`] hands bytes to a writer. By default `poll_write`; a writer that can work
/// on the bytes where they lie (the WebSocket client masks them in place instead of copying
/// them into a frame first) overrides it.
///
/// Contract: on `Ready(Ok(n))` the first `n` bytes of `buf` may have been changed and the rest
/// are as they were; on `Pending` or an error, `buf` is as it was (the splice writes it again).
pub trait SpliceWrite: AsyncWrite + Unpin {
    fn poll_splice_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self).poll_write(cx, buf)
    }
}

impl SpliceWrite for tokio::net::TcpStream {}
impl SpliceWrite for tokio::io::DuplexStream {}

/// Which stream of a [`splice`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    A,
    B,
}

/// A [`splice`] ended by an I/O error on one of its streams (reading or writing it).
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct SpliceError {
    pub end: End,
    #[source]
    pub source: io::Error,
}

/// Copies both ways until both directions have ended, passing half-close through: EOF read
/// on one side shuts down writing on the other while the other direction keeps flowing.
/// Returns the bytes copied `(a_to_b, b_to_a)`; the first error of either direction ends it,
/// naming the stream it came from, so the caller can tell whose end was abnormal.
///
/// Each direction reads as much as has arrived, up to 64 KiB, before writing it out in one
/// go (so the 16 KiB pieces a TLS record yields reach a plain socket as one write), and
/// flushes the writer whenever its reader would block. The 64 KiB buffer is lent from the
/// pool for one read-and-write round, so an idle connection holds none.
pub async fn splice<A, B>(a: &mut A, b: &mut B) -> Result<(u64, u64), SpliceError>
where
    A: AsyncRead + SpliceWrite + ?Sized,
    B: AsyncRead + SpliceWrite + ?Sized,
{
    let mut a_to_b = OneWay::default();
    let mut b_to_a = OneWay::default();
    std::future::poll_fn(|cx| {
        let up = a_to_b
            .poll(cx, &mut *a, &mut *b)
            .map_err(|(reading, source)| SpliceError {
                end: if reading { End::A } else { End::B },
                source,
            })?;
        let down = b_to_a
            .poll(cx, &mut *b, &mut *a)
            .map_err(|(reading, source)| SpliceError {
                end: if reading { End::B } else { End::A },
                source,
            })?;
        match (up, down) {
            (Poll::Ready(up), Poll::Ready(down)) => Poll::Ready(Ok((up, down))),
            _ => Poll::Pending,
        }
    })
    .await
}

/// One direction of a [`splice`].
#[derive(Debug, Default)]
struct OneWay {
    /// Lent while bytes are on their way: they are `buffer[start..end]`.
    buffer: Option<PoolBuf>,
    start: usize,
    end: usize,
    copied: u64,
    /// Written since the last flush.
    unflushed: bool,
    /// The reader has ended; once the held bytes are out, the writer is shut down.
    eof: bool,
    done: bool,
}

/// An error of one direction: `true` if reading failed, `false` if writing did.
type Failed = (bool, io::Error);

impl OneWay {
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
    ) -> Poll<Result<u64, Failed>>
    where
        R: AsyncRead + Unpin + ?Sized,
        W: SpliceWrite + ?Sized,
    {
        loop {
            if self.done {
                return Poll::Ready(Ok(self.copied));
            }
            if let Some(buffer) = &mut self.buffer {
                while self.start < self.end {
                    let pending = buffer.slice_mut(self.start..self.end);
                    let n =
                        ready!(writer.poll_splice_write(cx, pending)).map_err(|e| (false, e))?;
                    if n == 0 {
                        return Poll::Ready(Err((false, io::ErrorKind::WriteZero.into())));
                    }
                    self.start += n;
                    self.copied += n as u64;
                    self.unflushed = true;
                }
            }
            if self.eof {
                self.buffer = None;
                ready!(Pin::new(&mut *writer).poll_shutdown(cx)).map_err(|e| (false, e))?;
                self.done = true;
                continue;
            }
            let buffer = self.buffer.get_or_insert_with(PoolBuf::take);
            let (filled, stopped) = buffer.write_at(0, |spare| {
                let mut into = ReadBuf::new(spare);
                let stopped = loop {
                    if into.remaining() == 0 {
                        break Ok(false);
                    }
                    let before = into.filled().len();
                    match Pin::new(&mut *reader).poll_read(cx, &mut into) {
                        Poll::Ready(Ok(())) if into.filled().len() == before => {
                            self.eof = true;
                            break Ok(false);
                        }
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => break Err(e),
                        Poll::Pending => break Ok(true),
                    }
                };
                let filled = into.filled().len();
                (filled, (filled, stopped))
            });
            let blocked = stopped.map_err(|e| (true, e))?;
            self.start = 0;
            self.end = filled;
            if self.end == 0 && blocked {
                // Nothing on the way: the buffer goes back, and what was written goes out.
                self.buffer = None;
                if self.unflushed {
                    ready!(Pin::new(&mut *writer).poll_flush(cx)).map_err(|e| (false, e))?;
                    self.unflushed = false;
                }
                return Poll::Pending;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(seed) % 251) as u8)
            .collect()
    }

    #[tokio::test]
    async fn copies_both_ways_and_passes_half_close_through() {
        let (mut a, mut a_far) = tokio::io::duplex(8 * 1024);
        let (mut b, mut b_far) = tokio::io::duplex(8 * 1024);
        let spliced = tokio::spawn(async move { splice(&mut a, &mut b).await });
        let up = pattern(300_000, 7);
        let down = pattern(200_000, 13);
        let (up_sent, down_sent) = (up.clone(), down.clone());
        let client = tokio::spawn(async move {
            a_far.write_all(&up_sent).await.unwrap();
            a_far.shutdown().await.unwrap();
            let mut got = Vec::new();
            a_far.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut got_up = Vec::new();
        b_far.read_to_end(&mut got_up).await.unwrap();
        assert_eq!(got_up, up, "EOF arrives after every byte up");
        // The up direction has ended; the down direction still flows.
        b_far.write_all(&down_sent).await.unwrap();
        b_far.shutdown().await.unwrap();
        assert_eq!(client.await.unwrap(), down);
        let copied = spliced.await.unwrap().unwrap();
        assert_eq!(copied, (300_000, 200_000));
    }

    #[tokio::test]
    async fn an_idle_splice_holds_no_buffer() {
        let (a, mut a_far) = tokio::io::duplex(1024);
        let (b, mut b_far) = tokio::io::duplex(1024);
        let (mut a, mut b) = (a, b);
        let mut up = OneWay::default();
        let mut down = OneWay::default();
        a_far.write_all(b"ping").await.unwrap();
        let polled = std::future::poll_fn(|cx| {
            let up = up.poll(cx, &mut a, &mut b);
            let down = down.poll(cx, &mut b, &mut a);
            Poll::Ready((up.is_pending(), down.is_pending()))
        })
        .await;
        assert_eq!(polled, (true, true), "both directions wait for more");
        assert!(up.buffer.is_none() && down.buffer.is_none());
        let mut got = [0u8; 4];
        b_far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
    }

    #[tokio::test]
    async fn a_read_error_ends_the_splice_with_it() {
        struct Failing;
        impl AsyncRead for Failing {
            fn poll_read(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
            }
        }
        impl SpliceWrite for Failing {}
        impl AsyncWrite for Failing {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                b: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Ok(b.len()))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let (mut b, _b_far) = tokio::io::duplex(1024);
        let err = splice(&mut Failing, &mut b).await.unwrap_err();
        assert_eq!(err.source.kind(), io::ErrorKind::ConnectionReset);
        assert_eq!(err.end, End::A, "the stream that failed is named");
        let (mut a, _a_far) = tokio::io::duplex(1024);
        let err = splice(&mut a, &mut Failing).await.unwrap_err();
        assert_eq!(err.end, End::B);
    }
}
