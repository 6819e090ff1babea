//! The postern-split path: the controller and the worker as separate `postern server`
//! processes, as dist/controller.toml and dist/worker.toml deploy them, the worker activated
//! with a controller-led token and linked to the controller's cluster listener (mutual TLS
//! gRPC). The client side is the same `postern proxy` as on the postern path, so the
//! difference between the two columns is what the link costs: each connection's
//! authorization crosses it, where `postern dev` answers in memory.
//!
//! The pieces (a database made by `postern database init`, a controller alone, a worker
//! linked to it, a target in a project of its own) are also what cancel-to-cut
//! ([`crate::cancel`]) builds its two controllers from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::http::{item, Api};
use crate::postern::start_proxy;
use crate::procs::{next_line, stdout_lines, Spawned, START_TIMEOUT};

/// What `postern server` prints once it serves.
const READY_LINE: &str = "==> postern server started";

/// The running split path. Fields drop in order: the processes before their state directory.
#[derive(Debug)]
pub struct SplitPath {
    pub entry: SocketAddr,
    pub proxy: Spawned,
    pub worker: Spawned,
    pub controller: Controller,
    pub state: tempfile::TempDir,
}

/// Starts a controller on a new SQLite database (under `within`, else the system's
/// temporary directory), a worker linked to it, a target at `endpoint` and a session of it,
/// then the client proxy.
pub fn start(
    postern: &Path,
    endpoint: SocketAddr,
    within: Option<&Path>,
    logs: &Path,
    tag: &str,
) -> Result<SplitPath> {
    let tag = &format!("{tag}-split");
    let state = state_dir(within)?;
    let database = Database {
        url: format!("sqlite://{}", state.path().join("postern.db").display()),
        key_file: None,
    };
    let admin = database_init(postern, &database, logs, tag)?;
    let controller = Controller::start(postern, state.path(), "controller", &database, logs, tag)?
        .logged_in(&admin)?;
    let target = create_target(&controller.api, endpoint)?;
    let worker = start_worker(postern, state.path(), &controller, logs, tag)?;
    let session = authorize(&controller.api, &target)?;
    let token = session["authorization_token"]
        .as_str()
        .context("authorize-session returned no authorization_token")?;
    let (proxy, entry) = start_proxy(postern, token, logs, tag)?;
    Ok(SplitPath {
        entry,
        proxy,
        worker,
        controller,
        state,
    })
}

/// A temporary directory for databases, configurations and worker identities, under
/// `within` or the system's temporary directory.
pub fn state_dir(within: Option<&Path>) -> Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("postern-bench-");
    match within {
        Some(dir) => builder.tempdir_in(dir),
        None => builder.tempdir(),
    }
    .context("cannot create a state directory")
}

/// Where controllers keep their state.
#[derive(Debug, Clone)]
pub struct Database {
    pub url: String,
    /// Required for PostgreSQL (every controller on the database reads the same key).
    pub key_file: Option<PathBuf>,
}

/// The admin that `postern database init` made.
#[derive(Debug, Clone)]
pub struct Admin {
    auth_method: String,
    password: String,
}

/// `postern database init`: creates the schema and the admin.
pub fn database_init(postern: &Path, database: &Database, logs: &Path, tag: &str) -> Result<Admin> {
    let mut command = Command::new(postern);
    command.args(["database", "init", "-database-url", &database.url]);
    if let Some(key) = &database.key_file {
        command.arg("-key-file").arg(key);
    }
    let out = run_to_end(command, &format!("{tag}-database-init"), logs)?;
    let field = |name: &str| {
        out.iter()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(|value| value.trim().to_owned())
            .with_context(|| format!("postern database init printed no {name:?}"))
    };
    Ok(Admin {
        auth_method: field("Auth method ID:")?,
        password: field("Password:")?,
    })
}

/// A `postern server` with a `[controller]` section only.
#[derive(Debug)]
pub struct Controller {
    pub api: Api,
    /// Where workers link.
    pub cluster: String,
    pub process: Spawned,
}

impl Controller {
    /// Starts a controller on `database`, its configuration `<dir>/<name>.toml`, with a
    /// cluster listener (a controller without a worker of its own must have one).
    pub fn start(
        postern: &Path,
        dir: &Path,
        name: &str,
        database: &Database,
        logs: &Path,
        tag: &str,
    ) -> Result<Controller> {
        let mut config = format!(
            "data_dir = {:?}\n[controller]\napi_listen_address = \"127.0.0.1:0\"\n\
             cluster_listen_address = \"127.0.0.1:0\"\ndatabase_url = {:?}\n",
            dir.display().to_string(),
            database.url
        );
        if let Some(key) = &database.key_file {
            config.push_str(&format!("key_file = {:?}\n", key.display().to_string()));
        }
        let mut process = start_server(postern, dir, name, &config, logs, tag)?;
        let banner = banner(&mut process)?;
        let find = |label: &str| {
            banner
                .iter()
                .find_map(|line| line.trim().strip_prefix(label))
                .map(str::to_owned)
        };
        let api = find("Controller API Address: ")
            .with_context(|| format!("{}'s banner has no Controller API Address", process.name))?;
        Ok(Controller {
            api: Api::new(&api),
            cluster: find("Cluster Address: ")
                .with_context(|| format!("{}'s banner has no Cluster Address", process.name))?,
            process,
        })
    }

    /// The controller with its API logged in as `admin`.
    pub fn logged_in(mut self, admin: &Admin) -> Result<Controller> {
        self.api.log_in(&admin.auth_method, &admin.password)?;
        Ok(self)
    }
}

/// Makes a worker on `controller` (`workers:create:controller-led`) and starts it with the
/// activation token, linked to that controller only; waits until it serves.
pub fn start_worker(
    postern: &Path,
    dir: &Path,
    controller: &Controller,
    logs: &Path,
    tag: &str,
) -> Result<Spawned> {
    let cluster = &controller.cluster;
    let created = controller
        .api
        .post("/v1/workers:create:controller-led", &json!({"name": "w1"}))?;
    let token = item(&created)["controller_generated_activation_token"]
        .as_str()
        .context("workers:create:controller-led returned no activation token")?;
    let config = format!(
        "data_dir = {:?}\n[worker]\nproxy_listen_address = \"127.0.0.1:0\"\nupstreams = [{cluster:?}]\nactivation_token = {token:?}\n",
        dir.join("worker").display().to_string()
    );
    let mut worker = start_server(postern, dir, "worker", &config, logs, tag)?;
    banner(&mut worker)?;
    Ok(worker)
}

/// A project of its own (in an org of its own) with a tcp target at `endpoint`; its id.
pub fn create_target(api: &Api, endpoint: SocketAddr) -> Result<String> {
    let id = |created: Value, what: &str| -> Result<String> {
        item(&created)["id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("creating {what} returned no id: {created}"))
    };
    let org = id(
        api.post(
            "/v1/scopes",
            &json!({"scope_id": "global", "name": "bench"}),
        )?,
        "the org",
    )?;
    let project = id(
        api.post("/v1/scopes", &json!({"scope_id": org, "name": "endpoints"}))?,
        "the project",
    )?;
    id(
        api.post(
            "/v1/targets",
            &json!({"type": "tcp", "scope_id": project, "name": "endpoint",
                    "address": endpoint.ip().to_string(),
                    "attributes": {"default_port": endpoint.port()}}),
        )?,
        "the target",
    )
}

/// Authorizes a session of `target`: the authorization (token, session id). A worker that
/// has just started may not be offered yet, so this polls, within [`START_TIMEOUT`].
pub fn authorize(api: &Api, target: &str) -> Result<Value> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match api.post(
            &format!("/v1/targets/{target}:authorize-session"),
            &json!({}),
        ) {
            Ok(authorized) => return Ok(item(&authorized).clone()),
            Err(e) if Instant::now() > deadline => {
                return Err(e.context(format!("no session within {START_TIMEOUT:?}")))
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `postern server -config <dir>/<name>.toml` with `config` written there.
fn start_server(
    postern: &Path,
    dir: &Path,
    name: &str,
    config: &str,
    logs: &Path,
    tag: &str,
) -> Result<Spawned> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).with_context(|| format!("cannot write {}", path.display()))?;
    let mut command = Command::new(postern);
    command
        .arg("server")
        .arg("-config")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .env("POSTERN_LOG", "warn");
    Spawned::start(&format!("{tag}-{name}"), command, logs)
}

/// The banner's lines up to the ready line.
fn banner(server: &mut Spawned) -> Result<Vec<String>> {
    let stdout = server.child().stdout.take().context("server stdout")?;
    let lines = stdout_lines(stdout);
    let what = format!("{}'s banner", server.name);
    let mut banner = Vec::new();
    loop {
        let line = next_line(&lines, &what)?;
        if line == READY_LINE {
            return Ok(banner);
        }
        banner.push(line);
    }
}

/// Runs `command` to its end (within [`START_TIMEOUT`]): its standard output's lines; fails
/// on a non-zero exit.
fn run_to_end(mut command: Command, name: &str, logs: &Path) -> Result<Vec<String>> {
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut process = Spawned::start(name, command, logs)?;
    let lines = stdout_lines(process.child().stdout.take().context("stdout")?);
    let deadline = Instant::now() + START_TIMEOUT;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => out.push(line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                bail!("{name} did not finish within {START_TIMEOUT:?}")
            }
        }
    }
    // Its output has closed: it is exiting.
    let status = process.child().wait()?;
    if !status.success() {
        bail!("{name} failed ({status}); see its log under target/bench/logs");
    }
    Ok(out)
}
