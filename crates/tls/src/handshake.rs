//! The handshake, run by rustls' unbuffered connections, and the hand-over to [`TlsStream`].
//!
//! The unbuffered API lets postern lend rustls its buffers: a small one for the handshake,
//! pooled ones for the data ([`TlsStream`]).
//!
//! rustls is given one whole record at a time ([`HandshakeBuffer`]), so when it reports
//! `WriteTraffic` it has seen nothing after the peer's Finished: everything behind it (the
//! first application data, a KeyUpdate sent in the same flight) is still in the buffer, and
//! goes to the stream as its first input.
//!
//! Before the handshake is done a connection holds only the handshake buffer: 4 KiB, grown to
//! fit one record when a record needs it, never more than two records.

use std::io;
use std::sync::Arc;

use bytes::BufMut;
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::pki_types::ServerName;
use rustls::server::{Acceptor, ClientHello, ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::record::{self, MAX_RECORD};
use crate::stream::{Conn, TlsStream};

/// Most the handshake buffer grows by for one read: it holds what has arrived plus at most
/// this, so a stranger who announces a long record and sends nothing more costs little.
/// A server's whole flight fits in one read.
const READ_STEP: usize = 4 * 1024;
/// The first read's room: a ClientHello is a few hundred bytes, and a connection that sends
/// nothing should hold next to nothing.
const FIRST_READ: usize = 1024;
/// Most the handshake buffer may hold: a handshake message spanning two records.
const MAX_BUFFER: usize = 2 * MAX_RECORD;
/// A ClientHello must arrive within one record's worth of bytes.
const MAX_CLIENT_HELLO: usize = MAX_RECORD;

/// Bytes read during the handshake. rustls is offered whole records only, one more each time
/// it says it needs more; bytes beyond what it was offered wait here. The buffer holds what
/// has arrived and nothing more: each read lends the transport at most [`READ_STEP`] bytes
/// of spare room, never initialised, so memory follows the bytes a peer really sent.
#[derive(Debug, Default)]
struct HandshakeBuffer {
    buf: Vec<u8>,
    /// Bytes at the front offered to rustls: whole records, some maybe already processed
    /// but kept by rustls (a message spanning records) until it says to discard them.
    offered: usize,
}

fn protocol_error(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn tls_error(error: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

impl HandshakeBuffer {
    fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn offered_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.offered]
    }

    /// rustls is done with the first `n` offered bytes.
    fn discard(&mut self, n: usize) {
        if n > 0 {
            self.buf.drain(..n);
            self.offered -= n;
        }
    }

    /// Offers rustls the next whole record, if it has arrived. A record longer than TLS
    /// allows is offered by its header alone: rustls refuses it with the right alert.
    fn offer_next_record(&mut self) -> bool {
        let ahead = &self.buf[self.offered..];
        match record::record_len(ahead) {
            Some(len) if len > MAX_RECORD => {
                self.offered += record::HEADER_LEN;
                true
            }
            Some(len) if len <= ahead.len() => {
                self.offered += len;
                true
            }
            _ => false,
        }
    }

    /// Moves `offered` past the records that have arrived whole, so the next read knows
    /// which record it is completing.
    fn pass_whole_records(&mut self) {
        while let Some(len) = record::record_len(&self.buf[self.offered..]) {
            if len > MAX_RECORD || self.offered + len > self.buf.len() {
                break;
            }
            self.offered += len;
        }
    }

    /// Reads what has arrived, up to [`READ_STEP`] bytes; more than `cap` bytes buffered is
    /// an error. EOF is an error too: the handshake is not done.
    async fn read_more<IO: AsyncRead + Unpin>(
        &mut self,
        io: &mut IO,
        cap: usize,
    ) -> io::Result<()> {
        let step = if self.buf.is_empty() {
            FIRST_READ
        } else {
            READ_STEP
        };
        let room = step.min(cap.saturating_sub(self.buf.len()));
        if room == 0 {
            let what = format!("TLS handshake needs more than {cap} bytes buffered");
            return Err(protocol_error(what));
        }
        self.buf.reserve_exact(room);
        match io.read_buf(&mut (&mut self.buf).limit(room)).await? {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed during the TLS handshake",
            )),
            _ => Ok(()),
        }
    }

    /// The bytes after the last record rustls was offered: the stream's first input.
    fn ahead(&self) -> &[u8] {
        &self.buf[self.offered..]
    }
}

/// The two unbuffered connection types, driven by one loop.
pub(crate) trait Unbuffered: Sized {
    type Data;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;
    fn is_handshaking(&self) -> bool;
    fn into_conn(self) -> Conn;
}

impl Unbuffered for UnbufferedClientConnection {
    type Data = ClientConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn is_handshaking(&self) -> bool {
        (**self).is_handshaking()
    }
    fn into_conn(self) -> Conn {
        Conn::Client(self)
    }
}

impl Unbuffered for UnbufferedServerConnection {
    type Data = ServerConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn is_handshaking(&self) -> bool {
        (**self).is_handshaking()
    }
    fn into_conn(self) -> Conn {
        Conn::Server(self)
    }
}

/// What the driving loop does after one step of rustls.
enum Next {
    Again,
    NeedMore,
    Done,
    Failed(io::Error),
}

/// Encodes one pending handshake record behind `outgoing`, growing it as rustls asks.
fn encode(
    data: &mut rustls::unbuffered::EncodeTlsData<'_, impl Sized>,
    outgoing: &mut Vec<u8>,
) -> io::Result<()> {
    let at = outgoing.len();
    loop {
        match data.encode(&mut outgoing[at..]) {
            Ok(n) => {
                outgoing.truncate(at + n);
                return Ok(());
            }
            Err(EncodeError::InsufficientSize(need)) => {
                outgoing.resize(at + need.required_size, 0);
            }
            Err(e) => return Err(io::Error::other(format!("TLS handshake: {e}"))),
        }
    }
}

/// Runs `conn` through the handshake over `io`, then makes the stream.
async fn drive<C: Unbuffered, IO: AsyncRead + AsyncWrite + Unpin>(
    mut conn: C,
    mut io: IO,
    mut incoming: HandshakeBuffer,
) -> io::Result<TlsStream<IO>> {
    let mut outgoing = Vec::new();
    loop {
        let status = conn.process(incoming.offered_mut());
        let discard = status.discard;
        let next = match status.state {
            Ok(ConnectionState::EncodeTlsData(mut data)) => {
                match encode(&mut data, &mut outgoing) {
                    Ok(()) => Next::Again,
                    Err(e) => Next::Failed(e),
                }
            }
            Ok(ConnectionState::TransmitTlsData(data)) => {
                io.write_all(&outgoing).await?;
                io.flush().await?;
                outgoing.clear();
                data.done();
                Next::Again
            }
            Ok(ConnectionState::BlockedHandshake) => Next::NeedMore,
            Ok(ConnectionState::WriteTraffic(_)) => Next::Done,
            Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => {
                Next::Failed(protocol_error("the peer closed TLS during the handshake"))
            }
            Ok(_) => Next::Failed(protocol_error("unexpected TLS data during the handshake")),
            Err(e) => Next::Failed(tls_error(e)),
        };
        incoming.discard(discard);
        match next {
            Next::Again => {}
            // The server may send before the client's Finished (not postern's worker, which
            // asks for a certificate); the handshake is done only once both ways are open.
            Next::Done | Next::NeedMore if !conn.is_handshaking() => break,
            Next::Done | Next::NeedMore => {
                if !incoming.offer_next_record() {
                    incoming.read_more(&mut io, MAX_BUFFER).await?;
                    incoming.offer_next_record();
                }
            }
            Next::Failed(error) => {
                send_pending_alert(&mut conn, &mut io, incoming.offered_mut()).await;
                return Err(error);
            }
        }
    }
    Ok(TlsStream::new(io, conn.into_conn(), incoming.ahead()))
}

/// After a failed handshake rustls has queued the alert that says why: send it, best effort.
/// One call hands it out; a second would make rustls process the offending record again
/// (and panic on a second fatal alert). `offered` is what rustls was last given: it may hold
/// a position inside those bytes, and would panic on an empty slice.
async fn send_pending_alert<C: Unbuffered, IO: AsyncWrite + Unpin>(
    conn: &mut C,
    io: &mut IO,
    offered: &mut [u8],
) {
    let mut outgoing = Vec::new();
    if let Ok(ConnectionState::EncodeTlsData(mut data)) = conn.process(offered).state {
        if encode(&mut data, &mut outgoing).is_ok() && io.write_all(&outgoing).await.is_ok() {
            // Nothing more to do if the peer has gone.
            let _flushed = io.flush().await;
        }
    }
}

/// The client side: TLS with `config` over `io`.
pub async fn connect<IO: AsyncRead + AsyncWrite + Unpin>(
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    io: IO,
) -> io::Result<TlsStream<IO>> {
    let conn = UnbufferedClientConnection::new(config, server_name).map_err(tls_error)?;
    drive(conn, io, HandshakeBuffer::default()).await
}

/// The worker side, first half: reads the ClientHello (see [`Accepting::client_hello`]).
pub async fn accept<IO: AsyncRead + AsyncWrite + Unpin>(mut io: IO) -> io::Result<Accepting<IO>> {
    let mut incoming = HandshakeBuffer::default();
    let mut acceptor = Acceptor::default();
    let mut fed = 0;
    loop {
        incoming.read_more(&mut io, MAX_CLIENT_HELLO).await?;
        incoming.pass_whole_records();
        // rustls parses the ClientHello from a copy of each record once it is whole (so a
        // slow partial record is held once, here); a record header that cannot start a
        // ClientHello goes to rustls at once, so garbage is refused at once. The bytes stay
        // here for the connection made once the config is chosen.
        let next = &incoming.bytes()[incoming.offered..];
        let plausible = match next {
            [record::HANDSHAKE, 3, ..] => record::record_len(next).is_none_or(|n| n <= MAX_RECORD),
            [record::HANDSHAKE] | [] => true,
            _ => false,
        };
        let upto = if plausible {
            incoming.offered
        } else {
            incoming.buf.len()
        };
        let mut fresh = &incoming.bytes()[fed.min(upto)..upto];
        while !fresh.is_empty() {
            if acceptor.read_tls(&mut fresh)? == 0 {
                break;
            }
        }
        fed = fed.max(upto);
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                incoming.offered = 0;
                return Ok(Accepting {
                    io,
                    accepted,
                    incoming,
                });
            }
            Ok(None) => {}
            Err((error, mut alert)) => {
                let mut bytes = Vec::new();
                if alert.write_all(&mut bytes).is_ok() && io.write_all(&bytes).await.is_ok() {
                    let _flushed = io.flush().await;
                }
                return Err(tls_error(error));
            }
        }
    }
}

/// A worker's handshake whose ClientHello has been read; the config is chosen from it.
pub struct Accepting<IO = TcpStream> {
    io: IO,
    accepted: rustls::server::Accepted,
    incoming: HandshakeBuffer,
}

impl<IO> std::fmt::Debug for Accepting<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepting").finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Accepting<IO> {
    pub fn client_hello(&self) -> ClientHello<'_> {
        self.accepted.client_hello()
    }

    /// Finishes the handshake with `config`.
    pub async fn finish(self, config: Arc<ServerConfig>) -> io::Result<TlsStream<IO>> {
        let conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        drive(conn, self.io, self.incoming).await
    }
}
