//! The session lifecycle conformance suite (`sessions::conformance`) on SQLite, each case in a
//! database file of its own; and what only a file can show: records survive a reopen, and
//! their secrets are not in it in the clear.

use std::sync::Arc;

use postern_controller::sessions::conformance::{dev_target_session, Open};
use postern_controller::sessions::{
    SessionError, SessionRecords, SessionStore, DEFAULT_MAX_DURATION,
};
use postern_store::{Db, SealingKey, SqlSessions, SCHEMA_VERSION};

struct Sqlite;

#[async_trait::async_trait]
impl Open for Sqlite {
    async fn open(&self) -> Result<Arc<dyn SessionRecords>, SessionError> {
        let failed = |e: &dyn std::fmt::Display| SessionError::Storage(e.to_string());
        // The directory lives as long as the test process; each case has its own.
        let dir = tempfile::tempdir().map_err(|e| failed(&e))?.keep();
        let url = format!("sqlite://{}", dir.join("postern.db").display());
        let db = Db::connect(&url).await.map_err(|e| failed(&e))?;
        db.migrate().await.map_err(|e| failed(&e))?;
        let (key, _) = SealingKey::generate().map_err(|e| failed(&e))?;
        Ok(Arc::new(SqlSessions::new(db, key)))
    }
}

postern_controller::session_records_conformance!(Sqlite);

#[tokio::test]
async fn sessions_survive_a_reopen_and_their_secrets_are_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("postern.db");
    let url = format!("sqlite://{}", path.display());
    let (_, key_bytes) = SealingKey::generate().unwrap();
    let open = || async {
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let key = SealingKey::from_bytes(&key_bytes).unwrap();
        SessionStore::with_records(
            Arc::new(SqlSessions::new(db, key)),
            postern_authority::system_clock(),
        )
    };

    let store = open().await;
    let new = dev_target_session(
        "tcp://127.0.0.1:22",
        22,
        vec!["127.0.0.1:9202".into()],
        2,
        DEFAULT_MAX_DURATION,
    );
    let authorization = store.authorize_session(new).await.unwrap();
    let id = authorization.session.id.clone();
    let key_hex: String = authorization
        .session
        .credentials()
        .private_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    drop(store);

    let store = open().await;
    let read = store
        .get(&id)
        .await
        .unwrap()
        .expect("the session is still there");
    assert_eq!(read.version, authorization.session.version);
    assert_eq!(
        read.credentials().private_key().as_bytes(),
        authorization.session.credentials().private_key().as_bytes()
    );
    assert_eq!(read.connection_limit.wire(), 2);

    // The database and its write-ahead log, where recent commits may still be.
    let mut file = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        file.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&file);
    assert!(text.contains(&id), "the session row is in the files");
    assert!(!text.contains(&key_hex));
    let key = authorization.session.credentials().private_key().as_bytes();
    assert!(!file.windows(key.len()).any(|w| w == key));
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(db.schema_version().await.unwrap(), 0);
    assert!(db
        .check_schema()
        .await
        .unwrap_err()
        .to_string()
        .contains("postern database migrate"));
    db.migrate().await.unwrap();
    db.check_schema().await.unwrap();
    assert_eq!(
        db.migrate().await.unwrap(),
        SCHEMA_VERSION,
        "migrating twice is a no-op"
    );

    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO postern_schema (version) VALUES ($1)")
        .bind(SCHEMA_VERSION + 1)
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    let refused = db.migrate().await.unwrap_err().to_string();
    assert!(
        refused.contains("newer than this postern knows"),
        "{refused}"
    );
    assert!(db.check_schema().await.is_err());
    assert!(Db::connect("mysql://u:secret@db/x")
        .await
        .unwrap_err()
        .to_string()
        .contains("u:***@"));
}
