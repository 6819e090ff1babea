//! [`Keys`]: the record keys of both directions, and rustls' `KernelConnection`, which derives
//! every later key when a KeyUpdate moves a direction to its next traffic secret.
//!
//! rustls made `KernelConnection` for kernel TLS: it hands the keys over after the handshake
//! and keeps the key schedule, so nothing here (or anywhere in postern) holds a traffic secret.
//! What it leaves to its user is tracking the confidentiality limit: [`RecordKey`] refuses to
//! seal past it, and the stream updates its key one record before.

use std::fmt;

use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;
use rustls::{ConnectionTrafficSecrets, ExtractedSecrets, SupportedCipherSuite};

use crate::record::{RecordError, RecordKey};

/// rustls' side of a connection after the hand-over: the key schedule, nothing else.
pub(crate) enum Kernel {
    Client(KernelConnection<ClientConnectionData>),
    Server(KernelConnection<ServerConnectionData>),
}

impl Kernel {
    fn suite(&self) -> SupportedCipherSuite {
        match self {
            Kernel::Client(k) => k.negotiated_cipher_suite(),
            Kernel::Server(k) => k.negotiated_cipher_suite(),
        }
    }

    fn next_tx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Client(k) => k.update_tx_secret(),
            Kernel::Server(k) => k.update_tx_secret(),
        }
    }

    fn next_rx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Client(k) => k.update_rx_secret(),
            Kernel::Server(k) => k.update_rx_secret(),
        }
    }
}

/// Both directions' keys and where their successors come from.
pub(crate) struct Keys {
    pub(crate) tx: RecordKey,
    pub(crate) rx: RecordKey,
    /// Boxed: only KeyUpdates touch it, and it is a few hundred bytes an idle connection
    /// need not carry inline.
    kernel: Box<Kernel>,
    /// Records one sending key may protect: the suite's confidentiality limit.
    tx_limit: u64,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("tx", &self.tx)
            .field("rx", &self.rx)
            .field("server", &self.is_server())
            .finish_non_exhaustive()
    }
}

impl Keys {
    pub(crate) fn new(secrets: ExtractedSecrets, kernel: Kernel) -> Result<Self, RecordError> {
        let tx_limit = match kernel.suite() {
            SupportedCipherSuite::Tls13(suite) => suite.common.confidentiality_limit,
            #[allow(unreachable_patterns)] // reachable when rustls is built with TLS 1.2
            _ => return Err(RecordError::UnsupportedSuite),
        };
        let (tx_seq, tx) = secrets.tx;
        let (rx_seq, rx) = secrets.rx;
        Ok(Keys {
            tx: RecordKey::new(tx_seq, tx, tx_limit)?,
            // Opening has no confidentiality limit; the sequence number cannot wrap.
            rx: RecordKey::new(rx_seq, rx, u64::MAX)?,
            kernel: Box::new(kernel),
            tx_limit,
        })
    }

    /// Moves our sending direction to its next traffic secret (after our KeyUpdate went out
    /// under the old key).
    pub(crate) fn update_tx(&mut self) -> Result<(), RecordError> {
        let (seq, secrets) = self.kernel.next_tx().map_err(RecordError::KeyUpdate)?;
        self.tx = RecordKey::new(seq, secrets, self.tx_limit)?;
        Ok(())
    }

    /// Moves the receiving direction to the peer's next traffic secret (its KeyUpdate came).
    pub(crate) fn update_rx(&mut self) -> Result<(), RecordError> {
        let (seq, secrets) = self.kernel.next_rx().map_err(RecordError::KeyUpdate)?;
        self.rx = RecordKey::new(seq, secrets, u64::MAX)?;
        Ok(())
    }

    /// Whether this end is the worker (TLS server): clients never send tickets.
    pub(crate) fn is_server(&self) -> bool {
        matches!(*self.kernel, Kernel::Server(_))
    }

    #[cfg(test)]
    pub(crate) fn set_tx_limit(&mut self, limit: u64) {
        self.tx_limit = limit;
        self.tx.set_limit(limit);
    }
}
