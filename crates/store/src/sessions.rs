//! [`SessionRecords`] in SQL: a row per session (its record as JSON, its private key and TOFU
//! token sealed with the store's key) and a row per connection.
//!
//! New sessions are inserted by one task, in groups: whatever queued up while the previous
//! commit waited on the disk goes in the next transaction.
//!
//! Every change runs in one transaction that reads the session (`FOR UPDATE` on PostgreSQL;
//! on SQLite a write transaction from the start, whole on the calling thread: `sqlite.rs`),
//! applies the lifecycle's change and writes back what changed: the session row, connections
//! whose JSON differs, and new connections (a taken connection id fails the insert and so the
//! change). What two controllers race on is thus decided by the database. The statements a
//! change writes are planned once ([`Write`]) and run by either driver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use postern_controller::sessions::{
    RecordChange, RecordVisit, Session, SessionError, SessionQuery, SessionRecord, SessionRecords,
    SessionSecrets, StoredConnection, StoredSession,
};
use postern_tls::SessionCredentials;
use rusqlite::OptionalExtension;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use tokio::sync::{mpsc, oneshot};

use crate::db::{Backend, Db};
use crate::seal::SealingKey;
use crate::sqlite::storage as sqlite;

/// Session records in a database.
#[derive(Debug)]
pub struct SqlSessions {
    db: Db,
    key: Arc<SealingKey>,
    /// New sessions go to one task that commits whatever has queued up in one transaction
    /// (a group commit): on SQLite, where each commit waits for the disk, clients authorizing
    /// at once share that wait. Started at the first insert.
    inserts: OnceLock<mpsc::Sender<PendingInsert>>,
    opened: Arc<OpenedCredentials>,
}

/// Session credentials this store made ready, by session id. A session's key and
/// certificate never change, and making them ready (the key checked against the certificate,
/// the certificate parsed, the signing key built) is most of the CPU that loading a session
/// costs, paid on every change and lookup of it; an entry is used only for the very parts it
/// was made of.
#[derive(Default)]
struct OpenedCredentials(Mutex<HashMap<String, SessionCredentials>>);

/// Past this many sessions' credentials the cache starts again, empty.
const MAX_OPENED: usize = 10_000;

impl OpenedCredentials {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionCredentials>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, id: &str) -> Option<SessionCredentials> {
        self.lock().get(id).cloned()
    }

    fn keep(&self, credentials: &SessionCredentials) {
        let mut opened = self.lock();
        if opened.len() >= MAX_OPENED {
            opened.clear();
        }
        opened.insert(credentials.session_id().to_owned(), credentials.clone());
    }
}

impl std::fmt::Debug for OpenedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenedCredentials({} sessions)", self.lock().len())
    }
}

/// A new session on its way to the group commit, and where its answer goes.
type PendingInsert = (SessionRecord, oneshot::Sender<Result<bool, SessionError>>);

/// The most new sessions one group commit takes.
const MAX_GROUP: usize = 64;

/// A record in its stored parts.
type Parts = (StoredSession, SessionSecrets, Vec<StoredConnection>);

/// What of a session [`SqlSessions::load`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loading {
    /// Everything, to show it.
    Whole,
    /// The session row locked, its open connections and how many closed ones it has.
    ToChange,
    /// The session row alone (a worker's lookup).
    SessionOnly,
}

/// The columns a change reads after a session's `body, secrets`: its open connections'
/// bodies joined by commas, and how many connections it has had. A change needs only the open
/// ones: closed ones change no more. Connections are numbered 0, 1, 2... in their session
/// (`ord`, see [`connection_writes`]), so how many there are is the last number + 1, found by
/// index: a change costs the same on a session's 10,000th connection as on its first.
const CONNECTIONS_TO_CHANGE: &str = "(SELECT string_agg(body, ',' ORDER BY ord) FROM connections \
      WHERE session_id = $1 AND closed = 0), \
     (SELECT COALESCE(MAX(ord) + 1, 0) FROM connections WHERE session_id = $1)";

/// The same, every connection, to show them.
const ALL_CONNECTIONS: &str = "(SELECT string_agg(body, ',' ORDER BY ord) FROM connections \
      WHERE session_id = $1), \
     (SELECT COUNT(*) FROM connections WHERE session_id = $1)";

/// A record as read, with its stored parts (to write back only what a change changed).
struct Loaded {
    record: SessionRecord,
    before: Parts,
}

impl SqlSessions {
    /// Records in `db` (migrated), sealing secrets with `key`.
    pub fn new(db: Db, key: SealingKey) -> Self {
        Self::sharing(db, Arc::new(key), Arc::default())
    }

    fn sharing(db: Db, key: Arc<SealingKey>, opened: Arc<OpenedCredentials>) -> Self {
        Self {
            db,
            key,
            inserts: OnceLock::new(),
            opened,
        }
    }

    /// The group commit's queue; its task holds records of its own, so it ends when this
    /// store is dropped.
    fn inserts(&self) -> &mpsc::Sender<PendingInsert> {
        self.inserts.get_or_init(|| {
            let (queue, pending) = mpsc::channel(MAX_GROUP * 16);
            let writer = Self::sharing(
                self.db.clone(),
                Arc::clone(&self.key),
                Arc::clone(&self.opened),
            );
            tokio::spawn(writer.commit_inserts(pending));
            queue
        })
    }

    /// Commits queued inserts, as many at a time as have queued up (up to [`MAX_GROUP`]).
    async fn commit_inserts(self, mut pending: mpsc::Receiver<PendingInsert>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while pending.recv_many(&mut group, MAX_GROUP).await > 0 {
            let records: Vec<&SessionRecord> = group.iter().map(|(record, _)| record).collect();
            match self.insert_group(&records).await {
                Ok(inserted) => {
                    for ((_, reply), inserted) in group.drain(..).zip(inserted) {
                        // A caller that stopped waiting needs no answer.
                        let _ = reply.send(Ok(inserted));
                    }
                }
                Err(error) => {
                    let error = error.to_string();
                    for (_, reply) in group.drain(..) {
                        let _ = reply.send(Err(SessionError::Storage(error.clone())));
                    }
                }
            }
        }
    }

    /// Inserts records in one transaction; for each, whether it was new.
    async fn insert_group(&self, records: &[&SessionRecord]) -> Result<Vec<bool>, SessionError> {
        let mut tx = self.db.begin_write().await.map_err(storage)?;
        let mut inserted = Vec::with_capacity(records.len());
        for record in records {
            inserted.push(self.insert_in(&mut tx, record).await?);
        }
        tx.commit().await.map_err(storage)?;
        Ok(inserted)
    }

    /// A session and its connections as `loading` says, over sqlx. A change on
    /// PostgreSQL locks the session's row first and reads its connections after: a
    /// statement's snapshot is taken before it waits for the lock, so connections read in the
    /// same statement could be those from before the change it waited for.
    async fn load(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        loading: Loading,
    ) -> Result<Option<Loaded>, SessionError> {
        let connections = match loading {
            Loading::Whole => Some(ALL_CONNECTIONS),
            Loading::ToChange => Some(CONNECTIONS_TO_CHANGE),
            Loading::SessionOnly => None,
        };
        let locked = loading == Loading::ToChange && self.db.backend == Backend::Postgres;
        let query = match (connections, locked) {
            (_, true) => "SELECT body, secrets FROM sessions WHERE id = $1 FOR UPDATE".to_owned(),
            (Some(connections), false) => {
                format!("SELECT body, secrets, {connections} FROM sessions WHERE id = $1")
            }
            (None, false) => "SELECT body, secrets FROM sessions WHERE id = $1".to_owned(),
        };
        let Some(row) = sqlx::query(&query)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(storage)?
        else {
            return Ok(None);
        };
        let body: String = row.try_get(0).map_err(storage)?;
        let sealed: String = row.try_get(1).map_err(storage)?;
        let (bodies, total) = match (connections, locked) {
            (None, _) => (None, 0),
            (Some(connections), true) => {
                let row = sqlx::query(&format!("SELECT {connections}"))
                    .bind(id)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(storage)?;
                (
                    row.try_get(0).map_err(storage)?,
                    row.try_get(1).map_err(storage)?,
                )
            }
            (Some(_), false) => (
                row.try_get(2).map_err(storage)?,
                row.try_get(3).map_err(storage)?,
            ),
        };
        self.loaded(id, &body, &sealed, bodies, total).map(Some)
    }

    /// A session to change, on SQLite's session connection: one statement.
    fn load_sqlite(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &str,
    ) -> Result<Option<Loaded>, SessionError> {
        let row = tx
            .prepare_cached(&format!(
                "SELECT body, secrets, {CONNECTIONS_TO_CHANGE} FROM sessions WHERE id = $1"
            ))
            .map_err(sqlite)?
            .query_row([id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get(2)?,
                    row.get(3)?,
                ))
            })
            .optional()
            .map_err(sqlite)?;
        let Some((body, sealed, bodies, total)) = row else {
            return Ok(None);
        };
        self.loaded(id, &body, &sealed, bodies, total).map(Some)
    }

    /// A loaded record from its row (`body`, `sealed` secrets), its connections' bodies
    /// joined by commas, and how many connections it has had.
    fn loaded(
        &self,
        id: &str,
        body: &str,
        sealed: &str,
        bodies: Option<String>,
        total: i64,
    ) -> Result<Loaded, SessionError> {
        let connections: Vec<StoredConnection> = match bodies {
            Some(bodies) => serde_json::from_str(&format!("[{bodies}]"))
                .map_err(|e| corrupt(id, e.to_string()))?,
            None => Vec::new(),
        };
        let loaded = connections.len();
        let mut record = self.record(id, body, sealed, connections)?;
        record.session.closed_not_loaded =
            usize::try_from(total).unwrap_or(0).saturating_sub(loaded);
        let before = record.to_stored();
        Ok(Loaded { record, before })
    }

    /// A record from a session row's `body` (JSON) and `sealed` secrets, and its connections.
    fn record(
        &self,
        id: &str,
        body: &str,
        sealed: &str,
        connections: Vec<StoredConnection>,
    ) -> Result<SessionRecord, SessionError> {
        let stored: StoredSession =
            serde_json::from_str(body).map_err(|e| corrupt(id, e.to_string()))?;
        let secrets = self
            .key
            .open(id, sealed)
            .map_err(|e| corrupt(id, e.to_string()))?;
        let secrets: SessionSecrets =
            serde_json::from_slice(&secrets).map_err(|e| corrupt(id, e.to_string()))?;
        let known = self.opened.get(id);
        let record = SessionRecord::from_stored(stored, &secrets, connections, known.as_ref())?;
        self.opened.keep(record.session.credentials());
        Ok(record)
    }

    /// The session row's values: status, terminated time, body, sealed secrets.
    fn session_row(
        &self,
        record: &SessionRecord,
        stored: &StoredSession,
        secrets: &SessionSecrets,
    ) -> Result<SessionRow, SessionError> {
        let id = &stored.id;
        let secrets = serde_json::to_vec(secrets).map_err(|e| corrupt(id, e.to_string()))?;
        Ok(SessionRow {
            status: stored.status.clone(),
            created_ns: nanos(stored.created_time),
            terminated_ns: record.session.terminated_at().map(nanos),
            secrets: self
                .key
                .seal(id, &secrets)
                .map_err(|e| SessionError::Storage(e.to_string()))?,
            body: serde_json::to_string(stored).map_err(|e| corrupt(id, e.to_string()))?,
        })
    }

    /// What writes a changed record back: its row if it changed (most worker reports change
    /// one connection only), then the connections that changed.
    fn writes(&self, record: &SessionRecord, before: &Parts) -> Result<Vec<Write>, SessionError> {
        let id = &record.session.id;
        let (stored, secrets, connections) = record.to_stored();
        let mut writes = Vec::new();
        if (&stored, &secrets) != (&before.0, &before.1) {
            let row = self.session_row(record, &stored, &secrets)?;
            writes.push(Write {
                sql: "UPDATE sessions SET status = $1, terminated_ns = $2, body = $3, \
                      secrets = $4 WHERE id = $5",
                values: vec![
                    Value::Text(row.status),
                    row.terminated_ns.map_or(Value::Null, Value::Int),
                    Value::Text(row.body),
                    Value::Text(row.secrets),
                    Value::Text(id.clone()),
                ],
                inserts_connection: false,
            });
        }
        connection_writes(&mut writes, record, &connections, &before.2)?;
        Ok(writes)
    }

    /// Loads the session `id` on SQLite's session connection, changes it and writes it back.
    fn change_sqlite(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: &str,
        change: RecordChange<'_>,
    ) -> Result<(), SessionError> {
        let mut loaded = self
            .load_sqlite(tx, id)?
            .ok_or_else(|| SessionError::NotFound(id.to_owned()))?;
        change(&mut loaded.record)?;
        for write in self.writes(&loaded.record, &loaded.before)? {
            let mut statement = tx.prepare_cached(write.sql).map_err(sqlite)?;
            for (index, value) in write.values.iter().enumerate() {
                let index = index + 1;
                match value {
                    Value::Text(text) => statement.raw_bind_parameter(index, text),
                    Value::Int(int) => statement.raw_bind_parameter(index, int),
                    Value::Null => statement.raw_bind_parameter(index, rusqlite::types::Null),
                }
                .map_err(sqlite)?;
            }
            statement.raw_execute().map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(failure, _)
                    if write.inserts_connection
                        && matches!(
                            failure.extended_code,
                            rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                                | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        ) =>
                {
                    SessionError::IdsExhausted
                }
                _ => sqlite(e),
            })?;
        }
        Ok(())
    }
}

impl SqlSessions {
    async fn read_as(
        &self,
        id: &str,
        loading: Loading,
        visit: RecordVisit<'_>,
    ) -> Result<bool, SessionError> {
        let mut conn = self.db.reads.acquire().await.map_err(storage)?;
        let loaded = self.load(&mut conn, id, loading).await?;
        if let Some(loaded) = &loaded {
            visit(&loaded.record);
        }
        Ok(loaded.is_some())
    }

    /// Stores many new records in one transaction (an import, a benchmark's history); how
    /// many were new (a record whose id is taken is skipped).
    pub async fn insert_batch(&self, records: &[SessionRecord]) -> Result<usize, SessionError> {
        let records: Vec<&SessionRecord> = records.iter().collect();
        let inserted = self.insert_group(&records).await?;
        Ok(inserted.into_iter().filter(|new| *new).count())
    }

    /// Inserts a record's rows; `false` (and nothing written) when its id is taken.
    async fn insert_in(
        &self,
        conn: &mut AnyConnection,
        record: &SessionRecord,
    ) -> Result<bool, SessionError> {
        let (stored, secrets, connections) = record.to_stored();
        let row = self.session_row(record, &stored, &secrets)?;
        let inserted = sqlx::query(
            "INSERT INTO sessions (id, status, created_ns, terminated_ns, body, secrets, \
             scope_id, user_id, expiration_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(record.session.id.as_str())
        .bind(row.status)
        .bind(row.created_ns)
        .bind(row.terminated_ns)
        .bind(row.body)
        .bind(row.secrets)
        .bind(record.session.scope_id.as_str())
        .bind(record.session.user_id.as_str())
        .bind(nanos(record.session.expiration_time))
        .execute(&mut *conn)
        .await
        .map_err(storage)?
        .rows_affected()
            == 1;
        if inserted {
            let mut writes = Vec::new();
            connection_writes(&mut writes, record, &connections, &[])?;
            run_writes(conn, writes).await?;
        }
        Ok(inserted)
    }
}

/// A closed connection's stored status.
const CLOSED: &str = "closed";

/// The writes of the connections that differ from `before` (updated in place) and the new
/// ones after it (inserted: a taken connection id fails the insert). `connections` are the
/// record's as loaded: after the closed ones its store left out, which come first in order.
fn connection_writes(
    writes: &mut Vec<Write>,
    record: &SessionRecord,
    connections: &[StoredConnection],
    before: &[StoredConnection],
) -> Result<(), SessionError> {
    let session_id = record.session.id.as_str();
    let left_out = record.session.closed_not_loaded;
    for (index, connection) in connections.iter().enumerate() {
        if before.get(index) == Some(connection) {
            continue;
        }
        let body =
            serde_json::to_string(connection).map_err(|e| corrupt(session_id, e.to_string()))?;
        let closed = Value::Int(i64::from(connection.status == CLOSED));
        writes.push(if index < before.len() {
            Write {
                sql: "UPDATE connections SET body = $1, closed = $2 WHERE id = $3",
                values: vec![
                    Value::Text(body),
                    closed,
                    Value::Text(connection.id.clone()),
                ],
                inserts_connection: false,
            }
        } else {
            let ord = i64::try_from(left_out + index).unwrap_or(i64::MAX);
            Write {
                sql: "INSERT INTO connections (id, session_id, ord, body, closed) \
                      VALUES ($1, $2, $3, $4, $5)",
                values: vec![
                    Value::Text(connection.id.clone()),
                    Value::Text(session_id.to_owned()),
                    Value::Int(ord),
                    Value::Text(body),
                    closed,
                ],
                inserts_connection: true,
            }
        });
    }
    Ok(())
}

/// One statement of a change's writes, its values in placeholder order.
struct Write {
    sql: &'static str,
    values: Vec<Value>,
    /// It inserts a connection: a taken id fails it with [`SessionError::IdsExhausted`].
    inserts_connection: bool,
}

/// Runs `writes` over sqlx.
async fn run_writes(conn: &mut AnyConnection, writes: Vec<Write>) -> Result<(), SessionError> {
    for write in writes {
        let mut query = sqlx::query(write.sql);
        for value in write.values {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Int(int) => query.bind(int),
                Value::Null => query.bind(None::<i64>),
            };
        }
        query.execute(&mut *conn).await.map_err(|e| match e {
            sqlx::Error::Database(db) if write.inserts_connection && db.is_unique_violation() => {
                SessionError::IdsExhausted
            }
            other => storage(other),
        })?;
    }
    Ok(())
}

struct SessionRow {
    status: String,
    created_ns: i64,
    terminated_ns: Option<i64>,
    body: String,
    secrets: String,
}

#[async_trait]
impl SessionRecords for SqlSessions {
    async fn insert(&self, record: SessionRecord) -> Result<bool, SessionError> {
        let stopped = || SessionError::Storage("the session writer stopped".into());
        let (reply, answer) = oneshot::channel();
        self.inserts()
            .send((record, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn read(&self, id: &str, visit: RecordVisit<'_>) -> Result<bool, SessionError> {
        self.read_as(id, Loading::Whole, visit).await
    }

    async fn read_session(&self, id: &str, visit: RecordVisit<'_>) -> Result<bool, SessionError> {
        self.read_as(id, Loading::SessionOnly, visit).await
    }

    async fn list(&self, query: &SessionQuery) -> Result<Vec<Session>, SessionError> {
        let mut select = Select::new("SELECT id, body, secrets FROM sessions", query);
        if let Some((created, id)) = &query.after {
            // After the named session in (created, insertion) order; when it is gone, only
            // the ones created strictly before it.
            let created_again = select.bind(Value::Int(nanos(*created)));
            let created = select.bind(Value::Int(nanos(*created)));
            let id = select.bind(Value::Text(id.clone()));
            select.sql.push_str(&format!(
                " AND (created_ns < {created} OR (created_ns = {created_again} AND seq < \
                 COALESCE((SELECT seq FROM sessions WHERE id = {id}), -1)))"
            ));
        }
        select.sql.push_str(" ORDER BY created_ns DESC, seq DESC");
        if let Some(limit) = query.limit {
            let limit = select.bind(Value::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
            select.sql.push_str(&format!(" LIMIT {limit}"));
        }
        if select.nothing {
            return Ok(Vec::new());
        }
        let mut conn = self.db.reads.acquire().await.map_err(storage)?;
        let rows = select.run().fetch_all(&mut *conn).await.map_err(storage)?;
        let ids = rows
            .iter()
            .map(|row| row.try_get::<String, _>(0).map_err(storage))
            .collect::<Result<Vec<_>, _>>()?;
        let mut connections = connections_of(&mut conn, &ids).await?;
        rows.iter()
            .zip(&ids)
            .map(|(row, id)| {
                let connections = connections.remove(id).unwrap_or_default();
                let body: String = row.try_get(1).map_err(storage)?;
                let sealed: String = row.try_get(2).map_err(storage)?;
                Ok(self.record(id, &body, &sealed, connections)?.session)
            })
            .collect()
    }

    async fn count(&self, query: &SessionQuery) -> Result<usize, SessionError> {
        let select = Select::new("SELECT COUNT(*) FROM sessions", query);
        if select.nothing {
            return Ok(0);
        }
        let row = select
            .run()
            .fetch_one(&self.db.reads)
            .await
            .map_err(storage)?;
        let count: i64 = row.try_get(0).map_err(storage)?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    async fn update(&self, id: &str, change: RecordChange<'_>) -> Result<(), SessionError> {
        if let Some(writer) = &self.db.sqlite {
            return writer.change(|tx| self.change_sqlite(tx, id, change)).await;
        }
        let mut tx = self.db.begin_write().await.map_err(storage)?;
        let mut loaded = self
            .load(&mut tx, id, Loading::ToChange)
            .await?
            .ok_or_else(|| SessionError::NotFound(id.to_owned()))?;
        change(&mut loaded.record)?;
        let writes = self.writes(&loaded.record, &loaded.before)?;
        run_writes(&mut tx, writes).await?;
        tx.commit().await.map_err(storage)
    }

    async fn update_by_connection(
        &self,
        connection_id: &str,
        change: RecordChange<'_>,
    ) -> Result<(), SessionError> {
        const SESSION_OF: &str = "SELECT session_id FROM connections WHERE id = $1";
        let not_found = || SessionError::ConnectionNotFound(connection_id.to_owned());
        if let Some(writer) = &self.db.sqlite {
            return writer
                .change(|tx| {
                    let session_id: String = tx
                        .prepare_cached(SESSION_OF)
                        .map_err(sqlite)?
                        .query_row([connection_id], |row| row.get(0))
                        .optional()
                        .map_err(sqlite)?
                        .ok_or_else(not_found)?;
                    self.change_sqlite(tx, &session_id, change)
                })
                .await;
        }
        let row = sqlx::query(SESSION_OF)
            .bind(connection_id)
            .fetch_optional(&self.db.reads)
            .await
            .map_err(storage)?
            .ok_or_else(not_found)?;
        let session_id: String = row.try_get(0).map_err(storage)?;
        self.update(&session_id, change).await
    }

    async fn update_live(
        &self,
        expired_by: Option<SystemTime>,
        change: RecordChange<'_>,
    ) -> Result<(), SessionError> {
        let rows = sqlx::query(
            "SELECT id FROM sessions WHERE status <> 'terminated' AND expiration_ns <= $1",
        )
        .bind(expired_by.map_or(i64::MAX, nanos))
        .fetch_all(&self.db.reads)
        .await
        .map_err(storage)?;
        for row in rows {
            let id: String = row.try_get(0).map_err(storage)?;
            if let Err(error) = self.update(&id, change).await {
                tracing::warn!(session_id = %id, %error, "session not updated");
            }
        }
        Ok(())
    }

    async fn announce_canceled(&self, id: &str) -> Result<(), SessionError> {
        if self.db.backend != Backend::Postgres {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(crate::db::CANCELED_CHANNEL)
            .bind(id)
            .execute(&self.db.pool)
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn delete_terminated(&self, cutoff: SystemTime) -> Result<usize, SessionError> {
        // Connections go with their session (ON DELETE CASCADE).
        let deleted = sqlx::query(
            "DELETE FROM sessions WHERE terminated_ns IS NOT NULL AND terminated_ns < $1",
        )
        .bind(nanos(cutoff))
        .execute(&self.db.pool)
        .await
        .map_err(storage)?
        .rows_affected();
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }
}

/// A value bound to a query.
enum Value {
    Text(String),
    Int(i64),
    Null,
}

/// A `SELECT` over sessions with a query's conditions (scopes, user, terminated), built
/// with numbered placeholders.
struct Select {
    sql: String,
    values: Vec<Value>,
    /// The query can match nothing (no scopes at all).
    nothing: bool,
}

impl Select {
    fn new(head: &str, query: &SessionQuery) -> Self {
        let mut select = Self {
            sql: format!("{head} WHERE 1 = 1"),
            values: Vec::new(),
            nothing: false,
        };
        // (scope_id IN (shared scopes) [AND user_id = u]) OR (user_id = own AND scope_id IN
        // (own scopes)); an empty list of scopes matches nothing.
        let mut shared = Vec::new();
        let mut shared_nothing = false;
        if let Some(scopes) = &query.scope_ids {
            shared_nothing = scopes.is_empty();
            if !shared_nothing {
                let marks = select.bind_all(scopes);
                shared.push(format!("scope_id IN ({marks})"));
            }
        }
        if let Some(user_id) = &query.user_id {
            let mark = select.bind(Value::Text(user_id.clone()));
            shared.push(format!("user_id = {mark}"));
        }
        let own = match &query.own {
            Some((user_id, scopes)) if !scopes.is_empty() => {
                let user = select.bind(Value::Text(user_id.clone()));
                let marks = select.bind_all(scopes);
                Some(format!("user_id = {user} AND scope_id IN ({marks})"))
            }
            _ => None,
        };
        let shared = (!shared_nothing).then(|| match shared.is_empty() {
            true => "1 = 1".to_owned(),
            false => shared.join(" AND "),
        });
        match (shared, own) {
            (Some(shared), None) => select.sql.push_str(&format!(" AND {shared}")),
            (None, Some(own)) => select.sql.push_str(&format!(" AND {own}")),
            (Some(shared), Some(own)) => {
                select
                    .sql
                    .push_str(&format!(" AND (({shared}) OR ({own}))"));
            }
            (None, None) => select.nothing = true,
        }
        if !query.include_terminated {
            select.sql.push_str(" AND status <> 'terminated'");
        }
        select
    }

    /// Adds texts; their placeholders, comma-separated.
    fn bind_all(&mut self, texts: &[String]) -> String {
        let marks: Vec<String> = texts
            .iter()
            .map(|text| self.bind(Value::Text(text.clone())))
            .collect();
        marks.join(", ")
    }

    /// Adds a value; its placeholder.
    fn bind(&mut self, value: Value) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    fn run(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut query = sqlx::query(&self.sql);
        for value in &self.values {
            query = match value {
                Value::Text(text) => query.bind(text.as_str()),
                Value::Int(int) => query.bind(*int),
                Value::Null => query.bind(None::<i64>),
            };
        }
        query
    }
}

/// The connections of the sessions `ids`, by session, in order.
async fn connections_of(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<HashMap<String, Vec<StoredConnection>>, SessionError> {
    let mut connections: HashMap<String, Vec<StoredConnection>> = HashMap::new();
    // Bounded batches keep each statement's parameters well under every backend's limit.
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT session_id, body FROM connections WHERE session_id IN ({}) \
             ORDER BY session_id, ord",
            marks.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        for row in query.fetch_all(&mut *conn).await.map_err(storage)? {
            let session_id: String = row.try_get(0).map_err(storage)?;
            let connection = decode(&session_id, &row, 1)?;
            connections.entry(session_id).or_default().push(connection);
        }
    }
    Ok(connections)
}

/// Column `index` of `row`, a JSON text, as `T`.
fn decode<T: serde::de::DeserializeOwned>(
    id: &str,
    row: &AnyRow,
    index: usize,
) -> Result<T, SessionError> {
    let text: String = row.try_get(index).map_err(storage)?;
    serde_json::from_str(&text).map_err(|e| corrupt(id, e.to_string()))
}

/// Nanoseconds since the Unix epoch (0 before it, saturating far after).
fn nanos(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn storage(error: sqlx::Error) -> SessionError {
    SessionError::Storage(error.to_string())
}

fn corrupt(id: &str, what: String) -> SessionError {
    SessionError::Corrupt {
        id: id.to_owned(),
        what,
    }
}
