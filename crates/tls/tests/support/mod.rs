//! A hostile TLS 1.3 peer and a scripted transport, for testing what postern's TLS stream
//! does with records it should never get.
//!
//! The peer runs its handshake with rustls, then seals and opens records itself with keys it
//! derives on its own (RFC 8446 section 7: the traffic secrets from rustls' key log, then
//! HKDF-Expand-Label for keys, IVs and every KeyUpdate), so what it checks does not depend on
//! the code under test. Every record it opens is checked to use a (key, nonce) pair never
//! seen before.

#![allow(dead_code, clippy::unwrap_used)] // each test file uses part of this

use std::collections::{HashMap, HashSet};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};
use rustls::{CipherSuite, ClientConfig, KeyLog, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;

pub const CHANGE_CIPHER_SPEC: u8 = 20;
pub const ALERT: u8 = 21;
pub const HANDSHAKE: u8 = 22;
pub const APPLICATION_DATA: u8 = 23;
pub const KEY_UPDATE: u8 = 24;
pub const NEW_SESSION_TICKET: u8 = 4;

/// Alert descriptions the tests expect (RFC 8446 section 6).
pub const UNEXPECTED_MESSAGE: u8 = 10;
pub const BAD_RECORD_MAC: u8 = 20;
pub const RECORD_OVERFLOW: u8 = 22;
pub const DECODE_ERROR: u8 = 50;
pub const ILLEGAL_PARAMETER: u8 = 47;

/// One end of an in-memory transport: each write arrives at the other end as exactly one
/// read (a smaller read gets the rest next time), so a test decides where reads end instead
/// of shaping TCP segments with sleeps. Shutdown (or drop) is EOF at the other end.
#[derive(Debug)]
pub struct Scripted {
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
    tx: Option<mpsc::UnboundedSender<Vec<u8>>>,
}

pub fn scripted_pair() -> (Scripted, Scripted) {
    let (a_tx, a_rx) = mpsc::unbounded_channel();
    let (b_tx, b_rx) = mpsc::unbounded_channel();
    let end = |rx, tx| Scripted {
        rx,
        chunk: Vec::new(),
        at: 0,
        tx: Some(tx),
    };
    (end(a_rx, b_tx), end(b_rx, a_tx))
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at == self.chunk.len() {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = buf.remaining().min(self.chunk.len() - self.at);
        let at = self.at;
        buf.put_slice(&self.chunk[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let sent = self.tx.as_ref().map(|tx| tx.send(buf.to_vec()));
        match sent {
            Some(Ok(())) => Poll::Ready(Ok(buf.len())),
            _ => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tx = None;
        Poll::Ready(Ok(()))
    }
}

/// rustls' key log, kept in memory for the hostile peer (test code only).
#[derive(Debug, Default)]
pub struct Secrets(Mutex<HashMap<String, Vec<u8>>>);

impl KeyLog for Secrets {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .insert(label.to_owned(), secret.to_vec());
    }
}

impl Secrets {
    fn get(&self, label: &str) -> Option<Vec<u8>> {
        self.0.lock().unwrap().get(label).cloned()
    }
}

/// HKDF-Expand-Label(secret, label, "", len), RFC 8446 section 7.1.
fn expand_label(alg: hkdf::Algorithm, secret: &[u8], label: &str, len: usize) -> Vec<u8> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let out_len = (len as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    let info: [&[u8]; 5] = [&out_len, &label_len, b"tls13 ", label.as_bytes(), &[0]];
    let mut out = vec![0u8; len];
    hkdf::Prk::new_less_safe(alg, secret)
        .expand(&info, Len(len))
        .unwrap()
        .fill(&mut out)
        .unwrap();
    out
}

/// One direction's traffic secret, key, IV and sequence number, derived independently.
pub struct TestKey {
    aead: &'static aead::Algorithm,
    hkdf: hkdf::Algorithm,
    secret: Vec<u8>,
    key: LessSafeKey,
    key_bytes: Vec<u8>,
    iv: Vec<u8>,
    pub seq: u64,
    /// KeyUpdates this direction has gone through.
    pub epoch: u32,
}

impl TestKey {
    fn new(suite: CipherSuite, secret: Vec<u8>) -> Self {
        let (aead, hkdf) = match suite {
            CipherSuite::TLS13_AES_128_GCM_SHA256 => (&aead::AES_128_GCM, hkdf::HKDF_SHA256),
            CipherSuite::TLS13_AES_256_GCM_SHA384 => (&aead::AES_256_GCM, hkdf::HKDF_SHA384),
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => {
                (&aead::CHACHA20_POLY1305, hkdf::HKDF_SHA256)
            }
            other => panic!("test peer does not know {other:?}"),
        };
        Self::derive(aead, hkdf, secret)
    }

    /// The next traffic secret (section 7.2), sequence from 0.
    pub fn update(&mut self) {
        let next = expand_label(self.hkdf, &self.secret, "traffic upd", self.secret.len());
        let epoch = self.epoch + 1;
        *self = TestKey::derive(self.aead, self.hkdf, next);
        self.epoch = epoch;
    }

    fn derive(aead: &'static aead::Algorithm, hkdf: hkdf::Algorithm, secret: Vec<u8>) -> Self {
        let key_bytes = expand_label(hkdf, &secret, "key", aead.key_len());
        let iv = expand_label(hkdf, &secret, "iv", 12);
        TestKey {
            aead,
            hkdf,
            key: LessSafeKey::new(UnboundKey::new(aead, &key_bytes).unwrap()),
            key_bytes,
            iv,
            secret,
            seq: 0,
            epoch: 0,
        }
    }

    fn nonce(&mut self) -> [u8; 12] {
        let mut nonce: [u8; 12] = self.iv.clone().try_into().unwrap();
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        self.seq += 1;
        nonce
    }

    /// A protected record whose inner plaintext is exactly `inner` (content, type, padding).
    pub fn seal_inner(&mut self, inner: &[u8]) -> Vec<u8> {
        let len = (inner.len() + 16) as u16;
        let header = [APPLICATION_DATA, 3, 3, (len >> 8) as u8, len as u8];
        let mut body = inner.to_vec();
        let nonce = Nonce::assume_unique_for_key(self.nonce());
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(header), &mut body)
            .unwrap();
        [&header[..], &body].concat()
    }

    /// A protected record of `content_type` carrying `payload`.
    pub fn seal(&mut self, content_type: u8, payload: &[u8]) -> Vec<u8> {
        self.seal_inner(&[payload, &[content_type]].concat())
    }

    /// A KeyUpdate under this key; the key moves on after it.
    pub fn key_update(&mut self, request: bool) -> Vec<u8> {
        let record = self.seal(HANDSHAKE, &[KEY_UPDATE, 0, 0, 1, u8::from(request)]);
        self.update();
        record
    }
}

/// A peer whose handshake rustls ran and whose records are the test's own.
pub struct Peer<IO> {
    pub io: IO,
    pub tx: TestKey,
    pub rx: TestKey,
    inbox: Vec<u8>,
    /// (key, nonce) of every record opened: a repeat is a failed test.
    seen: HashSet<(Vec<u8>, [u8; 12])>,
    /// The other side asked for our KeyUpdate.
    pub update_requested: bool,
}

trait Unbuffered {
    type Data;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;
    fn handshaking(&self) -> bool;
    fn suite(&self) -> CipherSuite;
}

impl Unbuffered for UnbufferedClientConnection {
    type Data = rustls::client::ClientConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn handshaking(&self) -> bool {
        self.is_handshaking()
    }
    fn suite(&self) -> CipherSuite {
        self.negotiated_cipher_suite().unwrap().suite()
    }
}

impl Unbuffered for UnbufferedServerConnection {
    type Data = rustls::server::ServerConnectionData;
    fn process<'c, 'i>(
        &'c mut self,
        incoming: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn handshaking(&self) -> bool {
        self.is_handshaking()
    }
    fn suite(&self) -> CipherSuite {
        self.negotiated_cipher_suite().unwrap().suite()
    }
}

fn record_len(bytes: &[u8]) -> Option<usize> {
    (bytes.len() >= 5).then(|| 5 + u16::from_be_bytes([bytes[3], bytes[4]]) as usize)
}

/// Runs rustls through the handshake, offering it one whole record at a time. When the
/// flight carrying our Finished is ready, `extra` gets our first traffic key and returns
/// records to send in the same write. Returns the keys and the bytes read past the
/// handshake.
async fn handshake<C: Unbuffered, IO: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut C,
    io: &mut IO,
    secrets: &Secrets,
    (ours, theirs): (&str, &str),
    extra: impl FnOnce(&mut TestKey) -> Vec<u8>,
) -> (TestKey, TestKey, Vec<u8>) {
    let mut extra = Some(extra);
    let mut tx = None;
    let (mut inbox, mut offered) = (Vec::new(), 0);
    let mut outgoing = Vec::new();
    loop {
        let status = conn.process(&mut inbox[..offered]);
        let discard = status.discard;
        let mut need_more = false;
        match status.state.unwrap() {
            ConnectionState::EncodeTlsData(mut data) => loop {
                let at = outgoing.len();
                outgoing.resize(at + 4096, 0);
                match data.encode(&mut outgoing[at..]) {
                    Ok(n) => {
                        outgoing.truncate(at + n);
                        break;
                    }
                    Err(EncodeError::InsufficientSize(need)) => {
                        outgoing.resize(at + need.required_size, 0);
                    }
                    Err(e) => panic!("{e}"),
                }
            },
            ConnectionState::TransmitTlsData(data) => {
                data.done();
                if tx.is_none() {
                    if let Some(secret) = secrets.get(ours) {
                        let mut key = TestKey::new(conn.suite(), secret);
                        let more = (extra.take().unwrap())(&mut key);
                        outgoing.extend_from_slice(&more);
                        tx = Some(key);
                    }
                }
                io.write_all(&outgoing).await.unwrap();
                outgoing.clear();
            }
            ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_) => {
                need_more = true
            }
            other => panic!("hostile peer's handshake: unexpected {other:?}"),
        }
        inbox.drain(..discard);
        offered -= discard;
        if need_more && !conn.handshaking() {
            break;
        }
        if need_more {
            loop {
                match record_len(&inbox[offered..]) {
                    Some(len) if offered + len <= inbox.len() => {
                        offered += len;
                        break;
                    }
                    _ => {
                        let mut chunk = vec![0u8; 16 * 1024];
                        let n = io.read(&mut chunk).await.unwrap();
                        assert!(n > 0, "the other side closed during the handshake");
                        inbox.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
    }
    let rx = TestKey::new(conn.suite(), secrets.get(theirs).unwrap());
    (tx.unwrap(), rx, inbox.split_off(offered))
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Peer<IO> {
    /// A hostile client: `extra` goes out in the same write as its Finished.
    pub async fn client(
        config: &ClientConfig,
        name: ServerName<'static>,
        mut io: IO,
        extra: impl FnOnce(&mut TestKey) -> Vec<u8>,
    ) -> Self {
        let secrets = Arc::new(Secrets::default());
        let mut config = config.clone();
        config.key_log = secrets.clone();
        let mut conn = UnbufferedClientConnection::new(Arc::new(config), name).unwrap();
        let labels = ("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0");
        let (tx, rx, inbox) = handshake(&mut conn, &mut io, &secrets, labels, extra).await;
        Peer::new(io, tx, rx, inbox)
    }

    /// A hostile server: `extra` goes out in the same write as its Finished.
    pub async fn server(
        config: &ServerConfig,
        mut io: IO,
        extra: impl FnOnce(&mut TestKey) -> Vec<u8>,
    ) -> Self {
        let secrets = Arc::new(Secrets::default());
        let mut config = config.clone();
        config.key_log = secrets.clone();
        let mut conn = UnbufferedServerConnection::new(Arc::new(config)).unwrap();
        let labels = ("SERVER_TRAFFIC_SECRET_0", "CLIENT_TRAFFIC_SECRET_0");
        let (tx, rx, inbox) = handshake(&mut conn, &mut io, &secrets, labels, extra).await;
        Peer::new(io, tx, rx, inbox)
    }

    fn new(io: IO, tx: TestKey, rx: TestKey, inbox: Vec<u8>) -> Self {
        Peer {
            io,
            tx,
            rx,
            inbox,
            seen: HashSet::new(),
            update_requested: false,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
        self.io.flush().await.unwrap();
    }

    /// The next record from the other side, opened: (inner content type, content). A
    /// KeyUpdate moves our receiving key on. `None` at EOF.
    pub async fn next_record(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if let Some(len) = record_len(&self.inbox).filter(|&len| len <= self.inbox.len()) {
                let record: Vec<u8> = self.inbox.drain(..len).collect();
                assert_eq!(
                    record[0], APPLICATION_DATA,
                    "unprotected record from postern"
                );
                let nonce = self.rx.nonce();
                assert!(
                    self.seen.insert((self.rx.key_bytes.clone(), nonce)),
                    "postern used a (key, nonce) pair twice"
                );
                let mut body = record[5..].to_vec();
                let plain = self
                    .rx
                    .key
                    .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(&record[..5]), &mut body)
                    .unwrap_or_else(|_| {
                        panic!(
                            "record {} of key epoch {} does not open under the key postern should use",
                            self.rx.seq - 1,
                            self.rx.epoch
                        )
                    });
                let end = plain.iter().rposition(|&b| b != 0).unwrap();
                let (kind, content) = (plain[end], plain[..end].to_vec());
                if kind == HANDSHAKE && content.first() == Some(&KEY_UPDATE) {
                    assert_eq!(content.len(), 5, "one KeyUpdate per record");
                    self.update_requested |= content[4] == 1;
                    self.rx.update();
                }
                return Some((kind, content));
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = self.io.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.inbox.extend_from_slice(&chunk[..n]);
        }
    }

    /// Application data until `len` bytes have come; other records are checked and skipped.
    pub async fn read_data(&mut self, len: usize) -> Vec<u8> {
        let mut data = Vec::new();
        while data.len() < len {
            match self.next_record().await {
                Some((APPLICATION_DATA, content)) => data.extend_from_slice(&content),
                Some((HANDSHAKE, _)) => {}
                Some((kind, content)) => panic!("record of type {kind} ({content:?}) amid data"),
                None => panic!("EOF after {} of {len} bytes", data.len()),
            }
        }
        data
    }

    /// The alert the other side ends with (its description), skipping data before it.
    pub async fn alert(&mut self) -> Option<u8> {
        loop {
            match self.next_record().await? {
                (ALERT, content) => {
                    assert_eq!(content.len(), 2);
                    return Some(content[1]);
                }
                _ => continue,
            }
        }
    }
}
