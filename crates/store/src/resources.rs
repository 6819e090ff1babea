//! [`ResourceRecords`] in SQL: a row per item (its JSON, and beside it an account's password
//! digest or a user's admin flag) and a row per auth token (its secret's SHA-256 only).
//!
//! Every change runs in one transaction that first bumps `resource_revision` (taking its row
//! lock: changes from every controller on the database run one at a time), reads the state
//! the revision before stands for, applies the change by the state's rules and writes the
//! items that differ. Each store keeps the newest state it saw with its revision, so a read
//! costs one query for the revision while nothing changes, and a change does not reload
//! what it already has.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postern_controller::resources::{
    AuthToken, Item, KindId, PasswordDigest, ResourceError, ResourceRecords, ResourceState,
    StateChange, StoredItem, TokenDigest, TokenRecord,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};

use crate::db::{Backend, Db};

/// Resources and auth tokens in a database.
#[derive(Debug)]
pub struct SqlResources {
    db: Db,
    /// The newest state this store has seen, and its revision.
    cache: Mutex<Option<(i64, Arc<ResourceState>)>>,
}

impl SqlResources {
    /// Resources in `db` (migrated).
    pub fn new(db: Db) -> Self {
        Self {
            db,
            cache: Mutex::new(None),
        }
    }

    fn cached(&self, revision: i64) -> Option<Arc<ResourceState>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match &*cache {
            Some((seen, state)) if *seen == revision => Some(Arc::clone(state)),
            _ => None,
        }
    }

    fn remember(&self, revision: i64, state: Arc<ResourceState>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // Never replace a newer state with an older one read concurrently.
        if cache.as_ref().is_none_or(|(seen, _)| *seen <= revision) {
            *cache = Some((revision, state));
        }
    }
}

#[async_trait]
impl ResourceRecords for SqlResources {
    async fn state(&self) -> Result<Arc<ResourceState>, ResourceError> {
        let mut conn = self.db.reads.acquire().await.map_err(store)?;
        let revision = current_revision(&mut conn).await?;
        drop(conn);
        if let Some(state) = self.cached(revision) {
            return Ok(state);
        }
        // The revision and the items from one snapshot of the database.
        let mut tx = self.db.reads.begin().await.map_err(store)?;
        if self.db.backend == Backend::Postgres {
            tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .await
                .map_err(store)?;
        }
        let revision = current_revision(&mut tx).await?;
        let state = Arc::new(load(&mut tx).await?);
        tx.commit().await.map_err(store)?;
        self.remember(revision, Arc::clone(&state));
        Ok(state)
    }

    async fn change(&self, change: StateChange<'_>) -> Result<(), ResourceError> {
        let mut tx = self.db.begin_write().await.map_err(store)?;
        // First the revision's row lock: from here on no other change runs.
        let row = sqlx::query(
            "UPDATE resource_revision SET revision = revision + 1 WHERE id = 1 \
             RETURNING revision",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(store)?;
        let revision: i64 = row.try_get(0).map_err(store)?;
        let before = match self.cached(revision - 1) {
            Some(state) => state,
            None => Arc::new(load(&mut tx).await?),
        };
        let mut after = ResourceState::clone(&before);
        // A refused change returns here and the transaction rolls back when dropped.
        change(&mut after)?;
        let (written, deleted) = before.changes(&after);
        for id in deleted {
            // The item's tokens go with it (ON DELETE CASCADE).
            sqlx::query("DELETE FROM resource_items WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(store)?;
        }
        for stored in written {
            let body = stored.item.to_json().map_err(|e| {
                ResourceError::Store(format!("cannot store {}: {e}", stored.item.id()))
            })?;
            sqlx::query(
                "INSERT INTO resource_items (id, kind, body, password, admin) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                 kind = excluded.kind, body = excluded.body, password = excluded.password, \
                 admin = excluded.admin",
            )
            .bind(stored.item.id())
            .bind(stored.item.kind().collection())
            .bind(body)
            .bind(stored.password.as_ref().map(|p| p.phc().to_owned()))
            .bind(i64::from(stored.admin))
            .execute(&mut *tx)
            .await
            .map_err(store)?;
        }
        tx.commit().await.map_err(store)?;
        self.remember(revision, Arc::new(after));
        Ok(())
    }

    async fn insert_token(&self, record: TokenRecord) -> Result<bool, ResourceError> {
        let token = &record.token;
        let inserted = sqlx::query(
            "INSERT INTO auth_tokens (id, user_id, account_id, auth_method_id, scope_id, \
             secret, created_ns, last_used_ns, expiration_ns) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(token.id.as_str())
        .bind(token.user_id.as_str())
        .bind(token.account_id.as_str())
        .bind(token.auth_method_id.as_str())
        .bind(token.scope_id.as_str())
        .bind(record.secret.to_hex())
        .bind(nanos(token.created_time))
        .bind(nanos(token.approximate_last_used_time))
        .bind(nanos(token.expiration_time))
        .execute(&self.db.pool)
        .await
        .map_err(|e| match e {
            // The user, account or auth method went while the password was checked.
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                ResourceError::Unauthenticated("authentication failed".into())
            }
            other => store(other),
        })?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, ResourceError> {
        let row = sqlx::query(
            "SELECT id, user_id, account_id, auth_method_id, scope_id, secret, created_ns, \
             last_used_ns, expiration_ns FROM auth_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.db.reads)
        .await
        .map_err(store)?;
        row.map(|row| token_record(&row)).transpose()
    }

    async fn token_used(&self, id: &str, at: DateTime<Utc>) -> Result<(), ResourceError> {
        sqlx::query("UPDATE auth_tokens SET last_used_ns = $1 WHERE id = $2")
            .bind(nanos(at))
            .bind(id)
            .execute(&self.db.pool)
            .await
            .map_err(store)?;
        Ok(())
    }

    async fn delete_token(&self, id: &str) -> Result<bool, ResourceError> {
        let deleted = sqlx::query("DELETE FROM auth_tokens WHERE id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await
            .map_err(store)?;
        Ok(deleted.rows_affected() == 1)
    }
}

async fn current_revision(conn: &mut AnyConnection) -> Result<i64, ResourceError> {
    let row = sqlx::query("SELECT revision FROM resource_revision WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
        .map_err(store)?;
    row.try_get(0).map_err(store)
}

/// Every item.
async fn load(conn: &mut AnyConnection) -> Result<ResourceState, ResourceError> {
    let rows = sqlx::query("SELECT id, kind, body, password, admin FROM resource_items")
        .fetch_all(&mut *conn)
        .await
        .map_err(store)?;
    let items = rows
        .iter()
        .map(stored_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ResourceState::from_stored(items))
}

fn stored_item(row: &AnyRow) -> Result<StoredItem, ResourceError> {
    let id: String = row.try_get(0).map_err(store)?;
    let kind: String = row.try_get(1).map_err(store)?;
    let body: String = row.try_get(2).map_err(store)?;
    let password: Option<String> = row.try_get(3).map_err(store)?;
    let admin: i64 = row.try_get(4).map_err(store)?;
    let kind = KindId::from_collection(&kind)
        .ok_or_else(|| corrupt(&id, format!("unknown kind {kind:?}")))?;
    let item = Item::from_json(kind, &body).map_err(|e| corrupt(&id, e.to_string()))?;
    if item.id() != id {
        return Err(corrupt(&id, format!("its body is item {}", item.id())));
    }
    Ok(StoredItem {
        item,
        password: password.map(PasswordDigest::from_phc),
        admin: admin != 0,
    })
}

fn token_record(row: &AnyRow) -> Result<TokenRecord, ResourceError> {
    let text = |index: usize| row.try_get::<String, _>(index).map_err(store);
    let time = |index: usize| row.try_get::<i64, _>(index).map(time).map_err(store);
    let id = text(0)?;
    let secret =
        TokenDigest::from_hex(&text(5)?).ok_or_else(|| corrupt(&id, "bad secret digest".into()))?;
    let created = time(6)?;
    Ok(TokenRecord {
        token: AuthToken {
            id,
            user_id: text(1)?,
            account_id: text(2)?,
            auth_method_id: text(3)?,
            scope_id: text(4)?,
            scope: Default::default(),
            token: String::new(),
            created_time: created,
            updated_time: created,
            approximate_last_used_time: time(7)?,
            expiration_time: time(8)?,
            authorized_actions: Vec::new(),
        },
        secret,
    })
}

/// Nanoseconds since the Unix epoch, saturating (at the year 2262).
fn nanos(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt()
        .unwrap_or(if time.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
}

fn time(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

fn store(error: sqlx::Error) -> ResourceError {
    ResourceError::Store(format!("database: {error}"))
}

fn corrupt(id: &str, what: String) -> ResourceError {
    ResourceError::Store(format!("stored item {id} is unreadable: {what}"))
}
