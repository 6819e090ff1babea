//! What the SQLite and PostgreSQL tests share.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use postern_controller::sessions::conformance::dev_target_session;
use postern_controller::sessions::{
    SessionQuery, SessionRecord, SessionStore, DEFAULT_MAX_DURATION,
};
use postern_store::{Db, SealingKey, SqlSessions};
use std::sync::Arc;

/// A database at schema version 1 holding a session row as version 1 wrote it (no scope,
/// user or expiration columns) is migrated: the new columns are filled from the row's JSON,
/// so lists and the reaper find it.
pub async fn sessions_of_schema_1_are_migrated(db: Db) {
    assert_eq!(db.migrate_to(1).await.unwrap(), 1);
    let (key, key_bytes) = SealingKey::generate().unwrap();
    // A real record, in the form version 1 stored.
    let scratch = SessionStore::new();
    let new = dev_target_session(
        "tcp://127.0.0.1:22",
        22,
        vec!["127.0.0.1:9202".into()],
        1,
        DEFAULT_MAX_DURATION,
    );
    let session = scratch.authorize_session(new).await.unwrap().session;
    let record = SessionRecord {
        session: session.clone(),
        ending: None,
    };
    let (stored, secrets, _) = record.to_stored();
    let body = serde_json::to_string(&stored).unwrap();
    let sealed = key
        .seal(&session.id, &serde_json::to_vec(&secrets).unwrap())
        .unwrap();
    let created = session
        .created_time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_string();
    let inserted = db
        .execute_raw(
            "INSERT INTO sessions (id, status, created_ns, body, secrets) \
             VALUES ($1, $2, CAST($3 AS BIGINT), $4, $5)",
            &[&session.id, "pending", &created, &body, &sealed],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);

    db.migrate().await.unwrap();
    let key = SealingKey::from_bytes(&key_bytes).unwrap();
    let store = SessionStore::with_records(
        Arc::new(SqlSessions::new(db, key)),
        postern_authority::system_clock(),
    );
    let mine = SessionQuery {
        scope_ids: Some(vec![session.scope_id.clone()]),
        user_id: Some(session.user_id.clone()),
        ..SessionQuery::default()
    };
    let listed = store.list(&mine).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, session.id);
    // Its expiration came along: reaping after it times the session out.
    let after_expiry = session.expiration_time + std::time::Duration::from_secs(1);
    store
        .reap(session.expiration_time - std::time::Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(store.count(&mine).await.unwrap(), 1, "not expired yet");
    store.reap(after_expiry).await.unwrap();
    assert_eq!(
        store.count(&mine).await.unwrap(),
        0,
        "timed out and terminated"
    );
}
