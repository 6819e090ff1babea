//! The WebSocket transport (RFC 6455) between a client proxy and a worker, inside TLS.
//!
//! A connection starts with an HTTP/1.1 upgrade ([`connect`] on the client, [`accept`] on the
//! worker), then carries one binary message each way ([`WsStream::send_message`] /
//! [`WsStream::recv_message`]: the protobuf handshake), then raw TCP bytes: [`WsStream`] is
//! a byte stream ([`AsyncRead`](tokio::io::AsyncRead) + [`AsyncWrite`](tokio::io::AsyncWrite))
//! for `tokio::io::copy_bidirectional`, where message boundaries mean nothing.
//!
//! - `frame`: frame headers, masking and close payloads (pure functions).
//! - `upgrade`: the HTTP request and response of the opening handshake.
//! - `stream`: [`WsStream`] and its write side; `stream::read`: its read side.
//! - `message`: whole-message send/receive and the closing handshake.
//!
//! Shutting down the write side of a [`WsStream`] sends a Close frame but keeps the TLS stream
//! open until the peer's Close arrives, so a TCP half-close passes through the tunnel.
#![forbid(unsafe_code)]

mod frame;
mod message;
mod stream;
mod upgrade;

#[cfg(test)]
mod tests;

use std::io;

pub use frame::{apply_mask, parse_header, FrameHeader, OpCode};
pub use stream::{WsStream, DEFAULT_MESSAGE_LIMIT};
pub use upgrade::{accept, accept_key, connect, connect_for, MAX_UPGRADE_HEADER};

/// The subprotocol both ends must agree on during the upgrade.
pub const SUBPROTOCOL: &str = "boundary-tcp-proxy-v1";
/// The path of the upgrade request.
pub const PATH: &str = "/v1/proxy";
/// The path of a session watch: a postern extension a Boundary worker answers with 404.
pub const WATCH_PATH: &str = "/v1/session-watch";

/// What a WebSocket to the worker is for, by its upgrade path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// One proxied connection ([`PATH`]): the protobuf handshake, then raw bytes.
    Proxy,
    /// A postern extension ([`WATCH_PATH`]): no message either way; the worker closes it
    /// when the session is canceled (1000 `session canceled`) or when it stops watching
    /// (1000 `done`: expiry, drain). A client learns that its session ended without a
    /// connection open, and a Boundary worker answers 404, which only turns the watch off.
    Watch,
}

impl Purpose {
    pub fn path(self) -> &'static str {
        match self {
            Self::Proxy => PATH,
            Self::Watch => WATCH_PATH,
        }
    }
}
/// Largest message this side sends (old Go clients read at most 32 KiB per message).
pub const MAX_SEND_MESSAGE: usize = 32 * 1024;

/// Which end of the WebSocket this is: a client masks its frames, a server must not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// The status code and reason of a Close frame.
///
/// A Close frame without a payload is reported with code [`close::NO_STATUS`] and an empty
/// reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// Boundary's close codes and reason texts (clients match on the text, keep it exact).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Reported for a Close frame without a payload; never sent (RFC 6455 section 7.4.1).
    pub const NO_STATUS: u16 = 1005;
    /// Sent when a text frame or a message with invalid content arrives.
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    /// Sent when a message passes the receive limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
    pub const PROXY_SETUP_ERROR: u16 = 3000;

    /// 1008
    pub const INVALID_HANDSHAKE: &str = "invalid handshake received";
    /// 1008
    pub const TOFU_NOT_ALLOWED: &str = "tofu token not allowed";
    /// 1003
    pub const INVALID_TOFU: &str = "invalid tofu token";
    /// 1011
    pub const UNABLE_TO_CANCEL: &str = "unable to cancel session";
    /// 1011
    pub const REFUSING_TO_ACTIVATE: &str = "refusing to activate session";
    /// 1011
    pub const UNABLE_TO_ACTIVATE: &str = "unable to activate session";
    /// 1011
    pub const UNABLE_TO_AUTHORIZE: &str = "unable to authorize connection";
    /// 1011
    pub const UNABLE_TO_ESTABLISH_PROXY: &str = "unable to establish proxy";
    /// 1002
    pub const UNABLE_TO_SEND_HANDSHAKE_RESULT: &str = "unable to send handshake result";
    /// 1002
    pub const UNABLE_TO_PARSE_ENDPOINT: &str = "unable to parse endpoint";
    /// 3000
    pub const UNABLE_TO_SETUP_PROXYING: &str = "unable to setup proxying";
    /// 1000
    pub const SESSION_CANCELED: &str = "session canceled";
    /// 1000
    pub const DONE: &str = "done";
}

/// What went wrong on a WebSocket connection.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("websocket i/o: {0}")]
    Io(#[from] io::Error),
    /// The upgrade was refused with an HTTP status: the one `accept` answered with, or the
    /// one `connect` got instead of 101.
    #[error("websocket upgrade refused with HTTP {status}: {problem}")]
    UpgradeRefused { status: u16, problem: String },
    /// The upgrade request or response was malformed, incomplete, or its headers were wrong.
    #[error("invalid websocket upgrade: {problem}")]
    UpgradeInvalid { problem: String },
    /// The peer broke RFC 6455 framing rules.
    #[error("websocket protocol violation by the peer: {0}")]
    Protocol(&'static str),
    /// A message passed the receive limit, or a message to send passes [`MAX_SEND_MESSAGE`].
    #[error("websocket message larger than {limit} bytes")]
    MessageTooLarge { limit: u64 },
    /// The peer closed the WebSocket (returned by `recv_message`).
    #[error("websocket closed by the peer: {} {:?}", .0.code, .0.reason)]
    Closed(CloseFrame),
}

impl WsError {
    /// The close code to send the peer after this error, if it came from the peer's bytes.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            WsError::Protocol(_) => Some(close::PROTOCOL_ERROR),
            WsError::MessageTooLarge { .. } => Some(close::MESSAGE_TOO_BIG),
            _ => None,
        }
    }
}

impl From<WsError> for io::Error {
    fn from(err: WsError) -> Self {
        match err {
            WsError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}
