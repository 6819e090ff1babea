//! The store itself: the session lifecycle over a [`SessionRecords`] backend (certificates
//! are signed before anything is stored), plus the broadcast of canceled ids.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_api::ConnectionLimit;
use postern_authority::{AuthorityEvent, ClosedReason, SessionStatus};
use serde::Serialize;
use tokio::sync::broadcast;

use super::ids::new_session_id;
use super::mint::{authorization_token, issue_credentials};
use super::model::{
    rfc3339_text, ConnectionStatus, Scope, Session, SessionState, TerminationReason, WorkerInfo,
};
use super::records::{MemorySessions, SessionQuery, SessionRecord, SessionRecords};
use super::SessionError;

/// Boundary's default session lifetime: 8 hours.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(28_800);
/// Connection limit meaning "no limit".
pub const UNLIMITED_CONNECTIONS: i32 = ConnectionLimit::UNLIMITED_WIRE;

/// Cancellations a lagging worker may fall behind by before it re-checks every session.
const CANCELED_BACKLOG: usize = 1024;
/// Fresh ids tried before giving up; 62^10 ids make a second attempt already unlikely.
const ID_ATTEMPTS: usize = 4;

/// Where the store reads the time (the contract's clock); tests substitute one they move by
/// hand.
pub use postern_authority::Clock;

/// What authorize-session knows about the session it asks for.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub target_id: String,
    pub scope: Scope,
    pub user_id: String,
    pub auth_token_id: String,
    /// Empty for address-only targets (then the target id stands in, as Boundary does).
    pub host_id: String,
    pub host_set_id: String,
    /// `tcp://host:port`.
    pub endpoint: String,
    pub endpoint_port: u32,
    /// -1 = unlimited ([`UNLIMITED_CONNECTIONS`]).
    pub connection_limit: i32,
    /// [`DEFAULT_MAX_DURATION`] unless the target says otherwise.
    pub max_duration: Duration,
    /// `host:port` of each worker's proxy listener; the first is preferred.
    pub worker_addresses: Vec<String>,
    /// 0 = none.
    pub default_client_port: u32,
}

/// A new session and the token that lets a client use it. Debug masks the token.
#[derive(Clone)]
pub struct SessionAuthorization {
    pub session: Session,
    /// Boundary's format: base58 of `SessionAuthorizationData`. Carries the private key.
    pub authorization_token: String,
}

impl fmt::Debug for SessionAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionAuthorization")
            .field("session", &self.session)
            .field("authorization_token", &"***")
            .finish()
    }
}

/// The authorize-session response item (docs/protocol.md §6).
impl Serialize for SessionAuthorization {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Item<'a> {
            session_id: &'a str,
            target_id: &'a str,
            scope: &'a Scope,
            created_time: String,
            user_id: &'a str,
            #[serde(skip_serializing_if = "str::is_empty")]
            host_set_id: &'a str,
            #[serde(skip_serializing_if = "str::is_empty")]
            host_id: &'a str,
            #[serde(rename = "type")]
            session_type: &'a str,
            authorization_token: &'a str,
            connection_limit: ConnectionLimit,
            endpoint: &'a str,
            endpoint_port: u32,
            expiration: String,
        }
        let s = &self.session;
        Item {
            session_id: &s.id,
            target_id: &s.target_id,
            scope: &s.scope,
            created_time: rfc3339_text(s.created_time),
            user_id: &s.user_id,
            host_set_id: &s.host_set_id,
            host_id: &s.host_id,
            session_type: &s.session_type,
            authorization_token: &self.authorization_token,
            connection_limit: s.connection_limit,
            endpoint: &s.endpoint,
            endpoint_port: s.endpoint_port,
            expiration: rfc3339_text(s.expiration_time),
        }
        .serialize(serializer)
    }
}

/// The controller's sessions and their connections: the lifecycle, over whichever
/// [`SessionRecords`] keeps them. Cheap to clone: clones share one store.
#[derive(Clone)]
pub struct SessionStore {
    pub(super) shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) records: Arc<dyn SessionRecords>,
    pub(super) events: broadcast::Sender<AuthorityEvent>,
    clock: Clock,
}

impl Default for SessionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore").finish_non_exhaustive()
    }
}

impl SessionStore {
    /// Sessions in memory ([`MemorySessions`]).
    pub fn new() -> Self {
        Self::with_clock(postern_authority::system_clock())
    }

    /// Sessions in memory, reading the time from `clock` (for `reap`, pass the time
    /// explicitly).
    pub fn with_clock(clock: Clock) -> Self {
        Self::with_records(Arc::new(MemorySessions::new()), clock)
    }

    /// Sessions kept by `records`.
    pub fn with_records(records: Arc<dyn SessionRecords>, clock: Clock) -> Self {
        let (events, _) = broadcast::channel(CANCELED_BACKLOG);
        Self {
            shared: Arc::new(Shared {
                records,
                events,
                clock,
            }),
        }
    }

    pub(super) fn now(&self) -> SystemTime {
        (self.shared.clock)()
    }

    pub(super) fn records(&self) -> &dyn SessionRecords {
        self.shared.records.as_ref()
    }

    /// Creates a pending session, issues its certificate and mints its token.
    pub async fn authorize_session(
        &self,
        req: NewSession,
    ) -> Result<SessionAuthorization, SessionError> {
        if req.worker_addresses.is_empty() {
            return Err(SessionError::NoWorkers);
        }
        let connection_limit = ConnectionLimit::try_from(req.connection_limit)
            .map_err(|_| SessionError::InvalidConnectionLimit(req.connection_limit))?;
        let created = self.now();
        let expiration = created
            .checked_add(req.max_duration)
            .filter(|_| !req.max_duration.is_zero())
            .ok_or(SessionError::InvalidMaxDuration(req.max_duration))?;

        for _ in 0..ID_ATTEMPTS {
            let id = new_session_id();
            let credentials = issue_credentials(&id, &req.worker_addresses, expiration)?;
            let session = Session {
                id: id.clone(),
                target_id: req.target_id.clone(),
                scope_id: req.scope.id.clone(),
                scope: req.scope.clone(),
                created_time: created,
                updated_time: created,
                version: 1,
                session_type: "tcp".to_owned(),
                expiration_time: expiration,
                auth_token_id: req.auth_token_id.clone(),
                user_id: req.user_id.clone(),
                host_set_id: req.host_set_id.clone(),
                host_id: req.host_id.clone(),
                endpoint: req.endpoint.clone(),
                status: SessionStatus::Pending,
                states: vec![SessionState {
                    status: SessionStatus::Pending,
                    start_time: created,
                    end_time: None,
                }],
                worker_info: req
                    .worker_addresses
                    .iter()
                    .map(|address| WorkerInfo {
                        address: address.clone(),
                    })
                    .collect(),
                certificate: credentials.certificate_der().to_vec(),
                termination_reason: None,
                connections: Vec::new(),
                closed_not_loaded: 0,
                connection_limit,
                endpoint_port: req.endpoint_port,
                default_client_port: req.default_client_port,
                credentials,
                tofu: None,
            };
            let record = SessionRecord {
                session: session.clone(),
                ending: None,
            };
            if self.records().insert(record).await? {
                let authorization_token = authorization_token(&session);
                tracing::info!(target: "audit", session = %session.id, user = %session.user_id, target_id = %session.target_id, endpoint = %session.endpoint, "session authorized");
                return Ok(SessionAuthorization {
                    session,
                    authorization_token,
                });
            }
        }
        Err(SessionError::IdsExhausted)
    }

    pub async fn get(&self, id: &str) -> Result<Option<Session>, SessionError> {
        let mut session = None;
        self.records()
            .read(id, &mut |record| session = Some(record.session.clone()))
            .await?;
        Ok(session)
    }

    /// The sessions `query` asks for, newest first.
    pub async fn list(&self, query: &SessionQuery) -> Result<Vec<Session>, SessionError> {
        self.records().list(query).await
    }

    /// How many sessions pass `query`'s conditions (not its `after` or `limit`).
    pub async fn count(&self, query: &SessionQuery) -> Result<usize, SessionError> {
        self.records().count(query).await
    }

    /// Passes `event` to the workers of this process and to those linked to it: a cancel
    /// made here, or one another controller on the same database announced.
    pub fn relay(&self, event: AuthorityEvent) {
        if self.shared.events.send(event).is_err() {
            tracing::trace!("no worker is listening for cancellations");
        }
    }

    /// Cancels a session: canceling at once, terminated `canceled` once no connection of it
    /// is open. `version: Some(v)` must be the current version; a session already canceling
    /// or terminated is returned unchanged whatever the version. Workers hear of the cancel at
    /// once through [`events`](postern_authority::SessionAuthority::events).
    pub async fn cancel(&self, id: &str, version: Option<u32>) -> Result<Session, SessionError> {
        let now = self.now();
        let mut changed = false;
        let mut session = None;
        self.records()
            .update(id, &mut |record| {
                let status = record.session.status;
                if matches!(status, SessionStatus::Canceling | SessionStatus::Terminated) {
                    session = Some(record.session.clone());
                    return Ok(());
                }
                if let Some(expected) = version.filter(|v| *v != record.session.version) {
                    return Err(SessionError::StaleVersion {
                        id: record.session.id.clone(),
                        expected,
                        current: record.session.version,
                    });
                }
                begin_ending(record, TerminationReason::Canceled, now)?;
                settle(record, now);
                changed = true;
                session = Some(record.session.clone());
                Ok(())
            })
            .await?;
        let session = session.ok_or_else(|| SessionError::NotFound(id.to_owned()))?;
        if changed {
            tracing::info!(target: "audit", session = %id, user = %session.user_id, status = %session.status, "session canceled");
            self.relay(AuthorityEvent::SessionCanceled(id.to_owned()));
            if let Err(error) = self.shared.records.announce_canceled(id).await {
                tracing::warn!(session_id = %id, %error, "cannot tell the other controllers of a cancel");
            }
        }
        if session.closed_not_loaded == 0 {
            return Ok(session);
        }
        // Changed without its closed connections: read it whole to show it.
        self.get(id)
            .await?
            .ok_or_else(|| SessionError::NotFound(id.to_owned()))
    }

    /// Ends sessions whose time is up at `now`: a pending or active session past its
    /// expiration goes canceling, and terminated `timed out` once no connection of it is open
    /// (open ones are the worker's to cut at expiration). Only expired sessions are read: the
    /// other endings (cancel, connection limit) settle when their last connection closes.
    pub async fn reap(&self, now: SystemTime) -> Result<(), SessionError> {
        self.records()
            .update_live(Some(now), &mut |record| {
                let session = &record.session;
                let live = matches!(
                    session.status,
                    SessionStatus::Pending | SessionStatus::Active
                );
                if live && now >= session.expiration_time {
                    begin_ending(record, TerminationReason::TimedOut, now)?;
                }
                // A worker cuts a session's connections when it expires and reports them; one
                // that never does (gone with no controller to notice) leaves them open
                // forever unless they are closed here.
                if now >= record.session.expiration_time + UNREPORTED_EXPIRY_GRACE {
                    close_unreported(record);
                }
                settle(record, now);
                Ok(())
            })
            .await
    }

    /// Deletes the sessions terminated more than `retention` ago, with their connections;
    /// how many. Live sessions are never deleted.
    pub async fn delete_terminated(&self, retention: Duration) -> Result<usize, SessionError> {
        let Some(cutoff) = self.now().checked_sub(retention) else {
            return Ok(0);
        };
        let deleted = self.records().delete_terminated(cutoff).await?;
        if deleted > 0 {
            tracing::debug!(deleted, "terminated sessions past their retention deleted");
        }
        Ok(deleted)
    }
}

/// Moves a pending or active session to canceling, remembering why it is ending.
fn begin_ending(
    record: &mut SessionRecord,
    reason: TerminationReason,
    now: SystemTime,
) -> Result<(), SessionError> {
    let session = &mut record.session;
    session
        .transition(SessionStatus::Canceling, now)
        .map_err(|invalid| SessionError::InvalidTransition {
            id: session.id.clone(),
            from: invalid.from,
            to: invalid.to,
        })?;
    record.ending = Some(reason);
    Ok(())
}

/// Terminates the session if nothing keeps it alive any more: it is canceling, or its
/// connection limit is used up, and no connection of it is open.
/// How long after a session expires its connections may stay open for want of a worker's
/// report before the reaper closes them (`timed out`).
pub const UNREPORTED_EXPIRY_GRACE: Duration = Duration::from_secs(30);

/// Closes the open connections of an expired session whose worker never reported them.
fn close_unreported(record: &mut SessionRecord) {
    for connection in record
        .session
        .connections
        .iter_mut()
        .filter(|c| c.is_open())
    {
        connection.status = ConnectionStatus::Closed;
        connection.closed_reason = Some(ClosedReason::TimedOut);
        tracing::info!(
            target: "audit",
            session = %record.session.id,
            connection = %connection.id,
            worker = %connection.worker_id,
            reason = %ClosedReason::TimedOut,
            "connection closed: expired and never reported by its worker"
        );
    }
}

pub(super) fn settle(record: &mut SessionRecord, now: SystemTime) {
    let session = &mut record.session;
    if session.open_connections() > 0 {
        return;
    }
    let reason = match session.status {
        SessionStatus::Canceling => record.ending.unwrap_or(TerminationReason::Canceled),
        SessionStatus::Active if session.connection_limit_reached() => {
            TerminationReason::ConnectionLimit
        }
        _ => return,
    };
    // Canceling and active may always move to terminated.
    if session.transition(SessionStatus::Terminated, now).is_ok() {
        session.termination_reason = Some(reason);
        tracing::info!(target: "audit", session = %session.id, user = %session.user_id, target_id = %session.target_id, %reason, "session terminated");
    }
}
