//! A controller, with a worker in the same process or not, on given stores and listeners:
//! what `postern dev` and `postern server` run once they have made their stores. A worker in
//! the process asks the in-process session store (its `SessionAuthority`); with a cluster
//! listener, remote workers link to it (`postern-cluster`) and are sent sessions too. A
//! reaper times sessions out and deletes old ones; with a database, an upkeep task keeps it
//! tidy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_authority::AuthorityEvent;
use postern_cluster::server::ServiceConfig;
use postern_cluster::ClusterService;
use postern_cluster::{LinkedWorker, LinkedWorkers};
use postern_controller::api::{router, ApiState};
use postern_controller::resources::ResourceStore;
use postern_controller::sessions::SessionStore;
use postern_controller::workers::{
    LinkedElsewhere, StoredWorkers, WorkerPool, ACTIVATION_TOKEN_VALIDITY,
};
use postern_store::{Announcement, Backend, Db};
use postern_tls::cluster::ClusterCa;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::database;
use crate::ops::{time_api_request, ApiMetrics};
use prometheus_client::metrics::gauge::Gauge;

/// A listener that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen for the {what} on {addr}: {source}")]
pub struct BindError {
    what: &'static str,
    addr: SocketAddr,
    #[source]
    source: std::io::Error,
}

/// Binds the listener of `what` (named in the error) on `addr`.
pub async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { what, addr, source })
}

/// What a node serves.
pub struct Node {
    pub resources: Arc<dyn ResourceStore>,
    pub sessions: SessionStore,
    /// The database the stores are on, if any (for its upkeep).
    pub db: Option<Db>,
    pub api_listener: TcpListener,
    /// The in-process worker's listener; `None`: only remote workers.
    pub proxy_listener: Option<TcpListener>,
    /// Where remote workers link, and the CA they trust.
    pub cluster: Option<ClusterListener>,
    /// The worker's address as clients dial it, put in session tokens; `None`: the proxy
    /// listener's own address.
    pub public_address: Option<String>,
    /// The in-process worker's limits and metrics (its other settings are the defaults).
    pub worker: postern_worker::WorkerConfig,
    /// Timing of the API's requests, and the linked workers.
    pub metrics: ApiMetrics,
    /// How long terminated sessions are kept.
    pub retention: Duration,
}

/// When a node stops. On `drain` the in-process worker closes its listener and is sent no
/// new sessions, its live connections run until they end or `cut`, and the node stops once
/// they are done; a node without a worker stops at `drain`.
#[derive(Debug, Clone)]
pub struct Stop {
    pub drain: CancellationToken,
    pub cut: CancellationToken,
}

impl Stop {
    /// Stops at `token`, cutting live connections at once.
    pub fn at(token: CancellationToken) -> Self {
        Self {
            drain: token.clone(),
            cut: token,
        }
    }
}

/// The cluster listener of a controller.
pub struct ClusterListener {
    pub listener: TcpListener,
    pub ca: ClusterCa,
}

/// How long a controller's cluster certificate is valid; it is made anew at every start.
const CONTROLLER_CERTIFICATE_VALIDITY: Duration = Duration::from_secs(397 * 24 * 3600);

/// The bound addresses, for a banner.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub api: SocketAddr,
    pub proxy: Option<SocketAddr>,
    pub cluster: Option<SocketAddr>,
}

impl Node {
    pub fn bound(&self) -> std::io::Result<Bound> {
        Ok(Bound {
            api: self.api_listener.local_addr()?,
            proxy: self
                .proxy_listener
                .as_ref()
                .map(TcpListener::local_addr)
                .transpose()?,
            cluster: self
                .cluster
                .as_ref()
                .map(|c| c.listener.local_addr())
                .transpose()?,
        })
    }

    /// Serves until `stop` says, then waits for the worker and the background tasks.
    pub async fn serve(self, stop: Stop) -> std::io::Result<()> {
        let bound = self.bound()?;
        // Everything but the in-process worker stops on this; with a worker, once it is done.
        let shutdown = CancellationToken::new();
        let mut tasks = vec![(
            "session reaper",
            tokio::spawn(reap(
                self.sessions.clone(),
                self.retention,
                shutdown.clone(),
            )),
        )];
        let mut local = Vec::new();
        if let (Some(listener), Some(proxy)) = (self.proxy_listener, bound.proxy) {
            let worker = postern_worker::serve_until(
                listener,
                Arc::new(self.sessions.clone()),
                self.worker,
                stop.drain.clone(),
                stop.cut.clone(),
            );
            let done = shutdown.clone();
            tasks.push((
                "worker",
                tokio::spawn(async move {
                    worker.await;
                    done.cancel();
                }),
            ));
            local.push(self.public_address.unwrap_or_else(|| proxy.to_string()));
        } else {
            let (drain, done) = (stop.drain.clone(), shutdown.clone());
            tokio::spawn(async move {
                drain.cancelled().await;
                done.cancel();
            });
        }
        // A draining worker in this process is sent no new sessions.
        let mut workers = WorkerPool::fixed(local).with_local_drain(stop.drain);
        let mut linked_here = None;
        if let Some(cluster) = self.cluster {
            // Unique among the controllers on a database: they publish statuses under it.
            let started = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            let controller_id = format!(
                "controller@{}/{}.{}",
                cluster.listener.local_addr()?,
                std::process::id(),
                started.as_nanos()
            );
            let (pool, linked, task) = serve_cluster(
                cluster,
                &self.resources,
                &self.sessions,
                &controller_id,
                workers,
                self.metrics.linked_workers.clone(),
                shutdown.clone(),
            )?;
            workers = pool;
            linked_here = Some((controller_id, linked));
            tasks.push(("cluster listener", task));
        }
        if let Some(db) = self.db {
            // Controllers sharing PostgreSQL send sessions to each other's workers.
            if let (Some((id, linked)), Backend::Postgres) = (linked_here, db.backend()) {
                let elsewhere = LinkedElsewhere::default();
                workers = workers.with_elsewhere(elsewhere.clone());
                let sharing =
                    share_worker_statuses(db.clone(), id, linked, elsewhere, shutdown.clone());
                tasks.push(("worker statuses", tokio::spawn(sharing)));
            }
            let heard = db.announcements().await.map_err(std::io::Error::other)?;
            if let Some(announcements) = heard {
                let relay =
                    relay_announcements(announcements, self.sessions.clone(), shutdown.clone());
                tasks.push(("cancels from other controllers", tokio::spawn(relay)));
            }
            let upkeep = tokio::spawn(database::upkeep(db, shutdown.clone()));
            tasks.push(("database upkeep", upkeep));
        }
        let state = ApiState::new(self.resources, self.sessions, workers);
        let timed = axum::middleware::from_fn_with_state(self.metrics, time_api_request);
        let api = router(state)
            .layer(timed)
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.api_listener, api)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await;
        shutdown.cancel();
        for (what, task) in tasks {
            if let Err(e) = task.await {
                warn!(error = %e, "{what} task failed");
            }
        }
        served
    }
}

/// Serves the cluster listener: remote workers link to it and join `workers`; how many are
/// linked is kept in `linked_gauge` (checked every second).
fn serve_cluster(
    cluster: ClusterListener,
    resources: &Arc<dyn ResourceStore>,
    sessions: &SessionStore,
    controller_id: &str,
    workers: WorkerPool,
    linked_gauge: Gauge,
    shutdown: CancellationToken,
) -> std::io::Result<(WorkerPool, LinkedWorkers, tokio::task::JoinHandle<()>)> {
    let identity = cluster
        .ca
        .issue_controller(CONTROLLER_CERTIFICATE_VALIDITY)
        .map_err(std::io::Error::other)?;
    let tls =
        postern_tls::cluster::controller_server_config(cluster.ca.certificate_der(), &identity)
            .map_err(std::io::Error::other)?;
    let directory = StoredWorkers::new(resources.clone(), sessions.clone());
    let service = ClusterService::new(
        Arc::new(sessions.clone()),
        Arc::new(directory),
        Arc::new(cluster.ca),
        ServiceConfig {
            controller_id: controller_id.to_owned(),
            ..ServiceConfig::default()
        },
        shutdown.clone(),
    );
    let issuer = service.clone();
    let linked = service.linked();
    let workers = workers.with_cluster(
        linked.clone(),
        Arc::new(move |id: &str| issuer.activation_token(id, ACTIVATION_TOKEN_VALIDITY)),
    );
    let count = {
        let linked = linked.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                linked_gauge.set(i64::try_from(linked.list().len()).unwrap_or(i64::MAX));
            }
        }
    };
    let task = tokio::spawn(async move {
        tokio::select! {
            () = postern_cluster::serve(cluster.listener, tls, service, shutdown) => {}
            never = count => never,
        }
    });
    Ok((workers, linked, task))
}

/// How long a worker status another controller published stays good: each publishes every
/// second.
const SHARED_STATUS_FRESH: Duration = Duration::from_secs(3);

/// A linked worker's status as controllers share it in the database.
#[derive(serde::Serialize, serde::Deserialize)]
struct SharedStatus {
    worker_id: String,
    address: String,
    tags: Vec<(String, String)>,
    release_version: String,
    active_connections: u32,
    draining: bool,
    last_status: SystemTime,
    remote: SocketAddr,
}

/// Every second, publishes the statuses of the workers linked here and reads those other
/// controllers publish, so that sessions authorized here may go to their workers too. At
/// shutdown its workers are withdrawn at once.
async fn share_worker_statuses(
    db: Db,
    controller_id: String,
    linked: LinkedWorkers,
    elsewhere: LinkedElsewhere,
    shutdown: CancellationToken,
) {
    let nanos = |at: SystemTime| {
        let since = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = SystemTime::now();
        let statuses: Vec<(String, String)> = linked
            .list()
            .into_iter()
            .filter_map(|w| {
                let shared = SharedStatus {
                    worker_id: w.worker_id,
                    address: w.address,
                    tags: w.tags,
                    release_version: w.release_version,
                    active_connections: w.active_connections,
                    draining: w.draining,
                    last_status: w.last_status,
                    remote: w.remote,
                };
                let body = serde_json::to_string(&shared).ok()?;
                Some((shared.worker_id, body))
            })
            .collect();
        if let Err(error) = db
            .publish_worker_statuses(&controller_id, &statuses, nanos(now))
            .await
        {
            warn!(%error, "cannot publish the linked workers' statuses");
        }
        let since = nanos(now - SHARED_STATUS_FRESH);
        match db.worker_statuses(&controller_id, since).await {
            Ok(bodies) => elsewhere.replace(
                bodies
                    .iter()
                    .filter_map(|body| serde_json::from_str::<SharedStatus>(body).ok())
                    .map(|s| LinkedWorker {
                        worker_id: s.worker_id,
                        address: s.address,
                        tags: s.tags,
                        release_version: s.release_version,
                        active_connections: s.active_connections,
                        draining: s.draining,
                        last_status: s.last_status,
                        remote: s.remote,
                    })
                    .collect(),
            ),
            Err(error) => warn!(%error, "cannot read the workers other controllers link"),
        }
    }
    let withdrawn = db
        .publish_worker_statuses(&controller_id, &[], nanos(SystemTime::now()))
        .await;
    if let Err(error) = withdrawn {
        warn!(%error, "cannot withdraw the linked workers' statuses");
    }
}

/// Passes the cancels other controllers on the database announce to this controller's
/// workers, so a cancel made anywhere cuts connections everywhere.
async fn relay_announcements(
    mut announcements: tokio::sync::mpsc::Receiver<Announcement>,
    sessions: SessionStore,
    shutdown: CancellationToken,
) {
    loop {
        let heard = tokio::select! {
            () = shutdown.cancelled() => return,
            heard = announcements.recv() => heard,
        };
        match heard {
            Some(Announcement::Canceled(id)) => sessions.relay(AuthorityEvent::SessionCanceled(id)),
            Some(Announcement::Missed) => sessions.relay(AuthorityEvent::Recheck),
            None => return,
        }
    }
}

/// Every second, ends the sessions whose time is up; every minute, deletes the terminated
/// ones older than `retention`.
async fn reap(sessions: SessionStore, retention: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for second in 0u64.. {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = sessions.reap(SystemTime::now()).await {
                    tracing::warn!(%error, "cannot time out sessions");
                }
                if second % 60 == 0 {
                    if let Err(error) = sessions.delete_terminated(retention).await {
                        tracing::warn!(%error, "cannot delete old terminated sessions");
                    }
                }
            }
        }
    }
}
