//! The controller's session store: the single source of truth for sessions and their
//! connections. The lifecycle is [`SessionStore`]'s; where records are kept is a
//! [`SessionRecords`] backend's ([`MemorySessions`] for `postern dev`).
//!
//! - [`SessionStore::authorize_session`] creates a pending [`Session`], issues its certificate
//!   and mints the Boundary authorization token a client proxies with.
//! - Workers drive a session through [`postern_authority::SessionAuthority`] (implemented in
//!   `authority`): TOFU activation, connection admission against the limit and expiration,
//!   connected/progress/closed reports, and the client's SESSION_CANCEL.
//! - The API reads ([`SessionStore::get`], [`SessionStore::list`]) and cancels
//!   ([`SessionStore::cancel`], version-checked); cancels reach workers at once through the
//!   `canceled_sessions` broadcast.
//! - [`SessionStore::reap`], called every second, times out sessions past their expiration.
//!
//! A session ends in two steps: canceling (canceled or timed out) until its last open
//! connection closes, then terminated with the reason; a session whose connection limit is
//! used up is terminated `connection limit` when its last connection closes. Every state
//! change appends to the history and bumps the version (`model`).

mod authority;
#[cfg(feature = "conformance")]
pub mod conformance;
mod ids;
mod mint;
mod model;
mod records;
mod store;
mod stored;

use std::time::Duration;

use postern_authority::{AuthorityError, SessionStatus};

pub use ids::{CONNECTION_ID_PREFIX, SESSION_ID_PREFIX};
pub use model::{
    transition_allowed, Connection, ConnectionStatus, Scope, Session, SessionState,
    TerminationReason, WorkerInfo,
};
pub use postern_authority::system_clock;
pub use records::{
    MemorySessions, RecordChange, RecordVisit, SessionQuery, SessionRecord, SessionRecords,
};
pub use store::{
    Clock, NewSession, SessionAuthorization, SessionStore, DEFAULT_MAX_DURATION,
    UNLIMITED_CONNECTIONS,
};
pub use stored::{SessionSecrets, StoredConnection, StoredSession, StoredState};

/// What the session store refused, and why.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session {0} not found")]
    NotFound(String),
    #[error("connection {0} not found")]
    ConnectionNotFound(String),
    #[error("session {id} is at version {current}, not {expected}: read it again and retry")]
    StaleVersion {
        id: String,
        expected: u32,
        current: u32,
    },
    #[error("session {id} cannot go from {from} to {to}")]
    InvalidTransition {
        id: String,
        from: SessionStatus,
        to: SessionStatus,
    },
    #[error("session {id} is {status}")]
    WrongState { id: String, status: SessionStatus },
    #[error("session {0} has expired")]
    Expired(String),
    #[error("session {0} has no connections left")]
    ConnectionLimitReached(String),
    #[error("session {0} is pinned to another client (tofu token mismatch)")]
    TofuMismatch(String),
    #[error("connection {0} is already closed")]
    ConnectionClosed(String),
    /// Boundary's text: no worker is linked (or none may carry the target's sessions).
    #[error("No workers are available to handle this session.")]
    NoWorkers,
    #[error("connection limit {0} is invalid: use -1 (unlimited) or a positive number")]
    InvalidConnectionLimit(i32),
    #[error("session max duration {0:?} is invalid: it must be positive and representable")]
    InvalidMaxDuration(Duration),
    #[error("could not issue the session certificate: {0}")]
    Credentials(#[from] postern_tls::TlsError),
    #[error("could not find an unused session id")]
    IdsExhausted,
    /// The backend could not be reached or failed.
    #[error("session storage failed: {0}")]
    Storage(String),
    /// A stored record does not read back.
    #[error("stored session {id} is damaged: {what}")]
    Corrupt { id: String, what: String },
}

impl From<SessionError> for AuthorityError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::NotFound(id) => Self::SessionNotFound(id),
            SessionError::ConnectionNotFound(id) => Self::ConnectionNotFound(id),
            // A closed connection is no longer one the worker may report on.
            SessionError::ConnectionClosed(id) => Self::ConnectionNotFound(id),
            SessionError::WrongState { id, status } => Self::WrongState { id, status },
            SessionError::InvalidTransition { id, from, .. } => {
                Self::WrongState { id, status: from }
            }
            SessionError::Expired(id) => Self::Expired(id),
            SessionError::ConnectionLimitReached(id) => Self::ConnectionLimitReached(id),
            SessionError::TofuMismatch(id) => Self::TofuMismatch(id),
            other => Self::Unavailable(other.to_string()),
        }
    }
}
