//! The user's side of the controller: the CLI's command groups, each its clap grammar beside
//! its code, against the controller's HTTP API ([`api`], [`commands`]), redeeming
//! authorization tokens with a local proxy ([`redeem`]), where the token and the controller
//! are found ([`config`]), and printing results the way Boundary's CLI does ([`output`]).
//!
//! Input is what the user typed (flags, a token, a password at a prompt); output goes to the
//! terminal. API calls block and happen outside the async runtime; the data path itself is
//! `postern-proxy`'s.
#![forbid(unsafe_code)]

pub mod api;
pub mod commands;
pub mod config;
pub mod output;
pub mod redeem;

use std::path::PathBuf;

pub use api::ControllerError;

/// What went wrong on the client side, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reading the token from standard input: {0}")]
    Stdin(#[source] std::io::Error),
    #[error("writing output: {0}")]
    Stdout(#[source] std::io::Error),
    #[error(transparent)]
    Token(#[from] postern_wire::token::TokenError),
    #[error("session {session_id} has expired (at {at}); authorize a new session")]
    SessionExpired { session_id: String, at: String },
    #[error(transparent)]
    Proxy(#[from] postern_proxy::ProxyError),
    /// The command line asks for something that cannot be done as given.
    #[error("{0}")]
    Usage(String),
    /// An `env://` or `file://` secret flag could not be read.
    #[error("cannot read the {what}: {detail}")]
    SecretSource { what: String, detail: String },
    #[error("reading the password at the prompt: {0}")]
    Prompt(#[source] std::io::Error),
    #[error("auth token file {}: {source}", path.display())]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The controller could not be reached, or its reply not read.
    #[error("cannot reach the controller at {addr} to perform {action}: {detail}")]
    Unreachable {
        action: String,
        addr: String,
        detail: String,
    },
    /// The controller refused or failed the call (an error status).
    #[error("Error from controller when performing {}: {} ({}): {}", .0.action, .0.kind, .0.status, .0.message)]
    Controller(Box<ControllerError>),
    /// The controller answered with something that is not what its API promises.
    #[error("the controller's reply to {action} is not what postern expects: {detail}")]
    BadResponse { action: String, detail: String },
    /// The command of `connect -exec` (or `ssh` for `connect ssh`) could not be started.
    #[error("Failed to run command {program:?}: {source}")]
    Exec {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

impl ClientError {
    /// The process exit code: 64 for a bad command line, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::SecretSource { .. } => 64,
            _ => 1,
        }
    }
}
