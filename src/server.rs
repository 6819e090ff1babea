//! `postern server -config FILE`: a controller and a worker in one process, as a service,
//! from one TOML file, on a database `postern database init` made.
//!
//! The whole file is read and checked before anything is opened or bound; a bad file exits
//! 64 naming the file, the key and what is wrong. The service then opens the database (its
//! schema must be this build's: `postern database migrate` upgrades it; its key file must
//! exist), closes the connections a previous run's worker left open, binds, tells systemd it
//! is ready (`Type=notify`) and serves until SIGTERM or SIGINT.
//!
//! Not built yet (issue 14): a worker or a controller alone, linked to the other over the
//! network; a file asking for that is refused with that reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::database::{self, DatabaseError};
use crate::node::{bind, BindError, Node};

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
    /// Where state lives by default (the SQLite database and its key file).
    data_dir: Option<PathBuf>,
    controller: Option<ControllerSection>,
    worker: Option<WorkerSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControllerSection {
    api_listen_address: Option<String>,
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
}

/// A checked configuration.
#[derive(Debug)]
pub struct ServerConfig {
    api_listen_address: SocketAddr,
    database_url: String,
    key_file: PathBuf,
    retention: Duration,
    proxy_listen_address: SocketAddr,
    public_address: Option<String>,
    max_concurrent_handshakes: usize,
}

const DEFAULT_DATA_DIR: &str = "/var/lib/postern";
const DEFAULT_API: &str = "127.0.0.1:9200";
const DEFAULT_RETENTION_SECONDS: u64 = 30 * 24 * 3600;

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
    #[error("{file}: {0}", file = .1.display())]
    NotBuilt(&'static str, PathBuf),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("cannot read the sessions in the database: {0}")]
    Sessions(#[from] postern_controller::sessions::SessionError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("the controller API failed: {0}")]
    Serve(#[source] std::io::Error),
}

impl ServerError {
    /// A configuration the file cannot have is a usage error (exit 64).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Read { .. } | Self::Parse { .. } | Self::Invalid { .. } | Self::NotBuilt(..)
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
        let (controller, worker) = match (parsed.controller, parsed.worker) {
            (Some(controller), Some(worker)) => (controller, worker),
            (None, Some(_)) => {
                return Err(ServerError::NotBuilt(
                    "a worker without a [controller] in the same file needs the cluster link to a remote controller, which is not built yet (issue 14): put [controller] and [worker] in one file",
                    file.to_owned(),
                ))
            }
            (Some(_), None) => {
                return Err(ServerError::NotBuilt(
                    "a controller without a [worker] in the same file needs remote workers, which are not built yet (issue 14): put [controller] and [worker] in one file",
                    file.to_owned(),
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "controller",
                    "missing: the file needs a [controller] and a [worker] section".into(),
                ))
            }
        };
        let address = |key, value: Option<String>, default: &str| {
            let value = value.unwrap_or_else(|| default.to_owned());
            value
                .parse::<SocketAddr>()
                .map_err(|_| invalid(key, format!("{value:?} is not an IP:port address")))
        };
        let api_listen_address = address(
            "controller.api_listen_address",
            controller.api_listen_address,
            DEFAULT_API,
        )?;
        let proxy_listen_address = address(
            "worker.proxy_listen_address",
            worker.proxy_listen_address,
            postern_worker::DEFAULT_PROXY_ADDR,
        )?;
        let data_dir = parsed
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if !data_dir.is_absolute() {
            return Err(invalid(
                "data_dir",
                format!("{} is not an absolute path", data_dir.display()),
            ));
        }
        let database_url = controller
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("postern.db").display()));
        let key_file = database::key_path(&database_url, controller.key_file.as_deref()).map_err(
            |e| match e {
                DatabaseError::Usage { message, .. } => invalid("controller.key_file", message),
                other => invalid("controller.database_url", other.to_string()),
            },
        )?;
        let retention = controller
            .terminated_session_retention_seconds
            .unwrap_or(DEFAULT_RETENTION_SECONDS);
        if retention == 0 {
            return Err(invalid(
                "controller.terminated_session_retention_seconds",
                "must be positive".into(),
            ));
        }
        if let Some(public) = &worker.public_address {
            let port = public
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(port))) if !host.is_empty() && port > 0) {
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
        Ok(Self {
            api_listen_address,
            database_url,
            key_file,
            retention: Duration::from_secs(retention),
            proxy_listen_address,
            public_address: worker.public_address,
            max_concurrent_handshakes,
        })
    }
}

/// Runs the service until `shutdown`.
pub async fn run(args: ServerArgs, shutdown: CancellationToken) -> Result<(), ServerError> {
    let config = ServerConfig::load(&args.config)?;
    let opened = database::open_existing(&config.database_url, &config.key_file).await?;
    let worker_id = postern_worker::WorkerConfig::default().worker_id;
    let closed = opened.sessions.close_worker_connections(&worker_id).await?;
    if closed > 0 {
        tracing::info!(
            closed,
            "closed connections the previous run left open (system error)"
        );
    }
    let node = Node {
        resources: Arc::new(opened.resources),
        sessions: opened.sessions,
        db: Some(opened.db),
        api_listener: bind("controller API", config.api_listen_address).await?,
        proxy_listener: bind("worker proxy", config.proxy_listen_address).await?,
        public_address: config.public_address.clone(),
        max_concurrent_handshakes: config.max_concurrent_handshakes,
        retention: config.retention,
    };
    let bound = node.bound().map_err(ServerError::Serve)?;
    println!(
        "==> postern server configuration ({}):",
        args.config.display()
    );
    println!("  Controller API Address: http://{}", bound.api);
    println!("    Worker Proxy Address: {}", bound.proxy);
    if let Some(public) = &config.public_address {
        println!("   Worker Public Address: {public}");
    }
    println!(
        "                Database: {}",
        postern_store::redact(&config.database_url)
    );
    println!("\n{READY_LINE}");
    notify_systemd("READY=1");
    let served = node.serve(shutdown).await;
    notify_systemd("STOPPING=1");
    println!("==> postern server stopped");
    served.map_err(ServerError::Serve)
}

/// Tells systemd (`Type=notify`) how the service is doing, when it runs under it.
fn notify_systemd(state: &str) {
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
        assert_eq!(config.database_url, "sqlite:///srv/postern/postern.db");
        assert_eq!(config.key_file, Path::new("/srv/postern/postern.db.key"));
        assert_eq!(config.api_listen_address.to_string(), DEFAULT_API);
        assert_eq!(
            config.retention,
            Duration::from_secs(DEFAULT_RETENTION_SECONDS)
        );
        assert_eq!(config.public_address.as_deref(), Some("w.example.com:9202"));
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
        assert!(alone.contains("not built yet"), "{alone}");
        let alone = check("[controller]\n").unwrap_err().to_string();
        assert!(alone.contains("not built yet"), "{alone}");
        let empty = check("").unwrap_err().to_string();
        assert!(empty.contains("[controller] and a [worker]"), "{empty}");
    }
}
