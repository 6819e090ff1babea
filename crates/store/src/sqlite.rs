//! SQLite's connection for session changes: each change (its read, its writes and the
//! commit) runs whole on the calling thread, instead of as a statement-by-statement exchange
//! with a connection thread as sqlx's driver does, which costs a pair of thread wake-ups per
//! statement and made up most of a worker's connection setup on SQLite.
//!
//! It writes beside sqlx's writer connection. Both begin their write transactions
//! `IMMEDIATE` ([`crate::Db::begin_write`]), so neither reads a snapshot that the other's
//! commit then makes stale; one waits while the other commits.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use postern_controller::sessions::SessionError;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

/// How long a change waits for sqlx's writer before it fails, in steps of [`WAIT_STEP`].
const WAIT: Duration = Duration::from_secs(5);
const WAIT_STEP: Duration = Duration::from_micros(50);

/// SQLite's busy handler: sleeps a step and asks to try again, until [`WAIT`] is spent.
fn wait_a_step(tried: i32) -> bool {
    let tries = WAIT.as_micros() / WAIT_STEP.as_micros();
    std::thread::sleep(WAIT_STEP);
    u128::try_from(tried).is_ok_and(|tried| tried < tries)
}

/// The session changes' connection.
pub(crate) struct SqliteWriter {
    connection: Mutex<Connection>,
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
        // SQLite's own busy timeout sleeps a millisecond and more between tries; sqlx's writer
        // holds its lock for far less.
        connection.busy_handler(Some(wait_a_step))?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    /// Runs `change` in a write transaction and commits it; any error rolls it back. On a
    /// multi-threaded runtime the thread's other tasks move to another while the change
    /// waits on the database. On a one-thread runtime (a cluster link's connection thread)
    /// it runs inline: that thread's other calls wait for it, as they would for SQLite's one
    /// writer anyway, and the call costs no hand-off to another thread.
    pub(crate) fn change<T>(
        &self,
        change: impl FnOnce(&Transaction<'_>) -> Result<T, SessionError>,
    ) -> Result<T, SessionError> {
        let run = || {
            let mut connection = self
                .connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let transaction = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(storage)?;
            let done = change(&transaction)?;
            transaction.commit().map_err(storage)?;
            Ok(done)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime)
                if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread =>
            {
                tokio::task::block_in_place(run)
            }
            _ => run(),
        }
    }
}

/// A failed statement, as the session store reports it.
pub(crate) fn storage(error: rusqlite::Error) -> SessionError {
    SessionError::Storage(error.to_string())
}
