//! The cluster link in one process, over real mutual TLS on loopback: a worker's
//! `RemoteAuthority` against a controller's `ClusterService` over the session store. What the
//! end-to-end test cannot time closely: cancellations pushed, a close made while no controller
//! is reachable delivered once one is, the grace period, and a revoked certificate refused.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postern_authority::{
    AuthorityError, AuthorityEvent, ClosedReason, ConnectedInfo, ConnectionBytes, SessionAuthority,
    SessionStatus,
};
use postern_cluster::client::activate;
use postern_cluster::server::ServiceConfig;
use postern_cluster::{
    ClusterService, DirectoryError, LinkConfig, RemoteAuthority, WorkerDirectory,
    WorkerIdentityFiles,
};
use postern_controller::sessions::conformance::dev_target_session;
use postern_controller::sessions::SessionStore;
use postern_tls::cluster::{controller_server_config, ClusterCa};
use postern_wire::TofuToken;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// One worker's certificate, and whether it was deleted.
#[derive(Default)]
struct Directory {
    current: Mutex<Option<[u8; 32]>>,
    lost: Mutex<Vec<String>>,
}

impl WorkerDirectory for Directory {
    async fn activate(&self, worker_id: &str, sha: [u8; 32]) -> Result<(), DirectoryError> {
        let mut current = self.current.lock().unwrap();
        if current.is_some() {
            return Err(DirectoryError::AlreadyActivated(worker_id.to_owned()));
        }
        *current = Some(sha);
        Ok(())
    }

    async fn renew(&self, w: &str, from: [u8; 32], to: [u8; 32]) -> Result<(), DirectoryError> {
        let mut current = self.current.lock().unwrap();
        if *current != Some(from) {
            return Err(DirectoryError::NotFound(w.to_owned()));
        }
        *current = Some(to);
        Ok(())
    }

    async fn is_current(&self, _: &str, sha: [u8; 32]) -> Result<bool, DirectoryError> {
        Ok(*self.current.lock().unwrap() == Some(sha))
    }

    async fn worker_lost(&self, worker_id: &str) {
        self.lost.lock().unwrap().push(worker_id.to_owned());
    }
}

type Controller = (
    SocketAddr,
    CancellationToken,
    ClusterService<SessionStore, Directory>,
);

/// A controller's cluster listener on `addr` until the returned token is cancelled; a worker
/// that does not link again within 300 ms is lost.
async fn controller(
    addr: SocketAddr,
    store: &SessionStore,
    ca: &Arc<ClusterCa>,
    directory: &Arc<Directory>,
) -> Controller {
    let config = ServiceConfig {
        relink_grace: Duration::from_millis(300),
        ..ServiceConfig::default()
    };
    controller_with(config, addr, store, ca, directory).await
}

async fn controller_with(
    config: ServiceConfig,
    addr: SocketAddr,
    store: &SessionStore,
    ca: &Arc<ClusterCa>,
    directory: &Arc<Directory>,
) -> Controller {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let identity = ca.issue_controller(Duration::from_secs(3600)).unwrap();
    let tls = controller_server_config(ca.certificate_der(), &identity).unwrap();
    let shutdown = CancellationToken::new();
    let service = ClusterService::new(
        Arc::new(store.clone()),
        directory.clone(),
        ca.clone(),
        config,
        shutdown.clone(),
    );
    tokio::spawn(postern_cluster::serve(
        listener,
        tls,
        service.clone(),
        shutdown.clone(),
    ));
    (addr, shutdown, service)
}

async fn next_event(events: &mut broadcast::Receiver<AuthorityEvent>) -> AuthorityEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_carries_calls_cancels_and_late_closes_and_cuts_after_the_grace() {
    let store = SessionStore::new();
    let ca = Arc::new(ClusterCa::generate().unwrap());
    let directory = Arc::new(Directory::default());
    let unspecified = "127.0.0.1:0".parse().unwrap();
    let (addr, stop, service) = controller(unspecified, &store, &ca, &directory).await;

    let dir = tempfile::tempdir().unwrap();
    let files = WorkerIdentityFiles::new(dir.path());
    let mut config = LinkConfig::new(vec![addr.to_string()], "127.0.0.1:9202".into());
    config.grace = Duration::from_secs(1);
    config.backoff_min = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(200);
    config.call_timeout = Duration::from_secs(2);
    let token = service.activation_token("w_test", Duration::from_secs(60));
    let (identity, ca_der) = activate(&config, &token, &files).await.unwrap();
    // Spent: a second activation is refused.
    let again = activate(
        &config,
        &token,
        &WorkerIdentityFiles::new(dir.path().join("b")),
    )
    .await;
    assert!(again.unwrap_err().to_string().contains("already activated"));

    let shutdown = CancellationToken::new();
    let remote = RemoteAuthority::start(config, identity, ca_der, files, shutdown.clone()).unwrap();
    assert!(remote.linked(WAIT).await);
    let mut events = remote.events();

    // Every call of the contract crosses the link.
    let session = store
        .authorize_session(dev_target_session(
            "127.0.0.1",
            22,
            vec!["127.0.0.1:9202".into()],
            -1,
            Duration::from_secs(3600),
        ))
        .await
        .unwrap()
        .session
        .id;
    let found = remote.lookup_session(&session).await.unwrap().unwrap();
    assert_eq!(found.id, session);
    assert!(remote
        .lookup_session("s_nothere00")
        .await
        .unwrap()
        .is_none());
    let tofu = TofuToken::generate();
    remote.activate_session(&session, &tofu).await.unwrap();
    assert_eq!(
        remote
            .activate_session(&session, &TofuToken::generate())
            .await,
        Err(AuthorityError::TofuMismatch(session.clone()))
    );
    // Looked up again (from the worker's cache now), the session is active and pinned.
    let again = remote.lookup_session(&session).await.unwrap().unwrap();
    assert_eq!(again.status, SessionStatus::Active);
    assert!(again.tofu == Some(tofu.clone()));
    let connection = remote
        .authorize_connection(&session, "ignored")
        .await
        .unwrap()
        .connection_id;
    let info = ConnectedInfo {
        client: "127.0.0.1:50000".parse().unwrap(),
        endpoint: "127.0.0.1:22".parse().unwrap(),
    };
    remote
        .connection_connected(&connection, info)
        .await
        .unwrap();
    let bytes = |up, down| ConnectionBytes {
        connection_id: connection.clone(),
        bytes_up: up,
        bytes_down: down,
    };
    remote.connection_progress(vec![bytes(3, 4)]).await.unwrap();

    // A connection that ends before it was reported connected: its close carries the
    // addresses, and the controller records both.
    let short = remote
        .authorize_connection(&session, "ignored")
        .await
        .unwrap()
        .connection_id;
    let short_info = ConnectedInfo {
        client: "127.0.0.1:50001".parse().unwrap(),
        endpoint: "127.0.0.1:22".parse().unwrap(),
    };
    let short_bytes = ConnectionBytes {
        connection_id: short.clone(),
        bytes_up: 1,
        bytes_down: 2,
    };
    remote
        .connection_closed(short_bytes, ClosedReason::ClosedByEndUser, Some(short_info))
        .await
        .unwrap();
    let read = store.get(&session).await.unwrap().unwrap();
    let recorded = read.connections.iter().find(|c| c.id == short).unwrap();
    assert_eq!(
        (recorded.client, recorded.endpoint, recorded.closed_reason),
        (
            Some(short_info.client),
            Some(short_info.endpoint),
            Some(ClosedReason::ClosedByEndUser)
        )
    );

    // A cancel on the controller reaches the worker.
    store.cancel(&session, None).await.unwrap();
    assert_eq!(
        next_event(&mut events).await,
        AuthorityEvent::SessionCanceled(session.clone())
    );
    // ...and the worker forgets what it knew of the session.
    let canceled = remote.lookup_session(&session).await.unwrap().unwrap();
    assert_eq!(canceled.status, SessionStatus::Canceling);

    // The controller goes away: a close is kept, and after the grace the worker is told to
    // cut everything.
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    remote
        .connection_closed(bytes(5, 7), ClosedReason::Canceled, None)
        .await
        .unwrap();
    assert_eq!(next_event(&mut events).await, AuthorityEvent::Unreachable);
    let read = store.get(&session).await.unwrap().unwrap();
    assert!(read.connections[0].closed_reason.is_none());
    assert!(
        directory.lost.lock().unwrap().is_empty(),
        "a stopping controller does not close its workers' connections"
    );

    // It comes back on the same address: the worker links again, re-checks, and the kept
    // close lands with its final counts.
    let (_, stop, _) = controller(addr, &store, &ca, &directory).await;
    assert_eq!(next_event(&mut events).await, AuthorityEvent::Recheck);
    let mut read = store.get(&session).await.unwrap().unwrap();
    for _ in 0..100 {
        if read.connections[0].closed_reason.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        read = store.get(&session).await.unwrap().unwrap();
    }
    let closed = &read.connections[0];
    assert_eq!(closed.closed_reason, Some(ClosedReason::Canceled));
    assert_eq!((closed.bytes_up, closed.bytes_down), (5, 7));

    // Revoked (deleted, or another certificate): calls are refused, the link is cut.
    *directory.current.lock().unwrap() = None;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let refused = remote.lookup_session(&session).await;
    assert!(
        matches!(refused, Err(AuthorityError::Unavailable(_))),
        "{refused:?}"
    );
    stop.cancel();
    shutdown.cancel();
}

/// A certificate issued for 6 s is renewed about 4 s in: a new key and certificate are
/// stored, the worker links again with them, and calls keep working past the first one's
/// expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_renews_its_certificate_before_it_expires() {
    let store = SessionStore::new();
    let ca = Arc::new(ClusterCa::generate().unwrap());
    let directory = Arc::new(Directory::default());
    let config = ServiceConfig {
        certificate_validity: Duration::from_secs(6),
        ..ServiceConfig::default()
    };
    let unspecified = "127.0.0.1:0".parse().unwrap();
    let (addr, stop, service) = controller_with(config, unspecified, &store, &ca, &directory).await;
    let (remote, shutdown, dir) = started_worker(addr, &service).await;
    let first = std::fs::read(dir.path().join("worker.crt")).unwrap();
    assert!(remote.linked(WAIT).await);

    let renewed = tokio::time::timeout(WAIT, async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if std::fs::read(dir.path().join("worker.crt")).unwrap() != first {
                return;
            }
        }
    })
    .await;
    assert!(renewed.is_ok(), "the certificate was not renewed");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(remote.linked(WAIT).await);
    assert!(remote
        .lookup_session("s_nothere00")
        .await
        .unwrap()
        .is_none());
    stop.cancel();
    shutdown.cancel();
}

/// A worker activated on `service` and started with `upstream` alone, dialing again every
/// 50 ms or so; its identity files are in the returned directory.
async fn started_worker(
    upstream: SocketAddr,
    service: &ClusterService<SessionStore, Directory>,
) -> (RemoteAuthority, CancellationToken, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let files = WorkerIdentityFiles::new(dir.path());
    let mut config = LinkConfig::new(vec![upstream.to_string()], "127.0.0.1:9202".into());
    config.backoff_min = Duration::from_millis(50);
    let token = service.activation_token("w_test", Duration::from_secs(60));
    let (identity, ca_der) = activate(&config, &token, &files).await.unwrap();
    let shutdown = CancellationToken::new();
    let remote = RemoteAuthority::start(config, identity, ca_der, files, shutdown.clone()).unwrap();
    (remote, shutdown, dir)
}

/// Waits (bounded) until `check` holds, polling every 50 ms.
async fn until(what: &str, check: impl Fn() -> bool) {
    let waited = tokio::time::timeout(WAIT, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what}: not within {WAIT:?}");
}

/// `set_upstreams` (what SIGHUP applies): a worker linked to a controller that is no longer
/// among its upstreams leaves it at once for one that is, and an empty list is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_moves_to_its_new_upstreams() {
    let store = SessionStore::new();
    let ca = Arc::new(ClusterCa::generate().unwrap());
    let directory = Arc::new(Directory::default());
    let unspecified = "127.0.0.1:0".parse().unwrap();
    let (a, stop_a, service_a) = controller(unspecified, &store, &ca, &directory).await;
    let (b, stop_b, service_b) = controller(unspecified, &store, &ca, &directory).await;
    let (remote, shutdown, _dir) = started_worker(a, &service_a).await;
    let (linked_a, linked_b) = (service_a.linked(), service_b.linked());
    until("linked to a", || linked_a.get("w_test").is_some()).await;
    assert!(linked_b.list().is_empty());

    assert!(remote.set_upstreams(Vec::new()).is_err());
    remote.set_upstreams(vec![b.to_string()]).unwrap();
    until("moved to b", || {
        linked_b.get("w_test").is_some() && linked_a.get("w_test").is_none()
    })
    .await;
    assert!(remote
        .lookup_session("s_nothere00")
        .await
        .unwrap()
        .is_none());
    stop_a.cancel();
    stop_b.cancel();
    shutdown.cancel();
}

/// A TCP forwarder on loopback in front of `target`, counting the connections it carried.
async fn counting_forwarder(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, count)
}

/// A session in `store` that may carry any number of connections.
async fn any_session(store: &SessionStore) -> String {
    let session = dev_target_session(
        "127.0.0.1",
        22,
        vec!["127.0.0.1:9202".into()],
        -1,
        Duration::from_secs(3600),
    );
    let session = store.authorize_session(session).await.unwrap().session.id;
    store
        .activate_session(&session, &TofuToken::generate())
        .await
        .unwrap();
    session
}

/// Authorizes connections of `session` until `dialed` counts past `before` (a connection
/// of the calling thread's own was dialed), within [`WAIT`].
async fn call_until_dialed(
    remote: &RemoteAuthority,
    session: &str,
    dialed: &AtomicUsize,
    before: usize,
) {
    let calls = async {
        while dialed.load(Ordering::SeqCst) == before {
            remote
                .authorize_connection(session, "ignored")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, calls)
        .await
        .expect("the thread dials a connection of its own");
}

/// A connection thread (a runtime of one thread, as the worker's connections run on) calls
/// over a connection of its own to the linked controller, opened at its first call and kept;
/// when the link moves to another controller, so do its calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_thread_calls_over_its_own_connection_to_the_linked_controller() {
    let ca = Arc::new(ClusterCa::generate().unwrap());
    let directory = Arc::new(Directory::default());
    let unspecified = "127.0.0.1:0".parse().unwrap();
    let (store_a, store_b) = (SessionStore::new(), SessionStore::new());
    let (a, stop_a, service_a) = controller(unspecified, &store_a, &ca, &directory).await;
    let (b, stop_b, service_b) = controller(unspecified, &store_b, &ca, &directory).await;
    let ((to_a, dialed_a), (to_b, dialed_b)) =
        (counting_forwarder(a).await, counting_forwarder(b).await);
    let (remote, shutdown, _dir) = started_worker(to_a, &service_a).await;
    assert!(remote.linked(WAIT).await);
    let (on_a, on_b) = (any_session(&store_a).await, any_session(&store_b).await);
    let linked_b = service_b.linked();
    let dialed = |count: &Arc<AtomicUsize>| count.load(Ordering::SeqCst);
    // Activation and the link dialed A; the calls from the work-stealing runtime share the link.
    let before = dialed(&dialed_a);
    remote.authorize_connection(&on_a, "ignored").await.unwrap();
    assert_eq!(dialed(&dialed_a), before);

    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            // The first call starts the thread's own connection; calls go on meanwhile.
            call_until_dialed(&remote, &on_a, &dialed_a, before).await;
            // Then it keeps that one.
            for _ in 0..20 {
                remote.authorize_connection(&on_a, "ignored").await.unwrap();
            }
            assert_eq!(dialed(&dialed_a), before + 1);

            // The link moves to B: the thread's calls follow it, none to A's session.
            remote.set_upstreams(vec![to_b.to_string()]).unwrap();
            tokio::time::timeout(WAIT, async {
                while linked_b.get("w_test").is_none() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .expect("linked to b");
            let first_on_b = dialed(&dialed_b);
            call_until_dialed(&remote, &on_b, &dialed_b, first_on_b).await;
            remote.authorize_connection(&on_b, "ignored").await.unwrap();
            let on_a_now = remote.authorize_connection(&on_a, "ignored").await;
            assert!(
                matches!(on_a_now, Err(AuthorityError::SessionNotFound(_))),
                "{on_a_now:?}"
            );
            assert_eq!(dialed(&dialed_b), first_on_b + 1);
        });
    });
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .unwrap()
        .unwrap();
    stop_a.cancel();
    stop_b.cancel();
    shutdown.cancel();
}
