//! The session lifecycle and resource conformance suites on PostgreSQL: each case gets a
//! throwaway cluster of its own (Debian's `initdb`/`pg_ctl`, on 127.0.0.1 and a free port, as
//! the `postgres` user when the tests run as root), stopped and deleted when the case's
//! records are dropped. Two stores on one cluster stand in for two controllers.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use postern_controller::sessions::conformance::{dev_target_session, Open};
use postern_controller::sessions::{
    RecordChange, RecordVisit, Session, SessionError, SessionQuery, SessionRecord, SessionRecords,
    SessionStore, DEFAULT_MAX_DURATION,
};
use postern_store::cluster::Cluster;
use postern_store::{Db, SealingKey, SqlSessions};

/// Records that keep their cluster alive.
struct OnCluster {
    records: SqlSessions,
    _cluster: Arc<Cluster>,
}

#[async_trait]
impl SessionRecords for OnCluster {
    async fn insert(&self, record: SessionRecord) -> Result<bool, SessionError> {
        self.records.insert(record).await
    }
    async fn read(&self, id: &str, visit: RecordVisit<'_>) -> Result<bool, SessionError> {
        self.records.read(id, visit).await
    }
    async fn list(&self, query: &SessionQuery) -> Result<Vec<Session>, SessionError> {
        self.records.list(query).await
    }
    async fn count(&self, query: &SessionQuery) -> Result<usize, SessionError> {
        self.records.count(query).await
    }
    async fn update(&self, id: &str, change: RecordChange<'_>) -> Result<(), SessionError> {
        self.records.update(id, change).await
    }
    async fn update_by_connection(
        &self,
        connection_id: &str,
        change: RecordChange<'_>,
    ) -> Result<(), SessionError> {
        self.records
            .update_by_connection(connection_id, change)
            .await
    }
    async fn update_live(
        &self,
        expired_by: Option<SystemTime>,
        change: RecordChange<'_>,
    ) -> Result<(), SessionError> {
        self.records.update_live(expired_by, change).await
    }
    async fn delete_terminated(&self, cutoff: SystemTime) -> Result<usize, SessionError> {
        self.records.delete_terminated(cutoff).await
    }
}

async fn records_on(cluster: &Arc<Cluster>, key: &[u8]) -> Result<OnCluster, String> {
    let db = Db::connect(&cluster.url())
        .await
        .map_err(|e| e.to_string())?;
    db.migrate().await.map_err(|e| e.to_string())?;
    let key = SealingKey::from_bytes(key).map_err(|e| e.to_string())?;
    Ok(OnCluster {
        records: SqlSessions::new(db, key),
        _cluster: Arc::clone(cluster),
    })
}

struct Postgres;

#[async_trait]
impl Open for Postgres {
    async fn open(&self) -> Result<Arc<dyn SessionRecords>, SessionError> {
        let failed = |e: String| SessionError::Storage(e);
        let cluster = Arc::new(
            tokio::task::spawn_blocking(Cluster::start)
                .await
                .map_err(|e| failed(e.to_string()))?
                .map_err(failed)?,
        );
        let (_, key) = SealingKey::generate().map_err(|e| failed(e.to_string()))?;
        Ok(Arc::new(records_on(&cluster, &key).await.map_err(failed)?))
    }
}

postern_controller::session_records_conformance!(Postgres);

/// Two controllers on one database, 20 clients racing for connections of one session with a
/// limit of 3: exactly 3 are admitted.
#[tokio::test]
async fn two_controllers_admit_exactly_the_connection_limit() {
    let cluster = cluster().await;
    let (_, key) = SealingKey::generate().unwrap();
    let stores: Vec<SessionStore> = [
        records_on(&cluster, &key).await.unwrap(),
        records_on(&cluster, &key).await.unwrap(),
    ]
    .into_iter()
    .map(|records| SessionStore::with_records(Arc::new(records), postern_authority::system_clock()))
    .collect();
    let new = dev_target_session(
        "tcp://127.0.0.1:22",
        22,
        vec!["127.0.0.1:9202".into()],
        3,
        DEFAULT_MAX_DURATION,
    );
    let id = stores[0].authorize_session(new).await.unwrap().session.id;
    let tofu = postern_wire::TofuToken::generate();
    use postern_authority::SessionAuthority;
    stores[1].activate_session(&id, &tofu).await.unwrap();

    let mut racers = Vec::new();
    for n in 0..20 {
        let store = stores[n % 2].clone();
        let id = id.clone();
        racers.push(tokio::spawn(async move {
            store
                .authorize_connection(&id, "w_1234567890")
                .await
                .is_ok()
        }));
    }
    let mut admitted = 0;
    for racer in racers {
        admitted += usize::from(racer.await.unwrap());
    }
    assert_eq!(admitted, 3);
    let session = stores[0].get(&id).await.unwrap().unwrap();
    assert_eq!(session.connections.len(), 3);
}

async fn cluster() -> Arc<Cluster> {
    Arc::new(
        tokio::task::spawn_blocking(Cluster::start)
            .await
            .unwrap()
            .unwrap(),
    )
}

mod resources {
    use std::sync::Arc;

    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use postern_controller::resources::conformance::{may_delete_dev_target, Open};
    use postern_controller::resources::{
        dev_seed, Change, DevSeed, KindId, NewRole, NewTarget, ResourceError, ResourceRecords,
        ResourceState, ResourceStore, Resources, Role, StateChange, Target, TargetPatch,
        TokenRecord, DEV_AUTH_METHOD_ID, DEV_PROJECT_ID, DEV_TARGET_ID,
    };
    use postern_controller::sessions::Clock;
    use postern_store::{Db, SqlResources};

    use super::{cluster, Cluster};

    /// Records that keep their cluster alive.
    struct OnCluster {
        records: SqlResources,
        _cluster: Arc<Cluster>,
    }

    #[async_trait]
    impl ResourceRecords for OnCluster {
        async fn state(&self) -> Result<Arc<ResourceState>, ResourceError> {
            self.records.state().await
        }
        async fn change(&self, change: StateChange<'_>) -> Result<(), ResourceError> {
            self.records.change(change).await
        }
        async fn insert_token(&self, token: TokenRecord) -> Result<bool, ResourceError> {
            self.records.insert_token(token).await
        }
        async fn token(&self, id: &str) -> Result<Option<TokenRecord>, ResourceError> {
            self.records.token(id).await
        }
        async fn token_used(&self, id: &str, at: DateTime<Utc>) -> Result<(), ResourceError> {
            self.records.token_used(id, at).await
        }
        async fn delete_token(&self, id: &str) -> Result<bool, ResourceError> {
            self.records.delete_token(id).await
        }
    }

    /// A controller's resources on `cluster`.
    async fn resources_on(cluster: &Arc<Cluster>, clock: Clock) -> Resources {
        let db = Db::connect(&cluster.url()).await.unwrap();
        db.migrate().await.unwrap();
        let records = OnCluster {
            records: SqlResources::new(db),
            _cluster: Arc::clone(cluster),
        };
        Resources::open(Arc::new(records), clock).await.unwrap()
    }

    struct Postgres;

    #[async_trait]
    impl Open for Postgres {
        async fn open(
            &self,
            seed: &DevSeed,
            clock: Clock,
        ) -> Result<Arc<dyn ResourceStore>, ResourceError> {
            let store = resources_on(&cluster().await, clock).await;
            store.apply_seed(dev_seed(seed)).await?;
            Ok(Arc::new(store))
        }
    }

    postern_controller::resource_store_conformance!(Postgres);

    /// Two controllers on one database: each sees the other's changes at once, a version one
    /// of them bumped is stale for the other, and of many creates racing for one name from
    /// both, exactly one wins. A login on one is a token on the other.
    #[tokio::test]
    async fn two_controllers_share_resources_names_and_tokens() {
        let cluster = cluster().await;
        let clock = postern_authority::system_clock();
        let a = resources_on(&cluster, clock.clone()).await;
        a.apply_seed(dev_seed(&DevSeed::default())).await.unwrap();
        let b = resources_on(&cluster, clock).await;
        let (a, b): (Arc<dyn ResourceStore>, Arc<dyn ResourceStore>) = (Arc::new(a), Arc::new(b));

        let target: Target = b.get_as(DEV_TARGET_ID).await.unwrap();
        let rename = |name: &str| TargetPatch {
            name: Some(name.into()),
            ..TargetPatch::default()
        };
        a.update_as::<Target>(DEV_TARGET_ID, target.version, rename("from a"))
            .await
            .unwrap();
        let stale = b
            .update_as::<Target>(DEV_TARGET_ID, target.version, rename("from b"))
            .await;
        assert!(
            matches!(stale, Err(ResourceError::StaleVersion { .. })),
            "{stale:?}"
        );
        let seen: Target = b.get_as(DEV_TARGET_ID).await.unwrap();
        assert_eq!(seen.name, "from a");

        let mut racers = Vec::new();
        for n in 0..10 {
            let store = Arc::clone(if n % 2 == 0 { &a } else { &b });
            racers.push(tokio::spawn(async move {
                let new = NewTarget {
                    scope_id: DEV_PROJECT_ID.into(),
                    name: "contested".into(),
                    default_port: Some(22),
                    address: Some("127.0.0.1".into()),
                    ..NewTarget::default()
                };
                store.create_as::<Target>(new).await
            }));
        }
        let mut created = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(_) => created += 1,
                Err(ResourceError::Conflict(_)) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(created, 1);
        let targets = a.list_as::<Target>(DEV_PROJECT_ID, false).await.unwrap();
        assert_eq!(targets.iter().filter(|t| t.name == "contested").count(), 1);

        let token = a
            .authenticate(DEV_AUTH_METHOD_ID, "admin", "password")
            .await
            .unwrap();
        let principal = b.principal(&token.token).await.unwrap();
        assert!(
            may_delete_dev_target(&principal),
            "the admin's role is shared"
        );
        b.logout(&token.id).await.unwrap();
        assert!(a.principal(&token.token).await.is_err());

        // A role changed on one controller decides the next request on the other.
        let user = b
            .authenticate(DEV_AUTH_METHOD_ID, "user", "password")
            .await
            .unwrap();
        let may_delete = |store: Arc<dyn ResourceStore>| {
            let token = user.token.clone();
            async move { may_delete_dev_target(&store.principal(&token).await.unwrap()) }
        };
        assert!(!may_delete(Arc::clone(&b)).await);
        let role = a
            .create_as::<Role>(NewRole {
                scope_id: DEV_PROJECT_ID.into(),
                ..NewRole::default()
            })
            .await
            .unwrap();
        let grants = ["ids=*;type=target;actions=delete".to_owned()];
        let principals = ["u_0987654321".to_owned()];
        a.change_members(
            KindId::Role,
            &role.id,
            1,
            Change::Set,
            "grant_strings",
            &grants,
        )
        .await
        .unwrap();
        a.change_members(
            KindId::Role,
            &role.id,
            2,
            Change::Set,
            "principal_ids",
            &principals,
        )
        .await
        .unwrap();
        assert!(
            may_delete(Arc::clone(&b)).await,
            "granted through the other controller"
        );
        a.delete_as::<Role>(&role.id).await.unwrap();
        assert!(
            !may_delete(Arc::clone(&b)).await,
            "revoked through the other controller"
        );
    }
}

#[tokio::test]
async fn sessions_of_schema_1_are_migrated() {
    let cluster = cluster().await;
    common::sessions_of_schema_1_are_migrated(Db::connect(&cluster.url()).await.unwrap()).await;
}
