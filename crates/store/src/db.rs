//! The database: one URL picks the backend (`sqlite://PATH` or `postgres://...`), the schema
//! is created and upgraded by numbered migrations recorded in `postern_schema`, and a
//! database whose schema is newer than this build knows is refused.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`: a commit (a session authorized, a cancel)
//! is on disk before it is acknowledged, so neither a killed process nor a power loss undoes
//! it; a cancel that came back after a crash would reopen a session its user closed. Two
//! connections write: sqlx's, and the one session changes run on whole (`sqlite.rs`); each
//! write transaction takes the lock at its start, so neither fails on the other's commit. A
//! few read-only connections read beside them.

use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use crate::seal::{SealError, SealingKey};
use crate::sqlite::SqliteWriter;

/// What the key check row holds, sealed.
const KEY_CHECK: &[u8] = b"postern sealing key check";
const KEY_CHECK_ROW: &str = "sealing_key_check";

/// SQLite connections that only read.
const READERS: u32 = 4;

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Why the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL (use sqlite://PATH or postgres://...): {0}")]
    Url(String),
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot open the database: {0}")]
    OpenSqlite(#[source] rusqlite::Error),
    #[error("cannot create the database file {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the database's schema is version {found}, newer than this postern knows ({known}): upgrade postern")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("the database's schema is version {found}, older than this postern needs ({known}): run `postern database migrate`")]
    SchemaTooOld { found: i64, known: i64 },
    #[error("the sealing key does not open this database's secrets: it is another database's key, or the key file was replaced")]
    WrongKey,
    #[error("cannot seal: {0}")]
    Seal(#[from] SealError),
    #[error("cannot make the cluster CA: {0}")]
    ClusterCa(String),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// An open database.
#[derive(Debug, Clone)]
pub struct Db {
    /// Transactions and writes.
    pub(crate) pool: AnyPool,
    /// Reads outside a transaction's lock: on SQLite, read-only connections of their own
    /// (WAL lets them read while the writer commits); on PostgreSQL, `pool` itself.
    pub(crate) reads: AnyPool,
    pub(crate) backend: Backend,
    /// On SQLite, the connection session changes run on ([`SqliteWriter`]).
    pub(crate) sqlite: Option<Arc<SqliteWriter>>,
    /// Where a PostgreSQL listener connects (Debug shows it without its password).
    url: Url,
}

/// A database URL whose Debug hides the password.
#[derive(Clone)]
struct Url(String);

impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

/// The PostgreSQL channel a controller announces each cancel on.
pub(crate) const CANCELED_CHANNEL: &str = "postern_session_canceled";

/// What another controller on the same database announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// This session was canceled.
    Canceled(String),
    /// The listener lost its connection and listens again: announcements in between were
    /// missed.
    Missed,
}

impl Db {
    /// The cancels other controllers announce (PostgreSQL `LISTEN`), until the receiver is
    /// dropped; `None` on SQLite, which one process alone uses.
    pub async fn announcements(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<Announcement>>, DbError> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = sqlx::postgres::PgListener::connect(&self.url.0)
            .await
            .map_err(DbError::Connect)?;
        listener.listen(CANCELED_CHANNEL).await?;
        let (announce, announcements) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                let heard = match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        Announcement::Canceled(notification.payload().to_owned())
                    }
                    // Reconnects at the next call.
                    Ok(None) => Announcement::Missed,
                    Err(error) => {
                        tracing::warn!(%error, "listening for other controllers' cancels failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        Announcement::Missed
                    }
                };
                if announce.send(heard).await.is_err() {
                    return;
                }
            }
        });
        Ok(Some(announcements))
    }

    /// Opens `url`; an SQLite file is created when missing.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        // The SQLite file, made before sqlx opens it; `None` on PostgreSQL.
        let mut file = None;
        let (backend, url, options) = if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(DbError::Url(url.into()));
            }
            let url = if path.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            let path = path.split('?').next().unwrap_or(path);
            create_private(path)?;
            file = Some(path);
            // A local file's connection does not go stale: no ping (a round trip to its
            // thread) before each use.
            let options = AnyPoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                        Ok(())
                    })
                });
            (Backend::Sqlite, url, options)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (
                Backend::Postgres,
                url.to_owned(),
                AnyPoolOptions::new().max_connections(8),
            )
        } else {
            return Err(DbError::Url(redact(url)));
        };
        let pool = options.connect(&url).await.map_err(DbError::Connect)?;
        let reads = match backend {
            Backend::Postgres => pool.clone(),
            // After the writer: it made the file and switched it to WAL.
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(READERS)
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA query_only = ON; PRAGMA foreign_keys = ON; \
                             PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await
                .map_err(DbError::Connect)?,
        };
        let sqlite = match file {
            Some(path) => Some(Arc::new(
                SqliteWriter::open(path).map_err(DbError::OpenSqlite)?,
            )),
            None => None,
        };
        Ok(Self {
            pool,
            reads,
            backend,
            sqlite,
            url: Url(url),
        })
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
    /// a transaction that read first and wrote later would fail if the session changes'
    /// connection committed in between.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The schema version recorded in the database (0: none yet).
    pub async fn schema_version(&self) -> Result<i64, DbError> {
        self.pool
            .execute("CREATE TABLE IF NOT EXISTS postern_schema (version BIGINT NOT NULL)")
            .await?;
        let row: Option<AnyRow> = sqlx::query("SELECT MAX(version) FROM postern_schema")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .and_then(|row| row.try_get::<Option<i64>, _>(0).ok().flatten())
            .unwrap_or(0))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations the database lacks, each in its own transaction; refuses a
    /// schema newer than this build's.
    pub async fn migrate(&self) -> Result<i64, DbError> {
        self.migrate_to(SCHEMA_VERSION).await
    }

    /// Applies the migrations the database lacks up to `target` (an older schema than this
    /// build's: to test an upgrade from it); the schema version it is at after.
    pub async fn migrate_to(&self, target: i64) -> Result<i64, DbError> {
        let found = self.schema_version().await?;
        if found > SCHEMA_VERSION {
            return Err(DbError::SchemaTooNew {
                found,
                known: SCHEMA_VERSION,
            });
        }
        let target = target.min(SCHEMA_VERSION);
        for (version, statements) in migrations(self.backend) {
            if version <= found || version > target {
                continue;
            }
            let mut tx = self.begin_write().await?;
            for statement in &statements {
                tx.execute(statement.as_str()).await?;
            }
            sqlx::query("INSERT INTO postern_schema (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version, "database schema migrated");
        }
        Ok(found.max(target))
    }

    /// Runs one statement outside any store (tests: to write what an older postern wrote).
    pub async fn execute_raw(&self, sql: &str, values: &[&str]) -> Result<u64, DbError> {
        let mut query = sqlx::query(sql);
        for value in values {
            query = query.bind(*value);
        }
        Ok(query.execute(&self.pool).await?.rows_affected())
    }

    /// Upkeep after bulk changes: fresh planner statistics and, on SQLite, the write-ahead log
    /// folded back into the database file and emptied.
    pub async fn optimize(&self) -> Result<(), DbError> {
        if self.backend == Backend::Sqlite {
            self.pool.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
        self.pool.execute("ANALYZE").await?;
        Ok(())
    }

    /// Checks that `key` is the database's: the first key used seals a known value, every
    /// later one must open it. A wrong key would otherwise show only as sessions that do not
    /// open, mixed with ones sealed under it.
    pub async fn check_key(&self, key: &SealingKey) -> Result<(), DbError> {
        let sealed = key.seal(KEY_CHECK_ROW, KEY_CHECK)?;
        // Two controllers starting at once: the first insert wins, both check it.
        sqlx::query(
            "INSERT INTO sealing_key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        )
        .bind(sealed)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT sealed FROM sealing_key_check WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let stored: String = row.try_get(0)?;
        match key.open(KEY_CHECK_ROW, &stored) {
            Ok(opened) if opened == KEY_CHECK => Ok(()),
            _ => Err(DbError::WrongKey),
        }
    }

    /// The cluster CA (certificate DER, PKCS#8 key DER) every controller on this database
    /// shares: the first controller to ask stores the one `make` gives; every later one, and
    /// a loser of a race, gets that one.
    pub async fn cluster_ca(
        &self,
        key: &SealingKey,
        make: impl FnOnce() -> Result<(Vec<u8>, Vec<u8>), String>,
    ) -> Result<(Vec<u8>, Vec<u8>), DbError> {
        const CERTIFICATE_ROW: &str = "cluster_ca.certificate";
        const KEY_ROW: &str = "cluster_ca.key";
        let stored = sqlx::query("SELECT certificate, key FROM cluster_ca WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        let row = match stored {
            Some(row) => row,
            None => {
                let (certificate, ca_key) = make().map_err(DbError::ClusterCa)?;
                sqlx::query(
                    "INSERT INTO cluster_ca (id, certificate, key) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(key.seal(CERTIFICATE_ROW, &certificate)?)
                .bind(key.seal(KEY_ROW, &ca_key)?)
                .execute(&self.pool)
                .await?;
                sqlx::query("SELECT certificate, key FROM cluster_ca WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?
            }
        };
        let certificate: String = row.try_get(0)?;
        let sealed_key: String = row.try_get(1)?;
        let open = |row: &str, sealed: &str| key.open(row, sealed).map_err(|_| DbError::WrongKey);
        Ok((
            open(CERTIFICATE_ROW, &certificate)?,
            open(KEY_ROW, &sealed_key)?,
        ))
    }

    /// Publishes the statuses (`(worker id, JSON)`) of the workers linked to `controller_id`
    /// now, at `now_ns`: they replace what it published before (a worker no longer linked to
    /// it goes), and a worker another controller published moves to this one. Statuses
    /// nobody has renewed for an hour are deleted.
    pub async fn publish_worker_statuses(
        &self,
        controller_id: &str,
        statuses: &[(String, String)],
        now_ns: i64,
    ) -> Result<(), DbError> {
        const FORGOTTEN_AFTER_NS: i64 = 3600 * 1_000_000_000;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM worker_status WHERE controller_id = $1 OR reported_ns < $2")
            .bind(controller_id)
            .bind(now_ns.saturating_sub(FORGOTTEN_AFTER_NS))
            .execute(&mut *tx)
            .await?;
        for (worker_id, body) in statuses {
            sqlx::query(
                "INSERT INTO worker_status (worker_id, controller_id, body, reported_ns) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (worker_id) DO UPDATE SET \
                 controller_id = excluded.controller_id, body = excluded.body, \
                 reported_ns = excluded.reported_ns",
            )
            .bind(worker_id)
            .bind(controller_id)
            .bind(body)
            .bind(now_ns)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The statuses (their JSON) other controllers than `controller_id` published at
    /// `since_ns` or later.
    pub async fn worker_statuses(
        &self,
        controller_id: &str,
        since_ns: i64,
    ) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT body FROM worker_status WHERE controller_id <> $1 AND reported_ns >= $2 \
             ORDER BY worker_id",
        )
        .bind(controller_id)
        .bind(since_ns)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>(0).map_err(DbError::from))
            .collect()
    }

    /// Checks that the schema is exactly this build's.
    pub async fn check_schema(&self) -> Result<(), DbError> {
        let found = self.schema_version().await?;
        match found.cmp(&SCHEMA_VERSION) {
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Greater => Err(DbError::SchemaTooNew {
                found,
                known: SCHEMA_VERSION,
            }),
            std::cmp::Ordering::Less => Err(DbError::SchemaTooOld {
                found,
                known: SCHEMA_VERSION,
            }),
        }
    }
}

/// Migrations by version, for `backend`.
fn migrations(backend: Backend) -> Vec<(i64, Vec<String>)> {
    // The backends differ only in how an auto-numbered key is declared.
    let auto_key = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    vec![
        (1, v1(auto_key)),
        (2, v2(backend)),
        (3, v3()),
        (4, v4(backend)),
    ]
}

/// Workers' last statuses, each as the controller it is linked to publishes it (its JSON),
/// so every controller on the database may send sessions to every worker. Connections get a
/// `closed` column: a change to a session reads its open connections only, by index.
fn v4(backend: Backend) -> Vec<String> {
    let status = match backend {
        Backend::Sqlite => "json_extract(body, '$.status')",
        Backend::Postgres => "(body::json ->> 'status')",
    };
    vec![
        "CREATE TABLE worker_status (
            worker_id TEXT PRIMARY KEY,
            controller_id TEXT NOT NULL,
            body TEXT NOT NULL,
            reported_ns BIGINT NOT NULL
        )"
        .to_owned(),
        "ALTER TABLE connections ADD COLUMN closed BIGINT NOT NULL DEFAULT 0".to_owned(),
        format!("UPDATE connections SET closed = 1 WHERE {status} = 'closed'"),
        "CREATE INDEX connections_open ON connections (session_id, closed, ord)".to_owned(),
    ]
}

/// The cluster CA the controllers share (certificate and key, both sealed).
fn v3() -> Vec<String> {
    vec![
        "CREATE TABLE cluster_ca (id BIGINT PRIMARY KEY, certificate TEXT NOT NULL, key TEXT NOT NULL)"
            .to_owned(),
    ]
}

/// Sessions: one row each (the record as JSON, its secrets sealed) and one row per
/// connection. `seq` orders sessions created in the same nanosecond; times are nanoseconds
/// since the Unix epoch.
fn v1(auto_key: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE sessions (
                seq {auto_key},
                id TEXT NOT NULL UNIQUE,
                status TEXT NOT NULL,
                created_ns BIGINT NOT NULL,
                terminated_ns BIGINT,
                body TEXT NOT NULL,
                secrets TEXT NOT NULL
            )"
        ),
        "CREATE INDEX sessions_created ON sessions (created_ns, seq)".into(),
        "CREATE INDEX sessions_terminated ON sessions (terminated_ns)".into(),
        "CREATE TABLE connections (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            ord BIGINT NOT NULL,
            body TEXT NOT NULL
        )"
        .into(),
        "CREATE INDEX connections_session ON connections (session_id, ord)".into(),
    ]
}

/// Sessions get their scope and user as columns (lists select by them, by index).
/// Resources and auth tokens. Every item is a row (its JSON as the API shows it, and beside
/// it an account's password digest or a user's admin flag); `resource_revision` counts
/// changes, and every change takes its row lock first, so changes from several controllers
/// run one after another and each sees the one before. Tokens keep only their secret's
/// SHA-256 and go when their user, account or auth method does. `sealing_key_check` holds a
/// value sealed under the database's key, to refuse any other key.
fn v2(backend: Backend) -> Vec<String> {
    // Sessions gain the columns lists and the reaper select by, filled from the stored JSON
    // (a time there is {"secs_since_epoch", "nanos_since_epoch"}).
    let field = |name: &str| match backend {
        Backend::Sqlite => format!("json_extract(body, '$.{name}')"),
        Backend::Postgres => format!("(body::json ->> '{name}')"),
    };
    let nanos = |name: &str| match backend {
        Backend::Sqlite => format!(
            "(json_extract(body, '$.{name}.secs_since_epoch') * 1000000000 \
             + json_extract(body, '$.{name}.nanos_since_epoch'))"
        ),
        Backend::Postgres => format!(
            "((body::json -> '{name}' ->> 'secs_since_epoch')::bigint * 1000000000 \
             + (body::json -> '{name}' ->> 'nanos_since_epoch')::bigint)"
        ),
    };
    let sessions = [
        "ALTER TABLE sessions ADD COLUMN scope_id TEXT NOT NULL DEFAULT ''".to_owned(),
        "ALTER TABLE sessions ADD COLUMN user_id TEXT NOT NULL DEFAULT ''".to_owned(),
        "ALTER TABLE sessions ADD COLUMN expiration_ns BIGINT NOT NULL DEFAULT 0".to_owned(),
        format!(
            "UPDATE sessions SET scope_id = {}, user_id = {}, expiration_ns = {}",
            field("scope_id"),
            field("user_id"),
            nanos("expiration_time")
        ),
        "CREATE INDEX sessions_live_expiration ON sessions (expiration_ns) \
         WHERE status <> 'terminated'"
            .to_owned(),
        "CREATE INDEX sessions_scope ON sessions (scope_id, created_ns, seq)".to_owned(),
        // Most sessions are terminated history; lists usually want the live ones.
        "CREATE INDEX sessions_scope_live ON sessions (scope_id, created_ns, seq) \
         WHERE status <> 'terminated'"
            .to_owned(),
        "CREATE INDEX sessions_user ON sessions (user_id, created_ns, seq)".to_owned(),
    ];
    let resources = [
        "CREATE TABLE resource_revision (id BIGINT PRIMARY KEY, revision BIGINT NOT NULL)",
        "INSERT INTO resource_revision (id, revision) VALUES (1, 0)",
        "CREATE TABLE resource_items (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            password TEXT,
            admin BIGINT NOT NULL DEFAULT 0
        )",
        "CREATE TABLE auth_tokens (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES resource_items (id) ON DELETE CASCADE,
            account_id TEXT NOT NULL REFERENCES resource_items (id) ON DELETE CASCADE,
            auth_method_id TEXT NOT NULL REFERENCES resource_items (id) ON DELETE CASCADE,
            scope_id TEXT NOT NULL,
            secret TEXT NOT NULL,
            created_ns BIGINT NOT NULL,
            last_used_ns BIGINT NOT NULL,
            expiration_ns BIGINT NOT NULL
        )",
        "CREATE INDEX auth_tokens_user ON auth_tokens (user_id)",
        "CREATE INDEX auth_tokens_account ON auth_tokens (account_id)",
        "CREATE INDEX auth_tokens_auth_method ON auth_tokens (auth_method_id)",
        "CREATE INDEX auth_tokens_expiration ON auth_tokens (expiration_ns)",
        "CREATE TABLE sealing_key_check (id BIGINT PRIMARY KEY, sealed TEXT NOT NULL)",
    ];
    sessions
        .into_iter()
        .chain(resources.map(String::from))
        .collect()
}

/// Creates the SQLite file readable by its owner only (SQLite gives its journal files the
/// same mode), unless it exists: it holds password and token digests.
fn create_private(path: &str) -> Result<(), DbError> {
    use std::os::unix::fs::OpenOptionsExt;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(DbError::Create {
            path: path.to_owned(),
            source: e,
        }),
    }
}

/// Whether `url` names a database this build can use (`sqlite://PATH`, `postgres://...`).
pub fn check_url(url: &str) -> Result<Backend, DbError> {
    match url.strip_prefix("sqlite://") {
        Some("") => Err(DbError::Url(url.to_owned())),
        Some(_) => Ok(Backend::Sqlite),
        None if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Backend::Postgres)
        }
        None => Err(DbError::Url(redact(url))),
    }
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("mysql://u:secret@db:5432/x"),
            "mysql://u:***@db:5432/x"
        );
        assert_eq!(redact("mysql://db/x"), "mysql://db/x");
    }
}
