//! The daemon: every tunnel of the file listening, the control socket answering, reloads on
//! SIGHUP or `tunnels reload`, and a drain on shutdown. systemd (`Type=notify`) hears READY=1
//! once every tunnel listens, RELOADING=1/READY=1 around a reload and STOPPING=1 at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::config::{TunnelSpec, TunnelsConfig};
use crate::control::{ControlSocket, Request};
use crate::tunnel::Tunnel;
use crate::TunnelsError;

/// How long live connections may run on after the daemon is told to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the daemon reads its tunnels and answers its control requests.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config: PathBuf,
    pub socket: PathBuf,
    /// Tells systemd how the service is doing (`READY=1`, ...); a no-op outside systemd.
    pub notify: fn(&str),
}

struct Daemon {
    options: DaemonOptions,
    running: BTreeMap<String, Arc<Tunnel>>,
    /// Tunnels removed or replaced whose connections may still be live.
    draining: Vec<Arc<Tunnel>>,
}

/// Runs the tunnels of `options.config` until `shutdown`. The file is checked and every
/// listener bound before systemd hears READY=1; a bad file is a usage error.
pub async fn run(options: DaemonOptions, shutdown: CancellationToken) -> Result<(), TunnelsError> {
    let config = TunnelsConfig::load(&options.config)?;
    // Watched before anything else: an unwatched SIGHUP would end the process.
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(TunnelsError::Signals)?;
    let mut listeners = Vec::new();
    for (name, spec) in config.tunnels {
        let listener = bind(&name, &spec).await?;
        listeners.push((name, spec, listener));
    }
    let socket = ControlSocket::bind(&options.socket)?;
    let mut daemon = Daemon {
        options,
        running: BTreeMap::new(),
        draining: Vec::new(),
    };
    for (name, spec, listener) in listeners {
        daemon.start(&name, spec, listener)?;
    }
    let (requests, mut incoming) = mpsc::channel(16);
    let socket_stop = CancellationToken::new();
    let serving = tokio::spawn(socket.serve(requests, socket_stop.clone()));
    info!(
        config = %daemon.options.config.display(),
        socket = %daemon.options.socket.display(),
        tunnels = daemon.running.len(),
        "tunnels listening"
    );
    (daemon.options.notify)("READY=1");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = hangups.recv() => {
                if let Err(e) = daemon.reload().await {
                    error!(error = %e, "reload failed");
                }
            }
            Some((request, reply)) = incoming.recv() => {
                let answer = match request {
                    Request::Status => json!({ "ok": true, "tunnels": daemon.status() }),
                    Request::Reload => match daemon.reload().await {
                        Ok(changes) => json!({ "ok": true, "changes": changes }),
                        Err(e) => json!({ "ok": false, "error": e.to_string() }),
                    },
                };
                // The asker may have given up; nothing to tell it then.
                drop(reply.send(answer));
            }
        }
    }
    (daemon.options.notify)("STOPPING=1");
    info!("stopping: no new connections; live ones get {SHUTDOWN_GRACE:?}");
    socket_stop.cancel();
    let all: Vec<Arc<Tunnel>> = daemon
        .running
        .into_values()
        .chain(daemon.draining)
        .collect();
    for tunnel in &all {
        tunnel.drain();
    }
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    for tunnel in &all {
        tunnel.finish(deadline).await;
    }
    if let Err(e) = serving.await {
        error!(error = %e, "the control socket task failed");
    }
    Ok(())
}

async fn bind(name: &str, spec: &TunnelSpec) -> Result<TcpListener, TunnelsError> {
    TcpListener::bind(spec.listen)
        .await
        .map_err(|source| TunnelsError::Bind {
            name: name.to_owned(),
            addr: spec.listen,
            source,
        })
}

impl Daemon {
    fn start(
        &mut self,
        name: &str,
        spec: TunnelSpec,
        listener: TcpListener,
    ) -> Result<(), TunnelsError> {
        let addr = spec.listen;
        let tunnel = Tunnel::start(name, spec, listener).map_err(|source| TunnelsError::Bind {
            name: name.to_owned(),
            addr,
            source,
        })?;
        self.running.insert(name.to_owned(), tunnel);
        Ok(())
    }

    fn status(&self) -> Vec<crate::TunnelStatus> {
        self.running.values().map(|t| t.status()).collect()
    }

    /// Applies the file as it is now: new tunnels start, removed ones drain, changed ones
    /// drain and start again. A file that does not check changes nothing.
    async fn reload(&mut self) -> Result<Value, TunnelsError> {
        (self.options.notify)("RELOADING=1");
        let applied = self.apply().await;
        (self.options.notify)("READY=1");
        applied
    }

    async fn apply(&mut self) -> Result<Value, TunnelsError> {
        let config = TunnelsConfig::load(&self.options.config)?;
        self.draining.retain(|t| !t.idle());
        let (mut removed, mut restarted, mut added) = (Vec::new(), Vec::new(), Vec::new());
        // Drained first, so a changed tunnel's port is free for its successor.
        let stale: Vec<String> = self
            .running
            .iter()
            .filter(|(name, tunnel)| config.tunnels.get(*name) != Some(tunnel.spec()))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(tunnel) = self.running.remove(&name) {
                tunnel.drain();
                // Its port free before a changed tunnel's successor binds it.
                tunnel.stopped_listening().await;
                // Its connections finish in their own time; then its session is canceled.
                let finishing = tunnel.clone();
                tokio::spawn(async move {
                    finishing.connections_done().await;
                    finishing.finish(tokio::time::Instant::now()).await;
                });
                self.draining.push(tunnel);
            }
            if config.tunnels.contains_key(&name) {
                restarted.push(name);
            } else {
                removed.push(name);
            }
        }
        let mut failed = Vec::new();
        for (name, spec) in config.tunnels {
            if self.running.contains_key(&name) {
                continue;
            }
            let started = match bind(&name, &spec).await {
                Ok(listener) => self.start(&name, spec, listener),
                Err(e) => Err(e),
            };
            match started {
                Ok(()) if restarted.contains(&name) => {}
                Ok(()) => added.push(name),
                Err(e) => failed.push(e.to_string()),
            }
        }
        info!(
            ?added,
            ?removed,
            ?restarted,
            "reloaded {}",
            self.options.config.display()
        );
        if !failed.is_empty() {
            return Err(TunnelsError::Reload(failed.join("; ")));
        }
        Ok(json!({ "added": added, "removed": removed, "restarted": restarted }))
    }
}
