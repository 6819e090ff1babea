//! Faults of a cluster made of separate `postern server` processes: a controller restarted
//! while a worker carries a transfer, a cancel made through one controller cutting a
//! connection on a worker linked to another, a worker moving to its second upstream when the
//! first dies, and workers refused for a missing, foreign, forged or revoked credential.
//! Bytes are checked whole (SHA-256 of both directions) and counts exact, read back through
//! the CLI as a user would.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::dev::*;
use common::ops::*;
use common::*;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const READY: &str = "==> postern server started";

/// Bound for what waits on a worker's relinking (backoff up to 5 s, ±50% jitter) or on a
/// server starting on a loaded machine.
const SLOW: Duration = Duration::from_secs(45);

/// The endpoint's reply after the echo: the two directions differ in length, so a swapped
/// count shows.
const TAIL: usize = 300_000;

/// A port free now on 127.0.0.1, for a listener that must come back on the same port after a
/// restart (the worker's `upstreams` name it).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `[controller]` alone: API and cluster listener at the given addresses, on SQLite in
/// `data_dir` or on `database` (URL and key file).
fn write_controller_config(
    path: &Path,
    data_dir: &Path,
    api: &str,
    cluster: &str,
    database: Option<(&str, &str)>,
) {
    let mut text = format!(
        "data_dir = {:?}\n[controller]\napi_listen_address = {api:?}\n\
         cluster_listen_address = {cluster:?}\n",
        data_dir.display().to_string()
    );
    if let Some((url, key)) = database {
        text.push_str(&format!("database_url = {url:?}\nkey_file = {key:?}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// A `[worker]` alone linked to `upstreams`, with an ops listener (for `/metrics`) and a
/// controller grace long enough that no restart in these tests reaches it.
fn write_worker_config(path: &Path, data_dir: &Path, upstreams: &[&str], token: Option<&str>) {
    let mut text = format!(
        "data_dir = {:?}\nops_listen_address = \"127.0.0.1:0\"\n[worker]\n\
         proxy_listen_address = \"127.0.0.1:0\"\nupstreams = {upstreams:?}\n\
         controller_grace_seconds = 120\n",
        data_dir.display().to_string()
    );
    if let Some(token) = token {
        text.push_str(&format!("activation_token = {token:?}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// Everything a process wrote to stderr so far; read continuously so that a chatty process
/// never blocks on a full pipe.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<String>>);

impl Log {
    fn collect(process: &mut PosternProcess) -> Log {
        let log = Log::default();
        let stderr = process.child.stderr.take().expect("stderr is piped");
        let text = log.0.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        log
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

/// `postern server -config FILE` for a controller, the CLI's token kept in `cli`; waits
/// for its ready line.
async fn start_controller(config: &Path, cli: tempfile::TempDir) -> (Dev, Log) {
    let config = config.display().to_string();
    let mut dev = Dev::spawn(&["server", "-config", &config], READY, cli).await;
    let log = Log::collect(&mut dev._process);
    (dev, log)
}

fn banner_value<'a>(dev: &'a Dev, name: &str) -> &'a str {
    dev.banner
        .iter()
        .find_map(|line| line.trim().strip_prefix(name))
        .unwrap_or_else(|| panic!("the banner names no {name}"))
}

/// A worker process started from `config` (JSON logs); waits until it is linked and serving.
/// Its ops address from the banner, and its log.
async fn start_worker(config: &Path) -> (PosternProcess, String, Log) {
    let config = config.display().to_string();
    let args = ["server", "-config", &config, "-log-format", "json"];
    let mut worker = PosternProcess::spawn(&args);
    let log = Log::collect(&mut worker);
    let mut banner = HashMap::new();
    loop {
        let line = within("the worker's banner", worker.stdout.next_line())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the worker exited before it was ready: {}", log.text()));
        if line == READY {
            break;
        }
        if let Some((name, value)) = line.trim().split_once(": ") {
            banner.insert(name.to_owned(), value.to_owned());
        }
    }
    let ops = banner["Ops Address"]
        .trim_start_matches("http://")
        .to_owned();
    (worker, ops, log)
}

/// `workers create controller-led -name NAME` through `dev`: the worker's id and token.
async fn create_worker(dev: &Dev, name: &str) -> (String, String) {
    let created = dev
        .json(&["workers", "create", "controller-led", "-name", name])
        .await;
    let id = created["item"]["id"].as_str().unwrap().to_owned();
    let token = created["item"]["controller_generated_activation_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, token)
}

/// One unlabelled sample of a worker's `/metrics`, read with `prometheus-parse`.
async fn metric(ops: &str, name: &str) -> Option<f64> {
    scrape(ops).await.get(name).copied()
}

/// How many links the worker has opened, once the first is counted (the count follows the
/// ready line by a moment).
async fn links(ops: &str) -> f64 {
    let start = Instant::now();
    loop {
        let links = metric(ops, "postern_worker_links_total").await;
        if let Some(links) = links.filter(|&n| n >= 1.0) {
            return links;
        }
        assert!(start.elapsed() < SLOW, "the worker's link is never counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops a controller with `signal` and waits for it to exit; hands back the CLI's config
/// dir (its token) for the controller's next run.
async fn stop_controller(controller: Dev, signal: &str, log: &Log) -> tempfile::TempDir {
    let Dev {
        _process: mut process,
        config_dir,
        ..
    } = controller;
    kill(&process, signal);
    let status = tokio::time::timeout(SLOW, process.child.wait())
        .await
        .unwrap_or_else(|_| panic!("the controller did not stop: {}", log.text()))
        .unwrap();
    if signal == "-TERM" {
        assert!(status.success(), "{status}: {}", log.text());
    }
    config_dir
}

/// An endpoint that echoes what it reads and, at EOF, sends `tail` and closes.
async fn echo_then_tail(tail: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    spawn_acceptor(listener, move |mut stream| {
        let tail = tail.clone();
        tokio::spawn(async move {
            let (mut read, mut write) = stream.split();
            if let Err(e) = tokio::io::copy(&mut read, &mut write).await {
                eprintln!("echo-then-tail endpoint: {e}");
                return;
            }
            if let Err(e) = write.write_all(&tail).await {
                eprintln!("echo-then-tail endpoint, the tail: {e}");
                return;
            }
            if let Err(e) = write.shutdown().await {
                eprintln!("echo-then-tail endpoint shutdown: {e}");
            }
        });
    });
    addr
}

/// A transfer through a proxy, both directions at once: 64 KiB every 20 ms up (about
/// 3 MiB/s) until told to finish, the echo coming back, then the endpoint's tail.
struct Transfer {
    received: Arc<AtomicU64>,
    finish: CancellationToken,
    /// Bytes sent, and the hash of everything sent.
    writer: JoinHandle<(u64, Sha256)>,
    /// Bytes received, and their hash.
    reader: JoinHandle<(u64, Vec<u8>)>,
}

impl Transfer {
    async fn start(port: u16) -> Transfer {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (read, mut write) = stream.into_split();
        let received = Arc::new(AtomicU64::new(0));
        let finish = CancellationToken::new();
        let writer = tokio::spawn({
            let finish = finish.clone();
            async move {
                let mut sent = 0u64;
                let mut hash = Sha256::new();
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                for seed in 0.. {
                    let chunk = random_bytes(64 * 1024, seed);
                    write.write_all(&chunk).await.unwrap();
                    hash.update(&chunk);
                    sent += chunk.len() as u64;
                    if finish.is_cancelled() {
                        break;
                    }
                    tick.tick().await;
                }
                write.shutdown().await.unwrap();
                (sent, hash)
            }
        });
        let reader = tokio::spawn({
            let (mut read, received) = (read, received.clone());
            async move {
                let (mut hash, mut buf) = (Sha256::new(), vec![0u8; 64 * 1024]);
                loop {
                    match read.read(&mut buf).await.unwrap() {
                        0 => return (received.load(Ordering::Relaxed), hash.finalize().to_vec()),
                        n => {
                            hash.update(&buf[..n]);
                            received.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Transfer {
            received,
            finish,
            writer,
            reader,
        }
    }

    /// Waits until `more` bytes beyond those received so far have come back.
    async fn wait_for_more(&self, more: u64, what: &str) {
        let goal = self.received.load(Ordering::Relaxed) + more;
        poll_until(what, SLOW, || async {
            self.received.load(Ordering::Relaxed) >= goal
        })
        .await;
    }

    /// Sends the last chunk, half-closes, reads to the end; checks every byte came back in
    /// order followed by `tail`. The bytes sent and received.
    async fn finish(self, tail: &[u8]) -> (u64, u64) {
        self.finish.cancel();
        let (sent, mut expected) = tokio::time::timeout(SLOW, self.writer)
            .await
            .expect("the writer finishes")
            .unwrap();
        let (received, hash) = tokio::time::timeout(SLOW, self.reader)
            .await
            .expect("the reply ends")
            .unwrap();
        expected.update(tail);
        assert_eq!(received, sent + tail.len() as u64, "bytes lost");
        assert_eq!(hash, expected.finalize().to_vec(), "bytes changed");
        (sent, received)
    }
}

/// Waits until the session's first connection is closed with `reason` and exactly these
/// counts; the last read otherwise.
async fn assert_closed(dev: &Dev, session: &str, reason: &str, up: u64, down: u64) {
    let start = Instant::now();
    loop {
        let read = dev.session(session).await;
        let connection = &read["connections"][0];
        if connection["closed_reason"].is_string() {
            assert_eq!(connection["closed_reason"], reason, "{read}");
            assert_eq!(connection["bytes_up"], up.to_string(), "{read}");
            assert_eq!(connection["bytes_down"], down.to_string(), "{read}");
            return;
        }
        assert!(
            start.elapsed() < SLOW,
            "the connection was never closed: {read}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_survives_a_controller_restart_and_its_counts_land() {
    let tail = random_bytes(TAIL, 77);
    let endpoint = echo_then_tail(tail.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let (method, password, _) = database_init(&["-database-url", &url]).await;
    let api = format!("127.0.0.1:{}", free_port());
    let cluster = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("controller.toml");
    write_controller_config(&config, dir.path(), &api, &cluster, None);
    let (controller, controller_log) =
        start_controller(&config, tempfile::tempdir().unwrap()).await;
    controller.log_in_as(&method, &password).await;
    let target = echo_target(&controller, endpoint).await;
    let (_, token) = create_worker(&controller, "w1").await;
    let worker_config = dir.path().join("worker.toml");
    write_worker_config(
        &worker_config,
        &dir.path().join("w1"),
        &[&cluster],
        Some(&token),
    );
    let (_worker, ops, _) = start_worker(&worker_config).await;
    let linked = links(&ops).await;

    let (mut proxy, port, session) = controller.proxy(&target).await;
    let transfer = Transfer::start(port).await;
    transfer
        .wait_for_more(1 << 20, "the transfer to flow")
        .await;

    // The controller stops (as `systemctl restart` would); bytes keep flowing without it.
    let cli = stop_controller(controller, "-TERM", &controller_log).await;
    transfer
        .wait_for_more(512 << 10, "bytes to flow with the controller down")
        .await;

    // It comes back on the same ports; the worker links again by itself.
    let (controller, _controller_log) = start_controller(&config, cli).await;
    poll_until("the worker to link again", SLOW, || async {
        links(&ops).await > linked
    })
    .await;
    transfer
        .wait_for_more(512 << 10, "bytes to flow after the relink")
        .await;
    let (sent, received) = transfer.finish(&tail).await;
    eprintln!("through a controller restart: {sent} bytes up, {received} down");

    // The close, made while linked to the new run, carries the exact counts.
    assert_closed(&controller, &session, "closed by end-user", sent, received).await;
    proxy.interrupt();
    let _ = proxy.wait().await;
}

/// A throwaway PostgreSQL that `database init` made ready, for controllers to share.
struct SharedDatabase {
    /// Configs, data dirs, the key file.
    dir: tempfile::TempDir,
    url: String,
    key: String,
    admin: (String, String),
    /// Last: the controllers (killed on drop) go before the database does.
    _postgres: postern_store::cluster::Cluster,
}

impl SharedDatabase {
    async fn start() -> SharedDatabase {
        let postgres = tokio::task::spawn_blocking(postern_store::cluster::Cluster::start)
            .await
            .unwrap()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("postern.key").display().to_string();
        let url = postgres.url();
        let (method, password, _) =
            database_init(&["-database-url", &url, "-key-file", &key]).await;
        SharedDatabase {
            dir,
            url,
            key,
            admin: (method, password),
            _postgres: postgres,
        }
    }

    /// A controller alone named `name` on this database, its cluster listener on `cluster`,
    /// the CLI logged in; it and its cluster address.
    async fn controller(&self, name: &str, cluster: &str) -> (Dev, Log, String) {
        let config = self.dir.path().join(format!("{name}.toml"));
        let data_dir = self.dir.path().join(name);
        std::fs::create_dir(&data_dir).unwrap();
        let database = Some((self.url.as_str(), self.key.as_str()));
        write_controller_config(&config, &data_dir, "127.0.0.1:0", cluster, database);
        let (dev, log) = start_controller(&config, tempfile::tempdir().unwrap()).await;
        dev.log_in_as(&self.admin.0, &self.admin.1).await;
        let cluster = banner_value(&dev, "Cluster Address: ").to_owned();
        (dev, log, cluster)
    }
}

/// A target at `endpoint` in a new project; its id.
async fn echo_target(dev: &Dev, endpoint: SocketAddr) -> String {
    let org = dev.create_scope("global", "ops").await;
    let project = dev.create_scope(&org, "servers").await;
    dev.create_target_in(&project, "echo", endpoint).await
}

/// Two controllers alone on one PostgreSQL, and a target.
struct TwoControllers {
    a: Dev,
    b: Dev,
    b_cluster: String,
    target: String,
    /// Last: dropped after the controllers.
    database: SharedDatabase,
}

async fn two_controllers(endpoint: SocketAddr) -> TwoControllers {
    let database = SharedDatabase::start().await;
    let (a, _, _) = database.controller("a", "127.0.0.1:0").await;
    let (b, _, b_cluster) = database.controller("b", "127.0.0.1:0").await;
    let target = echo_target(&a, endpoint).await;
    TwoControllers {
        a,
        b,
        b_cluster,
        target,
        database,
    }
}

/// A worker process linked only to B of [`two_controllers`].
async fn a_worker_linked_only_to_b(cluster: &TwoControllers) -> PosternProcess {
    let (worker_id, token) = create_worker(&cluster.a, "only-b").await;
    let dir = cluster.database.dir.path();
    let worker_config = dir.join("worker.toml");
    write_worker_config(
        &worker_config,
        &dir.join("w"),
        &[&cluster.b_cluster],
        Some(&token),
    );
    let (worker, _, _) = start_worker(&worker_config).await;
    poll_until("B to list the worker as linked", SLOW, || async {
        let read = cluster
            .b
            .json(&["workers", "read", "-id", &worker_id])
            .await;
        read["item"]["address"]
            .as_str()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    worker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_through_one_controller_cuts_a_connection_on_a_worker_linked_to_another() {
    let endpoint = echo_endpoint().await;
    let cluster = two_controllers(endpoint).await;
    let _worker = a_worker_linked_only_to_b(&cluster).await;
    let TwoControllers { a, b, target, .. } = &cluster;

    // Authorized through B, the only controller the worker is linked to (A cannot send it
    // sessions: see the ignored test below); canceled through A.
    let (mut proxy, port, session) = b.proxy(target).await;
    let mut held = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    held.write_all(b"held open").await.unwrap();
    let mut echoed = [0u8; 9];
    within("the echo", held.read_exact(&mut echoed))
        .await
        .unwrap();
    assert_eq!(&echoed, b"held open");

    let canceled = Instant::now();
    a.cli(&["sessions", "cancel", "-id", &session]).await;
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(Duration::from_secs(5), held.read_to_end(&mut rest)).await;
    let latency = canceled.elapsed();
    eprintln!(
        "a cancel through A cut a connection on B's worker after {latency:?} (the CLI included)"
    );
    assert!(cut.is_ok(), "the held connection was not cut within 5 s");
    assert!(rest.is_empty(), "{rest:?}");
    for dev in [a, b] {
        let read = dev.session(&session).await;
        assert!(
            read["status"] == "canceling" || read["status"] == "terminated",
            "{read}"
        );
    }
    poll_until("the session to be terminated", SLOW, || async {
        a.session(&session).await["status"] == "terminated"
    })
    .await;
    let read = a.session(&session).await;
    assert_eq!(
        read["connections"][0]["closed_reason"], "canceled",
        "{read}"
    );
    assert_eq!(read["connections"][0]["bytes_up"], "9", "{read}");
    assert_eq!(read["connections"][0]["bytes_down"], "9", "{read}");
    proxy.interrupt();
    let _ = proxy.wait().await;
}

/// Boundary's controllers share their workers through the database: any of them may send a
/// session to a worker that reports its status to another, and shows its live status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_sends_sessions_to_a_worker_linked_to_another() {
    let endpoint = echo_endpoint().await;
    let cluster = two_controllers(endpoint).await;
    let _worker = a_worker_linked_only_to_b(&cluster).await;
    let TwoControllers { a, target, .. } = &cluster;
    // B publishes its workers' statuses every second; A reads them as often.
    poll_until("A sees the worker linked to B", WAIT, || async {
        let listed = a.json(&["workers", "list"]).await;
        listed["items"][0]["address"].is_string()
    })
    .await;
    let (mut proxy, port, _) = a.proxy(target).await;
    let (_, echoed) = exchange(
        format!("127.0.0.1:{port}").parse().unwrap(),
        b"through A, carried by B's worker",
    )
    .await;
    assert_eq!(
        echoed,
        Sha256::digest(b"through A, carried by B's worker").to_vec()
    );
    proxy.interrupt();
    let _ = proxy.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_moves_to_its_second_controller_mid_transfer_and_loses_nothing() {
    let tail = random_bytes(TAIL, 78);
    let endpoint = echo_then_tail(tail.clone()).await;
    // B's cluster port is named in the worker's upstreams before B runs: the worker can only
    // link to A first.
    let b_port = free_port();
    let b_cluster = format!("127.0.0.1:{b_port}");
    let database = SharedDatabase::start().await;
    let (a, a_log, a_cluster) = database.controller("a", "127.0.0.1:0").await;
    let target = echo_target(&a, endpoint).await;
    let (worker_id, token) = create_worker(&a, "w-ab").await;
    let worker_config = database.dir.path().join("worker.toml");
    write_worker_config(
        &worker_config,
        &database.dir.path().join("w"),
        &[&a_cluster, &b_cluster],
        Some(&token),
    );
    let (_worker, ops, worker_log) = start_worker(&worker_config).await;
    let (b, _, _) = database.controller("b", &b_cluster).await;
    let linked = links(&ops).await;

    let (mut proxy, port, session) = a.proxy(&target).await;
    let transfer = Transfer::start(port).await;
    transfer
        .wait_for_more(1 << 20, "the transfer to flow")
        .await;

    // A dies without a word; the worker moves to B.
    drop(stop_controller(a, "-KILL", &a_log).await);
    poll_until("the worker to link to B", SLOW, || async {
        links(&ops).await > linked
    })
    .await;
    poll_until("B to list the worker as linked", SLOW, || async {
        let read = b.json(&["workers", "read", "-id", &worker_id]).await;
        read["item"]["address"]
            .as_str()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    transfer
        .wait_for_more(512 << 10, "bytes to flow after the move")
        .await;
    let (sent, received) = transfer.finish(&tail).await;
    eprintln!("through a move from A to B: {sent} bytes up, {received} down");
    assert_closed(&b, &session, "closed by end-user", sent, received).await;
    // -log-format json: the worker says where it linked, A then B.
    let log = worker_log.text();
    let linked_to: Vec<String> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["fields"]["message"] == "linked to controller")
        .map(|event| event["fields"]["upstream"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(linked_to, [a_cluster, b_cluster], "{log}");
    proxy.interrupt();
    let _ = proxy.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_without_a_valid_credential_are_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let (method, password, _) = database_init(&["-database-url", &url]).await;
    let config = dir.path().join("controller.toml");
    write_controller_config(&config, dir.path(), "127.0.0.1:0", "127.0.0.1:0", None);
    let (controller, _controller_log) =
        start_controller(&config, tempfile::tempdir().unwrap()).await;
    controller.log_in_as(&method, &password).await;
    let cluster = banner_value(&controller, "Cluster Address: ").to_owned();
    let (worker_id, token) = create_worker(&controller, "w1").await;
    let worker_dir = dir.path().join("w1");
    let worker_config = dir.path().join("worker.toml");
    let config_arg = worker_config.display().to_string();
    let identity = worker_dir.join("worker").join("worker.key");

    // No token and no stored identity: a usage error naming the key to set.
    write_worker_config(&worker_config, &worker_dir, &[&cluster], None);
    let (code, out) = run_postern(&["server", "-config", &config_arg]).await;
    assert_eq!(code, Some(64), "{out}");
    assert!(out.contains("worker.activation_token"), "{out}");

    // A well-formed token from another cluster: the worker pins that cluster's CA, so it
    // does not trust this controller.
    let other_ca = postern_tls::cluster::ClusterCa::generate().unwrap();
    let other_key = postern_cluster::activation::ActivationKey::derive(other_ca.key_pkcs8_der());
    let foreign = postern_cluster::activation::ActivationToken::issue(
        &other_key,
        &worker_id,
        other_ca.fingerprint(),
        Duration::from_secs(600),
    );
    write_worker_config(&worker_config, &worker_dir, &[&cluster], Some(&foreign));
    let (code, out) = run_postern(&["server", "-config", &config_arg]).await;
    assert_eq!(code, Some(1), "{out}");
    // In postern's words, once (not rustls' Debug form of them).
    let mismatch = "controller's cluster CA certificate does not match the pinned SHA-256";
    assert!(
        out.contains("no upstream controller accepted the activation")
            && out.contains(&cluster)
            && out.matches(mismatch).count() == 1
            && !out.contains("ClusterCaFingerprintMismatch"),
        "{out}"
    );

    // This cluster's CA and the worker's id, signed with another key (a tampered token).
    let real = postern_cluster::activation::ActivationToken::parse(&token).unwrap();
    let forged = postern_cluster::activation::ActivationToken::issue(
        &postern_cluster::activation::ActivationKey::derive(b"not this cluster's key"),
        &real.worker_id,
        real.ca_fingerprint,
        Duration::from_secs(600),
    );
    write_worker_config(&worker_config, &worker_dir, &[&cluster], Some(&forged));
    let (code, out) = run_postern(&["server", "-config", &config_arg]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("no upstream controller accepted the activation")
            && out.contains("activation token was not issued by this cluster"),
        "{out}"
    );
    assert!(!out.contains(&forged), "the token is not echoed: {out}");
    assert!(!identity.exists(), "a refused worker stores no identity");

    // The refusals spent nothing: the real token still activates the worker.
    write_worker_config(&worker_config, &worker_dir, &[&cluster], Some(&token));
    let (mut worker, _, log) = start_worker(&worker_config).await;
    assert!(identity.exists());

    // Deleted while it runs: its link is cut, with the reason.
    controller
        .cli(&["workers", "delete", "-id", &worker_id])
        .await;
    let refused = format!("worker {worker_id} was deleted or its certificate replaced");
    poll_until("the deleted worker's link to be cut", SLOW, || async {
        log.text().contains(&refused)
    })
    .await;
    kill(&worker, "-TERM");
    within("the worker to stop", worker.child.wait())
        .await
        .unwrap();

    // Started again with its stored identity: every link is refused at once, so it never
    // says it is ready; it keeps trying, saying why, until it is stopped.
    let args = ["server", "-config", &config_arg, "-log-format", "json"];
    let mut worker = PosternProcess::spawn(&args);
    let log = Log::collect(&mut worker);
    let refusal = format!("link refused: {refused}");
    poll_until("the restarted worker to be refused", SLOW, || async {
        log.text().matches(&refusal).count() >= 2
    })
    .await;
    let ready = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(line)) = worker.stdout.next_line().await {
            if line == READY {
                return true;
            }
        }
        false
    })
    .await;
    let text = log.text();
    assert!(
        !matches!(ready, Ok(true)),
        "a deleted worker is ready: {text}"
    );
    assert!(!text.contains("linked to controller"), "{text}");
    assert!(text.contains("cannot link to controller"), "{text}");
    kill(&worker, "-TERM");
    let status = tokio::time::timeout(SLOW, worker.child.wait())
        .await
        .expect("the refused worker stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}: {}", log.text());
}
