//! `postern tunnels [run] [-config FILE] [-socket PATH]`, `postern tunnels status
//! [-format json]` and `postern tunnels reload`: the grammar beside the code that runs it.
//! The daemon runs on the caller's runtime; status and reload are one blocking request each.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use postern_controller_client::output::Format;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::control::{self, Request};
use crate::daemon::{self, DaemonOptions};
use crate::{config, TunnelStatus, TunnelsError};

/// `postern tunnels`: bare, it runs the daemon.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TunnelsArgs {
    #[command(subcommand)]
    pub command: Option<TunnelsCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum TunnelsCommand {
    /// Run the tunnels of the config file (what bare `postern tunnels` does).
    Run(RunArgs),
    /// Show each tunnel: state, address, session, time left, connections, bytes.
    Status(OutputArgs),
    /// Apply the edited config file (as SIGHUP does).
    Reload(OutputArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The tunnels file (default: $XDG_CONFIG_HOME/postern/tunnels.toml, else
    /// ~/.config/postern/tunnels.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub socket: SocketArgs,
}

#[derive(Debug, Args)]
pub struct SocketArgs {
    /// The daemon's control socket (default: $XDG_RUNTIME_DIR/postern/tunnels.sock, else
    /// run/tunnels.sock in the config directory).
    #[arg(long)]
    pub socket: Option<PathBuf>,
}

/// A request to the daemon and how its answer is printed.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format: table or json.
    #[arg(long, env = "POSTERN_FORMAT", default_value = "table")]
    pub format: Format,
    #[command(flatten)]
    pub socket: SocketArgs,
}

/// What the binary does with `postern tunnels ...`.
#[derive(Debug)]
pub enum Prepared {
    /// Run the daemon (on an async runtime).
    Daemon(DaemonOptions),
    /// A request to the daemon, done: its output.
    Done(String),
}

impl SocketArgs {
    fn path(&self) -> Result<PathBuf, TunnelsError> {
        match &self.socket {
            Some(path) => Ok(path.clone()),
            None => control::default_socket(),
        }
    }
}

impl TunnelsArgs {
    /// Status and reload are done here (blocking, bounded); running the daemon is left to
    /// [`run_daemon`] on the caller's runtime.
    pub fn prepare(self, notify: fn(&str)) -> Result<Prepared, TunnelsError> {
        match self.command {
            None => self.run.options(notify).map(Prepared::Daemon),
            Some(TunnelsCommand::Run(run)) => run.options(notify).map(Prepared::Daemon),
            Some(TunnelsCommand::Status(args)) => {
                let reply = control::call(&args.socket.path()?, Request::Status)?;
                let tunnels: Vec<TunnelStatus> = serde_json::from_value(reply["tunnels"].clone())
                    .map_err(|e| {
                    TunnelsError::Daemon(format!("the daemon's status is unreadable: {e}"))
                })?;
                Ok(Prepared::Done(crate::status::render(&tunnels, args.format)))
            }
            Some(TunnelsCommand::Reload(args)) => {
                let reply = control::call(&args.socket.path()?, Request::Reload)?;
                let changes = &reply["changes"];
                if args.format == Format::Json {
                    return Ok(Prepared::Done(format!(
                        "{}\n",
                        json!({ "changes": changes })
                    )));
                }
                let list = |key: &str| {
                    let names: Vec<&str> = changes[key]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                        .unwrap_or_default();
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                };
                Ok(Prepared::Done(format!(
                    "Reloaded: added {}; removed {}; restarted {}.\n",
                    list("added"),
                    list("removed"),
                    list("restarted")
                )))
            }
        }
    }
}

impl RunArgs {
    fn options(self, notify: fn(&str)) -> Result<DaemonOptions, TunnelsError> {
        Ok(DaemonOptions {
            config: match self.config {
                Some(file) => file,
                None => config::default_config_file()?,
            },
            socket: self.socket.path()?,
            notify,
        })
    }
}

/// Runs the daemon until `shutdown`.
pub async fn run_daemon(
    options: DaemonOptions,
    shutdown: CancellationToken,
) -> Result<(), TunnelsError> {
    daemon::run(options, shutdown).await
}
