//! The worker: accepts client proxies' TLS connections and splices each to its session's
//! endpoint.
//!
//! Bytes enter on a TCP listener the caller bound ([`serve`]), pass TLS (the session's own
//! certificate on both sides, chosen from the ClientHello), a WebSocket upgrade and the
//! protobuf handshake ([`connection`]), and leave to the endpoint over plain TCP. Every
//! decision about a session (does it exist, may this client pin it, is there a connection
//! left) is the [`SessionAuthority`]'s (the `postern-authority` contract); the worker keeps only the set of sessions it carries
//! connections for, to cut them when the authority pushes a cancellation.
#![forbid(unsafe_code)]

mod connection;
mod error;
mod live;
mod metrics;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use postern_io::{reset_on_close, ConnectionThreads};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

pub use error::{Phase, WorkerError};
pub use metrics::{
    Limits, WorkerMetrics, DEFAULT_MAX_CONCURRENT_HANDSHAKES, DEFAULT_MAX_CONNECTIONS,
};
pub use postern_authority::Clock;
use postern_authority::{AuthorityEvent, SessionAuthority, SessionStatus};

/// Default address of the worker's proxy listener.
pub const DEFAULT_PROXY_ADDR: &str = "127.0.0.1:9202";

/// Deadlines and identity of a worker.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Sent to the authority with each connection it authorizes.
    pub worker_id: String,
    pub tls_handshake_timeout: Duration,
    pub upgrade_timeout: Duration,
    /// Also bounded by the session's expiration.
    pub handshake_timeout: Duration,
    pub dial_timeout: Duration,
    pub close_timeout: Duration,
    /// How long live connections get to finish after shutdown is requested.
    pub shutdown_grace: Duration,
    /// How often byte counts of live connections go to the authority.
    pub progress_interval: Duration,
    /// How long a connection runs before it is reported connected: one that ends sooner (a
    /// health check, a short request) is reported once, connected and closed together,
    /// instead of in two calls to the authority.
    pub connected_report_delay: Duration,
    /// Threads carrying connections, each with its own single-threaded runtime; 0 means one
    /// per core available to the process.
    pub connection_threads: usize,
    /// Connections and TLS handshakes at once; a connection beyond either is reset at once.
    /// Shared: changing them applies to the running worker.
    pub limits: Limits,
    /// Where the worker counts latencies, refusals and live sessions.
    pub metrics: WorkerMetrics,
    /// Where the worker reads the time to judge session expirations.
    pub clock: Clock,
    /// Runs connections on this runtime instead of on connection threads (`connection_threads`
    /// is then ignored). A test on paused tokio time needs it: a paused clock is one
    /// runtime's, and each connection thread runs a runtime of its own.
    pub connection_runtime: Option<Handle>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: "w_1234567890".to_owned(),
            tls_handshake_timeout: Duration::from_secs(10),
            upgrade_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(30),
            dial_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(5),
            progress_interval: Duration::from_secs(1),
            connected_report_delay: Duration::from_millis(100),
            connection_threads: 0,
            limits: Limits::default(),
            metrics: WorkerMetrics::default(),
            clock: postern_authority::system_clock(),
            connection_runtime: None,
        }
    }
}

impl fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every field but the clock, a closure with nothing to show.
        f.debug_struct("WorkerConfig")
            .field("worker_id", &self.worker_id)
            .field("tls_handshake_timeout", &self.tls_handshake_timeout)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("dial_timeout", &self.dial_timeout)
            .field("close_timeout", &self.close_timeout)
            .field("connected_report_delay", &self.connected_report_delay)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("progress_interval", &self.progress_interval)
            .field("connection_threads", &self.connection_threads)
            .field("limits", &self.limits)
            .field("connection_runtime", &self.connection_runtime)
            .finish_non_exhaustive()
    }
}

/// What every connection task of one worker shares.
struct Shared<A> {
    authority: Arc<A>,
    config: WorkerConfig,
    live: Arc<live::LiveSessions>,
    /// Cancelled when the worker starts draining: client watches end then.
    drain: CancellationToken,
    shutdown: CancellationToken,
}

impl<A> Shared<A> {
    fn now(&self) -> SystemTime {
        (self.config.clock)()
    }

    /// How long until `deadline` by the worker's clock; zero once it has passed.
    fn until(&self, deadline: SystemTime) -> Duration {
        deadline
            .duration_since(self.now())
            .unwrap_or(Duration::ZERO)
    }
}

/// Serves client proxies on `listener` until `shutdown` is cancelled, then cuts live
/// connections (reporting them closed) and returns once they are done or the grace is over.
pub async fn serve<A: SessionAuthority>(
    listener: TcpListener,
    authority: Arc<A>,
    config: WorkerConfig,
    shutdown: CancellationToken,
) {
    serve_until(listener, authority, config, shutdown.clone(), shutdown).await;
}

/// Serves client proxies on `listener`; once `drain` is cancelled, closes the listener (new
/// connections are refused) and lets live connections run until they end or `cut` is
/// cancelled, which cuts them (`system error`, reported). Returns when every connection is
/// done, or `shutdown_grace` after the cut.
pub async fn serve_until<A: SessionAuthority>(
    listener: TcpListener,
    authority: Arc<A>,
    config: WorkerConfig,
    drain: CancellationToken,
    shutdown: CancellationToken,
) {
    let grace = config.shutdown_grace;
    let threads = match &config.connection_runtime {
        Some(runtime) => ConnectionThreads::on_runtime(runtime.clone()),
        None => ConnectionThreads::start(config.connection_threads),
    };
    // Cut by `shutdown`, and stopped once the last connection is done after a drain (the
    // background tasks end with it).
    let stop = shutdown.child_token();
    let shared = Arc::new(Shared {
        authority,
        live: Arc::new(live::LiveSessions::new(config.metrics.clone())),
        config,
        drain: drain.clone(),
        shutdown: stop.clone(),
    });
    let background = TaskTracker::new();
    background.spawn(watch_cancellations(shared.clone()));
    background.spawn(report_progress(shared.clone()));
    background.close();
    let tracker = TaskTracker::new();
    let occupancy = metrics::Occupancy::default();
    let mut refused = Refused::default();
    loop {
        let accepted = tokio::select! {
            () = drain.cancelled() => break,
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, client) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %e, "accept on worker listener failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (place, handshake) = match occupancy.admit(&shared.config.limits) {
            Ok(places) => places,
            Err(full) => {
                shared.config.metrics.refused(full.reason());
                refused.one(&tcp, client, full);
                continue;
            }
        };
        let span = tracing::info_span!(
            "connection",
            %client,
            session = tracing::field::Empty,
            connection = tracing::field::Empty
        );
        let shared = shared.clone();
        let tracked = tracker.token();
        let serve_one = move |tcp| {
            async move {
                if let Err(e) = connection::serve(shared, tcp, client, place, handshake).await {
                    info!(error = %e, "connection ended early");
                }
                drop(tracked);
            }
            .instrument(span)
        };
        threads.spawn_connection(tcp, serve_one);
    }
    drop(listener);
    tracker.close();
    if !shutdown.is_cancelled() {
        info!(
            live = shared.live.session_ids().len(),
            "draining: new connections are refused; live ones run until they end or are cut"
        );
        tokio::select! {
            () = tracker.wait() => {}
            () = shutdown.cancelled() => {}
        }
    }
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!(
            ?grace,
            "connections still open after the shutdown grace; abandoning them"
        );
    }
    stop.cancel();
    background.wait().await;
    // Dropping the threads' runtimes drops whatever connection outlived the grace.
    drop(threads);
}

/// Connections refused because a cap was reached, logged at most once a second so a flood
/// does not flood the log too.
#[derive(Debug, Default)]
struct Refused {
    since_log: u64,
    last_log: Option<Instant>,
}

impl Refused {
    fn one(&mut self, tcp: &TcpStream, client: SocketAddr, full: metrics::Full) {
        if let Err(e) = reset_on_close(tcp) {
            debug!(error = %e, "could not arrange the reset");
        }
        self.since_log += 1;
        let due = self
            .last_log
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if due {
            match full {
                metrics::Full::Handshakes(limit) => warn!(
                    %client,
                    refused = self.since_log,
                    limit,
                    "refusing connections: the most TLS handshakes allowed at once (max_concurrent_handshakes) are in progress"
                ),
                metrics::Full::Connections(limit) => warn!(
                    %client,
                    refused = self.since_log,
                    limit,
                    "refusing connections: the most connections allowed at once (max_connections) are open"
                ),
            }
            self.since_log = 0;
            self.last_log = Some(Instant::now());
        }
    }
}

/// Cuts live connections of sessions the authority cancels, and all of them when it says it
/// is out of reach.
async fn watch_cancellations<A: SessionAuthority>(shared: Arc<Shared<A>>) {
    let mut events = shared.authority.events();
    loop {
        let next = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            next = events.recv() => next,
        };
        match next {
            Ok(AuthorityEvent::SessionCanceled(session_id)) => {
                debug!(session = %session_id, "session canceled by the authority");
                shared.live.cancel(&session_id);
            }
            Ok(AuthorityEvent::Unreachable) => {
                let cut = shared.live.cut_all();
                warn!(
                    sessions = cut,
                    "session authority out of reach for too long; cutting every live connection"
                );
            }
            Ok(AuthorityEvent::Recheck) | Err(RecvError::Lagged(_)) => {
                if let Err(RecvError::Lagged(missed)) = next {
                    warn!(missed, "missed cancellations; re-checking live sessions");
                }
                for id in shared.live.session_ids() {
                    let ended = match shared.authority.lookup_session(&id).await {
                        Ok(Some(s)) => {
                            !matches!(s.status, SessionStatus::Pending | SessionStatus::Active)
                        }
                        Ok(None) => true,
                        Err(e) => {
                            warn!(session = %id, error = %e, "could not re-check session");
                            false
                        }
                    };
                    if ended {
                        shared.live.cancel(&id);
                    }
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Sends byte counts of live connections to the authority while they flow: each report
/// carries the connections whose counts moved since the authority last took them (an idle
/// connection costs the authority nothing; its counts are those it has).
async fn report_progress<A: SessionAuthority>(shared: Arc<Shared<A>>) {
    let mut tick = tokio::time::interval(shared.config.progress_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // What the authority has, by connection: a new connection's counts start at zero there.
    let mut reported: HashMap<String, (u64, u64)> = HashMap::new();
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let live = shared.live.progress();
        let mut now = HashMap::with_capacity(live.len());
        let mut moved = Vec::new();
        for bytes in live {
            let counts = (bytes.bytes_up, bytes.bytes_down);
            let known = reported
                .get(&bytes.connection_id)
                .copied()
                .unwrap_or((0, 0));
            now.insert(bytes.connection_id.clone(), known);
            if counts != known {
                moved.push(bytes);
            }
        }
        // Closed connections drop out: their close carries their final counts.
        reported = now;
        if moved.is_empty() {
            continue;
        }
        let taken: Vec<(String, (u64, u64))> = moved
            .iter()
            .map(|b| (b.connection_id.clone(), (b.bytes_up, b.bytes_down)))
            .collect();
        match shared.authority.connection_progress(moved).await {
            Ok(()) => reported.extend(taken),
            Err(e) => warn!(error = %e, "could not report connection progress"),
        }
    }
}
