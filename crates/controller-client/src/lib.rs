//! The user's side of the controller: redeeming authorization tokens with a local proxy
//! ([`redeem`]) and printing results the way Boundary's CLI does ([`output`]).
//!
//! Input is what the user typed (a token, flags); output goes to the terminal. The data path
//! itself is `postern-proxy`'s.
#![forbid(unsafe_code)]

pub mod output;
pub mod redeem;

/// What went wrong on the client side, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reading the token from standard input: {0}")]
    Stdin(#[source] std::io::Error),
    #[error("writing output: {0}")]
    Stdout(#[source] std::io::Error),
    #[error(transparent)]
    Token(#[from] postern_proto::token::TokenError),
    #[error("session {session_id} has expired (at {at}); authorize a new session")]
    SessionExpired { session_id: String, at: String },
    #[error(transparent)]
    Proxy(#[from] postern_proxy::ProxyError),
}
