//! SQLite's connection for session changes: each change (its read, its writes and the
//! commit) runs whole on the calling thread, instead of as a statement-by-statement exchange
//! with a connection thread as sqlx's driver does, which costs a pair of thread wake-ups per
//! statement and made up most of a worker's connection setup on SQLite.
//!
//! It writes beside sqlx's writer connection. Both begin their write transactions
//! `IMMEDIATE` ([`crate::Db::begin_write`]), so neither reads a snapshot that the other's
//! commit then makes stale; one waits while the other commits.

use std::time::{Duration, Instant};

use postern_controller::sessions::SessionError;
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

/// How long a change waits for sqlx's writer before it fails.
const WAIT: Duration = Duration::from_secs(5);
/// Between tries for the write lock: on a thread of its own (block_in_place), a sleep this
/// long; on a one-thread runtime, an async sleep (the timer's tick, a millisecond).
const WAIT_STEP: Duration = Duration::from_micros(50);

/// The session changes' connection. Changes take it in turn, in the order they asked
/// (tokio's mutex is fair), and wait for it without holding a thread.
pub(crate) struct SqliteWriter {
    connection: tokio::sync::Mutex<Connection>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteWriter")
    }
}

impl SqliteWriter {
    /// Opens the database file at `path`, which sqlx's writer has made and put in WAL mode.
    pub(crate) fn open(path: &str) -> rusqlite::Result<Self> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        // No waiting inside SQLite (rusqlite's default is 5 s): a change that finds sqlx's
        // writer holding the lock waits as `change` says.
        connection.busy_timeout(Duration::ZERO)?;
        Ok(Self {
            connection: tokio::sync::Mutex::new(connection),
        })
    }

    /// Runs `change` in a write transaction and commits it; any error rolls it back.
    ///
    /// On a multi-threaded runtime it runs in `block_in_place`: the thread's other tasks move
    /// to another while the change waits on the database (a commit's fsync). On a one-thread
    /// runtime (a cluster link's connection thread) it runs inline, which costs no hand-off
    /// to another thread; there it must not wait for the write lock in place, since the sqlx
    /// transaction holding it may be a task of this very thread: it tries, and between tries
    /// lets the thread run.
    pub(crate) async fn change<T>(
        &self,
        change: impl FnOnce(&Transaction<'_>) -> Result<T, SessionError>,
    ) -> Result<T, SessionError> {
        let give_up = Instant::now() + WAIT;
        let connection = tokio::time::timeout(WAIT, self.connection.lock())
            .await
            .map_err(|_| {
                SessionError::Storage(format!(
                    "other session changes held the database for {WAIT:?}"
                ))
            })?;
        let one_thread = !tokio::runtime::Handle::try_current()
            .is_ok_and(|r| r.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if one_thread {
            let transaction = loop {
                if let Some(transaction) = begin(&connection, give_up)? {
                    break transaction;
                }
                tokio::time::sleep(WAIT_STEP).await;
            };
            return commit(transaction, change);
        }
        tokio::task::block_in_place(|| {
            let transaction = loop {
                if let Some(transaction) = begin(&connection, give_up)? {
                    break transaction;
                }
                std::thread::sleep(WAIT_STEP);
            };
            commit(transaction, change)
        })
    }
}

/// A write transaction (`BEGIN IMMEDIATE`); `None` while another connection holds the write
/// lock, and an error once it has held it past `give_up`.
fn begin(
    connection: &Connection,
    give_up: Instant,
) -> Result<Option<Transaction<'_>>, SessionError> {
    match Transaction::new_unchecked(connection, TransactionBehavior::Immediate) {
        Ok(transaction) => Ok(Some(transaction)),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
            if Instant::now() >= give_up {
                Err(SessionError::Storage(format!(
                    "the database stayed locked by another writer for {WAIT:?}"
                )))
            } else {
                Ok(None)
            }
        }
        Err(e) => Err(storage(e)),
    }
}

/// Runs `change` in `transaction` and commits it; an error rolls it back.
fn commit<T>(
    transaction: Transaction<'_>,
    change: impl FnOnce(&Transaction<'_>) -> Result<T, SessionError>,
) -> Result<T, SessionError> {
    let done = change(&transaction)?;
    transaction.commit().map_err(storage)?;
    Ok(done)
}

/// A failed statement, as the session store reports it.
pub(crate) fn storage(error: rusqlite::Error) -> SessionError {
    SessionError::Storage(error.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Db;

    /// On a one-thread runtime, a change that finds the write lock held by a sqlx
    /// transaction whose task runs on the same thread waits for it without holding the
    /// thread: the transaction goes on, commits, and the change follows. (Waiting in place
    /// would stop that task until the wait ran out, and the change would fail.)
    #[tokio::test(flavor = "current_thread")]
    async fn a_change_waits_for_a_writer_of_its_own_thread_without_stopping_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let writer = db.sqlite.clone().unwrap();
        let mut holding = db.begin_write().await.unwrap();
        let holder = async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            sqlx::query("CREATE TABLE held (x INTEGER)")
                .execute(&mut *holding)
                .await
                .unwrap();
            holding.commit().await.unwrap();
        };
        let change = writer.change(|tx| {
            tx.execute_batch("CREATE TABLE changed (x INTEGER)")
                .map_err(storage)
        });
        let ((), changed) = tokio::join!(holder, change);
        changed.unwrap();
    }
}
