//! Where sessions are kept: the [`SessionRecords`] trait, and [`MemorySessions`], the
//! in-memory records of `postern dev`.
//!
//! A backend only stores records and changes one atomically; every rule of the lifecycle
//! (states, TOFU, limits, expiry, how a session ends) is [`SessionStore`](super::SessionStore)'s,
//! written as changes it hands to [`SessionRecords::update`]. So two controllers on one
//! database race safely as long as the backend runs each change under the session's row
//! lock.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use postern_authority::SessionStatus;

use super::model::{Session, TerminationReason};
use super::SessionError;

/// A session and what the lifecycle remembers about it beyond its history.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub session: Session,
    /// Why the session will be terminated once its last connection closes.
    pub ending: Option<TerminationReason>,
}

/// A change to one record. It must check everything before it changes anything: when it
/// returns an error, the record must be as it found it (a backend may store nothing, or may
/// have applied it in place).
pub type RecordChange<'a> =
    &'a mut (dyn FnMut(&mut SessionRecord) -> Result<(), SessionError> + Send);

/// Which sessions a listing wants, in the listing order: newest first (created time, then
/// the order they were inserted in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only sessions in these scopes; `None`: in any.
    pub scope_ids: Option<Vec<String>>,
    /// Only this user's sessions (of those `scope_ids` admits).
    pub user_id: Option<String>,
    /// Besides the above: this user's sessions in these scopes (a caller who may read only
    /// their own sessions there).
    pub own: Option<(String, Vec<String>)>,
    /// Terminated sessions too.
    pub include_terminated: bool,
    /// Only the sessions after this one (created time, id) in the order; when it is gone,
    /// the ones created strictly before it.
    pub after: Option<(SystemTime, String)>,
    /// At most this many.
    pub limit: Option<usize>,
}

impl SessionQuery {
    /// Whether a session passes the scope, user and terminated conditions (not `after`).
    pub fn admits(&self, session: &Session) -> bool {
        // The status first: it sits in the record itself, where the ids are strings
        // elsewhere on the heap (a memory miss each, over a whole history).
        if !self.include_terminated && session.status == SessionStatus::Terminated {
            return false;
        }
        let shared = self
            .scope_ids
            .as_ref()
            .is_none_or(|scopes| scopes.contains(&session.scope_id))
            && self.user_id.as_ref().is_none_or(|u| *u == session.user_id);
        shared
            || self.own.as_ref().is_some_and(|(user_id, scopes)| {
                !scopes.is_empty()
                    && *user_id == session.user_id
                    && scopes.contains(&session.scope_id)
            })
    }
}

/// A look at one record, without copying it (a session may hold thousands of connections).
pub type RecordVisit<'a> = &'a mut (dyn FnMut(&SessionRecord) + Send);

/// Storage of sessions and their connections. Calls hand records to closures rather than
/// returning copies: a session's connections only grow, and copying them on every call of a
/// worker (several per proxied connection) would make each call cost as much as the session
/// is long.
#[async_trait]
pub trait SessionRecords: Send + Sync + 'static {
    /// Stores a new record; `false` when a session with its id exists already.
    async fn insert(&self, record: SessionRecord) -> Result<bool, SessionError>;
    /// Runs `visit` on the session if there is one; whether there was.
    async fn read(&self, id: &str, visit: RecordVisit<'_>) -> Result<bool, SessionError>;
    /// [`read`](Self::read) for what a worker's lookup needs: a backend may leave out the
    /// session's connections (`connections` empty), which it would otherwise read, every one
    /// of them, at every connection a worker accepts.
    async fn read_session(&self, id: &str, visit: RecordVisit<'_>) -> Result<bool, SessionError> {
        self.read(id, visit).await
    }
    /// The sessions `query` asks for, in its order. A backend reads only those (a database:
    /// by index), not every session.
    async fn list(&self, query: &SessionQuery) -> Result<Vec<Session>, SessionError>;
    /// How many sessions pass `query`'s conditions, ignoring its `after` and `limit`.
    async fn count(&self, query: &SessionQuery) -> Result<usize, SessionError>;
    /// Runs `change` on the session with no other change to it in between and stores the
    /// result. Connection ids must stay unique across sessions: a new connection whose id is
    /// taken fails the change.
    async fn update(&self, id: &str, change: RecordChange<'_>) -> Result<(), SessionError>;
    /// [`update`](Self::update) for the session holding connection `connection_id`.
    async fn update_by_connection(
        &self,
        connection_id: &str,
        change: RecordChange<'_>,
    ) -> Result<(), SessionError>;
    /// Runs `change` on every session that is not terminated (with `expired_by`, only on
    /// those whose expiration time is at or before it); a failed change leaves its session
    /// alone and is logged, the rest go on.
    async fn update_live(
        &self,
        expired_by: Option<SystemTime>,
        change: RecordChange<'_>,
    ) -> Result<(), SessionError>;
    /// Deletes the sessions terminated before `cutoff`, with their connections; how many.
    async fn delete_terminated(&self, cutoff: SystemTime) -> Result<usize, SessionError>;
    /// Tells the other controllers sharing this storage that session `id` was canceled, so
    /// that they cut its connections on their workers too (PostgreSQL: `NOTIFY`). Storage
    /// only this process uses has no one to tell.
    async fn announce_canceled(&self, _id: &str) -> Result<(), SessionError> {
        Ok(())
    }
}

/// Sessions in memory: one mutex around plain maps, held only for map work.
#[derive(Debug, Default)]
pub struct MemorySessions {
    maps: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    sessions: HashMap<String, Entry>,
    /// Every session's place in the listing order, oldest first: (created time, insertion
    /// order, id).
    order: BTreeSet<(SystemTime, u64, String)>,
    /// Connection id -> its session's id, so finding a connection does not scan sessions.
    connection_sessions: HashMap<String, String>,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry {
    record: SessionRecord,
    /// Insertion order, to list sessions created in the same instant newest first.
    seq: u64,
}

impl MemorySessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every change leaves the maps whole (changes check before they write), so a poisoned
    /// lock is taken over rather than propagated.
    fn maps(&self) -> MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Maps {
    fn apply(&mut self, id: &str, change: RecordChange<'_>) -> Result<(), SessionError> {
        let entry = self
            .sessions
            .get_mut(id)
            .ok_or_else(|| SessionError::NotFound(id.to_owned()))?;
        let known = entry.record.session.connections.len();
        change(&mut entry.record)?;
        // Connections only ever grow: index the new ones.
        let session = &entry.record.session;
        for connection in &session.connections[known.min(session.connections.len())..] {
            let taken = self
                .connection_sessions
                .insert(connection.id.clone(), session.id.clone());
            if taken.is_some_and(|other| other != session.id) {
                return Err(SessionError::IdsExhausted);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SessionRecords for MemorySessions {
    async fn insert(&self, record: SessionRecord) -> Result<bool, SessionError> {
        let mut maps = self.maps();
        let seq = maps.next_seq;
        match maps.sessions.entry(record.session.id.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => Ok(false),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let place = (record.session.created_time, seq, record.session.id.clone());
                slot.insert(Entry { record, seq });
                maps.order.insert(place);
                maps.next_seq += 1;
                Ok(true)
            }
        }
    }

    async fn read(&self, id: &str, visit: RecordVisit<'_>) -> Result<bool, SessionError> {
        let maps = self.maps();
        let found = maps.sessions.get(id);
        if let Some(entry) = found {
            visit(&entry.record);
        }
        Ok(found.is_some())
    }

    async fn list(&self, query: &SessionQuery) -> Result<Vec<Session>, SessionError> {
        let maps = self.maps();
        // Walk the order newest first from just before the resume point.
        let end = match &query.after {
            None => Bound::Unbounded,
            Some((created, id)) => match maps.sessions.get(id) {
                Some(named) => {
                    let created = named.record.session.created_time;
                    Bound::Excluded((created, named.seq, id.clone()))
                }
                None => Bound::Excluded((*created, 0, String::new())),
            },
        };
        let limit = query.limit.unwrap_or(usize::MAX);
        let found = maps
            .order
            .range((Bound::Unbounded, end))
            .rev()
            .filter_map(|(_, _, id)| maps.sessions.get(id))
            .map(|entry| &entry.record.session)
            .filter(|session| query.admits(session))
            .take(limit);
        Ok(found.cloned().collect())
    }

    async fn count(&self, query: &SessionQuery) -> Result<usize, SessionError> {
        let maps = self.maps();
        let sessions = maps.sessions.values();
        Ok(sessions.filter(|e| query.admits(&e.record.session)).count())
    }

    async fn update(&self, id: &str, change: RecordChange<'_>) -> Result<(), SessionError> {
        self.maps().apply(id, change)
    }

    async fn update_by_connection(
        &self,
        connection_id: &str,
        change: RecordChange<'_>,
    ) -> Result<(), SessionError> {
        let mut maps = self.maps();
        let session_id = maps
            .connection_sessions
            .get(connection_id)
            .cloned()
            .ok_or_else(|| SessionError::ConnectionNotFound(connection_id.to_owned()))?;
        maps.apply(&session_id, change)
    }

    async fn update_live(
        &self,
        expired_by: Option<SystemTime>,
        change: RecordChange<'_>,
    ) -> Result<(), SessionError> {
        let mut maps = self.maps();
        for entry in maps.sessions.values_mut() {
            let session = &entry.record.session;
            let expired = expired_by.is_none_or(|by| session.expiration_time <= by);
            if session.status == SessionStatus::Terminated || !expired {
                continue;
            }
            if let Err(error) = change(&mut entry.record) {
                tracing::warn!(session_id = %entry.record.session.id, %error, "session not updated");
            }
        }
        Ok(())
    }

    async fn delete_terminated(&self, cutoff: SystemTime) -> Result<usize, SessionError> {
        let mut maps = self.maps();
        let Maps {
            sessions,
            connection_sessions,
            order,
            ..
        } = &mut *maps;
        let before = sessions.len();
        sessions.retain(|_, entry| {
            let session = &entry.record.session;
            let expired = session.terminated_at().is_some_and(|at| at < cutoff);
            if expired {
                for connection in &session.connections {
                    connection_sessions.remove(&connection.id);
                }
                order.remove(&(session.created_time, entry.seq, session.id.clone()));
            }
            !expired
        });
        Ok(before - sessions.len())
    }
}
