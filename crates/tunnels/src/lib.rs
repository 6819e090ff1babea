//! `postern tunnels`: always-on tunnels as a user service.
//!
//! `tunnels.toml` ([`config`]) names tunnels, each a fixed local port for one target. The
//! daemon ([`daemon`]) binds them all, then keeps a session behind each ([`tunnel`]):
//! authorized with the stored auth token ([`authorize`]), renewed before it expires or as
//! soon as it is over, with live connections left to finish on the session they started on.
//! Bytes flow local socket -> `postern_proxy` tunnel (TLS + WebSocket) -> worker. The user
//! asks the daemon for its status or a reload over a Unix socket ([`control`], [`status`]);
//! [`command`] is the `postern tunnels` command line.
#![forbid(unsafe_code)]

pub mod authorize;
pub mod command;
pub mod config;
pub mod control;
pub mod daemon;
pub mod status;
pub mod tunnel;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use status::TunnelStatus;

/// What went wrong, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum TunnelsError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    #[error("{}: {key}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
    #[error("tunnel {name}: cannot listen on {addr}: {source}")]
    Bind {
        name: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket {}: {source}", path.display())]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a tunnels daemon already answers on {}", .0.display())]
    AlreadyRunning(PathBuf),
    #[error("cannot talk to the tunnels daemon at {} (is `postern tunnels` running?): {source}", path.display())]
    Control {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The daemon answered with an error.
    #[error("{0}")]
    Daemon(String),
    #[error("reload: {0}")]
    Reload(String),
    #[error("cannot watch SIGHUP: {0}")]
    Signals(#[source] std::io::Error),
}

impl TunnelsError {
    /// A bad command line or config file (exit 64).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Usage(_) | Self::Read { .. } | Self::Parse { .. } | Self::Invalid { .. }
        )
    }
}
