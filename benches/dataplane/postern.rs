//! The postern path: `postern proxy` -> postern worker -> endpoint, with the session
//! authorized by a real controller.
//!
//! By default the worker and controller are one `postern dev` process, and the session comes
//! from its HTTP API (authenticate, then authorize-session on the dev target, whose default
//! port is the endpoint's). `--worker self` instead re-runs this harness as a bare worker
//! host (the controller's `SessionStore` + `postern_worker::serve`, as the integration tests
//! use them) for builds without `postern dev`, or to measure the worker without the API.
//! Either way the client side is the real `postern proxy -authz - -format json` process.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::http::Api;
use crate::procs::{next_line, stdout_lines, Spawned};

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
    let (proxy, entry) = start_proxy(postern, &token, logs, tag)?;
    Ok(PosternPath {
        entry,
        proxy,
        worker,
    })
}

/// `postern proxy -authz - -format json` for the session of `token`: the process and the
/// local address it listens on.
pub fn start_proxy(
    postern: &Path,
    token: &str,
    logs: &Path,
    tag: &str,
) -> Result<(Spawned, SocketAddr)> {
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
    Ok((
        proxy,
        SocketAddr::from(([127, 0, 0, 1], u16::try_from(port)?)),
    ))
}

fn start_dev(
    postern: &Path,
    endpoint: SocketAddr,
    logs: &Path,
    tag: &str,
) -> Result<(Spawned, String)> {
    let (dev, api) = launch_dev(postern, endpoint, logs, tag)?;
    let mut api = Api::new(&api);
    api.log_in("ampw_1234567890", "password")?;
    let token = authorize(&api)?;
    Ok((dev, token))
}

/// `postern dev` in front of `endpoint` (its dev target's default port): the process and its
/// controller API's address (`127.0.0.1:PORT`).
pub fn launch_dev(
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
    Ok((dev, api))
}

/// A new session on the dev target: its authorization token.
pub fn authorize(api: &Api) -> Result<String> {
    let authorized = api.post("/v1/targets/ttcp_1234567890:authorize-session", &json!({}))?;
    let token = authorized["item"]["authorization_token"]
        .as_str()
        .context("authorize-session returned no authorization_token")?;
    Ok(token.to_owned())
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
