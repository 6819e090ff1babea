//! The worker's side of the link: [`RemoteAuthority`], the worker's `SessionAuthority` over
//! gRPC to its upstream controllers.
//!
//! One task keeps the link: it dials the upstreams in turn (backoff with jitter between
//! failures), opens the `Link` stream, sends the worker's status every second and turns the
//! controller's events into [`AuthorityEvent`]s. Calls go over the link (from a connection
//! thread, over that thread's own connection to the same controller: `route.rs`) and each
//! has a deadline; with no link they wait for one until their deadline. A close that could not be
//! reported is kept and sent once the link is back, so final byte counts and reasons land.
//! With no controller for longer than the grace period the worker is told to cut its
//! connections ([`AuthorityEvent::Unreachable`]); when a link opens again it is told to
//! re-check its sessions ([`AuthorityEvent::Recheck`]).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use hyper_util::rt::TokioIo;
use postern_authority::{
    AuthorityError, AuthorityEvent, AuthorizedConnection, ClosedReason, ConnectedInfo,
    ConnectionBytes, SessionAuthority, SessionStatus, WorkerSession,
};
use postern_tls::cluster::{worker_client_config, ClusterIdentity, ClusterTrust, WorkerKey};
use postern_wire::TofuToken;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use rand::Rng;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tracing::{debug, info, warn};

use crate::activation::ActivationToken;
use crate::convert::{self, unavailable};
use crate::pb::cluster_client::ClusterClient;
use crate::pb::{self, controller_event::Event};
use crate::route::{self, Linked, Route, ThreadLinks};

/// Why the link could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Token(#[from] crate::activation::ActivationError),
    #[error("{0}")]
    Tls(#[from] postern_tls::TlsError),
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate renewal refused: {0}")]
    Renewal(String),
    #[error("no upstream controller accepted the activation: {0}")]
    Activation(String),
    #[error("{0}")]
    Config(String),
}

/// How the worker reaches its controllers.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// host:port of each controller's cluster listener, tried in turn.
    pub upstreams: Vec<String>,
    /// Deadline of every call.
    pub call_timeout: Duration,
    pub connect_timeout: Duration,
    /// How long the worker may go without any controller before it cuts its connections.
    pub grace: Duration,
    /// How often the worker's status goes up.
    pub status_interval: Duration,
    /// Backoff between failed dials: from `min`, doubling, up to `max`, each with ±50% jitter.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// What the status says.
    pub address: String,
    pub tags: Vec<(String, String)>,
    pub release_version: String,
}

impl LinkConfig {
    pub fn new(upstreams: Vec<String>, address: String) -> Self {
        Self {
            upstreams,
            call_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            grace: Duration::from_secs(15),
            status_interval: Duration::from_secs(1),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            address,
            tags: Vec::new(),
            release_version: String::new(),
        }
    }
}

/// Where a worker keeps its cluster identity: `worker.key`, `worker.crt` and `ca.crt` (DER)
/// in one directory, each mode 0600.
#[derive(Debug, Clone)]
pub struct WorkerIdentityFiles {
    dir: PathBuf,
}

impl WorkerIdentityFiles {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The stored identity, if the worker was activated.
    pub fn load(&self) -> Result<Option<(ClusterIdentity, Vec<u8>)>, LinkError> {
        let key_path = self.path("worker.key");
        if !key_path.exists() {
            return Ok(None);
        }
        let read = |name: &str| {
            let path = self.path(name);
            std::fs::read(&path).map_err(|source| LinkError::File { path, source })
        };
        let key = read("worker.key")?;
        let certificate = read("worker.crt")?;
        let ca = read("ca.crt")?;
        let identity = ClusterIdentity::from_der(&certificate, &ca, &key)?;
        Ok(Some((identity, ca)))
    }

    fn store(&self, key: &WorkerKey, certificate: &[u8], ca: &[u8]) -> Result<(), LinkError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| LinkError::File {
            path: self.dir.clone(),
            source,
        })?;
        // The key last: its presence is what `load` takes as "activated".
        write_private(&self.path("ca.crt"), ca)?;
        write_private(&self.path("worker.crt"), certificate)?;
        write_private(&self.path("worker.key"), key.pkcs8_der())
    }
}

/// Writes `bytes` to a new file of mode 0600 beside `path`, then renames it over `path`.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), LinkError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| LinkError::File {
        path: path.to_owned(),
        source,
    };
    let temporary = path.with_extension("new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(error)?;
    file.write_all(bytes).map_err(error)?;
    file.sync_all().map_err(error)?;
    std::fs::rename(&temporary, path).map_err(error)
}

/// Trades `token` for a certificate at the first upstream that accepts it, and stores the
/// identity in `files`.
pub async fn activate(
    config: &LinkConfig,
    token: &str,
    files: &WorkerIdentityFiles,
) -> Result<(ClusterIdentity, Vec<u8>), LinkError> {
    let parsed = ActivationToken::parse(token)?;
    let key = WorkerKey::generate()?;
    let tls = worker_client_config(&ClusterTrust::Fingerprint(parsed.ca_fingerprint), None)?;
    let mut failures = Vec::new();
    for upstream in &config.upstreams {
        let attempt = async {
            let mut client = ClusterClient::new(connect(upstream, tls.clone(), config).await?);
            let request = pb::ActivateRequest {
                activation_token: token.trim().to_owned(),
                public_key: key.public_key_spki_der(),
            };
            let response = tokio::time::timeout(config.call_timeout, client.activate(request))
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|status| status.message().to_owned())?;
            Ok::<_, String>(response.into_inner())
        };
        match attempt.await {
            Ok(response) => {
                files.store(&key, &response.certificate, &response.ca_certificate)?;
                let identity = ClusterIdentity::from_der(
                    &response.certificate,
                    &response.ca_certificate,
                    key.pkcs8_der(),
                )?;
                info!(worker = %response.worker_id, %upstream, "activated");
                return Ok((identity, response.ca_certificate));
            }
            Err(e) => failures.push(format!("{upstream}: {e}")),
        }
    }
    Err(LinkError::Activation(failures.join("; ")))
}

/// One HTTP/2 channel to `upstream` over TLS.
async fn connect(
    upstream: &str,
    tls: Arc<rustls::ClientConfig>,
    config: &LinkConfig,
) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{upstream}"))
        .map_err(|e| format!("not a host:port: {e}"))?
        .connect_timeout(config.connect_timeout)
        .http2_keep_alive_interval(Duration::from_secs(2))
        .keep_alive_timeout(Duration::from_secs(3))
        .keep_alive_while_idle(true);
    let address = upstream.to_owned();
    let connector = tower::service_fn(move |_| {
        let (address, tls) = (address.clone(), tls.clone());
        async move { Ok::<_, std::io::Error>(TokioIo::new(route::dial(&address, tls).await?)) }
    });
    endpoint
        .connect_with_connector(connector)
        .await
        .map_err(|e| error_chain(&e))
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let causes: Vec<&(dyn std::error::Error + 'static)> =
        std::iter::successors(Some(error), |cause| cause.source()).collect();
    // A certificate refused by postern's own check says why in its own words; rustls shows
    // them in Debug form, and layers above repeat that.
    let own_words: Vec<(String, String)> = causes
        .iter()
        .filter_map(|cause| {
            let rustls_error = cause.downcast_ref::<rustls::Error>().or_else(|| {
                let inner = cause.downcast_ref::<std::io::Error>()?.get_ref()?;
                inner.downcast_ref::<rustls::Error>()
            })?;
            match rustls_error {
                rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                    Some((
                        rustls_error.to_string(),
                        format!("invalid peer certificate: {}", other.0),
                    ))
                }
                _ => None,
            }
        })
        .collect();
    let mut text = String::new();
    for cause in causes {
        let mut said = cause.to_string();
        for (debug_form, words) in &own_words {
            said = said.replace(debug_form, words);
        }
        // Layers that repeat their cause's text add nothing.
        if !text.contains(&said) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&said);
        }
    }
    text
}

/// The worker's session authority over the link. Cheap to clone.
#[derive(Clone)]
pub struct RemoteAuthority {
    inner: Arc<Inner>,
}

impl fmt::Debug for RemoteAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAuthority")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: LinkConfig,
    /// The controllers to link to: `config.upstreams` until [`RemoteAuthority::set_upstreams`].
    upstreams: watch::Sender<Vec<String>>,
    metrics: WorkerMetrics,
    /// The certificate the worker presents; replaced when renewed.
    identity: Mutex<Identity>,
    ca_der: Vec<u8>,
    files: WorkerIdentityFiles,
    /// The link; `None` while there is none.
    channel: watch::Sender<Option<Linked>>,
    /// Links made since the start, the current one's generation.
    links_made: AtomicU64,
    /// The connection threads' own connections to the linked controller.
    thread_links: ThreadLinks,
    events: broadcast::Sender<AuthorityEvent>,
    /// Closes not yet delivered, oldest first.
    unreported: Mutex<VecDeque<Close>>,
    /// Connections authorized and not closed.
    active: AtomicU32,
    /// The worker takes no new connections: the controllers send it no new sessions.
    draining: AtomicBool,
    /// Sessions looked up, so a session's every connection does not ask again.
    sessions: SessionCache,
}

/// Sessions the controller described, by id, while they may still carry connections.
///
/// Safe to answer from: the controller still decides every connection (activation,
/// authorization), a session's credentials, endpoint, limit and expiration never change,
/// and what does change is forgotten: a canceled session when the controller says so, and
/// everything when cancellations may have been missed (a new link, a re-check).
#[derive(Default)]
struct SessionCache(Mutex<HashMap<String, WorkerSession>>);

/// Most sessions kept; past it, expired ones go, and if that is not enough, all of them.
const MAX_CACHED_SESSIONS: usize = 100_000;

impl SessionCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, WorkerSession>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, id: &str) -> Option<WorkerSession> {
        let sessions = self.lock();
        let session = sessions.get(id)?;
        (session.expiration > SystemTime::now()).then(|| session.clone())
    }

    /// Keeps `session` if it may carry connections.
    fn keep(&self, session: &WorkerSession) {
        if !matches!(
            session.status,
            SessionStatus::Pending | SessionStatus::Active
        ) {
            return;
        }
        let mut sessions = self.lock();
        if sessions.len() >= MAX_CACHED_SESSIONS {
            let now = SystemTime::now();
            sessions.retain(|_, s| s.expiration > now);
            if sessions.len() >= MAX_CACHED_SESSIONS {
                sessions.clear();
            }
        }
        sessions.insert(session.id.clone(), session.clone());
    }

    /// The session is active now, pinned to `tofu`.
    fn activated(&self, id: &str, tofu: &TofuToken) {
        if let Some(session) = self.lock().get_mut(id) {
            session.status = SessionStatus::Active;
            session.tofu = Some(tofu.clone());
        }
    }

    fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn forget_all(&self) {
        self.lock().clear();
    }
}

/// A worker's certificate and when to renew it: a third of its remaining life before it
/// expires, counted from when it was loaded or issued.
struct Identity {
    certificate: ClusterIdentity,
    renew_at: SystemTime,
}

impl Identity {
    fn new(certificate: ClusterIdentity) -> Self {
        let now = SystemTime::now();
        let left = certificate
            .not_after()
            .duration_since(now)
            .unwrap_or(Duration::ZERO);
        Self {
            renew_at: now + left.mul_f64(2.0 / 3.0),
            certificate,
        }
    }
}

/// What a worker counts, for `/metrics`. Counters only grow; bytes are those of closed
/// connections (a live connection's bytes count once it closes).
#[derive(Debug)]
struct WorkerMetrics {
    opened: Counter,
    active: Gauge,
    closed: Family<Reason, Counter>,
    bytes_up: Counter,
    bytes_down: Counter,
    link_up: Gauge,
    links: Counter,
    calls: Family<Call, Histogram, fn() -> Histogram>,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self {
            opened: Counter::default(),
            active: Gauge::default(),
            closed: Family::default(),
            bytes_up: Counter::default(),
            bytes_down: Counter::default(),
            link_up: Gauge::default(),
            links: Counter::default(),
            // 50 µs to ~1.6 s.
            calls: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
            }),
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    call: &'static str,
}

impl WorkerMetrics {
    /// A call named `name`, started at `started`, has its answer (or gave up waiting).
    fn answered(&self, name: &'static str, started: Instant) {
        self.calls
            .get_or_create(&Call { call: name })
            .observe(started.elapsed().as_secs_f64());
    }

    fn register(&self, registry: &mut Registry) {
        let worker = registry.sub_registry_with_prefix("postern_worker");
        worker.register(
            "connections_opened",
            "Connections the controller authorized",
            self.opened.clone(),
        );
        worker.register(
            "connections_active",
            "Connections open now",
            self.active.clone(),
        );
        worker.register(
            "connections_closed",
            "Connections closed, by Boundary's closed reason",
            self.closed.clone(),
        );
        worker.register(
            "bytes_up",
            "Payload bytes from clients to endpoints, of closed connections",
            self.bytes_up.clone(),
        );
        worker.register(
            "bytes_down",
            "Payload bytes from endpoints to clients, of closed connections",
            self.bytes_down.clone(),
        );
        worker.register(
            "link_up",
            "1 while linked to a controller",
            self.link_up.clone(),
        );
        worker.register(
            "links",
            "Links opened to controllers (a rise is a reconnect)",
            self.links.clone(),
        );
        worker.register(
            "controller_call_seconds",
            "How long the controller took to answer, by call (answered or refused)",
            self.calls.clone(),
        );
    }
}

/// A connection's close as the controller is told it: its final bytes, why, and its addresses
/// when it was not reported connected before.
type Close = (ConnectionBytes, ClosedReason, Option<ConnectedInfo>);

/// Closes kept for the link's return; beyond this the oldest are dropped (and logged).
const MAX_UNREPORTED: usize = 100_000;

impl RemoteAuthority {
    /// Starts the link task with `identity`, trusting `ca_der`; it runs until `shutdown`.
    /// Returns at once; [`RemoteAuthority::linked`] tells when a link is up.
    /// Its certificate is renewed a third of its remaining life before it expires, and the
    /// new one stored in `files`.
    pub fn start(
        config: LinkConfig,
        identity: ClusterIdentity,
        ca_der: Vec<u8>,
        files: WorkerIdentityFiles,
        shutdown: CancellationToken,
    ) -> Result<Self, LinkError> {
        if config.upstreams.is_empty() {
            return Err(LinkError::Config("no upstream controller".to_owned()));
        }
        // Checked now: a bad identity is an error at start, not a link that never comes up.
        worker_client_config(&ClusterTrust::Ca(ca_der.clone()), Some(&identity))?;
        let (events, _) = broadcast::channel(1024);
        let authority = Self {
            inner: Arc::new(Inner {
                upstreams: watch::Sender::new(config.upstreams.clone()),
                config,
                metrics: WorkerMetrics::default(),
                channel: watch::Sender::new(None),
                links_made: AtomicU64::new(0),
                thread_links: ThreadLinks::default(),
                events,
                unreported: Mutex::default(),
                active: AtomicU32::new(0),
                draining: AtomicBool::new(false),
                sessions: SessionCache::default(),
                identity: Mutex::new(Identity::new(identity)),
                ca_der,
                files,
            }),
        };
        tokio::spawn(authority.clone().keep_linked(shutdown.clone()));
        tokio::spawn(authority.clone().watch_grace(shutdown));
        Ok(authority)
    }

    /// Tells the controllers, with the next status, that this worker takes no new
    /// connections: they stop sending it sessions.
    pub fn set_draining(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    /// Links to `upstreams` from now on: the next dial goes to one of them, and a link to a
    /// controller no longer among them is closed at once (live connections go on).
    pub fn set_upstreams(&self, upstreams: Vec<String>) -> Result<(), LinkError> {
        if upstreams.is_empty() {
            return Err(LinkError::Config("no upstream controller".to_owned()));
        }
        self.inner.upstreams.send_replace(upstreams);
        Ok(())
    }

    /// Whether a link is up now.
    pub fn is_linked(&self) -> bool {
        self.inner.channel.borrow().is_some()
    }

    /// Adds the worker's metrics (connections, bytes, the link) to `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.inner.metrics.register(registry);
    }

    /// Connections authorized through this worker and not yet closed.
    pub fn active_connections(&self) -> u32 {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Waits until a link is up, at most `timeout`; whether one is.
    pub async fn linked(&self, timeout: Duration) -> bool {
        let mut channel = self.inner.channel.subscribe();
        tokio::time::timeout(timeout, channel.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn unreported(&self) -> MutexGuard<'_, VecDeque<Close>> {
        self.inner
            .unreported
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn identity(&self) -> MutexGuard<'_, Identity> {
        self.inner
            .identity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Dials, links, and on failure moves to the next upstream, until shutdown.
    async fn keep_linked(self, shutdown: CancellationToken) {
        let config = &self.inner.config;
        let mut failures = 0u32;
        let mut linked_before = false;
        let start = rand::thread_rng().gen_range(0..config.upstreams.len());
        for turn in start.. {
            let upstream = {
                let upstreams = self.inner.upstreams.borrow();
                upstreams[turn % upstreams.len()].clone()
            };
            let upstream = &upstream;
            let current = self.identity().certificate.clone();
            let tls = match worker_client_config(
                &ClusterTrust::Ca(self.inner.ca_der.clone()),
                Some(&current),
            ) {
                Ok(tls) => tls,
                Err(e) => {
                    warn!(error = %e, "cannot use this worker's certificate");
                    return;
                }
            };
            let linked = tokio::select! {
                () = shutdown.cancelled() => return,
                linked = self.link_once(upstream, tls.clone(), &mut linked_before) => linked,
            };
            self.inner.channel.send_replace(None);
            self.inner.thread_links.clear();
            self.inner.metrics.link_up.set(0);
            match linked {
                Ok(why) => {
                    warn!(%upstream, reason = %why, "link to controller lost");
                    failures = 0;
                }
                Err(e) => {
                    warn!(%upstream, error = %e, "cannot link to controller");
                    failures = failures.saturating_add(1);
                }
            }
            let backoff = backoff(config, failures);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
        }
    }

    /// One link: dial, open the stream, serve it until it ends. `Ok` with why it ended once
    /// it was up; `Err` if it never came up.
    async fn link_once(
        &self,
        upstream: &str,
        tls: Arc<rustls::ClientConfig>,
        linked_before: &mut bool,
    ) -> Result<String, String> {
        let config = &self.inner.config;
        let linked = Linked {
            channel: connect(upstream, tls.clone(), config).await?,
            origin: http::Uri::try_from(format!("http://{upstream}"))
                .map_err(|e| format!("not a host:port: {e}"))?,
            upstream: upstream.to_owned(),
            tls,
            generation: self.inner.links_made.fetch_add(1, Ordering::Relaxed) + 1,
        };
        let mut client = linked.shared();
        let (statuses, statuses_rx) = mpsc::channel(4);
        // Room for one: the first status cannot fail to queue.
        let _ = statuses.try_send(self.status());
        let opened = tokio::time::timeout(
            config.call_timeout,
            client.link(ReceiverStream::new(statuses_rx)),
        )
        .await
        .map_err(|_| "link not accepted in time".to_owned())?
        .map_err(|status| format!("link refused: {}", status.message()))?;
        let mut events = opened.into_inner();
        let welcome = tokio::time::timeout(config.call_timeout, events.next())
            .await
            .map_err(|_| "no welcome from the controller".to_owned())?;
        let controller = match welcome {
            Some(Ok(pb::ControllerEvent {
                event: Some(Event::ControllerId(id)),
            })) => id,
            Some(Err(status)) => return Err(format!("link refused: {}", status.message())),
            _ => return Err("the controller did not welcome the link".to_owned()),
        };
        info!(%upstream, %controller, "linked to controller");
        self.inner.channel.send_replace(Some(linked));
        self.inner.metrics.link_up.set(1);
        self.inner.metrics.links.inc();
        if *linked_before {
            // Cancellations made while no link was up were not heard.
            self.inner.sessions.forget_all();
            let _ = self.inner.events.send(AuthorityEvent::Recheck);
        }
        *linked_before = true;
        self.flush_unreported(&mut client).await;

        let mut tick = tokio::time::interval(config.status_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let renew_at = self.identity().renew_at;
        let until_renewal = renew_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let renewal = tokio::time::sleep(until_renewal);
        tokio::pin!(renewal);
        let mut upstreams = self.inner.upstreams.subscribe();
        loop {
            tokio::select! {
                Ok(()) = upstreams.changed() => {
                    if !upstreams.borrow_and_update().iter().any(|u| u == upstream) {
                        return Ok("its controller is no longer among the upstreams".to_owned());
                    }
                }
                () = &mut renewal => {
                    return match self.renew(&mut client).await {
                        Ok(()) => Ok("certificate renewed; linking again with the new one".to_owned()),
                        Err(e) => {
                            warn!(error = %e, "certificate renewal failed; trying again at the next link");
                            Ok(format!("certificate renewal failed: {e}"))
                        }
                    };
                }
                _ = tick.tick() => {
                    if statuses.try_send(self.status()).is_err() {
                        debug!("status not sent: the link is not taking them");
                    }
                }
                event = events.next() => match event {
                    Some(Ok(pb::ControllerEvent { event: Some(Event::CanceledSessionId(id)) })) => {
                        self.inner.sessions.forget(&id);
                        let _ = self.inner.events.send(AuthorityEvent::SessionCanceled(id));
                    }
                    Some(Ok(pb::ControllerEvent { event: Some(Event::Recheck(_)) })) => {
                        self.inner.sessions.forget_all();
                        let _ = self.inner.events.send(AuthorityEvent::Recheck);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(status)) => return Ok(format!("controller ended it: {}", status.message())),
                    None => return Ok("the controller closed it".to_owned()),
                },
            }
        }
    }

    fn status(&self) -> pb::WorkerStatus {
        let config = &self.inner.config;
        pb::WorkerStatus {
            address: config.address.clone(),
            tags: config
                .tags
                .iter()
                .map(|(key, value)| pb::Tag {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            release_version: config.release_version.clone(),
            active_connections: self.inner.active.load(Ordering::Relaxed),
            draining: self.inner.draining.load(Ordering::Relaxed),
        }
    }

    /// Trades a new key's public half for a new certificate, stores both, and uses them from
    /// the next link on (the controller refuses the old certificate from now on).
    async fn renew(&self, client: &mut ClusterClient<Route>) -> Result<(), LinkError> {
        let key = WorkerKey::generate()?;
        let request = pb::RenewRequest {
            public_key: key.public_key_spki_der(),
        };
        let response = tokio::time::timeout(
            self.inner.config.call_timeout,
            client.renew_certificate(request),
        )
        .await
        .map_err(|_| LinkError::Renewal("the controller did not answer in time".to_owned()))?
        .map_err(|status| LinkError::Renewal(status.message().to_owned()))?
        .into_inner();
        let identity =
            ClusterIdentity::from_der(&response.certificate, &self.inner.ca_der, key.pkcs8_der())?;
        self.inner
            .files
            .store(&key, &response.certificate, &self.inner.ca_der)?;
        info!(not_after = ?identity.not_after(), "worker certificate renewed");
        *self.identity() = Identity::new(identity);
        Ok(())
    }

    /// Sends the closes kept while there was no link, oldest first.
    async fn flush_unreported(&self, client: &mut ClusterClient<Route>) {
        loop {
            let Some(close) = self.unreported().pop_front() else {
                return;
            };
            let sent = self.close_call(client, &close).await;
            if let Err(e) = sent {
                if matches!(e, AuthorityError::Unavailable(_)) {
                    self.unreported().push_front(close);
                    return;
                }
                debug!(connection = %close.0.connection_id, error = %e, "late close refused");
            }
        }
    }

    async fn close_call(
        &self,
        client: &mut ClusterClient<Route>,
        (bytes, reason, connected): &Close,
    ) -> Result<(), AuthorityError> {
        let address = |side: fn(&ConnectedInfo) -> std::net::SocketAddr| {
            connected
                .as_ref()
                .map(|c| side(c).to_string())
                .unwrap_or_default()
        };
        let request = pb::ConnectionClosedRequest {
            bytes: Some(convert::bytes(bytes)),
            reason: reason.as_str().to_owned(),
            client_address: address(|c| c.client),
            endpoint_address: address(|c| c.endpoint),
        };
        let started = Instant::now();
        let response = tokio::time::timeout(
            self.inner.config.call_timeout,
            client.connection_closed(request),
        )
        .await;
        self.inner.metrics.answered("connection_closed", started);
        let response = response
            .map_err(|_| unavailable("controller did not answer in time"))?
            .map_err(|status| unavailable(status.message()))?;
        convert::outcome(response.into_inner().refusal)
    }

    /// Tells the worker to cut its connections once no link has been up for the grace.
    async fn watch_grace(self, shutdown: CancellationToken) {
        let mut channel = self.inner.channel.subscribe();
        let grace = self.inner.config.grace;
        loop {
            // Wait for the link to go down (it starts down).
            if channel.borrow_and_update().is_some() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    changed = channel.wait_for(Option::is_none) => if changed.is_err() { return },
                }
            }
            let down_since = Instant::now();
            let up_again = tokio::select! {
                () = shutdown.cancelled() => return,
                up = tokio::time::timeout(grace, channel.wait_for(Option::is_some)) => up.is_ok(),
            };
            if !up_again {
                warn!(
                    after = ?down_since.elapsed(),
                    "no controller reachable for the grace period; closing every connection"
                );
                let _ = self.inner.events.send(AuthorityEvent::Unreachable);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    changed = channel.wait_for(Option::is_some) => if changed.is_err() { return },
                }
            }
        }
    }

    /// A client on the link, waiting for one until `deadline`.
    async fn client(&self, deadline: Instant) -> Result<ClusterClient<Route>, AuthorityError> {
        let mut channel = self.inner.channel.subscribe();
        let linked = tokio::time::timeout_at(deadline, channel.wait_for(Option::is_some)).await;
        match linked {
            Ok(Ok(linked)) => match &*linked {
                Some(linked) => Ok(self.client_on(linked)),
                None => Err(unavailable("no controller linked")),
            },
            _ => Err(unavailable("no controller linked")),
        }
    }

    /// A client on `linked`, by the calling thread's own connection where it has one.
    fn client_on(&self, linked: &Linked) -> ClusterClient<Route> {
        let route = self
            .inner
            .thread_links
            .route(linked, self.inner.config.connect_timeout);
        linked.client(route)
    }

    /// One call over the link, named `name` in the metrics, with the deadline.
    async fn call<T, F, Fut>(&self, name: &'static str, call: F) -> Result<T, AuthorityError>
    where
        F: FnOnce(ClusterClient<Route>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let started = Instant::now();
        let deadline = started + self.inner.config.call_timeout;
        let client = self.client(deadline).await?;
        let answered = tokio::time::timeout_at(deadline, call(client)).await;
        self.inner.metrics.answered(name, started);
        match answered {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(unavailable(format!(
                "controller: {} ({:?})",
                status.message(),
                status.code()
            ))),
            Err(_) => Err(unavailable("controller did not answer in time")),
        }
    }
}

fn backoff(config: &LinkConfig, failures: u32) -> Duration {
    let doubled = config
        .backoff_min
        .saturating_mul(1 << failures.min(16))
        .min(config.backoff_max);
    doubled.mul_f64(rand::thread_rng().gen_range(0.5..1.5))
}

impl SessionAuthority for RemoteAuthority {
    async fn lookup_session(
        &self,
        session_id: &str,
    ) -> Result<Option<WorkerSession>, AuthorityError> {
        if let Some(session) = self.inner.sessions.get(session_id) {
            return Ok(Some(session));
        }
        let request = pb::SessionRequest {
            session_id: session_id.to_owned(),
        };
        let response = self
            .call("lookup_session", |mut c| async move {
                c.lookup_session(request).await
            })
            .await?;
        convert::outcome(response.refusal)?;
        let session = response
            .session
            .map(convert::from_worker_session)
            .transpose()?;
        if let Some(session) = &session {
            self.inner.sessions.keep(session);
        }
        Ok(session)
    }

    async fn activate_session(
        &self,
        session_id: &str,
        tofu: &TofuToken,
    ) -> Result<(), AuthorityError> {
        let request = pb::ActivateSessionRequest {
            session_id: session_id.to_owned(),
            tofu_token: tofu.expose().to_owned(),
        };
        let response = self
            .call("activate_session", |mut c| async move {
                c.activate_session(request).await
            })
            .await?;
        convert::outcome(response.refusal)?;
        self.inner.sessions.activated(session_id, tofu);
        Ok(())
    }

    async fn cancel_session(&self, session_id: &str) -> Result<(), AuthorityError> {
        let request = pb::SessionRequest {
            session_id: session_id.to_owned(),
        };
        self.inner.sessions.forget(session_id);
        let response = self
            .call("cancel_session", |mut c| async move {
                c.cancel_session(request).await
            })
            .await?;
        convert::outcome(response.refusal)
    }

    async fn authorize_connection(
        &self,
        session_id: &str,
        _worker_id: &str,
    ) -> Result<AuthorizedConnection, AuthorityError> {
        // The controller takes the worker's id from its certificate.
        let request = pb::SessionRequest {
            session_id: session_id.to_owned(),
        };
        let response = self
            .call("authorize_connection", |mut c| async move {
                c.authorize_connection(request).await
            })
            .await?;
        convert::outcome(response.refusal)?;
        self.inner.active.fetch_add(1, Ordering::Relaxed);
        self.inner.metrics.opened.inc();
        self.inner.metrics.active.inc();
        Ok(AuthorizedConnection {
            connection_id: response.connection_id,
            connection_limit: response.connection_limit,
            connections_left: response.connections_left,
        })
    }

    async fn connection_connected(
        &self,
        connection_id: &str,
        info: ConnectedInfo,
    ) -> Result<(), AuthorityError> {
        let request = pb::ConnectionConnectedRequest {
            connection_id: connection_id.to_owned(),
            client_address: info.client.to_string(),
            endpoint_address: info.endpoint.to_string(),
        };
        let response = self
            .call("connection_connected", |mut c| async move {
                c.connection_connected(request).await
            })
            .await?;
        convert::outcome(response.refusal)
    }

    async fn connection_progress(
        &self,
        progress: Vec<ConnectionBytes>,
    ) -> Result<(), AuthorityError> {
        let request = pb::ConnectionProgressRequest {
            connections: progress.iter().map(convert::bytes).collect(),
        };
        let response = self
            .call("connection_progress", |mut c| async move {
                c.connection_progress(request).await
            })
            .await?;
        convert::outcome(response.refusal)
    }

    /// A close the controller cannot be told now is kept and sent once a link is up again;
    /// the worker is told it was taken.
    async fn connection_closed(
        &self,
        bytes: ConnectionBytes,
        reason: ClosedReason,
        connected: Option<ConnectedInfo>,
    ) -> Result<(), AuthorityError> {
        let _ = self
            .inner
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        let metrics = &self.inner.metrics;
        metrics.active.dec();
        metrics
            .closed
            .get_or_create(&Reason {
                reason: reason.as_str(),
            })
            .inc();
        metrics.bytes_up.inc_by(bytes.bytes_up);
        metrics.bytes_down.inc_by(bytes.bytes_down);
        // With no link now, the close waits for one instead of holding the connection.
        let close = (bytes, reason, connected);
        let linked = self.inner.channel.borrow().clone();
        let sent = match linked {
            Some(linked) => self.close_call(&mut self.client_on(&linked), &close).await,
            None => Err(unavailable("no controller linked")),
        };
        match sent {
            Err(AuthorityError::Unavailable(why)) => {
                debug!(connection = %close.0.connection_id, %why, "close kept until a controller is linked");
                let mut unreported = self.unreported();
                if unreported.len() >= MAX_UNREPORTED {
                    if let Some((lost, ..)) = unreported.pop_front() {
                        warn!(connection = %lost.connection_id, "too many unreported closes; dropping the oldest");
                    }
                }
                unreported.push_back(close);
                Ok(())
            }
            other => other,
        }
    }

    fn events(&self) -> broadcast::Receiver<AuthorityEvent> {
        self.inner.events.subscribe()
    }
}
