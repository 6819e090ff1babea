//! Why a worker connection ended early, naming the phase and the side at fault.

use std::time::Duration;

use postern_ws::WsError;

use postern_authority::AuthorityError;

/// The phases of one proxied connection, each with its own deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    TlsHandshake,
    WebSocketUpgrade,
    ProtobufHandshake,
    EndpointDial,
    Close,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TlsHandshake => "TLS handshake with client",
            Self::WebSocketUpgrade => "WebSocket upgrade from client",
            Self::ProtobufHandshake => "protobuf handshake from client",
            Self::EndpointDial => "endpoint dial",
            Self::Close => "closing handshake",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{phase} timed out after {after:?}")]
    Timeout { phase: Phase, after: Duration },
    #[error("client TLS handshake failed: {0}")]
    ClientTls(#[source] std::io::Error),
    #[error("client named no session in ALPN or SNI")]
    NoSessionRequested,
    #[error("client asked for session {0}, which this worker cannot serve")]
    UnknownSession(String),
    #[error("session {id} credentials unusable: {source}")]
    SessionCredentials {
        id: String,
        #[source]
        source: postern_tls::TlsError,
    },
    #[error("WebSocket with client failed: {0}")]
    ClientWebSocket(#[from] WsError),
    #[error("session authority: {0}")]
    Authority(#[from] AuthorityError),
    #[error("client refused with close {code} \"{reason}\": {cause}")]
    Refused {
        code: u16,
        reason: &'static str,
        cause: String,
    },
    #[error("endpoint {endpoint}: {source}")]
    Endpoint {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
}
