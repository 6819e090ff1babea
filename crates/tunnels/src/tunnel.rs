//! One tunnel: a local listener that stays open, and a supervisor that keeps a session behind
//! it.
//!
//! The supervisor authorizes a session, publishes it ([`Phase::Ready`]) and waits for the
//! one signal that it must be replaced: renewal time (`renew_before` ahead of expiry), or
//! the session being over ([`Session::end`]: canceled, as the worker's watch or a cut
//! connection says; out of connections; refused by the worker). Then it authorizes the next one. Each accepted connection takes whatever
//! session is current and keeps it to its end, so renewal never cuts a live connection; an
//! old session is simply dropped with its last connection. A connection whose tunnel open is
//! refused at the session level marks that session over and retries once on the next one.
//! Without a usable auth token or target the tunnel refuses connections at once (a reset)
//! and keeps retrying in the background, at once when a new login changed the token file.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_io::{reset_on_close, ByteCounts};
use postern_proxy::{Carried, ClientProxy, ProxySettings};
use postern_wire::pb::targets::SessionAuthorizationData;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use crate::authorize::{self, Refusal, TokenStamp};
use crate::config::{Start, TunnelSpec, DEFAULT_RENEW_BEFORE_CAP};
use crate::status::TunnelStatus;

/// Retries of a refused authorization start at this pause and double up to the next.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a new connection waits for a session being authorized before it is refused.
const SESSION_WAIT: Duration = Duration::from_secs(15);

/// Where a tunnel's session stands.
#[derive(Debug, Clone)]
pub enum Phase {
    /// On-demand, no session yet: the next connection authorizes one.
    Idle,
    Authorizing,
    Ready(Arc<Session>),
    /// No session can be had; `stamp` is the token file as it was then.
    Refusing {
        refusal: Refusal,
        stamp: TokenStamp,
    },
}

/// A session carrying a tunnel's connections.
#[derive(Debug)]
pub struct Session {
    proxy: ClientProxy,
    /// Cancelled once the session can take no new connection.
    over: CancellationToken,
}

impl Session {
    pub fn id(&self) -> &str {
        self.proxy.session_id()
    }

    pub fn expiration(&self) -> SystemTime {
        self.proxy.expiration()
    }

    /// The session can take no new connection: the supervisor authorizes the next one now.
    /// Every "session over" signal comes through here.
    fn end(&self, why: &str) {
        if !self.over.is_cancelled() {
            info!(session = %self.id(), why, "session over; authorizing the next");
            self.over.cancel();
        }
    }

    fn usable(&self) -> bool {
        !self.over.is_cancelled() && SystemTime::now() < self.expiration()
    }
}

/// One running tunnel.
#[derive(Debug)]
pub struct Tunnel {
    name: String,
    spec: TunnelSpec,
    local: SocketAddr,
    phase: watch::Sender<Phase>,
    /// A connection wants a session (on-demand start, or a retry after a new login).
    wanted: Notify,
    open: AtomicU64,
    total: AtomicU64,
    bytes: Arc<ByteCounts>,
    /// Stops listening and authorizing; live connections go on.
    stop: CancellationToken,
    /// Cuts live connections.
    cut: CancellationToken,
    /// The accept loop, which owns the listener.
    accepting: TaskTracker,
    connections: TaskTracker,
}

impl Tunnel {
    /// Starts serving `listener` (already bound to `spec.listen`) under `name`.
    pub fn start(
        name: &str,
        spec: TunnelSpec,
        listener: TcpListener,
    ) -> std::io::Result<Arc<Self>> {
        let local = listener.local_addr()?;
        let phase = match spec.start {
            Start::Eager => Phase::Authorizing,
            Start::OnDemand => Phase::Idle,
        };
        let tunnel = Arc::new(Self {
            name: name.to_owned(),
            spec,
            local,
            phase: watch::Sender::new(phase),
            wanted: Notify::new(),
            open: AtomicU64::new(0),
            total: AtomicU64::new(0),
            bytes: Arc::default(),
            stop: CancellationToken::new(),
            cut: CancellationToken::new(),
            accepting: TaskTracker::new(),
            connections: TaskTracker::new(),
        });
        let span = tracing::info_span!("tunnel", name = %name, listen = %local);
        tokio::spawn(tunnel.clone().supervise().instrument(span.clone()));
        tunnel
            .accepting
            .spawn(tunnel.clone().accept(listener).instrument(span));
        tunnel.accepting.close();
        Ok(tunnel)
    }

    pub fn spec(&self) -> &TunnelSpec {
        &self.spec
    }

    /// Stops listening at once; live connections finish on their sessions.
    pub fn drain(&self) {
        self.stop.cancel();
        self.connections.close();
    }

    /// Waits for the live connections after [`Tunnel::drain`], cutting them at `deadline`,
    /// then cancels the tunnel's session, as a proxy that stops does.
    pub async fn finish(&self, deadline: tokio::time::Instant) {
        if tokio::time::timeout_at(deadline, self.connections.wait())
            .await
            .is_err()
        {
            warn!(tunnel = %self.name, "cutting connections still open at the deadline");
            self.cut.cancel();
            self.connections.wait().await;
        }
        let current = match &*self.phase.borrow() {
            Phase::Ready(session) => Some(session.clone()),
            _ => None,
        };
        if let Some(session) = current {
            session.proxy.cancel().await;
        }
    }

    /// Completes once the listener is closed after [`Tunnel::drain`]: its port is free.
    pub async fn stopped_listening(&self) {
        self.accepting.wait().await;
    }

    /// Completes once the live connections are done after [`Tunnel::drain`].
    pub async fn connections_done(&self) {
        self.connections.wait().await;
    }

    /// Drained and no connection left.
    pub fn idle(&self) -> bool {
        self.connections.is_closed() && self.connections.is_empty()
    }

    pub fn status(&self) -> TunnelStatus {
        let phase = self.phase.borrow().clone();
        let (state, reason, session) = match phase {
            Phase::Idle => ("idle".to_owned(), None, None),
            Phase::Authorizing => ("authorizing".to_owned(), None, None),
            Phase::Ready(session) => ("ready".to_owned(), None, Some(session)),
            Phase::Refusing { refusal, .. } => {
                let word = match refusal {
                    Refusal::Transient(_) => "retrying",
                    _ => "refusing",
                };
                let reason = refusal.reason().to_owned();
                (format!("{word}: {reason}"), Some(reason), None)
            }
        };
        TunnelStatus {
            name: self.name.clone(),
            state,
            reason,
            target: self.spec.target.to_string(),
            listen: self.local.to_string(),
            session_id: session.as_ref().map(|s| s.id().to_owned()),
            expiration: session
                .as_ref()
                .map(|s| postern_controller_client::output::rfc3339(s.expiration())),
            seconds_left: session.as_ref().map(|s| {
                s.expiration()
                    .duration_since(SystemTime::now())
                    .unwrap_or_default()
                    .as_secs()
            }),
            connections_open: self.open.load(Ordering::Relaxed),
            connections_total: self.total.load(Ordering::Relaxed),
            bytes_up: self.bytes.up(),
            bytes_down: self.bytes.down(),
        }
    }

    async fn accept(self: Arc<Self>, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                () = self.stop.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((local, peer)) => {
                    let span = tracing::info_span!("connection", client = %peer);
                    let tunnel = self.clone();
                    self.connections.spawn(tunnel.serve(local).instrument(span));
                }
                Err(e) => {
                    warn!(error = %e, "accept on the tunnel's listener failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Carries one local connection on the current session, or refuses it with a reset.
    async fn serve(self: Arc<Self>, local: TcpStream) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        match self.open_tunnel().await {
            Ok((session, tunnel)) => {
                if tunnel.connections_left() == 0 {
                    session.end("connection limit reached");
                }
                let carried = session
                    .proxy
                    .carry(local, tunnel, self.bytes.clone(), &self.cut)
                    .instrument(tracing::debug_span!("session", id = %session.id()))
                    .await;
                debug!(?carried, "connection done");
                if carried == Carried::SessionCanceled {
                    session.end("canceled");
                }
            }
            Err(reason) => {
                warn!(%reason, "refusing a connection");
                if let Err(e) = reset_on_close(&local) {
                    debug!(error = %e, "could not arrange the reset");
                }
            }
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A tunnel to the worker on the current session; on a session-level refusal, once more
    /// on the next session.
    async fn open_tunnel(&self) -> Result<(Arc<Session>, postern_proxy::Tunnel), String> {
        let session = self.session(None).await?;
        let refused = match session.proxy.open_tunnel().await {
            Ok(tunnel) => return Ok((session, tunnel)),
            Err(e) if e.session_unusable() => e,
            Err(e) => return Err(e.to_string()),
        };
        session.end(&refused.to_string());
        let next = self.session(Some(&session)).await?;
        match next.proxy.open_tunnel().await {
            Ok(tunnel) => Ok((next, tunnel)),
            Err(e) => {
                if e.session_unusable() {
                    next.end(&e.to_string());
                }
                Err(e.to_string())
            }
        }
    }

    /// The session a new connection should use (not `stale`), waiting a bounded time for one
    /// being authorized; the refusal's reason when there is none to be had.
    async fn session(&self, stale: Option<&Arc<Session>>) -> Result<Arc<Session>, String> {
        let mut phases = self.phase.subscribe();
        let deadline = tokio::time::sleep(SESSION_WAIT);
        tokio::pin!(deadline);
        let mut asked = false;
        loop {
            let phase = phases.borrow_and_update().clone();
            match phase {
                Phase::Ready(session)
                    if session.usable() && !stale.is_some_and(|s| Arc::ptr_eq(s, &session)) =>
                {
                    return Ok(session)
                }
                Phase::Refusing { refusal, stamp } => {
                    let retry = matches!(refusal, Refusal::Transient(_))
                        || authorize::token_file_stamp() != stamp;
                    if asked || !retry {
                        return Err(refusal.reason().to_owned());
                    }
                    self.wanted.notify_one();
                    asked = true;
                }
                // A used-up Ready one already woke the supervisor (Session::end, expiry).
                Phase::Idle if !asked => {
                    self.wanted.notify_one();
                    asked = true;
                }
                Phase::Idle | Phase::Ready(_) | Phase::Authorizing => {}
            }
            tokio::select! {
                changed = phases.changed() => if changed.is_err() {
                    return Err("the tunnel stopped".into());
                },
                () = &mut deadline => {
                    return Err(format!("no session within {SESSION_WAIT:?}"));
                }
                () = self.stop.cancelled() => return Err("the tunnel stopped".into()),
            }
        }
    }

    /// Keeps a session behind the tunnel until it stops (see the module doc).
    async fn supervise(self: Arc<Self>) {
        let mut backoff = MIN_BACKOFF;
        let mut ran_out_unused = self.spec.start == Start::OnDemand;
        loop {
            if ran_out_unused {
                self.phase.send_replace(Phase::Idle);
                tokio::select! {
                    () = self.stop.cancelled() => return,
                    () = self.wanted.notified() => {}
                }
            }
            // While the current session still takes connections, it goes on serving them.
            let serving = matches!(&*self.phase.borrow(), Phase::Ready(s) if s.usable());
            if !serving {
                self.phase.send_replace(Phase::Authorizing);
            }
            let spec = self.spec.clone();
            let authorized = tokio::select! {
                () = self.stop.cancelled() => return,
                joined = tokio::task::spawn_blocking(move || authorize::authorize(&spec)) => joined
                    .unwrap_or_else(|e| Err(Refusal::Transient(format!("the authorize task failed: {e}")))),
            };
            let session = authorized.and_then(|token| new_session(&token));
            let session = match session {
                Ok(session) => session,
                Err(refusal) => {
                    let serving = matches!(&*self.phase.borrow(), Phase::Ready(s) if s.usable());
                    warn!(
                        reason = refusal.reason(),
                        "cannot authorize a session; retrying in {backoff:?}"
                    );
                    // A passing failure does not take a working session away.
                    if !serving || !matches!(refusal, Refusal::Transient(_)) {
                        let stamp = authorize::token_file_stamp();
                        self.phase.send_replace(Phase::Refusing { refusal, stamp });
                    }
                    tokio::select! {
                        () = self.stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                        () = self.wanted.notified() => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    ran_out_unused = false;
                    continue;
                }
            };
            backoff = MIN_BACKOFF;
            info!(session = %session.id(), "session ready");
            let renew_in = renew_in(&self.spec, session.expiration());
            self.phase.send_replace(Phase::Ready(session.clone()));
            let used_before = self.total.load(Ordering::Relaxed);
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = session.over.cancelled() => {}
                // The worker says so even with no connection open (a cancel, mostly).
                over = session.proxy.watch() => session.end(&over.to_string()),
                () = tokio::time::sleep(renew_in) => {
                    info!(session = %session.id(), "renewing before the session expires");
                }
            }
            ran_out_unused = self.spec.start == Start::OnDemand
                && self.open.load(Ordering::Relaxed) == 0
                && self.total.load(Ordering::Relaxed) == used_before;
        }
    }
}

fn new_session(token: &SessionAuthorizationData) -> Result<Arc<Session>, Refusal> {
    let settings = ProxySettings::default();
    let proxy = ClientProxy::new(token, &settings)
        .map_err(|e| Refusal::Transient(format!("the session's token is unusable: {e}")))?;
    Ok(Arc::new(Session {
        proxy,
        over: CancellationToken::new(),
    }))
}

/// How long until a session expiring at `expiration` is renewed: `renew_before` ahead of
/// it (default 10% of its life left, at most 5 minutes), and never later than halfway.
fn renew_in(spec: &TunnelSpec, expiration: SystemTime) -> Duration {
    let life = expiration
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let margin = spec
        .renew_before
        .unwrap_or_else(|| (life / 10).min(DEFAULT_RENEW_BEFORE_CAP))
        .min(life / 2);
    life - margin
}
