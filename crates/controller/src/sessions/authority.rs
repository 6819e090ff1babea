//! The store as a worker's [`SessionAuthority`]: the in-process controller `postern dev` runs.
//!
//! Every call is map work under the store's lock, so each answers with a ready future.

use std::future::{ready, Future};

use postern_authority::{
    AuthorityError, AuthorizedConnection, ClosedReason, ConnectedInfo, ConnectionBytes,
    SessionAuthority, SessionStatus, WorkerSession,
};
use postern_wire::TofuToken;
use tokio::sync::broadcast;

use super::ids::new_connection_id;
use super::model::{Connection, ConnectionStatus, Session};
use super::store::{settle, Record, Records, SessionStore};
use super::SessionError;

impl SessionAuthority for SessionStore {
    fn lookup_session(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<WorkerSession>, AuthorityError>> + Send {
        let found = self
            .records()
            .sessions
            .get(session_id)
            .map(|r| worker_session(&r.session));
        ready(Ok(found))
    }

    fn activate_session(
        &self,
        session_id: &str,
        tofu: &TofuToken,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send {
        ready(
            self.activate(session_id, tofu)
                .map_err(AuthorityError::from),
        )
    }

    fn cancel_session(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send {
        ready(
            self.cancel(session_id, None)
                .map(drop)
                .map_err(AuthorityError::from),
        )
    }

    fn authorize_connection(
        &self,
        session_id: &str,
        worker_id: &str,
    ) -> impl Future<Output = Result<AuthorizedConnection, AuthorityError>> + Send {
        ready(
            self.admit_connection(session_id, worker_id)
                .map_err(AuthorityError::from),
        )
    }

    fn connection_connected(
        &self,
        connection_id: &str,
        info: ConnectedInfo,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send {
        ready(
            self.mark_connected(connection_id, info)
                .map_err(AuthorityError::from),
        )
    }

    fn connection_progress(
        &self,
        progress: Vec<ConnectionBytes>,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send {
        self.record_progress(&progress);
        ready(Ok(()))
    }

    fn connection_closed(
        &self,
        bytes: ConnectionBytes,
        reason: ClosedReason,
    ) -> impl Future<Output = Result<(), AuthorityError>> + Send {
        ready(
            self.mark_closed(&bytes, reason)
                .map_err(AuthorityError::from),
        )
    }

    fn canceled_sessions(&self) -> broadcast::Receiver<String> {
        self.shared.canceled.subscribe()
    }
}

fn worker_session(session: &Session) -> WorkerSession {
    WorkerSession {
        id: session.id.clone(),
        status: session.status,
        credentials: session.credentials.clone(),
        endpoint: session.endpoint.clone(),
        expiration: session.expiration_time,
        connection_limit: session.connection_limit,
        tofu: session.tofu.clone(),
    }
}

impl SessionStore {
    /// TOFU: the first token pins a pending session and makes it active; afterwards only
    /// that token is accepted.
    fn activate(&self, session_id: &str, tofu: &TofuToken) -> Result<(), SessionError> {
        let now = self.now();
        let mut records = self.records();
        let session = &mut session_mut(&mut records, session_id)?.session;
        match session.status {
            SessionStatus::Pending | SessionStatus::Active => {}
            status @ (SessionStatus::Canceling | SessionStatus::Terminated) => {
                return Err(SessionError::WrongState {
                    id: session_id.to_owned(),
                    status,
                });
            }
        }
        if let Some(pinned) = &session.tofu {
            // Constant-time comparison (TofuToken's PartialEq).
            return if pinned == tofu {
                Ok(())
            } else {
                Err(SessionError::TofuMismatch(session_id.to_owned()))
            };
        }
        if now >= session.expiration_time {
            return Err(SessionError::Expired(session_id.to_owned()));
        }
        session
            .transition(SessionStatus::Active, now)
            .map_err(|invalid| SessionError::InvalidTransition {
                id: session_id.to_owned(),
                from: invalid.from,
                to: invalid.to,
            })?;
        session.tofu = Some(tofu.clone());
        tracing::debug!(%session_id, "session activated");
        Ok(())
    }

    /// One more connection, unless the session is not active, has expired or has used up
    /// its connection limit.
    fn admit_connection(
        &self,
        session_id: &str,
        worker_id: &str,
    ) -> Result<AuthorizedConnection, SessionError> {
        let now = self.now();
        let mut records = self.records();
        let session = &mut session_mut(&mut records, session_id)?.session;
        if session.status != SessionStatus::Active {
            return Err(SessionError::WrongState {
                id: session_id.to_owned(),
                status: session.status,
            });
        }
        if now >= session.expiration_time {
            return Err(SessionError::Expired(session_id.to_owned()));
        }
        if session.connection_limit_reached() {
            return Err(SessionError::ConnectionLimitReached(session_id.to_owned()));
        }
        let connection_id = loop {
            let id = new_connection_id();
            if !records.connection_sessions.contains_key(&id) {
                break id;
            }
        };
        let session = &mut session_mut(&mut records, session_id)?.session;
        let index = session.connections.len();
        session.connections.push(Connection {
            id: connection_id.clone(),
            status: ConnectionStatus::Authorized,
            worker_id: worker_id.to_owned(),
            client: None,
            endpoint: None,
            bytes_up: 0,
            bytes_down: 0,
            closed_reason: None,
        });
        let authorized = AuthorizedConnection {
            connection_id: connection_id.clone(),
            connection_limit: session.connection_limit,
            connections_left: session.connections_left(),
        };
        records
            .connection_sessions
            .insert(connection_id, (session_id.to_owned(), index));
        Ok(authorized)
    }

    fn mark_connected(&self, connection_id: &str, info: ConnectedInfo) -> Result<(), SessionError> {
        let mut records = self.records();
        let connection = connection_mut(&mut records, connection_id)?;
        if connection.status == ConnectionStatus::Closed {
            return Err(SessionError::ConnectionClosed(connection_id.to_owned()));
        }
        connection.status = ConnectionStatus::Connected;
        connection.client = Some(info.client);
        connection.endpoint = Some(info.endpoint);
        Ok(())
    }

    /// Byte counts of live connections. One unknown or already closed connection (a close
    /// racing its last progress report) does not spoil the rest of the batch.
    fn record_progress(&self, progress: &[ConnectionBytes]) {
        let mut records = self.records();
        for bytes in progress {
            if let Ok(connection) = connection_mut(&mut records, &bytes.connection_id) {
                if connection.is_open() {
                    connection.bytes_up = bytes.bytes_up;
                    connection.bytes_down = bytes.bytes_down;
                }
            }
        }
    }

    /// Final byte counts and reason; may end the session. Closing twice keeps the first.
    fn mark_closed(
        &self,
        bytes: &ConnectionBytes,
        reason: ClosedReason,
    ) -> Result<(), SessionError> {
        let now = self.now();
        let mut records = self.records();
        let (record, index) = connection_position(&mut records, &bytes.connection_id)?;
        let connection = &mut record.session.connections[index];
        if connection.status == ConnectionStatus::Closed {
            return Ok(());
        }
        connection.status = ConnectionStatus::Closed;
        connection.bytes_up = bytes.bytes_up;
        connection.bytes_down = bytes.bytes_down;
        connection.closed_reason = Some(reason);
        settle(record, now);
        Ok(())
    }
}

fn session_mut<'a>(records: &'a mut Records, id: &str) -> Result<&'a mut Record, SessionError> {
    records
        .sessions
        .get_mut(id)
        .ok_or_else(|| SessionError::NotFound(id.to_owned()))
}

/// The record holding a connection, and the connection's index in it.
fn connection_position<'a>(
    records: &'a mut Records,
    connection_id: &str,
) -> Result<(&'a mut Record, usize), SessionError> {
    let not_found = || SessionError::ConnectionNotFound(connection_id.to_owned());
    let (session_id, index) = records
        .connection_sessions
        .get(connection_id)
        .ok_or_else(not_found)?;
    let record = records.sessions.get_mut(session_id).ok_or_else(not_found)?;
    match record.session.connections.get(*index) {
        Some(c) if c.id == connection_id => Ok((record, *index)),
        _ => Err(not_found()),
    }
}

fn connection_mut<'a>(
    records: &'a mut Records,
    connection_id: &str,
) -> Result<&'a mut Connection, SessionError> {
    let (record, index) = connection_position(records, connection_id)?;
    Ok(&mut record.session.connections[index])
}
