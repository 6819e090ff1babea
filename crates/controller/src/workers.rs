//! Workers as the controller sees them: which ones new sessions are sent to
//! ([`WorkerPool`]), and the cluster link's questions about them answered from the resource
//! store ([`StoredWorkers`], the link's `WorkerDirectory`).

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use postern_cluster::{DirectoryError, LinkedWorker, LinkedWorkers, WorkerDirectory};
use tokio_util::sync::CancellationToken;

use crate::resources::{CertificateChange, ResourceError, ResourceStore, Worker, WorkerPatch};
use crate::sessions::SessionStore;

/// How long an activation token from `workers create controller-led` is good for.
pub const ACTIVATION_TOKEN_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// Issues an activation token for a worker id.
pub type TokenIssuer = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// The workers new sessions may go to: a worker in this process (`postern dev`, a combined
/// server), those linked over the cluster listener, and those linked to other controllers
/// on the same database.
#[derive(Clone, Default)]
pub struct WorkerPool {
    /// host:port of workers in this process, preferred first.
    local: Vec<String>,
    cluster: Option<(LinkedWorkers, TokenIssuer)>,
    elsewhere: LinkedElsewhere,
    /// Once cancelled, the local workers drain: no new sessions go to them.
    local_drain: CancellationToken,
}

/// The workers linked to other controllers, as they last published their statuses in the
/// shared database. Cheap to clone: clones share the list.
#[derive(Debug, Clone, Default)]
pub struct LinkedElsewhere(Arc<RwLock<Vec<LinkedWorker>>>);

impl LinkedElsewhere {
    /// Replaces the list with the latest statuses read.
    pub fn replace(&self, workers: Vec<LinkedWorker>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = workers;
    }

    fn list(&self) -> Vec<LinkedWorker> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("local", &self.local)
            .field("cluster", &self.cluster.as_ref().map(|(linked, _)| linked))
            .field("elsewhere", &self.elsewhere)
            .finish()
    }
}

impl WorkerPool {
    /// Only workers at these addresses (in this process, or tests').
    pub fn fixed(addresses: Vec<String>) -> Self {
        Self {
            local: addresses,
            ..Self::default()
        }
    }

    /// Also the workers linked over the cluster listener; `issue` makes activation tokens.
    pub fn with_cluster(mut self, linked: LinkedWorkers, issue: TokenIssuer) -> Self {
        self.cluster = Some((linked, issue));
        self
    }

    /// Sends the local workers no new sessions once `drain` is cancelled.
    pub fn with_local_drain(mut self, drain: CancellationToken) -> Self {
        self.local_drain = drain;
        self
    }

    /// Also the workers other controllers on the database are linked to.
    pub fn with_elsewhere(mut self, elsewhere: LinkedElsewhere) -> Self {
        self.elsewhere = elsewhere;
        self
    }

    /// Where a new session may be carried: the local workers, then every linked worker
    /// that is not draining (linked here first, then elsewhere).
    pub fn addresses(&self) -> Vec<String> {
        self.candidates().into_iter().map(|c| c.address).collect()
    }

    /// Every worker a session may go to, with what an egress filter looks at.
    pub fn candidates(&self) -> Vec<Candidate> {
        let local = if self.local_drain.is_cancelled() {
            &[][..]
        } else {
            &self.local[..]
        };
        let mut candidates: Vec<Candidate> = local
            .iter()
            .map(|address| Candidate {
                worker_id: None,
                address: address.clone(),
                tags: Vec::new(),
            })
            .collect();
        let here = self
            .cluster
            .as_ref()
            .map(|(linked, _)| linked.list())
            .unwrap_or_default();
        for worker in here.into_iter().chain(self.elsewhere.list()) {
            let listed = candidates
                .iter()
                .any(|c| c.worker_id.as_deref() == Some(worker.worker_id.as_str()));
            if !worker.draining && !worker.address.is_empty() && !listed {
                candidates.push(Candidate {
                    worker_id: Some(worker.worker_id),
                    address: worker.address,
                    tags: worker.tags,
                });
            }
        }
        candidates
    }

    /// The live facts of a worker linked here, or else to another controller.
    pub fn linked(&self, worker_id: &str) -> Option<LinkedWorker> {
        let here = self
            .cluster
            .as_ref()
            .and_then(|(linked, _)| linked.get(worker_id));
        here.or_else(|| {
            self.elsewhere
                .list()
                .into_iter()
                .find(|w| w.worker_id == worker_id)
        })
    }

    /// A one-time activation token for `worker_id`; `None` when this controller has no
    /// cluster listener.
    pub fn activation_token(&self, worker_id: &str) -> Option<String> {
        self.cluster.as_ref().map(|(_, issue)| issue(worker_id))
    }
}

/// A worker a session may be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `None`: the worker in this process.
    pub worker_id: Option<String>,
    pub address: String,
    pub tags: Vec<(String, String)>,
}

/// The cluster link's directory over the resource store: a worker is a `Worker` item, its
/// certificate the item's `certificate_sha256`.
#[derive(Clone)]
pub struct StoredWorkers {
    resources: Arc<dyn ResourceStore>,
    sessions: SessionStore,
}

impl fmt::Debug for StoredWorkers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredWorkers").finish_non_exhaustive()
    }
}

impl StoredWorkers {
    pub fn new(resources: Arc<dyn ResourceStore>, sessions: SessionStore) -> Self {
        Self {
            resources,
            sessions,
        }
    }

    /// Replaces the worker's certificate `from` (empty: none) with `to`, at the version read.
    async fn change_certificate(
        &self,
        worker_id: &str,
        from: String,
        to: String,
    ) -> Result<(), DirectoryError> {
        // Another change between the read and the update (a rename) is retried once.
        for _ in 0..2 {
            let worker = self.worker(worker_id).await?;
            let patch = WorkerPatch {
                certificate: Some(CertificateChange {
                    from: from.clone(),
                    to: to.clone(),
                }),
                ..WorkerPatch::default()
            };
            match self
                .resources
                .update_as::<Worker>(worker_id, worker.version, patch)
                .await
            {
                Ok(_) => return Ok(()),
                Err(ResourceError::StaleVersion { .. }) => continue,
                Err(ResourceError::Conflict(_)) if from.is_empty() => {
                    return Err(DirectoryError::AlreadyActivated(worker_id.to_owned()));
                }
                Err(e) => return Err(directory_error(worker_id, e)),
            }
        }
        Err(DirectoryError::Unavailable(format!(
            "worker {worker_id} kept changing; try again"
        )))
    }

    async fn worker(&self, worker_id: &str) -> Result<Worker, DirectoryError> {
        self.resources
            .get_as::<Worker>(worker_id)
            .await
            .map_err(|e| directory_error(worker_id, e))
    }
}

fn directory_error(worker_id: &str, error: ResourceError) -> DirectoryError {
    match error {
        ResourceError::NotFound { .. } => DirectoryError::NotFound(worker_id.to_owned()),
        other => DirectoryError::Unavailable(other.to_string()),
    }
}

fn hex(sha: [u8; 32]) -> String {
    sha.iter().map(|b| format!("{b:02x}")).collect()
}

impl WorkerDirectory for StoredWorkers {
    async fn activate(
        &self,
        worker_id: &str,
        certificate_sha256: [u8; 32],
    ) -> Result<(), DirectoryError> {
        self.change_certificate(worker_id, String::new(), hex(certificate_sha256))
            .await
    }

    async fn renew(
        &self,
        worker_id: &str,
        current: [u8; 32],
        new: [u8; 32],
    ) -> Result<(), DirectoryError> {
        self.change_certificate(worker_id, hex(current), hex(new))
            .await
    }

    async fn is_current(
        &self,
        worker_id: &str,
        certificate_sha256: [u8; 32],
    ) -> Result<bool, DirectoryError> {
        match self.worker(worker_id).await {
            Ok(worker) => Ok(worker.certificate_sha256 == hex(certificate_sha256)),
            Err(DirectoryError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn worker_lost(&self, worker_id: &str) {
        match self.sessions.close_worker_connections(worker_id).await {
            Ok(0) => {}
            Ok(closed) => tracing::warn!(
                worker = %worker_id,
                closed,
                "closed the connections of a worker that is gone (system error)"
            ),
            Err(e) => {
                tracing::error!(worker = %worker_id, error = %e, "could not close a lost worker's connections")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(id: &str, draining: bool) -> LinkedWorker {
        LinkedWorker {
            worker_id: id.to_owned(),
            address: format!("{id}.example:9202"),
            tags: vec![("region".to_owned(), "eu".to_owned())],
            release_version: String::new(),
            active_connections: 0,
            draining,
            last_status: std::time::SystemTime::UNIX_EPOCH,
            remote: "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!()),
        }
    }

    #[test]
    fn workers_linked_elsewhere_are_candidates_unless_draining() {
        let elsewhere = LinkedElsewhere::default();
        let pool =
            WorkerPool::fixed(vec!["127.0.0.1:9202".to_owned()]).with_elsewhere(elsewhere.clone());
        assert_eq!(pool.addresses(), ["127.0.0.1:9202"]);
        elsewhere.replace(vec![worker("w_b", false), worker("w_c", true)]);
        assert_eq!(pool.addresses(), ["127.0.0.1:9202", "w_b.example:9202"]);
        assert_eq!(pool.linked("w_c").map(|w| w.draining), Some(true));
        assert!(pool.linked("w_d").is_none());
        let drain = CancellationToken::new();
        let pool = pool.with_local_drain(drain.clone());
        drain.cancel();
        assert_eq!(pool.addresses(), ["w_b.example:9202"]);
    }
}
