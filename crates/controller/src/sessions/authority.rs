//! The store as a worker's [`SessionAuthority`]: the in-process controller `postern dev` runs.
//!
//! Each call is one atomic change to one session's record (a progress report, one to each
//! session it covers).

use std::collections::HashMap;

use postern_authority::{
    AuthorityError, AuthorityEvent, AuthorizedConnection, ClosedReason, ConnectedInfo,
    ConnectionBytes, SessionAuthority, SessionStatus, WorkerSession,
};
use postern_wire::TofuToken;
use tokio::sync::broadcast;

use super::ids::new_connection_id;
use super::model::{Connection, ConnectionStatus, Session};
use super::records::SessionRecord;
use super::store::{settle, SessionStore};
use super::SessionError;

impl SessionAuthority for SessionStore {
    async fn lookup_session(
        &self,
        session_id: &str,
    ) -> Result<Option<WorkerSession>, AuthorityError> {
        let mut found = None;
        self.records()
            .read_session(session_id, &mut |record| {
                found = Some(worker_session(&record.session));
            })
            .await?;
        Ok(found)
    }

    async fn activate_session(
        &self,
        session_id: &str,
        tofu: &TofuToken,
    ) -> Result<(), AuthorityError> {
        Ok(self.activate(session_id, tofu).await?)
    }

    async fn cancel_session(&self, session_id: &str) -> Result<(), AuthorityError> {
        self.cancel(session_id, None).await?;
        Ok(())
    }

    async fn authorize_connection(
        &self,
        session_id: &str,
        worker_id: &str,
    ) -> Result<AuthorizedConnection, AuthorityError> {
        Ok(self.admit_connection(session_id, worker_id).await?)
    }

    async fn connection_connected(
        &self,
        connection_id: &str,
        info: ConnectedInfo,
    ) -> Result<(), AuthorityError> {
        Ok(self.mark_connected(connection_id, info).await?)
    }

    async fn connection_progress(
        &self,
        progress: Vec<ConnectionBytes>,
    ) -> Result<(), AuthorityError> {
        self.record_progress(&progress).await;
        Ok(())
    }

    async fn connection_closed(
        &self,
        bytes: ConnectionBytes,
        reason: ClosedReason,
        connected: Option<ConnectedInfo>,
    ) -> Result<(), AuthorityError> {
        Ok(self.mark_closed(&bytes, reason, connected).await?)
    }

    fn events(&self) -> broadcast::Receiver<AuthorityEvent> {
        self.shared.events.subscribe()
    }
}

fn worker_session(session: &Session) -> WorkerSession {
    WorkerSession {
        id: session.id.clone(),
        status: session.status,
        credentials: session.credentials.clone(),
        endpoint: session.endpoint.clone(),
        expiration: session.expiration_time,
        connection_limit: session.connection_limit.wire(),
        tofu: session.tofu.clone(),
    }
}

impl SessionStore {
    /// TOFU: the first token pins a pending session and makes it active; afterwards only
    /// that token is accepted.
    async fn activate(&self, session_id: &str, tofu: &TofuToken) -> Result<(), SessionError> {
        let now = self.now();
        let mut activated = false;
        self.records()
            .update(session_id, &mut |record| {
                let session = &mut record.session;
                match session.status {
                    SessionStatus::Pending | SessionStatus::Active => {}
                    status @ (SessionStatus::Canceling | SessionStatus::Terminated) => {
                        return Err(SessionError::WrongState {
                            id: session.id.clone(),
                            status,
                        });
                    }
                }
                if let Some(pinned) = &session.tofu {
                    // Constant-time comparison (TofuToken's PartialEq).
                    return if pinned == tofu {
                        Ok(())
                    } else {
                        Err(SessionError::TofuMismatch(session.id.clone()))
                    };
                }
                if now >= session.expiration_time {
                    return Err(SessionError::Expired(session.id.clone()));
                }
                session
                    .transition(SessionStatus::Active, now)
                    .map_err(|invalid| SessionError::InvalidTransition {
                        id: session.id.clone(),
                        from: invalid.from,
                        to: invalid.to,
                    })?;
                session.tofu = Some(tofu.clone());
                activated = true;
                Ok(())
            })
            .await?;
        if activated {
            tracing::info!(target: "audit", session = %session_id, "session activated");
        }
        Ok(())
    }

    /// One more connection, unless the session is not active, has expired or has used up
    /// its connection limit.
    async fn admit_connection(
        &self,
        session_id: &str,
        worker_id: &str,
    ) -> Result<AuthorizedConnection, SessionError> {
        let now = self.now();
        let connection_id = new_connection_id();
        let mut authorized = None;
        self.records()
            .update(session_id, &mut |record| {
                let session = &mut record.session;
                if session.status != SessionStatus::Active {
                    return Err(SessionError::WrongState {
                        id: session.id.clone(),
                        status: session.status,
                    });
                }
                if now >= session.expiration_time {
                    return Err(SessionError::Expired(session.id.clone()));
                }
                if session.connection_limit_reached() {
                    return Err(SessionError::ConnectionLimitReached(session.id.clone()));
                }
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
                tracing::info!(target: "audit", session = %session.id, connection = %connection_id, user = %session.user_id, worker = %worker_id, "connection authorized");
                authorized = Some(AuthorizedConnection {
                    connection_id: connection_id.clone(),
                    connection_limit: session.connection_limit.wire(),
                    connections_left: session.connections_left(),
                });
                Ok(())
            })
            .await?;
        authorized.ok_or_else(|| SessionError::ConnectionNotFound(connection_id))
    }

    async fn mark_connected(
        &self,
        connection_id: &str,
        info: ConnectedInfo,
    ) -> Result<(), SessionError> {
        self.change_connection(connection_id, &mut |connection| {
            if connection.status == ConnectionStatus::Closed {
                return Err(SessionError::ConnectionClosed(connection.id.clone()));
            }
            connect(connection, info);
            Ok(())
        })
        .await
    }

    /// Byte counts of live connections. One unknown or already closed connection (a close
    /// racing its last progress report) does not spoil the rest of the batch. Each session
    /// changes once, with every connection of it the report carries: a change reads the
    /// session's open connections, and one change per connection made a report on a session
    /// with thousands of them cost the square of that.
    async fn record_progress(&self, progress: &[ConnectionBytes]) {
        let mut pending: HashMap<&str, &ConnectionBytes> = progress
            .iter()
            .map(|bytes| (bytes.connection_id.as_str(), bytes))
            .collect();
        for bytes in progress {
            if !pending.contains_key(bytes.connection_id.as_str()) {
                continue; // recorded with another connection of its session
            }
            let mut recorded = Vec::new();
            let result = self
                .records()
                .update_by_connection(&bytes.connection_id, &mut |record| {
                    recorded.clear();
                    for connection in &mut record.session.connections {
                        let Some(bytes) = pending.get(connection.id.as_str()) else {
                            continue;
                        };
                        if connection.is_open() {
                            connection.bytes_up = bytes.bytes_up;
                            connection.bytes_down = bytes.bytes_down;
                        }
                        recorded.push(connection.id.clone());
                    }
                    Ok(())
                })
                .await;
            for id in &recorded {
                pending.remove(id.as_str());
            }
            // Not recorded (an unknown connection, a failed change): not tried again.
            pending.remove(bytes.connection_id.as_str());
            if let Err(error) = result {
                tracing::trace!(connection_id = %bytes.connection_id, %error, "progress dropped");
            }
        }
    }

    /// Final byte counts and reason; may end the session. Closing twice keeps the first.
    async fn mark_closed(
        &self,
        bytes: &ConnectionBytes,
        reason: ClosedReason,
        connected: Option<ConnectedInfo>,
    ) -> Result<(), SessionError> {
        let now = self.now();
        self.records()
            .update_by_connection(&bytes.connection_id, &mut |record| {
                let left_out = record.session.closed_not_loaded > 0;
                let connection = match connection_in(record, &bytes.connection_id) {
                    Ok(connection) => connection,
                    // The store left it out of this change as closed: a second close is a
                    // no-op, as below.
                    Err(SessionError::ConnectionNotFound(_)) if left_out => return Ok(()),
                    Err(e) => return Err(e),
                };
                if connection.status == ConnectionStatus::Closed {
                    return Ok(());
                }
                if let Some(info) = connected {
                    connect(connection, info);
                }
                connection.status = ConnectionStatus::Closed;
                connection.bytes_up = bytes.bytes_up;
                connection.bytes_down = bytes.bytes_down;
                connection.closed_reason = Some(reason);
                tracing::info!(target: "audit", session = %record.session.id, connection = %bytes.connection_id, bytes_up = bytes.bytes_up, bytes_down = bytes.bytes_down, %reason, "connection closed");
                settle(record, now);
                Ok(())
            })
            .await
    }

    /// Closes every open connection `worker_id` carried, with reason `system error` and the
    /// last byte counts it reported: the worker is gone (a `postern dev` that restarts on its
    /// database finds its old connections open; later, a worker whose link dropped). Their
    /// sessions then end as they would on a close. How many were closed.
    pub async fn close_worker_connections(&self, worker_id: &str) -> Result<usize, SessionError> {
        let now = self.now();
        let mut closed = 0;
        self.records()
            .update_live(None, &mut |record| {
                let lost = record
                    .session
                    .connections
                    .iter_mut()
                    .filter(|c| c.is_open() && c.worker_id == worker_id);
                for connection in lost {
                    connection.status = ConnectionStatus::Closed;
                    connection.closed_reason = Some(ClosedReason::SystemError);
                    tracing::info!(target: "audit", session = %record.session.id, connection = %connection.id, worker = %worker_id, reason = %ClosedReason::SystemError, "connection closed: its worker is gone");
                    closed += 1;
                }
                settle(record, now);
                Ok(())
            })
            .await?;
        Ok(closed)
    }

    /// Runs `change` on one connection, under its session's update.
    async fn change_connection(
        &self,
        connection_id: &str,
        change: &mut (dyn FnMut(&mut Connection) -> Result<(), SessionError> + Send),
    ) -> Result<(), SessionError> {
        self.records()
            .update_by_connection(connection_id, &mut |record| {
                change(connection_in(record, connection_id)?)
            })
            .await
    }
}

/// The connection `connection_id` of the record. Searched newest first: the connections a
/// worker reports on are mostly the latest.
fn connection_in<'a>(
    record: &'a mut SessionRecord,
    connection_id: &str,
) -> Result<&'a mut Connection, SessionError> {
    record
        .session
        .connections
        .iter_mut()
        .rev()
        .find(|c| c.id == connection_id)
        .ok_or_else(|| SessionError::ConnectionNotFound(connection_id.to_owned()))
}

/// `connection` reached its endpoint: from `info`'s client to its endpoint.
fn connect(connection: &mut Connection, info: ConnectedInfo) {
    connection.status = ConnectionStatus::Connected;
    connection.client = Some(info.client);
    connection.endpoint = Some(info.endpoint);
    tracing::info!(target: "audit", connection = %connection.id, client = %info.client, endpoint = %info.endpoint, "connection connected");
}
