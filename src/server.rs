//! `postern server -config FILE`: a controller, a worker, or both, as a service, from one
//! TOML file.
//!
//! - `[controller]` alone: the API and the cluster listener, on a database `postern
//!   database init` made; remote workers link to it and carry its sessions.
//! - `[worker]` alone: a worker that links to `upstreams` (the controllers' cluster
//!   listeners). At its first start it trades `activation_token` (from `postern workers
//!   create controller-led`) for its certificate, kept in `<data_dir>/worker/` (mode 0600);
//!   from then on it needs no token.
//! - both: the controller with a worker in the same process (and remote workers too when
//!   `cluster_listen_address` is set).
//!
//! The whole file is read and checked before anything is opened or bound; a bad file exits
//! 64 naming the file, the key and what is wrong. The service then opens what it needs,
//! binds, tells systemd it is ready (`Type=notify`; a worker once it is linked) and serves
//! until SIGTERM or SIGINT.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use postern_cluster::client::{activate, LinkError};
use postern_cluster::{LinkConfig, RemoteAuthority, WorkerIdentityFiles};
use postern_tls::cluster::{peer_worker_id, ClusterCa};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::cli::LogFormat;
use crate::database::{self, DatabaseError};
use crate::logging::{self, LogControl};
use crate::node::{bind, BindError, ClusterListener, Node, Stop};
use crate::ops::{self, ApiMetrics, Health};
use postern_worker::Limits;
use prometheus_client::registry::Registry;

/// The line `postern server` prints once it serves.
pub const READY_LINE: &str = "==> postern server started";

#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The configuration file (TOML); see dist/server.toml.
    #[arg(long)]
    pub config: PathBuf,
}

/// The file, as written. Unknown keys are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Where state lives by default (the SQLite database and its key file, a worker's
    /// identity).
    data_dir: Option<PathBuf>,
    /// `GET /health` (see `ops.rs`); none by default.
    ops_listen_address: Option<String>,
    /// tracing's filter directives (`info`, `warn,postern_worker=debug`); `POSTERN_LOG` wins.
    log_level: Option<String>,
    /// `text` or `json`; the `-log-format` flag wins.
    log_format: Option<LogFormat>,
    controller: Option<ControllerSection>,
    worker: Option<WorkerSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControllerSection {
    api_listen_address: Option<String>,
    /// Where remote workers link; none: only a worker in this process.
    cluster_listen_address: Option<String>,
    /// Default: `sqlite://<data_dir>/postern.db`.
    database_url: Option<String>,
    /// Default: beside an SQLite database; required for PostgreSQL.
    key_file: Option<PathBuf>,
    terminated_session_retention_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerSection {
    proxy_listen_address: Option<String>,
    /// `host:port` clients dial; default: the proxy listen address.
    public_address: Option<String>,
    max_concurrent_handshakes: Option<usize>,
    max_connections: Option<usize>,
    /// host:port of controllers' cluster listeners (a worker without a controller).
    upstreams: Option<Vec<String>>,
    /// For the first start of a remote worker.
    activation_token: Option<String>,
    /// Reported to the controllers (Boundary's worker tags: key = value or [values]).
    tags: Option<BTreeMap<String, TagValues>>,
    /// How long the worker carries connections with no controller reachable.
    controller_grace_seconds: Option<u64>,
    /// How long a draining worker (SIGTERM) lets live connections run before it cuts them.
    shutdown_grace_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TagValues {
    One(String),
    Many(Vec<String>),
}

/// A checked configuration.
#[derive(Debug)]
pub struct ServerConfig {
    data_dir: PathBuf,
    ops_listen_address: Option<SocketAddr>,
    pub log_level: Option<String>,
    pub log_format: Option<LogFormat>,
    controller: Option<ControllerConfig>,
    worker: Option<WorkerSettings>,
}

#[derive(Debug)]
struct ControllerConfig {
    api_listen_address: SocketAddr,
    cluster_listen_address: Option<SocketAddr>,
    database_url: String,
    key_file: PathBuf,
    retention: Duration,
}

#[derive(Debug)]
struct WorkerSettings {
    proxy_listen_address: SocketAddr,
    public_address: Option<String>,
    max_concurrent_handshakes: usize,
    max_connections: usize,
    upstreams: Vec<String>,
    activation_token: Option<String>,
    tags: Vec<(String, String)>,
    grace: Duration,
    shutdown_grace: Duration,
}

impl WorkerSettings {
    fn limits(&self) -> Limits {
        Limits::new(self.max_concurrent_handshakes, self.max_connections)
    }
}

const DEFAULT_DATA_DIR: &str = "/var/lib/postern";
const DEFAULT_API: &str = "127.0.0.1:9200";
const DEFAULT_RETENTION_SECONDS: u64 = 30 * 24 * 3600;
const DEFAULT_GRACE_SECONDS: u64 = 15;
const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: PathBuf,
        key: &'static str,
        message: String,
    },
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("cannot read the sessions in the database: {0}")]
    Sessions(#[from] postern_controller::sessions::SessionError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("the controller API failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the cluster CA: {0}")]
    ClusterCa(String),
    #[error("worker identity: {0}")]
    Link(#[from] LinkError),
    #[error("cannot watch SIGHUP: {0}")]
    Signals(#[source] std::io::Error),
    #[error("this worker has no identity yet and the file gives no worker.activation_token: create one with `postern workers create controller-led` and put it in the file")]
    NotActivated,
}

impl ServerError {
    /// A configuration the file cannot have is a usage error (exit 64).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Read { .. } | Self::Parse { .. } | Self::Invalid { .. } | Self::NotActivated
        )
    }
}

impl ServerConfig {
    /// Reads and checks `file` completely.
    pub fn load(file: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(file).map_err(|source| ServerError::Read {
            file: file.to_owned(),
            source,
        })?;
        let parsed: File = toml::from_str(&text).map_err(|e| ServerError::Parse {
            file: file.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Self::check(parsed, file)
    }

    fn check(parsed: File, file: &Path) -> Result<Self, ServerError> {
        let invalid = |key, message: String| ServerError::Invalid {
            file: file.to_owned(),
            key,
            message,
        };
        if parsed.controller.is_none() && parsed.worker.is_none() {
            return Err(invalid(
                "controller",
                "missing: the file needs a [controller] section, a [worker] section, or both"
                    .into(),
            ));
        }
        let data_dir = parsed
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if !data_dir.is_absolute() {
            return Err(invalid(
                "data_dir",
                format!("{} is not an absolute path", data_dir.display()),
            ));
        }
        let alone = parsed.controller.is_none();
        let controller = parsed
            .controller
            .map(|section| check_controller(section, &data_dir, &invalid))
            .transpose()?;
        let worker = parsed
            .worker
            .map(|section| check_worker(section, alone, &invalid))
            .transpose()?;
        if let Some(controller) = &controller {
            if worker.is_none() && controller.cluster_listen_address.is_none() {
                return Err(invalid(
                    "controller.cluster_listen_address",
                    "missing: a controller without a [worker] in the same file needs a cluster listener for remote workers".into(),
                ));
            }
        }
        let ops_listen_address = parsed
            .ops_listen_address
            .map(|value| address("ops_listen_address", Some(value), "", &invalid))
            .transpose()?;
        if let Some(level) = &parsed.log_level {
            logging::parse_level(level).map_err(|e| invalid("log_level", e))?;
        }
        Ok(Self {
            data_dir,
            ops_listen_address,
            log_level: parsed.log_level,
            log_format: parsed.log_format,
            controller,
            worker,
        })
    }
}

type Invalid<'a> = dyn Fn(&'static str, String) -> ServerError + 'a;

fn address(
    key: &'static str,
    value: Option<String>,
    default: &str,
    invalid: &Invalid<'_>,
) -> Result<SocketAddr, ServerError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    value
        .parse::<SocketAddr>()
        .map_err(|_| invalid(key, format!("{value:?} is not an IP:port address")))
}

fn is_host_port(value: &str) -> bool {
    let port = value
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    matches!(port, Some((host, Ok(port))) if !host.is_empty() && port > 0)
}

fn check_controller(
    controller: ControllerSection,
    data_dir: &Path,
    invalid: &Invalid<'_>,
) -> Result<ControllerConfig, ServerError> {
    let api_listen_address = address(
        "controller.api_listen_address",
        controller.api_listen_address,
        DEFAULT_API,
        invalid,
    )?;
    let cluster_listen_address = controller
        .cluster_listen_address
        .map(|value| {
            address(
                "controller.cluster_listen_address",
                Some(value),
                "",
                invalid,
            )
        })
        .transpose()?;
    let database_url = controller
        .database_url
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("postern.db").display()));
    let key_file =
        database::key_path(&database_url, controller.key_file.as_deref()).map_err(|e| match e {
            DatabaseError::Usage { message, .. } => invalid("controller.key_file", message),
            other => invalid("controller.database_url", other.to_string()),
        })?;
    let retention = controller
        .terminated_session_retention_seconds
        .unwrap_or(DEFAULT_RETENTION_SECONDS);
    if retention == 0 {
        return Err(invalid(
            "controller.terminated_session_retention_seconds",
            "must be positive".into(),
        ));
    }
    Ok(ControllerConfig {
        api_listen_address,
        cluster_listen_address,
        database_url,
        key_file,
        retention: Duration::from_secs(retention),
    })
}

fn check_worker(
    worker: WorkerSection,
    alone: bool,
    invalid: &Invalid<'_>,
) -> Result<WorkerSettings, ServerError> {
    let proxy_listen_address = address(
        "worker.proxy_listen_address",
        worker.proxy_listen_address,
        postern_worker::DEFAULT_PROXY_ADDR,
        invalid,
    )?;
    if let Some(public) = &worker.public_address {
        if !is_host_port(public) {
            return Err(invalid(
                "worker.public_address",
                format!("{public:?} is not host:port"),
            ));
        }
    }
    let max_concurrent_handshakes = worker
        .max_concurrent_handshakes
        .unwrap_or(postern_worker::DEFAULT_MAX_CONCURRENT_HANDSHAKES);
    if max_concurrent_handshakes == 0 {
        return Err(invalid(
            "worker.max_concurrent_handshakes",
            "must be at least 1".into(),
        ));
    }
    let max_connections = worker
        .max_connections
        .unwrap_or(postern_worker::DEFAULT_MAX_CONNECTIONS);
    if max_connections == 0 {
        return Err(invalid(
            "worker.max_connections",
            "must be at least 1".into(),
        ));
    }
    let upstreams = worker.upstreams.unwrap_or_default();
    if let Some(bad) = upstreams.iter().find(|u| !is_host_port(u)) {
        return Err(invalid(
            "worker.upstreams",
            format!("{bad:?} is not host:port"),
        ));
    }
    match (alone, upstreams.is_empty()) {
        (true, true) => {
            return Err(invalid(
                "worker.upstreams",
                "missing: a worker without a [controller] in the same file links to controllers' cluster listeners (host:port)".into(),
            ))
        }
        (false, false) => {
            return Err(invalid(
                "worker.upstreams",
                "a worker in the same file as its [controller] uses it directly; remove upstreams or the [controller]".into(),
            ))
        }
        _ => {}
    }
    if let Some(token) = &worker.activation_token {
        if let Err(e) = postern_cluster::activation::ActivationToken::parse(token) {
            return Err(invalid("worker.activation_token", e.to_string()));
        }
    }
    let mut tags = Vec::new();
    for (key, values) in worker.tags.unwrap_or_default() {
        match values {
            TagValues::One(value) => tags.push((key, value)),
            TagValues::Many(values) => tags.extend(values.into_iter().map(|v| (key.clone(), v))),
        }
    }
    let grace = worker
        .controller_grace_seconds
        .unwrap_or(DEFAULT_GRACE_SECONDS);
    if grace == 0 {
        return Err(invalid(
            "worker.controller_grace_seconds",
            "must be positive".into(),
        ));
    }
    let shutdown_grace = worker
        .shutdown_grace_seconds
        .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECONDS);
    Ok(WorkerSettings {
        shutdown_grace: Duration::from_secs(shutdown_grace),
        proxy_listen_address,
        public_address: worker.public_address,
        max_concurrent_handshakes,
        max_connections,
        upstreams,
        activation_token: worker.activation_token,
        tags,
        grace: Duration::from_secs(grace),
    })
}

impl ServerConfig {
    /// Every setting as `key = value` (values as Debug text), to tell what a reload changed.
    /// A section that is absent is one key, `[controller]` or `[worker]`.
    fn settings(&self) -> BTreeMap<&'static str, String> {
        let mut settings = BTreeMap::new();
        let mut put = |key, value: &dyn std::fmt::Debug| {
            settings.insert(key, format!("{value:?}"));
        };
        put("data_dir", &self.data_dir);
        put("ops_listen_address", &self.ops_listen_address);
        put("log_level", &self.log_level);
        put("log_format", &self.log_format);
        put("[controller]", &self.controller.is_some());
        if let Some(c) = &self.controller {
            put("controller.api_listen_address", &c.api_listen_address);
            put(
                "controller.cluster_listen_address",
                &c.cluster_listen_address,
            );
            put("controller.database_url", &c.database_url);
            put("controller.key_file", &c.key_file);
            put(
                "controller.terminated_session_retention_seconds",
                &c.retention,
            );
        }
        put("[worker]", &self.worker.is_some());
        if let Some(w) = &self.worker {
            put("worker.proxy_listen_address", &w.proxy_listen_address);
            put("worker.public_address", &w.public_address);
            put(
                "worker.max_concurrent_handshakes",
                &w.max_concurrent_handshakes,
            );
            put("worker.max_connections", &w.max_connections);
            put("worker.upstreams", &w.upstreams);
            put("worker.activation_token", &w.activation_token.is_some());
            put("worker.tags", &w.tags);
            put("worker.controller_grace_seconds", &w.grace);
            put("worker.shutdown_grace_seconds", &w.shutdown_grace);
        }
        settings
    }
}

/// What SIGHUP may change while the service runs: the log level, a worker's limits and its
/// upstreams. Any other change is logged as needing a restart.
struct Reloader {
    file: PathBuf,
    /// The settings in force: a reload changes only those it applied.
    running: BTreeMap<&'static str, String>,
    logs: LogControl,
    limits: Option<Limits>,
    /// A worker alone's link; set once it has started.
    authority: Arc<OnceLock<RemoteAuthority>>,
}

impl Reloader {
    /// Reads the file again and applies what can change live.
    fn reload(&mut self) {
        let fresh = match ServerConfig::load(&self.file) {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::error!(%error, "reload refused: the file is not valid; nothing changed");
                return;
            }
        };
        let settings = fresh.settings();
        let keys: std::collections::BTreeSet<_> = self
            .running
            .keys()
            .chain(settings.keys())
            .copied()
            .collect();
        let (mut applied, mut restart) = (Vec::new(), Vec::new());
        for key in keys {
            if self.running.get(key) == settings.get(key) {
                continue;
            }
            match self.apply(key, &fresh) {
                Ok(true) => {
                    applied.push(key);
                    match settings.get(key) {
                        Some(value) => self.running.insert(key, value.clone()),
                        None => self.running.remove(key),
                    };
                }
                Ok(false) => restart.push(key),
                Err(error) => {
                    tracing::error!(key, %error, "reload: cannot apply this setting");
                    restart.push(key);
                }
            }
        }
        if applied.is_empty() && restart.is_empty() {
            tracing::info!(file = %self.file.display(), "reloaded: nothing changed");
        } else {
            tracing::info!(
                file = %self.file.display(),
                applied = ?applied,
                needs_restart = ?restart,
                "reloaded the configuration"
            );
        }
    }

    /// Applies `key`'s value in `fresh`; `Ok(false)` when it cannot change live.
    fn apply(&self, key: &str, fresh: &ServerConfig) -> Result<bool, String> {
        let worker = fresh.worker.as_ref();
        match key {
            "log_level" => {
                let level = fresh.log_level.as_deref().unwrap_or("info");
                match self.logs.set_level(level)? {
                    logging::LevelChange::Applied => Ok(true),
                    logging::LevelChange::Overridden => {
                        Err("POSTERN_LOG is set and stays in force".to_owned())
                    }
                }
            }
            "worker.max_concurrent_handshakes" | "worker.max_connections" => {
                match (worker, &self.limits) {
                    (Some(worker), Some(limits)) => {
                        limits.set(worker.max_concurrent_handshakes, worker.max_connections);
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
            "worker.upstreams" => match (worker, self.authority.get()) {
                (Some(worker), Some(authority)) => authority
                    .set_upstreams(worker.upstreams.clone())
                    .map(|()| true)
                    .map_err(|e| e.to_string()),
                _ => Ok(false),
            },
            _ => Ok(false),
        }
    }
}

/// Runs the service from `config` (read from `file`, read again on SIGHUP). A controller
/// stops at the first signal (`first`); a worker alone drains: it takes no new connections
/// and lets live ones run for its shutdown grace, or until the second signal (`second`), then
/// cuts the rest.
pub async fn run(
    file: PathBuf,
    config: ServerConfig,
    logs: LogControl,
    first: CancellationToken,
    second: CancellationToken,
) -> Result<(), ServerError> {
    // Watched before anything else: an unwatched SIGHUP would end the process.
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(ServerError::Signals)?;
    println!("==> postern server configuration ({}):", file.display());
    let limits = config.worker.as_ref().map(WorkerSettings::limits);
    let authority = Arc::new(OnceLock::new());
    let mut reloader = Reloader {
        file,
        running: config.settings(),
        logs,
        limits: limits.clone(),
        authority: authority.clone(),
    };
    let stopped = CancellationToken::new();
    let _stopped = stopped.clone().drop_guard();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stopped.cancelled() => return,
                _ = hangups.recv() => {}
            }
            notify_systemd("RELOADING=1");
            reloader.reload();
            notify_systemd("READY=1");
        }
    });
    let ops = match config.ops_listen_address {
        Some(address) => {
            let listener = bind("ops", address).await?;
            let bound = listener.local_addr().map_err(ServerError::Serve)?;
            println!("             Ops Address: http://{bound}");
            Some(listener)
        }
        None => None,
    };
    let served = match (config.controller, config.worker, limits) {
        (Some(controller), worker, limits) => {
            let worker = worker.map(|worker| (worker, limits.unwrap_or_default()));
            run_controller(controller, worker, ops, first, second).await
        }
        (None, Some(worker), Some(limits)) => {
            let roles = WorkerRun {
                data_dir: &config.data_dir,
                ops,
                limits,
                authority,
            };
            run_worker(worker, roles, first, second).await
        }
        (None, _, _) => Ok(()),
    };
    println!("==> postern server stopped");
    served
}

fn role(name: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut facts = serde_json::Map::new();
    facts.insert("role".to_owned(), name.into());
    facts
}

/// A controller, with the file's worker in the same process if it has one (with its
/// limits). Alone it stops at the first signal; with a worker it drains first: the worker
/// takes no new connections or sessions, and the controller serves until the live ones end,
/// the worker's shutdown grace is over or a second signal comes.
async fn run_controller(
    config: ControllerConfig,
    worker: Option<(WorkerSettings, Limits)>,
    ops: Option<tokio::net::TcpListener>,
    first: CancellationToken,
    second: CancellationToken,
) -> Result<(), ServerError> {
    let stop = match &worker {
        Some((worker, _)) => {
            let cut = CancellationToken::new();
            let (drain, cutting, grace) = (first.clone(), cut.clone(), worker.shutdown_grace);
            tokio::spawn(async move {
                drain.cancelled().await;
                tracing::info!(
                    ?grace,
                    "draining the worker: no new connections; live ones run for the grace (signal again to cut them now)"
                );
                tokio::select! {
                    () = tokio::time::sleep(grace) => {}
                    () = second.cancelled() => {}
                }
                cutting.cancel();
            });
            Stop { drain: first, cut }
        }
        None => Stop::at(first),
    };
    let opened = database::open_existing(&config.database_url, &config.key_file).await?;
    let local_worker_id = postern_worker::WorkerConfig::default().worker_id;
    let closed = opened
        .sessions
        .close_worker_connections(&local_worker_id)
        .await?;
    if closed > 0 {
        tracing::info!(
            closed,
            "closed connections the previous run left open (system error)"
        );
    }
    let cluster = match config.cluster_listen_address {
        Some(address) => {
            let key = postern_store::read_key(&config.key_file).map_err(DatabaseError::from)?;
            let (certificate, ca_key) = opened
                .db
                .cluster_ca(&key, || {
                    let ca = ClusterCa::generate().map_err(|e| e.to_string())?;
                    Ok((ca.certificate_der().to_vec(), ca.key_pkcs8_der().to_vec()))
                })
                .await
                .map_err(DatabaseError::from)?;
            let ca = ClusterCa::from_der(&certificate, &ca_key)
                .map_err(|e| ServerError::ClusterCa(e.to_string()))?;
            Some(ClusterListener {
                listener: bind("cluster", address).await?,
                ca,
            })
        }
        None => None,
    };
    let proxy_listener = match &worker {
        Some((worker, _)) => Some(bind("worker proxy", worker.proxy_listen_address).await?),
        None => None,
    };
    let public_address = worker.as_ref().and_then(|(w, _)| w.public_address.clone());
    let metrics = ApiMetrics::default();
    let worker_config = postern_worker::WorkerConfig {
        limits: worker.map(|(_, limits)| limits).unwrap_or_default(),
        ..Default::default()
    };
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    worker_config.metrics.register(&mut registry);
    let (linked, draining) = (metrics.linked_workers.clone(), stop.drain.clone());
    let status = move || {
        let state = if draining.is_cancelled() {
            "draining"
        } else {
            "serving"
        };
        format!("{state}; {} remote workers linked", linked.get())
    };
    let health = Health::new(
        {
            let status = status.clone();
            move || {
                let mut facts = role("controller");
                facts.insert("status".to_owned(), status().into());
                facts
            }
        },
        registry,
    );
    let stopped = CancellationToken::new();
    let _stopped = stopped.clone().drop_guard();
    if let Some(ops) = ops {
        tokio::spawn(ops::serve(ops, health.clone(), stopped.clone()));
    }
    tokio::spawn({
        let drain = stop.drain.clone();
        async move {
            drain.cancelled().await;
            notify_systemd("STOPPING=1");
            health.set_draining();
        }
    });
    let node = Node {
        resources: Arc::new(opened.resources),
        sessions: opened.sessions,
        db: Some(opened.db),
        api_listener: bind("controller API", config.api_listen_address).await?,
        proxy_listener,
        cluster,
        public_address: public_address.clone(),
        worker: worker_config,
        metrics,
        retention: config.retention,
    };
    let bound = node.bound().map_err(ServerError::Serve)?;
    println!("  Controller API Address: http://{}", bound.api);
    if let Some(cluster) = bound.cluster {
        println!("         Cluster Address: {cluster}");
    }
    if let Some(proxy) = bound.proxy {
        println!("    Worker Proxy Address: {proxy}");
    }
    if let Some(public) = &public_address {
        println!("   Worker Public Address: {public}");
    }
    println!(
        "                Database: {}",
        postern_store::redact(&config.database_url)
    );
    println!("\n{READY_LINE}");
    notify_systemd("READY=1");
    tokio::spawn(tell_systemd(status, stopped.clone()));
    node.serve(stop).await.map_err(ServerError::Serve)
}

/// What a worker alone runs with besides its settings.
struct WorkerRun<'a> {
    data_dir: &'a Path,
    ops: Option<tokio::net::TcpListener>,
    limits: Limits,
    /// Filled with the link once it starts (for reloads).
    authority: Arc<OnceLock<RemoteAuthority>>,
}

/// A worker linked to remote controllers.
async fn run_worker(
    config: WorkerSettings,
    run: WorkerRun<'_>,
    drain: CancellationToken,
    second: CancellationToken,
) -> Result<(), ServerError> {
    // The link and the ops listener outlive the drain: closes are reported over the link.
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    let listener = bind("worker proxy", config.proxy_listen_address).await?;
    let proxy = listener.local_addr().map_err(ServerError::Serve)?;
    let public_address = config
        .public_address
        .clone()
        .unwrap_or_else(|| proxy.to_string());
    let mut link = LinkConfig::new(config.upstreams.clone(), public_address.clone());
    link.tags = config.tags.clone();
    link.grace = config.grace;
    link.release_version = format!("postern {}", env!("CARGO_PKG_VERSION"));
    let files = WorkerIdentityFiles::new(run.data_dir.join("worker"));
    let (identity, ca) = match files.load()? {
        Some(stored) => stored,
        None => {
            let token = config
                .activation_token
                .as_deref()
                .ok_or(ServerError::NotActivated)?;
            activate(&link, token, &files).await?
        }
    };
    let worker_id = peer_worker_id(identity.certificate_der()).unwrap_or_default();
    let authority = RemoteAuthority::start(link, identity, ca, files, shutdown.clone())?;
    // Set only here: it cannot already hold a link.
    let _ = run.authority.set(authority.clone());
    let worker_config = postern_worker::WorkerConfig {
        worker_id: worker_id.clone(),
        limits: run.limits,
        ..Default::default()
    };
    let mut metrics = Registry::default();
    authority.register_metrics(&mut metrics);
    worker_config.metrics.register(&mut metrics);
    let health = Health::new(
        {
            let authority = authority.clone();
            let worker_id = worker_id.clone();
            move || {
                let mut facts = role("worker");
                facts.insert("worker_id".to_owned(), worker_id.clone().into());
                facts.insert("linked".to_owned(), authority.is_linked().into());
                facts.insert(
                    "active_connections".to_owned(),
                    authority.active_connections().into(),
                );
                facts
            }
        },
        metrics,
    );
    if let Some(ops) = run.ops {
        tokio::spawn(ops::serve(ops, health.clone(), shutdown.clone()));
    }
    println!("               Worker ID: {worker_id}");
    println!("    Worker Proxy Address: {proxy}");
    println!("   Worker Public Address: {public_address}");
    println!("               Upstreams: {}", config.upstreams.join(", "));
    // Ready once linked: until then no session could be served.
    while !authority.linked(Duration::from_secs(5)).await {
        if drain.is_cancelled() {
            return Ok(());
        }
        tracing::warn!("not linked to any controller yet; still trying");
    }
    println!("\n{READY_LINE}");
    notify_systemd("READY=1");
    let status = {
        let (authority, drain) = (authority.clone(), drain.clone());
        move || {
            let state = match (drain.is_cancelled(), authority.is_linked()) {
                (true, _) => "draining",
                (false, true) => "linked to a controller",
                (false, false) => "not linked to any controller",
            };
            format!(
                "{state}; {} connections open",
                authority.active_connections()
            )
        }
    };
    tokio::spawn(tell_systemd(status, shutdown.clone()));
    let cut = CancellationToken::new();
    tokio::spawn({
        let (drain, cut, authority) = (drain.clone(), cut.clone(), authority.clone());
        let grace = config.shutdown_grace;
        async move {
            drain.cancelled().await;
            notify_systemd("STOPPING=1");
            authority.set_draining();
            health.set_draining();
            tracing::info!(
                ?grace,
                live = authority.active_connections(),
                "draining: no new connections; live ones run for the grace (signal again to cut them now)"
            );
            tokio::select! {
                () = tokio::time::sleep(grace) => tracing::info!("shutdown grace over; cutting live connections"),
                () = second.cancelled() => tracing::info!("second signal; cutting live connections"),
            }
            cut.cancel();
        }
    });
    postern_worker::serve_until(listener, Arc::new(authority), worker_config, drain, cut).await;
    Ok(())
}

/// Keeps systemd told how the service is doing (`STATUS=`, every 5 s) and, when the unit
/// sets `WatchdogSec=`, that it is alive (`WATCHDOG=1`, at half the watchdog interval).
async fn tell_systemd(status: impl Fn() -> String, shutdown: CancellationToken) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let watchdog = watchdog_interval();
    let every = watchdog.map_or(STATUS_INTERVAL, |w| (w / 2).min(STATUS_INTERVAL));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if watchdog.is_some() {
            notify_systemd("WATCHDOG=1");
        }
        notify_systemd(&format!("STATUS={}", status()));
    }
}

const STATUS_INTERVAL: Duration = Duration::from_secs(5);

/// `WATCHDOG_USEC`, when it is meant for this process (`WATCHDOG_PID` unset or ours).
fn watchdog_interval() -> Option<Duration> {
    let pid = std::env::var("WATCHDOG_PID").ok();
    if pid.is_some_and(|pid| pid.trim() != std::process::id().to_string()) {
        return None;
    }
    let micros: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (micros > 0).then(|| Duration::from_micros(micros))
}

/// Tells systemd (`Type=notify`) how the service is doing, when it runs under it.
pub(crate) fn notify_systemd(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| -> std::io::Result<()> {
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        let path = path.to_string_lossy();
        if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            socket.send_to(state.as_bytes(), path.as_ref())?;
        }
        Ok(())
    })();
    if let Err(error) = sent {
        tracing::warn!(%error, state, "cannot notify systemd");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<ServerConfig, ServerError> {
        let parsed: File = toml::from_str(text).map_err(|e| ServerError::Parse {
            file: "server.toml".into(),
            message: e.to_string(),
        })?;
        ServerConfig::check(parsed, Path::new("server.toml"))
    }

    #[test]
    fn a_full_file_is_read_and_defaults_fill_the_rest() {
        let config = check(
            "data_dir = \"/srv/postern\"\n[controller]\n[worker]\npublic_address = \"w.example.com:9202\"\n",
        )
        .unwrap();
        let controller = config.controller.unwrap();
        assert_eq!(controller.database_url, "sqlite:///srv/postern/postern.db");
        assert_eq!(
            controller.key_file,
            Path::new("/srv/postern/postern.db.key")
        );
        assert_eq!(controller.api_listen_address.to_string(), DEFAULT_API);
        assert_eq!(
            controller.retention,
            Duration::from_secs(DEFAULT_RETENTION_SECONDS)
        );
        let worker = config.worker.unwrap();
        assert_eq!(worker.public_address.as_deref(), Some("w.example.com:9202"));
    }

    #[test]
    fn a_worker_alone_links_to_upstreams_with_its_tags() {
        let config = check(
            "data_dir = \"/srv/w\"\n[worker]\nupstreams = [\"c1:9201\", \"10.0.0.2:9201\"]\ntags = { region = \"eu\", type = [\"db\", \"prod\"] }\n",
        )
        .unwrap();
        let worker = config.worker.unwrap();
        assert!(config.controller.is_none());
        assert_eq!(worker.upstreams, ["c1:9201", "10.0.0.2:9201"]);
        assert_eq!(
            worker.tags,
            [
                ("region".to_owned(), "eu".to_owned()),
                ("type".to_owned(), "db".to_owned()),
                ("type".to_owned(), "prod".to_owned())
            ]
        );
        assert_eq!(worker.grace, Duration::from_secs(DEFAULT_GRACE_SECONDS));
    }

    #[test]
    fn every_bad_value_names_its_key() {
        for (text, key) in [
            (
                "[controller]\napi_listen_address = \"nowhere\"\n[worker]\n",
                "controller.api_listen_address",
            ),
            (
                "[controller]\n[worker]\nproxy_listen_address = \"1.2.3.4\"\n",
                "worker.proxy_listen_address",
            ),
            (
                "[controller]\ndatabase_url = \"mysql://x\"\n[worker]\n",
                "controller.database_url",
            ),
            (
                "[controller]\ndatabase_url = \"postgres://db/x\"\n[worker]\n",
                "controller.key_file",
            ),
            (
                "[controller]\nterminated_session_retention_seconds = 0\n[worker]\n",
                "controller.terminated_session_retention_seconds",
            ),
            (
                "[controller]\n[worker]\npublic_address = \"host\"\n",
                "worker.public_address",
            ),
            (
                "[controller]\n[worker]\nmax_concurrent_handshakes = 0\n",
                "worker.max_concurrent_handshakes",
            ),
            (
                "data_dir = \"relative\"\n[controller]\n[worker]\n",
                "data_dir",
            ),
            (
                "[controller]\ncluster_listen_address = \"x:1\"\n",
                "controller.cluster_listen_address",
            ),
            ("[worker]\nupstreams = [\"nohost\"]\n", "worker.upstreams"),
            (
                "[controller]\n[worker]\nupstreams = [\"c:9201\"]\n",
                "worker.upstreams",
            ),
            (
                "[worker]\nupstreams = [\"c:9201\"]\nactivation_token = \"nope\"\n",
                "worker.activation_token",
            ),
            (
                "[worker]\nupstreams = [\"c:9201\"]\ncontroller_grace_seconds = 0\n",
                "worker.controller_grace_seconds",
            ),
            (
                "ops_listen_address = \"localhost\"\n[controller]\n[worker]\n",
                "ops_listen_address",
            ),
            (
                "[controller]\n[worker]\nmax_connections = 0\n",
                "worker.max_connections",
            ),
            (
                "log_level = \"info,=\"\n[controller]\n[worker]\n",
                "log_level",
            ),
        ] {
            let error = check(text).unwrap_err();
            assert!(error.is_usage(), "{text}");
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("server.toml: {key}: ")),
                "{text} -> {message}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_missing_sections_are_refused_plainly() {
        let unknown = check("[controller]\napi_listen = \"x\"\n[worker]\n").unwrap_err();
        assert!(unknown.to_string().contains("api_listen"), "{unknown}");
        let typo = check("[controler]\n").unwrap_err();
        assert!(typo.to_string().contains("controler"), "{typo}");
        let alone = check("[worker]\n").unwrap_err().to_string();
        assert!(alone.contains("worker.upstreams: missing"), "{alone}");
        let alone = check("[controller]\n").unwrap_err().to_string();
        assert!(
            alone.contains("controller.cluster_listen_address: missing"),
            "{alone}"
        );
        let empty = check("").unwrap_err().to_string();
        assert!(
            empty.contains("[controller] section, a [worker] section"),
            "{empty}"
        );
    }

    #[test]
    fn the_example_files_in_dist_are_valid() {
        for text in [
            include_str!("../dist/server.toml"),
            include_str!("../dist/controller.toml"),
            include_str!("../dist/worker.toml"),
        ] {
            let config = check(text).unwrap();
            assert_eq!(config.log_format, Some(LogFormat::Text));
        }
    }

    #[test]
    fn a_reload_applies_levels_limits_and_names_what_needs_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("server.toml");
        let before = "[controller]\n[worker]\nmax_connections = 10\n";
        std::fs::write(&file, before).unwrap();
        let running = check(before).unwrap();
        let limits = running.worker.as_ref().unwrap().limits();
        let levels = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut reloader = Reloader {
            file: file.clone(),
            running: running.settings(),
            logs: LogControl::recording(levels.clone()),
            limits: Some(limits.clone()),
            authority: Arc::new(OnceLock::new()),
        };
        // A bad file changes nothing.
        std::fs::write(&file, "[controller]\n[worker]\nmax_connections = 0\n").unwrap();
        reloader.reload();
        assert_eq!(limits.max_connections(), 10);
        let after = "log_level = \"debug\"\n[controller]\napi_listen_address = \"127.0.0.1:1\"\n\
                     [worker]\nmax_connections = 3\nmax_concurrent_handshakes = 2\n";
        std::fs::write(&file, after).unwrap();
        reloader.reload();
        assert_eq!(
            (limits.max_connections(), limits.max_concurrent_handshakes()),
            (3, 2)
        );
        assert_eq!(*levels.lock().unwrap(), ["debug"]);
        // What needs a restart keeps its running value, so it is named again next time.
        let settings = reloader.running.clone();
        assert_eq!(settings["worker.max_connections"], "3");
        assert_eq!(
            settings["controller.api_listen_address"],
            format!("{:?}", DEFAULT_API.parse::<SocketAddr>().unwrap())
        );
        // No worker link in this process: new upstreams cannot be applied.
        let mut fresh = check(after).unwrap();
        fresh.worker.as_mut().unwrap().upstreams = vec!["c:9201".into()];
        assert_eq!(reloader.apply("worker.upstreams", &fresh), Ok(false));
    }
}
