//! A worker on 127.0.0.1:0 whose connections run on the test's own runtime, backed by an
//! in-memory session authority, and a client that speaks the data path's protocol by hand.
//!
//! Everything shares the test's runtime (`#[tokio::test]`'s current-thread one, which pausing
//! needs), so `tokio::time::pause` and `advance` reach the worker's timers, and
//! [`tokio_clock`] moves the worker's wall clock with them. Every wait on I/O is bounded
//! ([`within`]) and runs with the clock resumed ([`skip`]): a paused clock jumps to the next
//! timer whenever the runtime waits on a socket.
// Each test binary uses a different part of the harness; a test says "this must hold" with unwrap.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use postern_authority::{
    AuthorityError, AuthorityEvent, AuthorizedConnection, ClosedReason, ConnectedInfo,
    ConnectionBytes, SessionAuthority, SessionStatus, WorkerSession,
};
use postern_tls::{SessionCredentials, TlsStream};
use postern_wire::pb::proxy::{ClientHandshake, HandshakeResult, Handshakecommand};
use postern_wire::TofuToken;
use postern_worker::{Clock, WorkerConfig};
use postern_ws::{self as ws, CloseFrame, WsError, WsStream};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Generous bound for anything that should happen "at once" on loopback (real time).
pub const WAIT: Duration = Duration::from_secs(10);

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// A wall clock that follows tokio's clock: `tokio::time::advance` moves it too.
pub fn tokio_clock() -> Clock {
    let wall = SystemTime::now();
    let start = tokio::time::Instant::now();
    Arc::new(move || wall + start.elapsed())
}

/// Moves time on by `by` at once, as if it had passed, then lets the timers that came due
/// run. I/O waits only after it, on real time again.
pub async fn skip(by: Duration) {
    tokio::time::pause();
    tokio::time::advance(by).await;
    tokio::time::resume();
}

/// How long until `deadline` by `clock`.
pub fn until(clock: &Clock, deadline: SystemTime) -> Duration {
    deadline.duration_since(clock()).unwrap()
}

/// What the worker reported when a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub bytes: ConnectionBytes,
    pub reason: ClosedReason,
    /// The addresses the close carried (it ended before it was reported connected).
    pub connected: Option<ConnectedInfo>,
}

/// Sessions the test adds, every call answered from them; expiration judged by the same
/// clock as the worker's.
pub struct MemoryAuthority {
    clock: Clock,
    sessions: Mutex<Sessions>,
    events: broadcast::Sender<AuthorityEvent>,
    closed: mpsc::UnboundedSender<Closed>,
    /// Connections reported connected, in order.
    connected: Mutex<Vec<(String, ConnectedInfo)>>,
    progress: Mutex<Vec<Vec<ConnectionBytes>>>,
}

#[derive(Default)]
struct Sessions {
    by_id: HashMap<String, WorkerSession>,
    /// Connections admitted so far, for ids.
    admitted: u32,
}

impl MemoryAuthority {
    pub fn new(clock: Clock) -> (Self, mpsc::UnboundedReceiver<Closed>) {
        let (closed, closed_rx) = mpsc::unbounded_channel();
        let authority = Self {
            clock,
            sessions: Mutex::default(),
            events: broadcast::channel(16).0,
            closed,
            connected: Mutex::default(),
            progress: Mutex::default(),
        };
        (authority, closed_rx)
    }

    /// The connections reported connected so far, in order.
    pub fn connected(&self) -> Vec<(String, ConnectedInfo)> {
        self.connected.lock().unwrap().clone()
    }

    /// The progress reports taken, oldest first.
    pub fn progress(&self) -> Vec<Vec<ConnectionBytes>> {
        self.progress.lock().unwrap().clone()
    }

    /// A pending session to `endpoint` with no connection limit, until `expiration`.
    pub fn add_session(&self, endpoint: SocketAddr, expiration: SystemTime) -> SessionCredentials {
        let mut sessions = self.sessions.lock().unwrap();
        let id = format!("s_{:010}", sessions.by_id.len() + 1);
        // The certificate is checked against the real time, so it lives an hour past that.
        let not_after = expiration.max(SystemTime::now()) + Duration::from_secs(3600);
        let credentials =
            SessionCredentials::issue(&id, &["127.0.0.1".to_owned()], not_after).unwrap();
        let session = WorkerSession {
            id: id.clone(),
            status: SessionStatus::Pending,
            credentials: credentials.clone(),
            endpoint: format!("tcp://{endpoint}"),
            expiration,
            connection_limit: -1,
            tofu: None,
        };
        sessions.by_id.insert(id, session);
        credentials
    }

    fn with_session<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut WorkerSession) -> Result<T, AuthorityError>,
    ) -> Result<T, AuthorityError> {
        let mut sessions = self.sessions.lock().unwrap();
        let session = sessions
            .by_id
            .get_mut(id)
            .ok_or_else(|| AuthorityError::SessionNotFound(id.to_owned()))?;
        f(session)
    }
}

impl SessionAuthority for MemoryAuthority {
    async fn lookup_session(&self, id: &str) -> Result<Option<WorkerSession>, AuthorityError> {
        Ok(self.sessions.lock().unwrap().by_id.get(id).cloned())
    }

    async fn activate_session(&self, id: &str, tofu: &TofuToken) -> Result<(), AuthorityError> {
        self.with_session(id, |session| match &session.tofu {
            Some(pinned) if pinned != tofu => Err(AuthorityError::TofuMismatch(id.to_owned())),
            Some(_) => Ok(()),
            None => {
                session.tofu = Some(tofu.clone());
                session.status = SessionStatus::Active;
                Ok(())
            }
        })
    }

    async fn cancel_session(&self, id: &str) -> Result<(), AuthorityError> {
        self.with_session(id, |session| {
            session.status = SessionStatus::Terminated;
            Ok(())
        })?;
        // No receiver is not an error: no worker is listening yet.
        let _no_receiver = self
            .events
            .send(AuthorityEvent::SessionCanceled(id.to_owned()));
        Ok(())
    }

    async fn authorize_connection(
        &self,
        id: &str,
        _worker_id: &str,
    ) -> Result<AuthorizedConnection, AuthorityError> {
        let now = (self.clock)();
        self.with_session(id, |session| {
            if session.status != SessionStatus::Active {
                return Err(AuthorityError::WrongState {
                    id: id.to_owned(),
                    status: session.status,
                });
            }
            if now >= session.expiration {
                return Err(AuthorityError::Expired(id.to_owned()));
            }
            Ok(())
        })?;
        let mut sessions = self.sessions.lock().unwrap();
        sessions.admitted += 1;
        Ok(AuthorizedConnection {
            connection_id: format!("sc_{:010}", sessions.admitted),
            connection_limit: -1,
            connections_left: -1,
        })
    }

    async fn connection_connected(
        &self,
        connection_id: &str,
        info: ConnectedInfo,
    ) -> Result<(), AuthorityError> {
        self.connected
            .lock()
            .unwrap()
            .push((connection_id.to_owned(), info));
        Ok(())
    }

    async fn connection_progress(
        &self,
        progress: Vec<ConnectionBytes>,
    ) -> Result<(), AuthorityError> {
        self.progress.lock().unwrap().push(progress);
        Ok(())
    }

    async fn connection_closed(
        &self,
        bytes: ConnectionBytes,
        reason: ClosedReason,
        connected: Option<ConnectedInfo>,
    ) -> Result<(), AuthorityError> {
        // The test may have stopped listening; the report is then of no interest.
        let _unheard = self.closed.send(Closed {
            bytes,
            reason,
            connected,
        });
        Ok(())
    }

    fn events(&self) -> broadcast::Receiver<AuthorityEvent> {
        self.events.subscribe()
    }
}

/// A worker serving on the caller's runtime; dropping it shuts the worker down.
pub struct Worker {
    pub addr: SocketAddr,
    pub authority: Arc<MemoryAuthority>,
    /// Each connection's close, as reported to the authority.
    pub closed: mpsc::UnboundedReceiver<Closed>,
    _shutdown: DropGuard,
}

/// Starts a worker that reads the time from `clock`, with `config`'s deadlines otherwise.
pub async fn start_worker(clock: Clock, config: WorkerConfig) -> Worker {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (authority, closed) = MemoryAuthority::new(clock.clone());
    let authority = Arc::new(authority);
    let config = WorkerConfig {
        clock,
        connection_runtime: Some(Handle::current()),
        ..config
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(postern_worker::serve(
        listener,
        authority.clone(),
        config,
        shutdown.clone(),
    ));
    Worker {
        addr,
        authority,
        closed,
        _shutdown: shutdown.drop_guard(),
    }
}

/// TLS with the session's own credentials.
pub type ClientWs = WsStream<TlsStream<TcpStream>>;

pub async fn connect_tls(
    worker: SocketAddr,
    credentials: &SessionCredentials,
) -> std::io::Result<TlsStream<TcpStream>> {
    let config = postern_tls::client_config(credentials).unwrap();
    let name = postern_tls::worker_server_name(&worker.to_string()).unwrap();
    let tcp = TcpStream::connect(worker).await?;
    postern_tls::connect(config, name, tcp).await
}

/// A proper client up to the WebSocket upgrade.
pub async fn open(worker: SocketAddr, credentials: &SessionCredentials) -> ClientWs {
    let tls = within("the TLS handshake", connect_tls(worker, credentials))
        .await
        .unwrap();
    within("the upgrade", ws::connect(tls, &worker.to_string()))
        .await
        .unwrap()
}

/// Sends a ClientHandshake with `tofu`; the worker's answer is a result or a close.
pub async fn handshake(ws: &mut ClientWs, tofu: &TofuToken) -> Result<HandshakeResult, CloseFrame> {
    let hello = ClientHandshake {
        tofu_token: tofu.expose().into(),
        command: Handshakecommand::Unspecified.into(),
    };
    ws.send_message(&hello.encode_to_vec()).await.unwrap();
    match within("the handshake result", ws.recv_message(4096)).await {
        Ok(message) => Ok(HandshakeResult::decode(message.as_slice()).unwrap()),
        Err(WsError::Closed(frame)) => Err(frame),
        Err(e) => panic!("expected a result or a close, got {e}"),
    }
}

/// Sends `data` through the tunnel and reads its echo.
pub async fn echo(ws: &mut ClientWs, data: &[u8]) -> Vec<u8> {
    ws.write_all(data).await.unwrap();
    ws.flush().await.unwrap();
    let mut back = vec![0u8; data.len()];
    within("the echo", ws.read_exact(&mut back)).await.unwrap();
    back
}

/// The Close the worker sends next (answered, as a client would); data before it fails.
pub async fn next_close(ws: &mut ClientWs) -> CloseFrame {
    match within("the close", ws.recv_message(64 * 1024)).await {
        Err(WsError::Closed(frame)) => frame,
        other => panic!("expected a close, got {other:?}"),
    }
}

#[path = "../../../../tests/common/endpoint.rs"]
mod endpoint;
pub use endpoint::*;
