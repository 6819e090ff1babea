//! A controller and a worker in one process, on given stores and listeners: what `postern
//! dev` and `postern server` both run once they have made their stores. The worker asks the
//! in-process session store (its `SessionAuthority`); a reaper times sessions out and
//! deletes old ones; with a database, an upkeep task keeps it tidy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_controller::api::{router, ApiState};
use postern_controller::resources::ResourceStore;
use postern_controller::sessions::SessionStore;
use postern_store::Db;
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
    pub proxy_listener: TcpListener,
    /// The worker's address as clients dial it, put in session tokens; `None`: the proxy
    /// listener's own address.
    pub public_address: Option<String>,
    pub max_concurrent_handshakes: usize,
    /// How long terminated sessions are kept.
    pub retention: Duration,
}

/// The bound addresses, for a banner.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub api: SocketAddr,
    pub proxy: SocketAddr,
}

impl Node {
    pub fn bound(&self) -> std::io::Result<Bound> {
        Ok(Bound {
            api: self.api_listener.local_addr()?,
            proxy: self.proxy_listener.local_addr()?,
        })
    }

    /// Serves until `shutdown`, then waits for the worker and the background tasks.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let bound = self.bound()?;
        let worker = tokio::spawn(postern_worker::serve(
            self.proxy_listener,
            Arc::new(self.sessions.clone()),
            postern_worker::WorkerConfig {
                max_concurrent_handshakes: self.max_concurrent_handshakes,
                ..Default::default()
            },
            shutdown.clone(),
        ));
        let mut tasks = vec![
            ("worker", worker),
            (
                "session reaper",
                tokio::spawn(reap(
                    self.sessions.clone(),
                    self.retention,
                    shutdown.clone(),
                )),
            ),
        ];
        if let Some(db) = self.db {
            let upkeep = tokio::spawn(database::upkeep(db, shutdown.clone()));
            tasks.push(("database upkeep", upkeep));
        }
        let worker_address = self
            .public_address
            .unwrap_or_else(|| bound.proxy.to_string());
        let state = ApiState::new(self.resources, self.sessions, vec![worker_address]);
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
