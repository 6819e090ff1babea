//! `postern dev`: a controller and a worker in one process, on in-memory state seeded with
//! Boundary's well-known dev IDs, so a new user can authorize a session and ssh through it
//! with nothing else installed. With `-database-url` the state is kept in a database
//! instead (seeded on the first start, reused after), and survives restarts.
//!
//! Options are validated before any socket is bound. The process prints the generated IDs,
//! the login and the bound addresses, then a ready line, and serves until `shutdown`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postern_api::ConnectionLimit;
use postern_controller::resources::{dev_seed, DevSeed, ResourceError, Resources};
use postern_controller::sessions::{system_clock, SessionStore};
use tokio_util::sync::CancellationToken;

use crate::database::{self, DatabaseError};
use crate::node::{bind, BindError, Node, Stop};

/// The line `postern dev` prints once it serves; scripts and tests wait for it.
pub const READY_LINE: &str = "==> postern dev started! Log data will stream in below:";

/// `postern dev`'s flags: Boundary's names and defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct DevOptions {
    /// The address of the generated host (and so of the target's endpoint).
    #[arg(long, default_value = "127.0.0.1")]
    pub host_address: String,
    #[arg(long, default_value_t = 22)]
    pub target_default_port: u16,
    /// -1 = unlimited.
    #[arg(long, default_value_t = ConnectionLimit::UNLIMITED, allow_negative_numbers = true)]
    pub target_session_connection_limit: ConnectionLimit,
    #[arg(long, default_value_t = 28_800)]
    pub target_session_max_seconds: u32,
    #[arg(long, default_value = "127.0.0.1:9200")]
    pub api_listen_address: String,
    #[arg(long, default_value = postern_worker::DEFAULT_PROXY_ADDR)]
    pub proxy_listen_address: String,
    #[arg(long, default_value = "admin")]
    pub login_name: String,
    #[arg(long, default_value = "password")]
    pub password: String,
    /// How long a terminated session stays listed before it is deleted (default 30 days).
    #[arg(long, default_value_t = 30 * 24 * 3600)]
    pub terminated_session_retention_seconds: u64,
    /// TLS handshakes the worker runs at once; a connection beyond them is reset at once.
    #[arg(long, default_value_t = postern_worker::DEFAULT_MAX_CONCURRENT_HANDSHAKES)]
    pub max_concurrent_handshakes: usize,
    /// Keep the state in a database (`sqlite://PATH` or `postgres://...`) rather than in
    /// memory: seeded on the first start, reused after.
    #[arg(long)]
    pub database_url: Option<String>,
    /// With -database-url: the key file sealing session secrets (default PATH.key beside an
    /// SQLite database; created when missing).
    #[arg(long)]
    pub database_key_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("invalid -{flag}: {message}")]
    InvalidOption { flag: &'static str, message: String },
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot create the dev resources: {0}")]
    Seed(#[from] ResourceError),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("cannot read the sessions in the database: {0}")]
    Sessions(#[from] postern_controller::sessions::SessionError),
    #[error("controller API failed: {0}")]
    Api(#[source] std::io::Error),
}

impl DevError {
    /// Bad flags are a usage error (exit 64); the rest are failures.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::InvalidOption { .. } => true,
            Self::Database(e) => e.is_usage(),
            _ => false,
        }
    }
}

fn socket_addr(flag: &'static str, value: &str) -> Result<SocketAddr, DevError> {
    value.parse().map_err(|_| DevError::InvalidOption {
        flag,
        message: format!("{value:?} is not an IP:port address"),
    })
}

/// Checks every option; nothing is bound before this passes.
fn validate(options: &DevOptions) -> Result<(SocketAddr, SocketAddr), DevError> {
    let invalid = |flag, message: &str| DevError::InvalidOption {
        flag,
        message: message.to_owned(),
    };
    if options.target_default_port == 0 {
        return Err(invalid("target-default-port", "must be 1..65535"));
    }
    if options.target_session_max_seconds == 0 {
        return Err(invalid("target-session-max-seconds", "must be positive"));
    }
    if options.host_address.trim().is_empty() || options.host_address.contains("://") {
        return Err(invalid("host-address", "must be a host name or IP address"));
    }
    if options.max_concurrent_handshakes == 0 {
        return Err(invalid("max-concurrent-handshakes", "must be at least 1"));
    }
    if options.login_name.is_empty() {
        return Err(invalid("login-name", "must not be empty"));
    }
    if options.password.len() < 8 {
        return Err(invalid("password", "must be at least 8 characters"));
    }
    Ok((
        socket_addr("api-listen-address", &options.api_listen_address)?,
        socket_addr("proxy-listen-address", &options.proxy_listen_address)?,
    ))
}

/// Runs the dev controller and worker until `shutdown`.
pub async fn run(options: DevOptions, shutdown: CancellationToken) -> Result<(), DevError> {
    let (api_addr, proxy_addr) = validate(&options)?;
    let seed = DevSeed {
        login_name: options.login_name.clone(),
        password: options.password.clone(),
        unprivileged_login_name: "user".into(),
        unprivileged_password: "password".into(),
        host_address: options.host_address.clone(),
        target_default_port: options.target_default_port,
        target_session_connection_limit: options.target_session_connection_limit,
        target_session_max_seconds: options.target_session_max_seconds,
    };
    let (resources, sessions, kept) = match &options.database_url {
        None => (
            Resources::memory_dev(&seed, system_clock()).await?,
            SessionStore::new(),
            None,
        ),
        Some(url) => {
            let (resources, sessions, kept) = open_database(url, &options, &seed).await?;
            (resources, sessions, Some(kept))
        }
    };
    let node = Node {
        resources: Arc::new(resources),
        sessions,
        db: kept.as_ref().map(|kept| kept.db.clone()),
        api_listener: bind("controller API", api_addr).await?,
        proxy_listener: Some(bind("worker proxy", proxy_addr).await?),
        cluster: None,
        public_address: None,
        worker: postern_worker::WorkerConfig {
            limits: postern_worker::Limits::new(
                options.max_concurrent_handshakes,
                postern_worker::DEFAULT_MAX_CONNECTIONS,
            ),
            ..Default::default()
        },
        metrics: crate::ops::ApiMetrics::default(),
        retention: Duration::from_secs(options.terminated_session_retention_seconds),
    };
    let bound = node.bound().map_err(DevError::Api)?;
    print_banner(
        &options,
        bound.api,
        bound.proxy.unwrap_or(proxy_addr),
        kept.as_ref(),
    );
    let served = node.serve(Stop::at(shutdown)).await;
    println!("==> postern dev stopped");
    served.map_err(DevError::Api)
}

/// What a database `postern dev` starts on already held.
struct Kept {
    db: postern_store::Db,
    url: String,
    /// The database held resources before (not seeded now).
    resources: bool,
    /// Connections the previous run left open, closed now.
    closed_connections: usize,
}

/// The stores on the database, seeded if it holds no resources yet. Connections the previous
/// run's worker left open are closed (`system error`): that worker is gone.
async fn open_database(
    url: &str,
    options: &DevOptions,
    seed: &DevSeed,
) -> Result<(Resources, SessionStore, Kept), DevError> {
    let key_path = database::key_path(url, options.database_key_file.as_deref())?;
    let opened = database::open(url, &key_path).await?;
    let existing = !opened.resources.is_blank().await?;
    if !existing {
        opened.resources.apply_seed(dev_seed(seed)).await?;
    }
    let worker_id = postern_worker::WorkerConfig::default().worker_id;
    let closed_connections = opened.sessions.close_worker_connections(&worker_id).await?;
    let kept = Kept {
        db: opened.db.clone(),
        url: postern_store::redact(url),
        resources: existing,
        closed_connections,
    };
    Ok((opened.resources, opened.sessions, kept))
}

fn print_banner(options: &DevOptions, api: SocketAddr, proxy: SocketAddr, kept: Option<&Kept>) {
    let rows = [
        ("Controller API Address", format!("http://{api}")),
        ("Web Console Address", format!("http://{api}/ui/")),
        ("Worker Proxy Address", proxy.to_string()),
        ("Generated Org Scope Id", "o_1234567890".into()),
        ("Generated Project Scope Id", "p_1234567890".into()),
        ("Generated Auth Method Id", "ampw_1234567890".into()),
        ("Generated Admin Login Name", options.login_name.clone()),
        ("Generated Admin Password", options.password.clone()),
        ("Generated Admin User Id", "u_1234567890".into()),
        ("Generated Unprivileged Login Name", "user".into()),
        ("Generated Unprivileged Password", "password".into()),
        ("Generated Host Catalog Id", "hcst_1234567890".into()),
        ("Generated Host Set Id", "hsst_1234567890".into()),
        (
            "Generated Host Id",
            format!("hst_1234567890 ({})", options.host_address),
        ),
        (
            "Generated Target Id",
            format!(
                "ttcp_1234567890 (tcp, default port {})",
                options.target_default_port
            ),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("==> postern dev configuration:\n");
    for (key, value) in rows {
        println!("  {key:>width$}: {value}");
    }
    if let Some(kept) = kept {
        println!("\n==> State is kept in {}", kept.url);
        if kept.resources {
            println!("    It held resources already: they are used as they are, and the seed above applies only where they match it.");
        } else {
            println!("    It was empty: seeded with the resources above.");
        }
        if kept.closed_connections > 0 {
            println!(
                "    Closed {} connection(s) left open by the previous run (system error).",
                kept.closed_connections
            );
        }
    }
    println!("\n{READY_LINE}");
}
