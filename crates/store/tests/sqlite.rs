//! The session lifecycle and resource conformance suites on SQLite, each case in a database
//! file of its own; and what only a file can show: records, resources and auth tokens
//! survive a reopen, and their secrets are not in it in the clear.

mod common;

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

mod resources {
    use std::sync::Arc;

    use postern_controller::resources::conformance::Open;
    use postern_controller::resources::{
        dev_seed, DevSeed, ResourceError, ResourceStore, Resources,
    };
    use postern_controller::sessions::Clock;
    use postern_store::{Db, SqlResources};

    struct Sqlite;

    #[async_trait::async_trait]
    impl Open for Sqlite {
        async fn open(
            &self,
            seed: &DevSeed,
            clock: Clock,
        ) -> Result<Arc<dyn ResourceStore>, ResourceError> {
            let failed = |e: &dyn std::fmt::Display| ResourceError::Store(e.to_string());
            let dir = tempfile::tempdir().map_err(|e| failed(&e))?.keep();
            let url = format!("sqlite://{}", dir.join("postern.db").display());
            let db = Db::connect(&url).await.map_err(|e| failed(&e))?;
            db.migrate().await.map_err(|e| failed(&e))?;
            let store = Resources::open(Arc::new(SqlResources::new(db)), clock).await?;
            store.apply_seed(dev_seed(seed)).await?;
            Ok(Arc::new(store))
        }
    }

    postern_controller::resource_store_conformance!(Sqlite);
}

/// Resources and auth tokens are in the file, a reopened store finds them, and neither a
/// password nor a token secret is in the file in the clear.
#[tokio::test]
async fn resources_and_tokens_survive_a_reopen_hashed() {
    use postern_controller::resources::{
        dev_seed, DevSeed, ResourceStore, Resources, Target, TargetPatch, DEV_AUTH_METHOD_ID,
        DEV_TARGET_ID,
    };
    use postern_store::SqlResources;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let open = || async {
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let records = Arc::new(SqlResources::new(db));
        Resources::open(records, postern_authority::system_clock())
            .await
            .unwrap()
    };
    let seed = DevSeed {
        password: "a-long-dev-password".into(),
        ..DevSeed::default()
    };

    let store = open().await;
    assert!(store.is_blank().await.unwrap());
    store.apply_seed(dev_seed(&seed)).await.unwrap();
    let store: Arc<dyn ResourceStore> = Arc::new(store);
    let token = store
        .authenticate(DEV_AUTH_METHOD_ID, "admin", "a-long-dev-password")
        .await
        .unwrap();
    let target: Target = store.get_as(DEV_TARGET_ID).await.unwrap();
    let patch = TargetPatch {
        description: Some("changed before the restart".into()),
        ..TargetPatch::default()
    };
    let changed = store
        .update_as::<Target>(DEV_TARGET_ID, target.version, patch)
        .await
        .unwrap();
    drop(store);

    let reopened = open().await;
    assert!(!reopened.is_blank().await.unwrap());
    let store: Arc<dyn ResourceStore> = Arc::new(reopened);
    let read: Target = store.get_as(DEV_TARGET_ID).await.unwrap();
    assert_eq!(read, changed);
    let principal = store.principal(&token.token).await.unwrap();
    assert_eq!(principal.user_id, token.user_id);
    // The admin's role came back too.
    assert!(postern_controller::resources::conformance::may_delete_dev_target(&principal));
    store.logout(&token.id).await.unwrap();
    assert!(store.principal(&token.token).await.is_err());
    let again = store
        .authenticate(DEV_AUTH_METHOD_ID, "admin", "a-long-dev-password")
        .await
        .unwrap();
    drop(store);

    let mut file = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        file.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&file);
    assert!(text.contains(DEV_TARGET_ID) && text.contains(&again.id));
    assert!(text.contains("$argon2id$"), "passwords are stored hashed");
    assert!(!text.contains("a-long-dev-password"));
    let secret = again.token.rsplit('_').next().unwrap();
    assert!(!text.contains(secret), "token secrets are stored hashed");
}

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

/// The first key seals a check value; another key is refused by name.
#[tokio::test]
async fn another_databases_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let (key, bytes) = SealingKey::generate().unwrap();
    db.check_key(&key).await.unwrap();
    db.check_key(&SealingKey::from_bytes(&bytes).unwrap())
        .await
        .unwrap();
    let (other, _) = SealingKey::generate().unwrap();
    let refused = db.check_key(&other).await.unwrap_err().to_string();
    assert!(refused.contains("another database's key"), "{refused}");
}

/// Sessions authorized at once go through the group commit: every one is stored once, and
/// each caller gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_authorized_at_once_are_all_stored() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let (key, _) = SealingKey::generate().unwrap();
    let store = SessionStore::with_records(
        Arc::new(SqlSessions::new(db, key)),
        postern_authority::system_clock(),
    );
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let new = dev_target_session(
                "tcp://127.0.0.1:22",
                22,
                vec!["127.0.0.1:9202".into()],
                1,
                DEFAULT_MAX_DURATION,
            );
            store.authorize_session(new).await.unwrap().session.id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let every = postern_controller::sessions::SessionQuery {
        include_terminated: true,
        ..Default::default()
    };
    let mut stored: Vec<String> = store
        .list(&every)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    stored.sort();
    ids.sort();
    assert_eq!(stored, ids);
    assert_eq!(store.count(&every).await.unwrap(), 40);
}

#[tokio::test]
async fn sessions_of_schema_1_are_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    common::sessions_of_schema_1_are_migrated(Db::connect(&url).await.unwrap()).await;
}

/// Workers' statuses as controllers publish them: each controller's replace its own, a
/// worker moves with its link, stale ones are not read, and a controller reads only the
/// others'.
#[tokio::test]
async fn worker_statuses_are_shared_between_controllers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let status = |id: &str, body: &str| (id.to_owned(), body.to_owned());
    db.publish_worker_statuses("a", &[status("w_1", "1@a"), status("w_2", "2@a")], 100)
        .await
        .unwrap();
    db.publish_worker_statuses("b", &[status("w_3", "3@b")], 100)
        .await
        .unwrap();
    assert_eq!(db.worker_statuses("b", 100).await.unwrap(), ["1@a", "2@a"]);
    assert_eq!(db.worker_statuses("a", 100).await.unwrap(), ["3@b"]);
    // w_2 moves to b; w_1 is no longer linked to a.
    db.publish_worker_statuses("b", &[status("w_2", "2@b"), status("w_3", "3@b")], 200)
        .await
        .unwrap();
    db.publish_worker_statuses("a", &[], 200).await.unwrap();
    assert_eq!(db.worker_statuses("a", 150).await.unwrap(), ["2@b", "3@b"]);
    assert!(db.worker_statuses("b", 0).await.unwrap().is_empty());
    // Not renewed since 200: stale at 201.
    assert!(db.worker_statuses("a", 201).await.unwrap().is_empty());
}
