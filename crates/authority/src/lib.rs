//! The contract between a worker and its session authority (the controller), in a crate of
//! its own so that neither side owns it.
//!
//! The worker owns no session state. For every connection it asks the authority, in order:
//! look the session up (at TLS ClientHello time), activate it with the client's TOFU token,
//! authorize one more connection, record it as connected, report its byte counts while it
//! lives, and record it as closed. The authority pushes cancellations so live connections of
//! a canceled session are cut at once rather than on the next poll ([`AuthorityEvent`]).
//!
//! The controller's session store implements [`SessionAuthority`]; `postern dev` hands it to
//! the worker in-process, and a remote controller is reached through an implementation over
//! its cluster API.
//!
//! A session's expiration is a wall-clock time, judged on both sides; each reads the time
//! through a [`Clock`], so tests can move it instead of waiting.
#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use postern_tls::SessionCredentials;
use postern_wire::TofuToken;
use tokio::sync::broadcast;

/// Where a side of the contract reads the time: [`system_clock`] in production; tests pass
/// one they move by hand, or one that follows paused tokio time.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The machine's wall clock.
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// A clock tests move by hand: [`ManualClock::clock`] is what the code under test reads.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<SystemTime>>);

impl ManualClock {
    pub fn starting_at(time: SystemTime) -> Self {
        Self(Arc::new(Mutex::new(time)))
    }

    pub fn clock(&self) -> Clock {
        let read = self.clone();
        Arc::new(move || read.now())
    }

    pub fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set(&self, time: SystemTime) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = time;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

/// Session states, in Boundary's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    Pending,
    Active,
    Canceling,
    Terminated,
}

impl SessionStatus {
    pub const ALL: &'static [Self] = &[
        Self::Pending,
        Self::Active,
        Self::Canceling,
        Self::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Canceling => "canceling",
            Self::Terminated => "terminated",
        }
    }
}

impl std::fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a proxied connection closed; the texts are Boundary's, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClosedReason {
    Unknown,
    TimedOut,
    ClosedByEndUser,
    Canceled,
    NetworkError,
    SystemError,
}

impl ClosedReason {
    pub const ALL: &'static [Self] = &[
        Self::Unknown,
        Self::TimedOut,
        Self::ClosedByEndUser,
        Self::Canceled,
        Self::NetworkError,
        Self::SystemError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::TimedOut => "timed out",
            Self::ClosedByEndUser => "closed by end-user",
            Self::Canceled => "canceled",
            Self::NetworkError => "network error",
            Self::SystemError => "system error",
        }
    }
}

impl std::fmt::Display for ClosedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the worker needs to serve a session's connections.
#[derive(Debug, Clone)]
pub struct WorkerSession {
    pub id: String,
    pub status: SessionStatus,
    /// The session certificate and key; the worker presents them as its own TLS identity.
    pub credentials: SessionCredentials,
    /// Where connections go, e.g. `tcp://127.0.0.1:22`.
    pub endpoint: String,
    pub expiration: SystemTime,
    /// -1 = unlimited.
    pub connection_limit: i32,
    /// Pinned by the first handshake; `None` while the session is pending.
    pub tofu: Option<TofuToken>,
}

/// A connection the authority admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedConnection {
    /// `sc_` + 10 base62 characters.
    pub connection_id: String,
    /// -1 = unlimited.
    pub connection_limit: i32,
    /// Left after this one; -1 = unlimited.
    pub connections_left: i32,
}

/// Addresses of a connection once its endpoint is dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectedInfo {
    pub client: SocketAddr,
    pub endpoint: SocketAddr,
}

/// Payload bytes of one connection so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionBytes {
    pub connection_id: String,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// Why the authority refused a request. The worker maps each to the close code and reason
/// text Boundary clients expect; the Display text goes to the worker's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    #[error("session {0} not found")]
    SessionNotFound(String),
    #[error("connection {0} not found")]
    ConnectionNotFound(String),
    #[error("session {id} is {status}")]
    WrongState { id: String, status: SessionStatus },
    #[error("session {0} has expired")]
    Expired(String),
    #[error("session {0} has no connections left")]
    ConnectionLimitReached(String),
    #[error("session {0} is pinned to another client (tofu token mismatch)")]
    TofuMismatch(String),
    #[error("session authority unavailable: {0}")]
    Unavailable(String),
}

/// The session authority a worker calls. Methods return `Send` futures so the worker can run
/// them on any runtime thread.
pub trait SessionAuthority: Send + Sync + 'static {
    /// The session a ClientHello names; `None` for an unknown id.
    fn lookup_session(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<WorkerSession>, AuthorityError>> + Send;

    /// Pins `tofu` and makes a pending session active. Activating an active session with the
    /// same token succeeds (two first connections may race); another token is `TofuMismatch`.
    fn activate_session(
        &self,
        session_id: &str,
        tofu: &TofuToken,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send;

    /// The client asked to end its session (SESSION_CANCEL).
    fn cancel_session(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send;

    /// Admits one more connection, or refuses: not active, expired, limit reached.
    fn authorize_connection(
        &self,
        session_id: &str,
        worker_id: &str,
    ) -> impl Future<Output = Result<AuthorizedConnection, AuthorityError>> + Send;

    fn connection_connected(
        &self,
        connection_id: &str,
        info: ConnectedInfo,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send;

    /// Byte counts of live connections, sent about once a second.
    fn connection_progress(
        &self,
        progress: Vec<ConnectionBytes>,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send;

    /// The connection ended. `connected`: its addresses, when it ended before the worker
    /// reported it connected (a short connection is reported once, here, not twice).
    fn connection_closed(
        &self,
        bytes: ConnectionBytes,
        reason: ClosedReason,
        connected: Option<ConnectedInfo>,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send;

    /// What the authority tells the worker from now on: sessions canceled, and (a remote
    /// authority) that it was out of reach. A lagging receiver makes the worker re-check
    /// every live session with `lookup_session`, as [`AuthorityEvent::Recheck`] does.
    fn events(&self) -> broadcast::Receiver<AuthorityEvent>;
}

/// What an authority pushes to its worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityEvent {
    /// The session was canceled: cut its live connections (reason `canceled`).
    SessionCanceled(String),
    /// Cancellations may have been missed (the authority was out of reach for a while):
    /// re-check every live session with `lookup_session`.
    Recheck,
    /// The authority has been out of reach longer than the worker may carry connections
    /// without it: cut every live connection (reason `system error`).
    Unreachable,
}
