//! The postern path: `postern proxy` -> postern worker -> endpoint, with the session
//! authorized by a real controller.
//!
//! By default the worker and controller are one `postern dev` process, and the session comes
//! from its HTTP API (authenticate, then authorize-session on the dev target, whose default
//! port is the endpoint's). `--worker self` instead re-runs this harness as a bare worker
//! host (the controller's `SessionStore` + `postern_worker::serve`, as the integration tests
//! use them) for builds without `postern dev`, or to measure the worker without the API.
//! Either way the client side is the real `postern proxy -authz - -format json` process.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::procs::{next_line, stdout_lines, Spawned, START_TIMEOUT};

const READY_LINE: &str = "==> postern dev started! Log data will stream in below:";

/// Where the worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerMode {
    /// `postern dev` when the binary has it, else `self`.
    Auto,
    /// `postern dev`: controller API and worker in one process.
    Dev,
    /// This harness re-run as a worker host (no controller API).
    #[value(name = "self")]
    SelfHost,
}

/// Resolves `Auto`: `postern dev` if a trial start of the whole path in front of `endpoint`
/// works, else the bare worker host.
pub fn resolve(mode: WorkerMode, postern: &Path, endpoint: SocketAddr, logs: &Path) -> WorkerMode {
    if mode != WorkerMode::Auto {
        return mode;
    }
    match start(postern, WorkerMode::Dev, endpoint, logs, "probe") {
        Ok(_path) => WorkerMode::Dev,
        Err(e) => {
            eprintln!("note: `postern dev` did not start ({e:#}); its worker runs in a bare worker host instead (--worker self)");
            WorkerMode::SelfHost
        }
    }
}

/// The running postern path.
#[derive(Debug)]
pub struct PosternPath {
    pub entry: SocketAddr,
    pub proxy: Spawned,
    pub worker: Spawned,
}

/// Starts a worker (and controller) whose session points at `endpoint`, then the client proxy.
pub fn start(
    postern: &Path,
    mode: WorkerMode,
    endpoint: SocketAddr,
    logs: &Path,
    tag: &str,
) -> Result<PosternPath> {
    let (worker, token) = match mode {
        WorkerMode::SelfHost => start_worker_host(endpoint, logs, tag)?,
        WorkerMode::Dev | WorkerMode::Auto => start_dev(postern, endpoint, logs, tag)?,
    };
    let mut command = Command::new(postern);
    command
        .args(["proxy", "-authz", "-", "-format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .env("POSTERN_LOG", "warn");
    let mut proxy = Spawned::start(&format!("{tag}-postern-proxy"), command, logs)?;
    let child = proxy.child();
    let mut stdin = child.stdin.take().context("proxy stdin")?;
    stdin.write_all(token.as_bytes())?;
    drop(stdin);
    let lines = stdout_lines(child.stdout.take().context("proxy stdout")?);
    let first = next_line(&lines, "postern proxy")?;
    let info: Value =
        serde_json::from_str(&first).with_context(|| format!("postern proxy printed {first:?}"))?;
    let port = info["port"]
        .as_u64()
        .context("postern proxy printed no port")?;
    let entry = SocketAddr::from(([127, 0, 0, 1], u16::try_from(port)?));
    Ok(PosternPath {
        entry,
        proxy,
        worker,
    })
}

fn start_dev(
    postern: &Path,
    endpoint: SocketAddr,
    logs: &Path,
    tag: &str,
) -> Result<(Spawned, String)> {
    let mut command = Command::new(postern);
    command
        .args([
            "dev",
            "-api-listen-address",
            "127.0.0.1:0",
            "-proxy-listen-address",
            "127.0.0.1:0",
        ])
        .args(["-target-default-port", &endpoint.port().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .env("POSTERN_LOG", "warn");
    let mut dev = Spawned::start(&format!("{tag}-postern-dev"), command, logs)?;
    let lines = stdout_lines(dev.child().stdout.take().context("dev stdout")?);
    let mut api = None;
    loop {
        let line = next_line(&lines, "postern dev's banner")?;
        if let Some(addr) = line.trim().strip_prefix("Controller API Address: ") {
            api = Some(addr.trim_start_matches("http://").to_owned());
        }
        if line == READY_LINE {
            break;
        }
    }
    let api = api.context("postern dev's banner has no Controller API Address")?;
    let login = http_post(
        &api,
        "/v1/auth-methods/ampw_1234567890:authenticate",
        None,
        &json!({"command": "login", "attributes": {"login_name": "admin", "password": "password"}}),
    )?;
    let bearer = login["attributes"]["token"]
        .as_str()
        .context("authenticate returned no token")?;
    let authorized = http_post(
        &api,
        "/v1/targets/ttcp_1234567890:authorize-session",
        Some(bearer),
        &json!({}),
    )?;
    let token = authorized["item"]["authorization_token"]
        .as_str()
        .context("authorize-session returned no authorization_token")?;
    Ok((dev, token.to_owned()))
}

fn start_worker_host(endpoint: SocketAddr, logs: &Path, tag: &str) -> Result<(Spawned, String)> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["--worker-host", &endpoint.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut host = Spawned::start(&format!("{tag}-postern-worker"), command, logs)?;
    let lines = stdout_lines(host.child().stdout.take().context("worker host stdout")?);
    let first = next_line(&lines, "the worker host")?;
    let info: Value =
        serde_json::from_str(&first).with_context(|| format!("worker host printed {first:?}"))?;
    let token = info["token"]
        .as_str()
        .context("worker host printed no token")?;
    Ok((host, token.to_owned()))
}

/// `--worker-host ENDPOINT`: serves a worker on 127.0.0.1:0 with one unlimited session to
/// `endpoint`, prints `{"token": ...}`, and runs until standard input closes.
pub fn run_worker_host(endpoint: SocketAddr) -> Result<()> {
    use postern_controller::sessions::conformance::dev_target_session;
    use postern_controller::sessions::SessionStore;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let worker_addr = listener.local_addr()?;
        let store = SessionStore::new();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let config = postern_worker::WorkerConfig::default();
        let served = tokio::spawn(postern_worker::serve(
            listener,
            Arc::new(store.clone()),
            config,
            shutdown.clone(),
        ));
        let authorization = store
            .authorize_session(dev_target_session(
                &format!("tcp://{endpoint}"),
                u32::from(endpoint.port()),
                vec![worker_addr.to_string()],
                -1,
                Duration::from_secs(8 * 3600),
            ))
            .await?;
        println!("{}", json!({"token": authorization.authorization_token}));
        std::io::stdout().flush()?;
        // The harness holds our stdin open for as long as it wants this worker.
        tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await??;
        shutdown.cancel();
        served.await?;
        anyhow::Ok(())
    })
}

/// A JSON POST over a fresh HTTP/1.1 connection; fails on a non-2xx status.
fn http_post(authority: &str, path: &str, bearer: Option<&str>, body: &Value) -> Result<Value> {
    let body = body.to_string();
    let mut stream = TcpStream::connect(authority)
        .with_context(|| format!("cannot reach the controller API at {authority}"))?;
    stream.set_read_timeout(Some(START_TIMEOUT))?;
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("truncated HTTP response")?;
    let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
    let mut payload = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload)?;
    }
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status")?;
    if !(200..300).contains(&status) {
        bail!(
            "POST {path}: HTTP {status}: {}",
            String::from_utf8_lossy(&payload)
        );
    }
    Ok(serde_json::from_slice(&payload)?)
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut size_line = String::new();
        data.read_line(&mut size_line)?;
        let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)?;
        if size == 0 || data.len() < size + 2 {
            return Ok(out);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
