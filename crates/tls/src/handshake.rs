//! The handshake, run by rustls, and the hand-over to [`TlsStream`] once it is done.
//!
//! rustls' own stream keeps every received record's plaintext in a fresh `Vec` and copies it
//! out again: on a busy tunnel that copy was the costliest thing a worker did (perf: 13% of all
//! CPU samples of an iperf3 run, more than AES-GCM itself). So rustls runs only the handshake;
//! then `dangerous_extract_secrets` (rustls' hand-over for kernel TLS) gives the keys to our
//! record layer, which decrypts in place.
//!
//! Two things make the hand-over exact:
//! - [`HandshakeIo`] gives rustls at most one record per read, so when the handshake is done
//!   rustls holds no part of a later record; bytes read beyond go to [`TlsStream`].
//! - [`CaptureTrafficSecrets`], a rustls key log, catches this connection's traffic secrets
//!   while its handshake is polled ([`capturing`]), so the record layer can follow KeyUpdates.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustls::pki_types::ServerName;
use rustls::server::{Acceptor, ClientHello};
use rustls::{ClientConfig, KeyLog, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{LazyConfigAcceptor, StartHandshake, TlsConnector};
use zeroize::Zeroizing;

use crate::record::{self, RecordKey};
use crate::stream::{Inbound, Received, TlsStream};

const CLIENT_SECRET: &str = "CLIENT_TRAFFIC_SECRET_0";
const SERVER_SECRET: &str = "SERVER_TRAFFIC_SECRET_0";

/// The first application traffic secrets of the handshake being polled on this thread.
#[derive(Default)]
struct Captured {
    client: Option<Zeroizing<Vec<u8>>>,
    server: Option<Zeroizing<Vec<u8>>>,
}

thread_local! {
    static CAPTURE: RefCell<Option<Captured>> = const { RefCell::new(None) };
}

/// The key log the client and worker configs carry: it keeps the traffic secrets of the
/// handshake being polled in [`capturing`] on this thread, and nothing else, nowhere else.
#[derive(Debug)]
pub(crate) struct CaptureTrafficSecrets;

impl KeyLog for CaptureTrafficSecrets {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        CAPTURE.with(|slot| {
            if let Some(captured) = slot.borrow_mut().as_mut() {
                let secret = Some(Zeroizing::new(secret.to_vec()));
                match label {
                    CLIENT_SECRET => captured.client = secret,
                    SERVER_SECRET => captured.server = secret,
                    _ => {}
                }
            }
        });
    }

    fn will_log(&self, label: &str) -> bool {
        label == CLIENT_SECRET || label == SERVER_SECRET
    }
}

/// Polls `fut` with this thread's capture slot holding `captured`, so the secrets rustls
/// derives inside the poll land there.
async fn capturing<F: Future + Unpin>(captured: &mut Captured, mut fut: F) -> F::Output {
    poll_fn(|cx| {
        CAPTURE.with(|slot| *slot.borrow_mut() = Some(std::mem::take(captured)));
        let polled = Pin::new(&mut fut).poll(cx);
        *captured = CAPTURE
            .with(|slot| slot.borrow_mut().take())
            .unwrap_or_default();
        polled
    })
    .await
}

/// The client side: TLS with `config` over `tcp`, then the record layer takes over.
pub async fn connect(
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    tcp: TcpStream,
) -> io::Result<TlsStream> {
    let mut captured = Captured::default();
    let connecting = TlsConnector::from(config).connect(server_name, HandshakeIo::new(tcp));
    let tls = capturing(&mut captured, connecting).await?;
    let (io, conn) = tls.into_inner();
    let (tx, rx) = (captured.client, captured.server);
    take_over(io, conn.into(), tx, rx)
}

/// The worker side, first half: the ClientHello has arrived (see [`Accepting::client_hello`]).
pub async fn accept(tcp: TcpStream) -> io::Result<Accepting> {
    let start = LazyConfigAcceptor::new(Acceptor::default(), HandshakeIo::new(tcp)).await?;
    Ok(Accepting { start })
}

/// A worker's handshake whose ClientHello has been read; the config is chosen from it.
pub struct Accepting {
    start: StartHandshake<HandshakeIo>,
}

impl std::fmt::Debug for Accepting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepting").finish_non_exhaustive()
    }
}

impl Accepting {
    pub fn client_hello(&self) -> ClientHello<'_> {
        self.start.client_hello()
    }

    /// Finishes the handshake with `config`; then the record layer takes over.
    pub async fn finish(self, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let mut captured = Captured::default();
        // rustls derives the server's traffic secrets while `into_stream` takes the
        // ClientHello, before its future is first polled: call it inside the capture.
        let start = self.start;
        let finishing = Box::pin(async move { start.into_stream(config).await });
        let tls = capturing(&mut captured, finishing).await?;
        let (io, conn) = tls.into_inner();
        let (tx, rx) = (captured.server, captured.client);
        take_over(io, conn.into(), tx, rx)
    }
}

/// Hands a finished handshake to the record layer: whatever rustls still holds (plaintext it
/// already decrypted, records it has yet to send) moves along with the keys.
fn take_over(
    io: HandshakeIo,
    mut conn: rustls::Connection,
    tx_secret: Option<Zeroizing<Vec<u8>>>,
    rx_secret: Option<Zeroizing<Vec<u8>>>,
) -> io::Result<TlsStream> {
    let lost = || io::Error::other("TLS traffic secrets were not captured during the handshake");
    let (tx_secret, rx_secret) = (tx_secret.ok_or_else(lost)?, rx_secret.ok_or_else(lost)?);
    let mut plaintext = Vec::new();
    let mut chunk = [0u8; 4096];
    let peer_closed = loop {
        match conn.reader().read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => plaintext.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
            Err(e) => return Err(e),
        }
    };
    let mut unsent = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut unsent)?;
    }
    // In practice nothing (the handshake flushes); a whole send buffer would be absurd.
    if unsent.len() > postern_proto::io::BUFFER_SIZE {
        let what = format!(
            "{} bytes of TLS output left unsent by the handshake",
            unsent.len()
        );
        return Err(io::Error::other(what));
    }
    let secrets = conn
        .dangerous_extract_secrets()
        .map_err(|e| io::Error::other(format!("TLS hand-over failed: {e}")))?;
    let (tx_seq, tx) = secrets.tx;
    let (rx_seq, rx) = secrets.rx;
    let tx = RecordKey::new(tx_seq, tx, tx_secret).map_err(io::Error::other)?;
    let rx = RecordKey::new(rx_seq, rx, rx_secret).map_err(io::Error::other)?;
    let (tcp, ahead) = io.into_parts();
    let received = Received {
        plaintext,
        peer_closed,
        ahead,
    };
    Ok(TlsStream::new(tcp, tx, rx, received, unsent))
}

/// Reads ahead from the socket (up to 64 KiB per syscall where rustls asks for 4 KiB at a
/// time) but gives rustls at most the rest of the current record per read, so a finished
/// handshake leaves every later byte here, not inside rustls. Writes pass straight through.
#[derive(Debug)]
pub struct HandshakeIo {
    tcp: TcpStream,
    inbound: Inbound,
    /// Bytes of the current record not yet given to rustls.
    record_left: usize,
}

impl HandshakeIo {
    fn new(tcp: TcpStream) -> Self {
        Self {
            tcp,
            inbound: Inbound::default(),
            record_left: 0,
        }
    }

    /// The socket and the bytes read but not given to rustls.
    fn into_parts(self) -> (TcpStream, Inbound) {
        (self.tcp, self.inbound)
    }
}

impl AsyncRead for HandshakeIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.record_left == 0 {
            // A new record: its header says how long it is.
            while this.inbound.unread.len() < record::HEADER_LEN {
                if ready!(this.inbound.poll_fill(cx, &mut this.tcp))? == 0 {
                    // EOF: rustls gets the last bytes (if any) and reports the cut.
                    break;
                }
            }
            let unread = this.inbound.unread();
            this.record_left = record::record_len(unread).unwrap_or(unread.len());
        }
        if this.inbound.unread.is_empty() && ready!(this.inbound.poll_fill(cx, &mut this.tcp))? == 0
        {
            return Poll::Ready(Ok(()));
        }
        let unread = this.inbound.unread();
        let n = buf.remaining().min(unread.len()).min(this.record_left);
        buf.put_slice(&unread[..n]);
        this.inbound.unread.start += n;
        this.record_left -= n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for HandshakeIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind, 3, 3];
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let far = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (near, _) = listener.accept().await.unwrap();
        (far, near)
    }

    /// Two records arrive in one segment: rustls is given the first alone, and the second
    /// stays behind for the record layer.
    #[tokio::test]
    async fn rustls_gets_one_record_per_read_and_the_rest_is_handed_over() {
        let (mut far, near) = pair().await;
        let (first, second) = (record(22, &[1; 300]), record(23, &[2; 5000]));
        far.write_all(&[first.clone(), second.clone()].concat())
            .await
            .unwrap();
        // Both records in the socket before the first read.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut io = HandshakeIo::new(near);
        let mut got = vec![0u8; 64 * 1024];
        let n = io.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], &first[..]);
        let (_, ahead) = io.into_parts();
        assert_eq!(ahead.unread(), &second[..], "the second record is kept");
    }

    /// A header split across segments is waited for, then the record is served up to its end.
    #[tokio::test]
    async fn a_record_in_pieces_is_served_up_to_its_end() {
        let (mut far, near) = pair().await;
        let (first, second) = (record(22, &[7; 40]), record(22, &[8; 10]));
        let mut io = HandshakeIo::new(near);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            while got.len() < 45 {
                let n = io.read(&mut chunk).await.unwrap();
                got.extend_from_slice(&chunk[..n]);
                assert!(got.len() <= 45, "a read ran past the first record");
            }
            (got, io)
        });
        far.write_all(&first[..3]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        far.write_all(&[&first[3..], &second[..]].concat())
            .await
            .unwrap();
        let (got, mut io) = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, first);
        let mut rest = [0u8; 100];
        let n = io.read(&mut rest).await.unwrap();
        assert_eq!(&rest[..n], &second[..]);
    }
}
