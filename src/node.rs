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
use postern_controller::api::{router, ApiState};
use postern_controller::resources::ResourceStore;
use postern_controller::sessions::SessionStore;
use postern_controller::workers::{StoredWorkers, WorkerPool, ACTIVATION_TOKEN_VALIDITY};
use postern_store::{Announcement, Db};
use postern_tls::cluster::ClusterCa;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::database;

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
    pub max_concurrent_handshakes: usize,
    /// How long terminated sessions are kept.
    pub retention: Duration,
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

    /// Serves until `shutdown`, then waits for the worker and the background tasks.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let bound = self.bound()?;
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
            let worker = tokio::spawn(postern_worker::serve(
                listener,
                Arc::new(self.sessions.clone()),
                postern_worker::WorkerConfig {
                    max_concurrent_handshakes: self.max_concurrent_handshakes,
                    ..Default::default()
                },
                shutdown.clone(),
            ));
            tasks.push(("worker", worker));
            local.push(self.public_address.unwrap_or_else(|| proxy.to_string()));
        }
        let mut workers = WorkerPool::fixed(local);
        if let Some(cluster) = self.cluster {
            let (pool, task) = serve_cluster(
                cluster,
                &self.resources,
                &self.sessions,
                workers,
                shutdown.clone(),
            )?;
            workers = pool;
            tasks.push(("cluster listener", task));
        }
        if let Some(db) = self.db {
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
        let api = router(state).into_make_service_with_connect_info::<SocketAddr>();
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

/// Serves the cluster listener: remote workers link to it and join `workers`.
fn serve_cluster(
    cluster: ClusterListener,
    resources: &Arc<dyn ResourceStore>,
    sessions: &SessionStore,
    workers: WorkerPool,
    shutdown: CancellationToken,
) -> std::io::Result<(WorkerPool, tokio::task::JoinHandle<()>)> {
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
            controller_id: format!("controller@{}", cluster.listener.local_addr()?),
            ..ServiceConfig::default()
        },
        shutdown.clone(),
    );
    let issuer = service.clone();
    let workers = workers.with_cluster(
        service.linked(),
        Arc::new(move |id: &str| issuer.activation_token(id, ACTIVATION_TOKEN_VALIDITY)),
    );
    let task = tokio::spawn(async move {
        if let Err(e) = postern_cluster::serve(cluster.listener, tls, service, shutdown).await {
            tracing::error!(error = %e, "the cluster listener failed");
        }
    });
    Ok((workers, task))
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
