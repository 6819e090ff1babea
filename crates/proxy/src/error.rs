//! What can go wrong on the client side of a session, naming the side at fault.

use std::time::Duration;

use postern_ws::WsError;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("session credentials in the token are unusable: {0}")]
    Credentials(#[from] postern_tls::TlsError),
    #[error("the token names no worker")]
    NoWorker,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("unable to connect to worker at {address}: {source}")]
    WorkerUnreachable {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("session credentials were not accepted by worker {address}, or session is unauthorized: {source}")]
    WorkerTls {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("WebSocket with worker failed: {0}")]
    WorkerWebSocket(#[from] WsError),
    #[error("worker refused the connection: {reason} (close code {code})")]
    Refused { code: u16, reason: String },
    #[error("session is already in use")]
    SessionInUse,
    #[error("worker sent an invalid handshake result: {0}")]
    BadHandshakeResult(#[from] prost::DecodeError),
    #[error("{phase} timed out after {after:?}")]
    Timeout {
        phase: &'static str,
        after: Duration,
    },
}

impl ProxyError {
    /// Whether the session can carry no more connections for this client: the worker
    /// refused to authorize one (limit reached, session canceled or expired), refused the
    /// session's credentials (unknown or terminated session), or the session is pinned to
    /// another client. A reset, a timeout or an unreachable worker is not: the worker may be
    /// at a limit or restarting, and the next try may get through.
    pub fn session_unusable(&self) -> bool {
        match self {
            Self::Refused { reason, .. } => reason == postern_ws::close::UNABLE_TO_AUTHORIZE,
            Self::WorkerTls { source, .. } => !is_reset(source),
            Self::SessionInUse => true,
            _ => false,
        }
    }
}

/// Whether a connection ended by a reset or a bare close rather than by a TLS refusal.
pub(crate) fn is_reset(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        error.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
    )
}
