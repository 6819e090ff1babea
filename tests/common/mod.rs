//! Test harness: a real worker on 127.0.0.1:0 backed by the controller's session store,
//! endpoints that echo or sink-then-reply, client proxies in-process or as real `postern`
//! processes. Every wait is bounded.
// Each test binary uses a different part of the harness; a test says "this must hold" with unwrap.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use postern_authority::ClosedReason;
use postern_controller::sessions::conformance::dev_target_session;
use postern_controller::sessions::{NewSession, Session, SessionAuthorization, SessionStore};
use postern_proxy::{ClientProxy, ProxyEnd, ProxyEvent, ProxySettings};
use rand::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Generous bound for anything that should happen "at once" on loopback.
pub const WAIT: Duration = Duration::from_secs(10);

/// A loopback port nothing listens on right now (bound, then released), for a flag that
/// wants a fixed port.
pub fn free_port() -> u16 {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    free.local_addr().unwrap().port()
}

pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?} waiting for {what}"))
}

/// Polls `check` every 20 ms until it returns Some, for at most `WAIT`.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct Worker {
    pub addr: SocketAddr,
    pub store: SessionStore,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.task.abort();
    }
}

pub async fn start_worker() -> Worker {
    start_worker_with(postern_worker::WorkerConfig {
        progress_interval: Duration::from_millis(200),
        ..Default::default()
    })
    .await
}

pub async fn start_worker_with(config: postern_worker::WorkerConfig) -> Worker {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = SessionStore::new();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(postern_worker::serve(
        listener,
        Arc::new(store.clone()),
        config,
        shutdown.clone(),
    ));
    Worker {
        addr,
        store,
        shutdown,
        task,
    }
}

impl Worker {
    /// A tcp session to `endpoint` with the given limit and lifetime.
    pub async fn authorize(
        &self,
        endpoint: &str,
        connection_limit: i32,
        max_duration: Duration,
    ) -> SessionAuthorization {
        let request = new_session(
            endpoint,
            &self.addr.to_string(),
            connection_limit,
            max_duration,
        );
        self.store.authorize_session(request).await.unwrap()
    }

    /// The session as the store has it now (the memory store answers without waiting, so
    /// this works inside the synchronous checks of [`eventually`]).
    pub fn session(&self, id: &str) -> Session {
        stored_session(&self.store, id)
    }

    /// Why the session's first connection closed, once it has.
    pub async fn first_closed_reason(&self, id: &str) -> ClosedReason {
        eventually("the connection to close", || {
            self.session(id)
                .connections
                .first()
                .and_then(|c| c.closed_reason)
        })
        .await
    }
}

/// A session of a memory-backed store, read without waiting.
pub fn stored_session(store: &SessionStore, id: &str) -> Session {
    store
        .get(id)
        .now_or_never()
        .expect("the memory store answers at once")
        .unwrap()
        .unwrap()
}

/// A session request for the dev target's IDs, to `endpoint` through the worker at `worker`.
pub fn new_session(
    endpoint: &str,
    worker: &str,
    connection_limit: i32,
    max_duration: Duration,
) -> NewSession {
    let port = endpoint.rsplit(':').next().and_then(|p| p.parse().ok());
    let workers = vec![worker.into()];
    dev_target_session(
        endpoint,
        port.unwrap_or(0),
        workers,
        connection_limit,
        max_duration,
    )
}

/// What a sink-then-source endpoint saw and sent on one connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Exchange {
    pub received: usize,
    pub received_sha: Vec<u8>,
    pub sent_sha: Vec<u8>,
}

/// An endpoint that reads until EOF, then replies with `reply_len` pseudo-random bytes and
/// closes; it reports each connection's figures on the channel. Replying only after EOF
/// proves half-close passes through the tunnel.
pub async fn sink_then_source(reply_len: usize) -> (SocketAddr, mpsc::UnboundedReceiver<Exchange>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    spawn_acceptor(listener, move |mut stream| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let (received, received_sha) = read_to_end_hashed(&mut stream).await;
            let reply = random_bytes(reply_len, received as u64);
            stream.write_all(&reply).await.unwrap();
            stream.shutdown().await.unwrap();
            let sent_sha = Sha256::digest(&reply).to_vec();
            tx.send(Exchange {
                received,
                received_sha,
                sent_sha,
            })
            .unwrap();
        });
    });
    (addr, rx)
}

pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

pub async fn read_to_end_hashed(stream: &mut (impl AsyncReadExt + Unpin)) -> (usize, Vec<u8>) {
    let mut hasher = Sha256::new();
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            return (total, hasher.finalize().to_vec());
        }
        hasher.update(&buf[..n]);
        total += n;
    }
}

/// A client proxy running in this process.
pub struct InProcessProxy {
    pub addr: SocketAddr,
    pub events: mpsc::UnboundedReceiver<ProxyEvent>,
    pub shutdown: CancellationToken,
    pub ended: JoinHandle<ProxyEnd>,
    pub proxy: Arc<ClientProxy>,
}

pub async fn start_proxy(token: &str) -> InProcessProxy {
    start_proxy_with(token, ProxySettings::default()).await
}

pub async fn start_proxy_with(token: &str, settings: ProxySettings) -> InProcessProxy {
    let data = postern_wire::token::decode(token).unwrap();
    let proxy = Arc::new(ClientProxy::new(&data, &settings).unwrap());
    let listener = proxy.bind(&settings).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (events_tx, events) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let ended = {
        let proxy = proxy.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { proxy.run(listener, &settings, shutdown, events_tx).await })
    };
    InProcessProxy {
        addr,
        events,
        shutdown,
        ended,
        proxy,
    }
}

/// Writes `data`, half-closes, and reads the reply to EOF: the figures of one connection.
pub async fn exchange(addr: SocketAddr, data: &[u8]) -> (usize, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.split();
    let writer = async {
        write.write_all(data).await.unwrap();
        write.shutdown().await.unwrap();
    };
    let (_, reply) = tokio::join!(writer, read_to_end_hashed(&mut read));
    reply
}

/// A real `postern` process.
pub struct PosternProcess {
    pub child: Child,
    pub stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

pub fn postern(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_postern"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

impl PosternProcess {
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_with_env(args, &[])
    }

    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = postern(args);
        command.envs(env.iter().copied());
        let mut child = command.spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, stdout }
    }

    /// The next stdout line, parsed as JSON.
    pub async fn next_json(&mut self) -> serde_json::Value {
        let line = within("a line from postern", self.stdout.next_line())
            .await
            .unwrap()
            .expect("postern closed stdout");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends SIGINT, as Ctrl-C would.
    pub fn interrupt(&self) {
        let pid = self.child.id().expect("postern already exited");
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub async fn wait(&mut self) -> (std::process::ExitStatus, String) {
        let status = within("postern to exit", self.child.wait()).await.unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).await.unwrap();
        }
        (status, stderr)
    }
}
pub mod cluster;
pub mod dev;
mod endpoint;
pub mod ops;
pub mod sshd;

pub use endpoint::*;
