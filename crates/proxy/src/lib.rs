//! The client side of a session: a local TCP listener whose every connection is tunnelled to
//! the session's worker.
//!
//! A decoded authorization token goes in ([`ClientProxy::new`]); the caller binds the local
//! listener ([`ClientProxy::bind`]) and runs it ([`ClientProxy::run`]). Each accepted
//! connection gets its own TLS + WebSocket tunnel ([`tunnel`]) and is spliced to it with
//! half-close intact. The proxy ends when the session expires, when no connection is left
//! and the live ones are done, when the worker says the session belongs to another client,
//! or on shutdown; on shutdown before expiry it tells the worker to cancel the session.
#![forbid(unsafe_code)]

mod error;
mod tunnel;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_io::{
    reset_on_close, splice, tune_tcp, ByteCounts, ConnectionThreads, Counted, End, Side,
};
use postern_tls::SessionCredentials;
use postern_wire::pb::targets::SessionAuthorizationData;
use postern_ws::close;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use error::is_reset;
pub use error::ProxyError;

/// Where and how the local listener runs.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub listen_addr: IpAddr,
    /// 0 = the token's default client port if it has one, else an ephemeral port.
    pub listen_port: u16,
    /// Deadline for each phase of opening a tunnel.
    pub setup_timeout: Duration,
    /// End the proxy once no connection has been open for this long.
    pub inactive_timeout: Option<Duration>,
    /// Threads carrying connections (each a single-threaded runtime; a connection stays on
    /// one); 0 means one per core.
    pub connection_threads: usize,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            listen_port: 0,
            setup_timeout: Duration::from_secs(10),
            inactive_timeout: None,
            connection_threads: 0,
        }
    }
}

/// Something the user should see while the proxy runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyEvent {
    /// The worker's count after a connection was admitted, or 0 once it refused one.
    ConnectionsLeft(i32),
    /// A local connection could not be tunnelled; the proxy goes on.
    ConnectionFailed(String),
}

/// Why the proxy ended; the Display texts are Boundary's, but for the session ending early
/// (Boundary's proxy only notices at the next connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyEnd {
    #[error("Session has expired")]
    Expired,
    #[error("Session was canceled")]
    Canceled,
    /// The worker no longer accepts the session, which ended before its expiration.
    #[error("Session was terminated: {0}")]
    Terminated(String),
    #[error("No connections left in session")]
    NoConnectionsLeft,
    #[error("Inactivity timeout reached")]
    InactivityTimeout,
    #[error("Received shutdown signal")]
    Shutdown,
    #[error("Error from proxy client: {0}")]
    Error(String),
}

impl ProxyEnd {
    /// Whether the session ended before its expiration by someone else's doing.
    pub fn ended_early(&self) -> bool {
        matches!(self, Self::Canceled | Self::Terminated(_))
    }
}

/// Why a session is over for its client ([`ClientProxy::watch`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionOver {
    #[error("Session was canceled")]
    Canceled,
    #[error("Session has expired")]
    Expired,
    /// The worker refused the session's credentials or any more connections.
    #[error("{0}")]
    Refused(String),
}

impl From<SessionOver> for ProxyEnd {
    fn from(over: SessionOver) -> Self {
        match over {
            SessionOver::Canceled => Self::Canceled,
            SessionOver::Expired => Self::Expired,
            SessionOver::Refused(why) => Self::Terminated(why),
        }
    }
}

/// A session's client proxy.
#[derive(Debug)]
pub struct ClientProxy {
    session_id: String,
    expiration: SystemTime,
    connection_limit: i32,
    default_client_port: u16,
    dialer: tunnel::Dialer,
    bytes: Arc<ByteCounts>,
    /// A carried connection was cut because the session was canceled.
    canceled: CancellationToken,
    connections_open: AtomicUsize,
    connections_total: AtomicU64,
}

impl ClientProxy {
    /// Checks the token's credentials and prepares the TLS configuration.
    pub fn new(
        token: &SessionAuthorizationData,
        settings: &ProxySettings,
    ) -> Result<Self, ProxyError> {
        let credentials = SessionCredentials::from_parts(
            &token.session_id,
            &token.certificate,
            &token.private_key,
        )?;
        let worker = token.worker_info.first().ok_or(ProxyError::NoWorker)?;
        let tls = postern_tls::client_config(&credentials)?;
        // Older tokens carry no expiration: the certificate's NotAfter is the deadline then.
        let expiration = token
            .expiration
            .and_then(|t| SystemTime::try_from(t).ok())
            .unwrap_or_else(|| credentials.not_after());
        Ok(Self {
            session_id: token.session_id.clone(),
            expiration,
            connection_limit: token.connection_limit,
            default_client_port: u16::try_from(token.default_client_port).unwrap_or(0),
            dialer: tunnel::Dialer::new(&worker.address, tls, settings.setup_timeout)?,
            bytes: Arc::default(),
            canceled: CancellationToken::new(),
            connections_open: AtomicUsize::new(0),
            connections_total: AtomicU64::new(0),
        })
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    pub fn expiration(&self) -> SystemTime {
        self.expiration
    }

    /// -1 = unlimited.
    pub fn connection_limit(&self) -> i32 {
        self.connection_limit
    }

    /// Payload bytes carried so far, all connections together.
    pub fn bytes(&self) -> &ByteCounts {
        &self.bytes
    }

    /// Connections being carried now, and carried in all.
    pub fn connections(&self) -> (usize, u64) {
        (
            self.connections_open.load(Ordering::Relaxed),
            self.connections_total.load(Ordering::Relaxed),
        )
    }

    /// Asks the worker to cancel the session, as a client done with it before its expiration
    /// does (SESSION_CANCEL); the outcome goes to the log.
    pub async fn cancel(&self) {
        if SystemTime::now() >= self.expiration {
            return;
        }
        match self.dialer.cancel_session().await {
            Ok(()) => info!(session = %self.session_id, "session canceled"),
            // The worker no longer knows the session: it already ended (canceled elsewhere).
            Err(ProxyError::WorkerTls { .. }) => {
                info!(session = %self.session_id, "session had already ended")
            }
            Err(e) => warn!(session = %self.session_id, error = %e, "could not cancel the session"),
        }
    }

    /// Completes when the session is over for this client, and says why: the worker said it
    /// was canceled (cutting a carried connection, or on the watch this opens to a postern
    /// worker, so it is known with no connection open), the worker refuses the session, or
    /// its expiration passed. Holds one connection to the worker while it runs.
    pub async fn watch(&self) -> SessionOver {
        let until_expiry = self
            .expiration
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            () = self.canceled.cancelled() => SessionOver::Canceled,
            () = tokio::time::sleep(until_expiry) => SessionOver::Expired,
            over = self.dialer.watch() => over,
        }
    }

    /// Binds the local listener: the given port, else the token's default port, else any.
    pub async fn bind(&self, settings: &ProxySettings) -> Result<TcpListener, ProxyError> {
        let port = match settings.listen_port {
            0 => self.default_client_port,
            port => port,
        };
        let addr = SocketAddr::new(settings.listen_addr, port);
        TcpListener::bind(addr)
            .await
            .map_err(|source| ProxyError::Bind { addr, source })
    }

    /// Serves `listener` until the proxy ends, sending [`ProxyEvent`]s as they happen.
    pub async fn run(
        self: &Arc<Self>,
        listener: TcpListener,
        settings: &ProxySettings,
        shutdown: CancellationToken,
        events: mpsc::UnboundedSender<ProxyEvent>,
    ) -> ProxyEnd {
        let until_expiry = self
            .expiration
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let expired = tokio::time::sleep(until_expiry);
        tokio::pin!(expired);
        let state = Arc::new(RunState {
            cut: CancellationToken::new(),
            exhausted: CancellationToken::new(),
            fatal: CancellationToken::new(),
            fatal_end: std::sync::Mutex::new(None),
            events,
            connection_ended: Notify::new(),
        });
        let over = self.watch();
        tokio::pin!(over);
        let tracker = TaskTracker::new();
        let threads = ConnectionThreads::start(settings.connection_threads);
        let inactive = settings.inactive_timeout;
        let end = loop {
            // Runs only while no connection is open; a new connection restarts the loop.
            let idle = async {
                let Some(after) = inactive else {
                    return std::future::pending().await;
                };
                loop {
                    // Created before the check, so an end in between still wakes it.
                    let ended = state.connection_ended.notified();
                    if tracker.is_empty() {
                        return tokio::time::sleep(after).await;
                    }
                    ended.await;
                }
            };
            let accepted = tokio::select! {
                () = &mut expired => break ProxyEnd::Expired,
                () = shutdown.cancelled() => break ProxyEnd::Shutdown,
                () = state.fatal.cancelled() => break state.fatal_end(),
                over = &mut over => break over.into(),
                () = state.exhausted.cancelled() => {
                    drop(listener);
                    tracker.close();
                    break tokio::select! {
                        () = tracker.wait() => ProxyEnd::NoConnectionsLeft,
                        () = &mut expired => ProxyEnd::Expired,
                        () = shutdown.cancelled() => ProxyEnd::Shutdown,
                        over = &mut over => over.into(),
                    };
                }
                () = idle => break ProxyEnd::InactivityTimeout,
                accepted = listener.accept() => accepted,
            };
            let (local, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "accept on local listener failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let span =
                tracing::info_span!("connection", session = %self.session_id, client = %peer);
            let (proxy, state, tracked) = (self.clone(), state.clone(), tracker.token());
            threads.spawn_connection(local, move |local| {
                async move {
                    proxy.serve_connection(local, state.clone()).await;
                    drop(tracked);
                    state.connection_ended.notify_waiters();
                }
                .instrument(span)
            });
        };
        // Whatever ended the proxy ends its connections too.
        state.cut.cancel();
        tracker.close();
        if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .is_err()
        {
            warn!("connections did not finish within 5s of the proxy ending");
        }
        if end == ProxyEnd::Shutdown {
            self.cancel().await;
        }
        end
    }

    /// Tunnels one local connection; never fails the proxy except through `state`.
    async fn serve_connection(self: Arc<Self>, local: TcpStream, state: Arc<RunState>) {
        let tunnel = tokio::select! {
            () = state.cut.cancelled() => return,
            opened = self.open_tunnel() => match opened {
                Ok(tunnel) => tunnel,
                Err(e) => return state.connection_failed(e),
            },
        };
        let left = tunnel.connections_left();
        if left != -1 {
            state.send(ProxyEvent::ConnectionsLeft(left));
        }
        if left == 0 {
            state.exhausted.cancel();
        }
        self.carry(local, tunnel, self.bytes.clone(), &state.cut)
            .await;
    }

    /// Opens a tunnel to the worker for one local connection: TCP, TLS with the session
    /// certificate, the WebSocket upgrade and the protobuf handshake, each under the setup
    /// deadline. The worker counts it as one of the session's connections.
    pub async fn open_tunnel(&self) -> Result<Tunnel, ProxyError> {
        // Boxed: the setup's state is large (~4 KiB) and would otherwise stay part of the
        // caller's task, idle connections included, long after setup is over.
        let (ws, result) = Box::pin(self.dialer.connect()).await?;
        Ok(Tunnel {
            ws,
            connections_left: result.connections_left,
        })
    }

    /// Carries `local` through `tunnel` until both sides are done, one fails, or `cut` is
    /// cancelled; the payload bytes are added to `bytes`.
    pub async fn carry(
        &self,
        local: TcpStream,
        tunnel: Tunnel,
        bytes: Arc<ByteCounts>,
        cut: &CancellationToken,
    ) -> Carried {
        if let Err(e) = tune_tcp(&local) {
            debug!(error = %e, "could not tune local socket");
        }
        let mut ws = tunnel.ws;
        let mut local = Counted::new(local, Side::Client, bytes);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        let carried = self.splice_until_cut(&mut local, &mut ws, cut).await;
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
        if carried == Carried::SessionCanceled {
            self.canceled.cancel();
        }
        carried
    }

    async fn splice_until_cut(
        &self,
        local: &mut Counted<TcpStream>,
        ws: &mut tunnel::WorkerWs,
        cut: &CancellationToken,
    ) -> Carried {
        let carried = tokio::select! {
            copied = splice(local, ws) => match copied {
                Ok((up, down)) => {
                    debug!(up, down, "connection done");
                    // Whichever side closed first, finish TLS with close_notify.
                    if tokio::time::timeout(Duration::from_secs(1), ws.shutdown()).await.is_err() {
                        debug!("TLS shutdown with the worker timed out");
                    }
                    Carried::Closed
                }
                Err(e) => {
                    // One side ended abnormally: the other gets a reset, not a FIN.
                    debug!(error = %e, "connection ended with an error");
                    let reset = match e.end {
                        End::A => reset_on_close(ws.get_ref().get_ref()),
                        End::B => reset_on_close(local.get_ref()),
                    };
                    if let Err(e) = reset {
                        debug!(error = %e, "could not arrange the reset");
                    }
                    Carried::Failed
                }
            },
            () = cut.cancelled() => {
                if tokio::time::timeout(Duration::from_secs(1), ws.close(close::NORMAL, close::DONE)).await.is_err() {
                    debug!("closing handshake with the worker timed out");
                }
                return Carried::Cut;
            }
        };
        match ws.peer_close() {
            Some(frame) if frame.reason == close::SESSION_CANCELED => Carried::SessionCanceled,
            _ => carried,
        }
    }
}

/// A tunnel to the worker opened for one local connection, not yet carrying bytes
/// ([`ClientProxy::open_tunnel`], [`ClientProxy::carry`]).
#[derive(Debug)]
pub struct Tunnel {
    ws: tunnel::WorkerWs,
    connections_left: i32,
}

impl Tunnel {
    /// The session's connections left after this one, as the worker counted; -1 = unlimited.
    pub fn connections_left(&self) -> i32 {
        self.connections_left
    }
}

/// How a carried connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    /// Both sides closed in order.
    Closed,
    /// One side ended abnormally; the other got a reset.
    Failed,
    /// The caller cut it; the worker was told with a closing handshake.
    Cut,
    /// The worker cut it because the session was canceled.
    SessionCanceled,
}

/// Signals between the accept loop and its connection tasks.
#[derive(Debug)]
struct RunState {
    /// Cuts every live connection (the proxy is ending).
    cut: CancellationToken,
    /// The worker admits no more connections: stop accepting, let live ones finish.
    exhausted: CancellationToken,
    /// The session cannot be used by this process any more.
    fatal: CancellationToken,
    fatal_end: std::sync::Mutex<Option<ProxyEnd>>,
    events: mpsc::UnboundedSender<ProxyEvent>,
    /// A connection has ended (the inactivity timer may start).
    connection_ended: Notify,
}

impl RunState {
    fn send(&self, event: ProxyEvent) {
        // The receiver only goes away when the caller stopped caring about events.
        if self.events.send(event).is_err() {
            debug!("proxy events receiver dropped");
        }
    }

    fn connection_failed(&self, error: ProxyError) {
        match &error {
            ProxyError::Refused { reason, .. } if reason == close::UNABLE_TO_AUTHORIZE => {
                self.send(ProxyEvent::ConnectionsLeft(0));
                self.exhausted.cancel();
            }
            // A worker refuses a session it cannot serve with a TLS alert; a reset instead
            // is the worker at one of its limits (or going away), and the next connection
            // may get through.
            ProxyError::WorkerTls { source, .. } if is_reset(source) => {
                warn!(error = %error, "the worker reset the connection; try again");
                self.send(ProxyEvent::ConnectionFailed(error.to_string()));
            }
            // A session this client was using is no longer accepted: it ended early.
            ProxyError::WorkerTls { .. } => self.end(ProxyEnd::Terminated(error.to_string())),
            ProxyError::SessionInUse => self.end(ProxyEnd::Error(error.to_string())),
            _ => {
                warn!(error = %error, "could not tunnel a connection");
                self.send(ProxyEvent::ConnectionFailed(error.to_string()));
            }
        }
    }

    /// Ends the proxy with `end`, unless something ended it first.
    fn end(&self, end: ProxyEnd) {
        let mut fatal = self.fatal_end.lock().unwrap_or_else(|p| p.into_inner());
        fatal.get_or_insert(end);
        self.fatal.cancel();
    }

    fn fatal_end(&self) -> ProxyEnd {
        let fatal = self.fatal_end.lock().unwrap_or_else(|p| p.into_inner());
        fatal.clone().unwrap_or(ProxyEnd::Error(String::new()))
    }
}
