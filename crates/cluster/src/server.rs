//! The controller's side of the link: [`ClusterService`] answers workers over the session
//! authority and the [`WorkerDirectory`]; [`serve`] runs it on the cluster listener.
//!
//! Every call but `Activate` needs a client certificate the TLS handshake verified against the
//! cluster CA, whose worker still exists and still holds that certificate (checked at most a
//! second apart, so deleting a worker or renewing its certificate refuses the old one within
//! a second). The worker's id comes from the certificate. [`LinkedWorkers`] is what the
//! controller knows of the workers linked to it now: the API lists them and sends new
//! sessions to them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use futures::Stream;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use postern_authority::{AuthorityEvent, ConnectedInfo, SessionAuthority};
use postern_io::ConnectionThreads;
use postern_tls::cluster::{peer_worker_id, ClusterCa};
use postern_wire::TofuToken;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::{TaskTracker, TaskTrackerToken};
use tonic::{Request, Response, Status, Streaming};
use tower::Service;
use tracing::{debug, info, warn};

use crate::activation::{ActivationKey, ActivationToken};
use crate::convert;
use crate::pb::cluster_server::{Cluster, ClusterServer};
use crate::pb::{self, controller_event::Event};

/// Why the directory refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("worker {0} does not exist")]
    NotFound(String),
    #[error("worker {0} is already activated; create a new worker for a new activation token")]
    AlreadyActivated(String),
    #[error("{0}")]
    Unavailable(String),
}

/// Which workers exist and which certificate each holds: the controller's resource store.
pub trait WorkerDirectory: Send + Sync + 'static {
    /// Records the first certificate of `worker_id` (SHA-256 of its DER); refused when the
    /// worker does not exist or already has one.
    fn activate(
        &self,
        worker_id: &str,
        certificate_sha256: [u8; 32],
    ) -> impl std::future::Future<Output = Result<(), DirectoryError>> + Send;

    /// Replaces the worker's certificate `current` with `new`.
    fn renew(
        &self,
        worker_id: &str,
        current: [u8; 32],
        new: [u8; 32],
    ) -> impl std::future::Future<Output = Result<(), DirectoryError>> + Send;

    /// Whether the worker exists and holds this certificate.
    fn is_current(
        &self,
        worker_id: &str,
        certificate_sha256: [u8; 32],
    ) -> impl std::future::Future<Output = Result<bool, DirectoryError>> + Send;

    /// The worker's link dropped and it did not link again within the re-link grace: the
    /// connections it carried are gone.
    fn worker_lost(&self, worker_id: &str) -> impl std::future::Future<Output = ()> + Send;
}

/// A worker linked to this controller now, as its last status said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedWorker {
    pub worker_id: String,
    /// host:port clients dial.
    pub address: String,
    pub tags: Vec<(String, String)>,
    pub release_version: String,
    pub active_connections: u32,
    pub draining: bool,
    pub last_status: SystemTime,
    /// Where the link comes from.
    pub remote: SocketAddr,
}

/// The workers linked to this controller. Cheap to clone: clones share the map.
#[derive(Debug, Clone, Default)]
pub struct LinkedWorkers(Arc<Mutex<HashMap<String, Linked>>>);

#[derive(Debug)]
struct Linked {
    worker: LinkedWorker,
    /// Links open (a worker re-linking may briefly have two).
    links: usize,
}

impl LinkedWorkers {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Linked>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every linked worker, by id.
    pub fn list(&self) -> Vec<LinkedWorker> {
        let mut workers: Vec<_> = self.lock().values().map(|l| l.worker.clone()).collect();
        workers.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        workers
    }

    pub fn get(&self, worker_id: &str) -> Option<LinkedWorker> {
        self.lock().get(worker_id).map(|l| l.worker.clone())
    }

    fn opened(&self, worker: LinkedWorker) {
        let mut linked = self.lock();
        let entry = linked.entry(worker.worker_id.clone()).or_insert(Linked {
            worker: worker.clone(),
            links: 0,
        });
        entry.worker = worker;
        entry.links += 1;
    }

    fn status(&self, worker_id: &str, status: &pb::WorkerStatus) {
        if let Some(linked) = self.lock().get_mut(worker_id) {
            apply_status(&mut linked.worker, status);
        }
    }

    /// A link closed; whether it was the worker's last.
    fn closed(&self, worker_id: &str) -> bool {
        let mut linked = self.lock();
        let Some(entry) = linked.get_mut(worker_id) else {
            return true;
        };
        entry.links = entry.links.saturating_sub(1);
        if entry.links == 0 {
            linked.remove(worker_id);
            true
        } else {
            false
        }
    }

    fn is_linked(&self, worker_id: &str) -> bool {
        self.lock().contains_key(worker_id)
    }
}

fn apply_status(worker: &mut LinkedWorker, status: &pb::WorkerStatus) {
    worker.address.clone_from(&status.address);
    worker.tags = status
        .tags
        .iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect();
    worker.release_version.clone_from(&status.release_version);
    worker.active_connections = status.active_connections;
    worker.draining = status.draining;
    worker.last_status = SystemTime::now();
}

/// Timings of the controller's side.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Sent to workers when their link opens.
    pub controller_id: String,
    /// How long certificates issued to workers are valid.
    pub certificate_validity: Duration,
    /// A link with no status for this long is dead (workers send one every second).
    pub status_timeout: Duration,
    /// How long a worker whose link dropped has to link again before its connections are
    /// closed (`system error`).
    pub relink_grace: Duration,
    /// How long a worker's certificate check is trusted before it is made again.
    pub recheck_interval: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            controller_id: "controller".to_owned(),
            certificate_validity: Duration::from_secs(30 * 24 * 3600),
            status_timeout: Duration::from_secs(3),
            relink_grace: Duration::from_millis(1500),
            recheck_interval: Duration::from_secs(1),
        }
    }
}

/// The controller's answers to workers.
pub struct ClusterService<A, D> {
    inner: Arc<Inner<A, D>>,
}

impl<A, D> Clone for ClusterService<A, D> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<A, D> std::fmt::Debug for ClusterService<A, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterService")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner<A, D> {
    authority: Arc<A>,
    directory: Arc<D>,
    ca: Arc<ClusterCa>,
    activation_key: ActivationKey,
    linked: LinkedWorkers,
    config: ServiceConfig,
    /// Certificates found current, and when: a worker's calls are not each a store read.
    checked: Mutex<HashMap<String, ([u8; 32], Instant)>>,
    shutdown: CancellationToken,
    /// The runtime [`serve`] was called on, for work too long for a link's own thread.
    background: OnceLock<Handle>,
}

impl<A: SessionAuthority, D: WorkerDirectory> ClusterService<A, D> {
    pub fn new(
        authority: Arc<A>,
        directory: Arc<D>,
        ca: Arc<ClusterCa>,
        config: ServiceConfig,
        shutdown: CancellationToken,
    ) -> Self {
        let activation_key = ActivationKey::derive(ca.key_pkcs8_der());
        Self {
            inner: Arc::new(Inner {
                authority,
                directory,
                ca,
                activation_key,
                linked: LinkedWorkers::default(),
                config,
                checked: Mutex::default(),
                shutdown,
                background: OnceLock::new(),
            }),
        }
    }

    /// The workers linked to this controller.
    pub fn linked(&self) -> LinkedWorkers {
        self.inner.linked.clone()
    }

    /// A new activation token for `worker_id`, valid for `validity`.
    pub fn activation_token(&self, worker_id: &str, validity: Duration) -> String {
        ActivationToken::issue(
            &self.inner.activation_key,
            worker_id,
            self.inner.ca.fingerprint(),
            validity,
        )
    }

    /// The calling worker: its certificate verified and still current.
    async fn worker(&self, peer: Option<&Peer>) -> Result<Verified, Status> {
        let Some(Peer {
            worker_id: Some(worker_id),
            certificate_sha256: Some(sha),
            remote,
        }) = peer
        else {
            return Err(Status::unauthenticated(
                "this call needs a worker certificate (activate the worker first)",
            ));
        };
        let fresh = {
            let checked = self
                .inner
                .checked
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            checked.get(worker_id).is_some_and(|(current, at)| {
                current == sha && at.elapsed() < self.inner.config.recheck_interval
            })
        };
        if !fresh {
            self.check_current(worker_id, *sha).await?;
        }
        Ok(Verified {
            worker_id: worker_id.clone(),
            certificate_sha256: *sha,
            remote: *remote,
        })
    }

    async fn check_current(&self, worker_id: &str, sha: [u8; 32]) -> Result<(), Status> {
        let current = self
            .inner
            .directory
            .is_current(worker_id, sha)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut checked = self
            .inner
            .checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if current {
            checked.insert(worker_id.to_owned(), (sha, Instant::now()));
            Ok(())
        } else {
            checked.remove(worker_id);
            Err(Status::permission_denied(format!(
                "worker {worker_id} was deleted or its certificate replaced"
            )))
        }
    }

    fn issue(&self, worker_id: &str, public_key: &[u8]) -> Result<(Vec<u8>, [u8; 32]), Status> {
        let certificate = self
            .inner
            .ca
            .issue_worker(
                worker_id,
                public_key,
                self.inner.config.certificate_validity,
            )
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let sha = Sha256::digest(&certificate).into();
        Ok((certificate, sha))
    }

    fn certificate_response(
        &self,
        worker_id: String,
        certificate: Vec<u8>,
    ) -> pb::CertificateResponse {
        pb::CertificateResponse {
            worker_id,
            certificate,
            ca_certificate: self.inner.ca.certificate_der().to_vec(),
        }
    }

    /// After a link closed: if the worker does not link again within the grace, its
    /// connections are gone.
    /// Not when the controller is stopping: a worker losing a controller that restarts
    /// keeps its connections, and reports on them to the next one.
    fn link_closed(&self, worker_id: String) {
        let last = self.inner.linked.closed(&worker_id);
        if !last || self.inner.shutdown.is_cancelled() {
            return;
        }
        let service = self.clone();
        self.off_link(async move {
            tokio::time::sleep(service.inner.config.relink_grace).await;
            if service.inner.linked.is_linked(&worker_id) || service.inner.shutdown.is_cancelled() {
                return;
            }
            info!(worker = %worker_id, "worker did not link again; closing its connections");
            service.inner.directory.worker_lost(&worker_id).await;
        });
    }

    /// Runs `work` on the runtime [`serve`] was called on, not on the link's own thread
    /// (where it would hold up the link's other calls): for work that may take long, such
    /// as a change to every live connection of a worker.
    fn off_link<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        match self.inner.background.get() {
            Some(runtime) => runtime.spawn(work),
            None => tokio::spawn(work),
        }
    }
}

/// A worker whose certificate is current.
#[derive(Debug)]
struct Verified {
    worker_id: String,
    certificate_sha256: [u8; 32],
    remote: SocketAddr,
}

fn refusal_or<T>(
    result: Result<T, postern_authority::AuthorityError>,
    ok: impl FnOnce(T) -> Option<pb::Refusal>,
) -> Option<pb::Refusal> {
    match result {
        Ok(value) => ok(value),
        Err(e) => Some(convert::refusal(&e)),
    }
}

fn outcome(result: Result<(), postern_authority::AuthorityError>) -> Response<pb::Outcome> {
    Response::new(pb::Outcome {
        refusal: refusal_or(result, |()| None),
    })
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::ControllerEvent, Status>> + Send>>;

#[tonic::async_trait]
impl<A: SessionAuthority, D: WorkerDirectory> Cluster for ClusterService<A, D> {
    async fn activate(
        &self,
        request: Request<pb::ActivateRequest>,
    ) -> Result<Response<pb::CertificateResponse>, Status> {
        let request = request.into_inner();
        let token = ActivationToken::verify(
            &request.activation_token,
            &self.inner.activation_key,
            SystemTime::now(),
        )
        .map_err(|e| Status::permission_denied(e.to_string()))?;
        let (certificate, sha) = self.issue(&token.worker_id, &request.public_key)?;
        self.inner
            .directory
            .activate(&token.worker_id, sha)
            .await
            .map_err(|e| match e {
                DirectoryError::Unavailable(e) => Status::unavailable(e),
                refused => Status::permission_denied(refused.to_string()),
            })?;
        info!(worker = %token.worker_id, "worker activated");
        Ok(Response::new(
            self.certificate_response(token.worker_id, certificate),
        ))
    }

    async fn renew_certificate(
        &self,
        request: Request<pb::RenewRequest>,
    ) -> Result<Response<pb::CertificateResponse>, Status> {
        let worker = self.worker(request.extensions().get::<Peer>()).await?;
        let (certificate, sha) = self.issue(&worker.worker_id, &request.get_ref().public_key)?;
        self.inner
            .directory
            .renew(&worker.worker_id, worker.certificate_sha256, sha)
            .await
            .map_err(|e| Status::permission_denied(e.to_string()))?;
        info!(worker = %worker.worker_id, "worker certificate renewed");
        Ok(Response::new(
            self.certificate_response(worker.worker_id, certificate),
        ))
    }

    type LinkStream = EventStream;

    async fn link(
        &self,
        request: Request<Streaming<pb::WorkerStatus>>,
    ) -> Result<Response<Self::LinkStream>, Status> {
        let worker = self.worker(request.extensions().get::<Peer>()).await?;
        // Checked afresh, whatever the last call found: a worker deleted a moment ago must
        // not link, however briefly.
        self.check_current(&worker.worker_id, worker.certificate_sha256)
            .await?;
        let mut statuses = request.into_inner();
        // The first status says where the worker listens; the link counts from it.
        let first = tokio::time::timeout(self.inner.config.status_timeout, statuses.next())
            .await
            .map_err(|_| Status::deadline_exceeded("no worker status"))?
            .ok_or_else(|| Status::cancelled("link closed before its first status"))??;
        let mut linked = LinkedWorker {
            worker_id: worker.worker_id.clone(),
            address: String::new(),
            tags: Vec::new(),
            release_version: String::new(),
            active_connections: 0,
            draining: false,
            last_status: SystemTime::now(),
            remote: worker.remote,
        };
        apply_status(&mut linked, &first);
        info!(worker = %worker.worker_id, address = %linked.address, remote = %worker.remote, "worker linked");
        self.inner.linked.opened(linked);

        let (events, events_rx) = mpsc::channel(256);
        let welcome = pb::ControllerEvent {
            event: Some(Event::ControllerId(self.inner.config.controller_id.clone())),
        };
        // The channel is new and empty: the first send cannot fail for want of room.
        let _ = events.try_send(Ok(welcome));
        let service = self.clone();
        tokio::spawn(async move {
            let why = service.run_link(&worker, &mut statuses, &events).await;
            info!(worker = %worker.worker_id, reason = %why, "worker link closed");
            if let Some(status) = why.status() {
                let _ = events.send(Err(status)).await;
            }
            service.link_closed(worker.worker_id);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(events_rx))))
    }

    async fn lookup_session(
        &self,
        request: Request<pb::SessionRequest>,
    ) -> Result<Response<pb::LookupSessionResponse>, Status> {
        self.worker(request.extensions().get::<Peer>()).await?;
        let found = self
            .inner
            .authority
            .lookup_session(&request.get_ref().session_id)
            .await;
        Ok(Response::new(match found {
            Ok(session) => pb::LookupSessionResponse {
                refusal: None,
                session: session.as_ref().map(convert::worker_session),
            },
            Err(e) => pb::LookupSessionResponse {
                refusal: Some(convert::refusal(&e)),
                session: None,
            },
        }))
    }

    async fn activate_session(
        &self,
        request: Request<pb::ActivateSessionRequest>,
    ) -> Result<Response<pb::Outcome>, Status> {
        self.worker(request.extensions().get::<Peer>()).await?;
        let request = request.into_inner();
        let tofu = TofuToken::parse(&request.tofu_token)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(outcome(
            self.inner
                .authority
                .activate_session(&request.session_id, &tofu)
                .await,
        ))
    }

    async fn cancel_session(
        &self,
        request: Request<pb::SessionRequest>,
    ) -> Result<Response<pb::Outcome>, Status> {
        self.worker(request.extensions().get::<Peer>()).await?;
        Ok(outcome(
            self.inner
                .authority
                .cancel_session(&request.get_ref().session_id)
                .await,
        ))
    }

    async fn authorize_connection(
        &self,
        request: Request<pb::SessionRequest>,
    ) -> Result<Response<pb::AuthorizeConnectionResponse>, Status> {
        let worker = self.worker(request.extensions().get::<Peer>()).await?;
        let authorized = self
            .inner
            .authority
            .authorize_connection(&request.get_ref().session_id, &worker.worker_id)
            .await;
        Ok(Response::new(match authorized {
            Ok(a) => pb::AuthorizeConnectionResponse {
                refusal: None,
                connection_id: a.connection_id,
                connection_limit: a.connection_limit,
                connections_left: a.connections_left,
            },
            Err(e) => pb::AuthorizeConnectionResponse {
                refusal: Some(convert::refusal(&e)),
                ..Default::default()
            },
        }))
    }

    async fn connection_connected(
        &self,
        request: Request<pb::ConnectionConnectedRequest>,
    ) -> Result<Response<pb::Outcome>, Status> {
        self.worker(request.extensions().get::<Peer>()).await?;
        let request = request.into_inner();
        let info = connected_info(&request.client_address, &request.endpoint_address)?;
        Ok(outcome(
            self.inner
                .authority
                .connection_connected(&request.connection_id, info)
                .await,
        ))
    }

    async fn connection_progress(
        &self,
        request: Request<pb::ConnectionProgressRequest>,
    ) -> Result<Response<pb::Outcome>, Status> {
        self.worker(request.extensions().get::<Peer>()).await?;
        let progress = request
            .into_inner()
            .connections
            .into_iter()
            .map(convert::from_bytes)
            .collect();
        // A report covers every live connection of the worker.
        let authority = self.inner.authority.clone();
        let recorded = self
            .off_link(async move { authority.connection_progress(progress).await })
            .await
            .map_err(|e| Status::internal(format!("progress not recorded: {e}")))?;
        Ok(outcome(recorded))
    }

    async fn connection_closed(
        &self,
        request: Request<pb::ConnectionClosedRequest>,
    ) -> Result<Response<pb::Outcome>, Status> {
        self.worker(request.extensions().get::<Peer>()).await?;
        let request = request.into_inner();
        let reason = convert::closed_reason(&request.reason).ok_or_else(|| {
            Status::invalid_argument(format!("unknown closed reason {:?}", request.reason))
        })?;
        let bytes = request
            .bytes
            .map(convert::from_bytes)
            .ok_or_else(|| Status::invalid_argument("no connection bytes"))?;
        let connected = match (&*request.client_address, &*request.endpoint_address) {
            ("", "") => None,
            (client, endpoint) => Some(connected_info(client, endpoint)?),
        };
        Ok(outcome(
            self.inner
                .authority
                .connection_closed(bytes, reason, connected)
                .await,
        ))
    }
}

/// A connection's two addresses, each `ip:port`.
fn connected_info(client: &str, endpoint: &str) -> Result<ConnectedInfo, Status> {
    let address = |text: &str, what: &str| {
        text.parse::<SocketAddr>()
            .map_err(|_| Status::invalid_argument(format!("{what} {text:?} is not ip:port")))
    };
    Ok(ConnectedInfo {
        client: address(client, "client address")?,
        endpoint: address(endpoint, "endpoint address")?,
    })
}

/// Why a link ended.
#[derive(Debug)]
enum LinkEnd {
    WorkerClosed,
    Silent(Duration),
    Broken(Status),
    Revoked(Status),
    Shutdown,
    Lagged(u64),
}

impl LinkEnd {
    /// What the worker is told, if anything.
    fn status(&self) -> Option<Status> {
        match self {
            LinkEnd::Revoked(status) => Some(status.clone()),
            LinkEnd::Shutdown => Some(Status::unavailable("controller shutting down")),
            LinkEnd::Lagged(_) => Some(Status::unavailable(
                "controller fell behind on cancellations; link again",
            )),
            _ => None,
        }
    }
}

impl std::fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkEnd::WorkerClosed => f.write_str("the worker closed it"),
            LinkEnd::Silent(after) => write!(f, "no status from the worker for {after:?}"),
            LinkEnd::Broken(status) => write!(f, "stream failed: {}", status.message()),
            LinkEnd::Revoked(status) => f.write_str(status.message()),
            LinkEnd::Shutdown => f.write_str("the controller is shutting down"),
            LinkEnd::Lagged(missed) => write!(f, "{missed} cancellations missed"),
        }
    }
}

impl<A: SessionAuthority, D: WorkerDirectory> ClusterService<A, D> {
    /// Forwards cancellations and reads statuses until the link ends.
    async fn run_link(
        &self,
        worker: &Verified,
        statuses: &mut Streaming<pb::WorkerStatus>,
        events: &mpsc::Sender<Result<pb::ControllerEvent, Status>>,
    ) -> LinkEnd {
        let mut authority_events = self.inner.authority.events();
        let timeout = self.inner.config.status_timeout;
        let mut recheck = tokio::time::interval(self.inner.config.recheck_interval);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut silence = Box::pin(tokio::time::sleep(timeout));
        loop {
            tokio::select! {
                () = self.inner.shutdown.cancelled() => return LinkEnd::Shutdown,
                () = events.closed() => return LinkEnd::WorkerClosed,
                () = &mut silence => return LinkEnd::Silent(timeout),
                status = statuses.next() => match status {
                    Some(Ok(status)) => {
                        self.inner.linked.status(&worker.worker_id, &status);
                        silence.as_mut().reset(tokio::time::Instant::now() + timeout);
                    }
                    Some(Err(status)) => return LinkEnd::Broken(status),
                    None => return LinkEnd::WorkerClosed,
                },
                event = authority_events.recv() => match event {
                    Ok(AuthorityEvent::SessionCanceled(id)) => {
                        let event = pb::ControllerEvent { event: Some(Event::CanceledSessionId(id)) };
                        if events.send(Ok(event)).await.is_err() {
                            return LinkEnd::WorkerClosed;
                        }
                    }
                    Ok(AuthorityEvent::Recheck) => {
                        let event = pb::ControllerEvent { event: Some(Event::Recheck(true)) };
                        if events.send(Ok(event)).await.is_err() {
                            return LinkEnd::WorkerClosed;
                        }
                    }
                    Ok(AuthorityEvent::Unreachable) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        return LinkEnd::Lagged(missed);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return LinkEnd::Shutdown,
                },
                _ = recheck.tick() => {
                    if let Err(status) = self.check_current(&worker.worker_id, worker.certificate_sha256).await {
                        if status.code() == tonic::Code::PermissionDenied {
                            return LinkEnd::Revoked(status);
                        }
                        debug!(worker = %worker.worker_id, error = %status.message(), "could not re-check the worker");
                    }
                }
            }
        }
    }
}

/// What the TLS handshake proved about the peer, in each request's extensions.
#[derive(Debug, Clone)]
struct Peer {
    /// From a verified client certificate; `None` without one (a worker activating).
    worker_id: Option<String>,
    certificate_sha256: Option<[u8; 32]>,
    remote: SocketAddr,
}

/// TLS handshakes in progress at once on the cluster listener.
const MAX_HANDSHAKES: usize = 256;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `service` on `listener` with `tls` (`postern_tls::cluster::controller_server_config`)
/// until `shutdown`, then lets each link finish its calls (up to 5 s).
///
/// Each link lives its whole life on one connection thread (`postern_io::ConnectionThreads`):
/// its TLS, its HTTP/2 connection, its calls and their database changes. A call then costs
/// no hand-off between threads; on the work-stealing runtime each call passed through three
/// or four, and those wake-ups were most of the controller's time per worker connection.
pub async fn serve<A: SessionAuthority, D: WorkerDirectory>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: ClusterService<A, D>,
    shutdown: CancellationToken,
) {
    let _ = service.inner.background.set(Handle::current());
    let threads = ConnectionThreads::start(0);
    let acceptor = TlsAcceptor::from(tls);
    let grpc = ClusterServer::new(service);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let links = TaskTracker::new();
    loop {
        let (tcp, remote) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accept on the cluster listener failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            debug!(%remote, "too many cluster handshakes in progress; dropping a connection");
            continue;
        };
        let link = Link {
            acceptor: acceptor.clone(),
            grpc: grpc.clone(),
            remote,
            handshake: permit,
            open: links.token(),
        };
        let shutdown = shutdown.clone();
        threads.spawn_connection(tcp, move |tcp| link.serve(tcp, shutdown));
    }
    links.close();
    if tokio::time::timeout(DRAIN, links.wait()).await.is_err() {
        warn!(after = ?DRAIN, "cluster links still open at shutdown; cutting them");
    }
}

/// How long a stopping controller waits for its links to finish their calls.
const DRAIN: Duration = Duration::from_secs(5);

/// A link accepted and not yet served.
struct Link<A: SessionAuthority, D: WorkerDirectory> {
    acceptor: TlsAcceptor,
    grpc: ClusterServer<ClusterService<A, D>>,
    remote: SocketAddr,
    /// Held until the TLS handshake ends.
    handshake: OwnedSemaphorePermit,
    /// Held while the link is open, for [`serve`] to wait on at shutdown.
    open: TaskTrackerToken,
}

impl<A: SessionAuthority, D: WorkerDirectory> Link<A, D> {
    /// The TLS handshake, then HTTP/2 with the calls on this thread, until the worker closes
    /// the link or `shutdown` (which lets the calls under way finish).
    async fn serve(self, tcp: TcpStream, shutdown: CancellationToken) {
        let Self {
            acceptor,
            grpc,
            remote,
            handshake,
            open,
        } = self;
        let _ = tcp.set_nodelay(true);
        let handshaken = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
        drop(handshake);
        let tls = match handshaken {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return info!(%remote, error = %e, "cluster TLS handshake refused"),
            Err(_) => return info!(%remote, "cluster TLS handshake timed out"),
        };
        let certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.as_ref().to_vec());
        let peer = Peer {
            worker_id: certificate.as_deref().and_then(peer_worker_id),
            certificate_sha256: certificate.map(|c| Sha256::digest(&c).into()),
            remote,
        };
        let calls = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(peer.clone());
            grpc.clone().call(request)
        });
        let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(2))
            .keep_alive_timeout(Duration::from_secs(3));
        let connection = http2.serve_connection(TokioIo::new(tls), calls);
        tokio::pin!(connection);
        let served = tokio::select! {
            served = connection.as_mut() => served,
            () = shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = served {
            debug!(%remote, error = %e, "cluster link connection ended");
        }
        drop(open);
    }
}
