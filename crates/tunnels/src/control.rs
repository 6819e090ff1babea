//! The daemon's control socket: a Unix socket, mode 0600 in a 0700 directory, that only the
//! daemon's own user may talk to (its peer uid is checked too). One JSON request per line
//! (`{"command": "status"}`, `{"command": "reload"}`), one JSON reply per line
//! (`{"ok": true, ...}` or `{"ok": false, "error": "..."}`).

use std::fs::{self, DirBuilder};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::TunnelsError;

/// How long a client waits for the daemon, and the daemon for a client's line.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);
/// A request is a few bytes; anything longer is not one.
const MAX_REQUEST: u64 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Request {
    Status,
    Reload,
}

/// A request from the socket, with where its reply goes.
pub type Incoming = (Request, oneshot::Sender<Value>);

/// `$XDG_RUNTIME_DIR/postern/tunnels.sock`, else `run/tunnels.sock` in the config dir.
pub fn default_socket() -> Result<PathBuf, TunnelsError> {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir).join("postern").join("tunnels.sock")),
        None => Ok(crate::config::user_config_dir()?
            .join("run")
            .join("tunnels.sock")),
    }
}

/// Only the daemon's own user may control it.
pub fn peer_allowed(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == own_uid
}

/// The bound control socket.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    /// The socket file's owner: the daemon's user.
    owner: u32,
}

impl ControlSocket {
    /// Binds `path` (mode 0600), creating its directory with mode 0700. A socket file left by
    /// a daemon that is gone is replaced; one a live daemon answers on is an error.
    pub fn bind(path: &Path) -> Result<Self, TunnelsError> {
        let failed = |source| TunnelsError::Socket {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(failed)?;
        }
        if path.exists() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(TunnelsError::AlreadyRunning(path.to_owned()));
            }
            fs::remove_file(path).map_err(failed)?;
        }
        let listener = UnixListener::bind(path).map_err(failed)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(failed)?;
        let owner = fs::metadata(path).map_err(failed)?.uid();
        Ok(Self {
            listener,
            path: path.to_owned(),
            owner,
        })
    }

    /// Answers requests (through `requests`, which the daemon serves) until `stop`; then
    /// removes the socket file.
    pub async fn serve(self, requests: mpsc::Sender<Incoming>, stop: CancellationToken) {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    let (requests, owner) = (requests.clone(), self.owner);
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, owner, requests).await {
                            debug!(error = %e, "control connection failed");
                        }
                    });
                }
                Err(e) => {
                    warn!(error = %e, "accept on the control socket failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        if let Err(e) = fs::remove_file(&self.path) {
            debug!(error = %e, "could not remove the control socket");
        }
    }
}

async fn answer(
    stream: UnixStream,
    owner: u32,
    requests: mpsc::Sender<Incoming>,
) -> std::io::Result<()> {
    let peer = stream.peer_cred()?.uid();
    let (read, mut write) = stream.into_split();
    if !peer_allowed(peer, owner) {
        warn!(
            peer_uid = peer,
            "refused a control connection from another user"
        );
        let reply = refusal(&format!("uid {peer} may not control this daemon"));
        return write.write_all(reply.as_bytes()).await;
    }
    let mut line = String::new();
    let mut read = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST));
    tokio::time::timeout(CONTROL_TIMEOUT, read.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            let (reply, replied) = oneshot::channel();
            if requests.send((request, reply)).await.is_err() {
                refusal("the daemon is stopping")
            } else {
                match replied.await {
                    Ok(value) => format!("{value}\n"),
                    Err(_) => refusal("the daemon is stopping"),
                }
            }
        }
        Err(e) => refusal(&format!("not a request: {e}")),
    };
    write.write_all(reply.as_bytes()).await
}

fn refusal(error: &str) -> String {
    format!("{}\n", serde_json::json!({ "ok": false, "error": error }))
}

/// Sends `request` to the daemon at `socket` and returns its reply; blocks, bounded.
pub fn call(socket: &Path, request: Request) -> Result<Value, TunnelsError> {
    let failed = |source| TunnelsError::Control {
        path: socket.to_owned(),
        source,
    };
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(failed)?;
    stream
        .set_read_timeout(Some(CONTROL_TIMEOUT))
        .map_err(failed)?;
    stream
        .set_write_timeout(Some(CONTROL_TIMEOUT))
        .map_err(failed)?;
    let line = format!(
        "{}\n",
        serde_json::to_string(&request).map_err(|e| failed(e.into()))?
    );
    stream.write_all(line.as_bytes()).map_err(failed)?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .map_err(failed)?;
    let reply: Value = serde_json::from_str(&reply).map_err(|e| failed(e.into()))?;
    if reply["ok"] == Value::Bool(true) {
        Ok(reply)
    } else {
        Err(TunnelsError::Daemon(
            reply["error"]
                .as_str()
                .unwrap_or("no reason given")
                .to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_user_may_control_the_daemon() {
        assert!(peer_allowed(1000, 1000));
        assert!(!peer_allowed(0, 1000));
        assert!(!peer_allowed(65534, 0));
    }

    #[test]
    fn requests_are_one_json_line() {
        assert_eq!(
            serde_json::to_string(&Request::Reload).ok().as_deref(),
            Some(r#"{"command":"reload"}"#)
        );
    }
}
