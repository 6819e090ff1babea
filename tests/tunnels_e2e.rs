//! `postern tunnels` end to end: a real `postern dev`, the daemon as a real process with its
//! tunnels on 127.0.0.1:0 (the bound port read from `tunnels status -format json`), echo
//! traffic through renewals, a cancel, a revoked auth token, reloads, the control socket's
//! permissions and a bad file.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::dev::*;
use common::ops::kill;
use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A running `postern tunnels` with its file and control socket in a directory of its own.
struct Tunnels {
    process: PosternProcess,
    dir: tempfile::TempDir,
}

impl Tunnels {
    async fn start(dev: &Dev, config: &str) -> Tunnels {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tunnels.toml"), config).unwrap();
        let file = dir.path().join("tunnels.toml");
        let socket = dir.path().join("tunnels.sock");
        let mut command = postern(&[
            "tunnels",
            "run",
            "-config",
            file.to_str().unwrap(),
            "-socket",
            socket.to_str().unwrap(),
        ]);
        command
            .env("POSTERN_ADDR", &dev.api)
            .env("POSTERN_CONFIG_DIR", dev.config_dir.path())
            .env_remove("POSTERN_TOKEN")
            // Its log goes with the test's output (and cannot fill a pipe nobody reads).
            .stderr(std::process::Stdio::inherit());
        let mut child = command.spawn().unwrap();
        let stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let tunnels = Tunnels {
            process: PosternProcess {
                child,
                stdout: tokio::io::AsyncBufReadExt::lines(stdout),
            },
            dir,
        };
        let deadline = Instant::now() + WAIT;
        while !tunnels.socket().exists() {
            assert!(
                Instant::now() < deadline,
                "the control socket never appeared"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tunnels
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("tunnels.sock")
    }

    fn rewrite(&self, config: &str) {
        std::fs::write(self.dir.path().join("tunnels.toml"), config).unwrap();
    }

    /// `postern tunnels COMMAND ARGS -socket SOCKET`: its exit code and output.
    async fn ctl(&self, command: &str, args: &[&str]) -> (Option<i32>, String) {
        let socket = self.socket();
        let mut all = vec!["tunnels", command];
        all.extend(args);
        all.extend(["-socket", socket.to_str().unwrap()]);
        run_postern(&all).await
    }

    /// `tunnels status -format json`: each tunnel's object by name.
    async fn status(&self) -> std::collections::BTreeMap<String, Value> {
        let (code, out) = self.ctl("status", &["-format", "json"]).await;
        assert_eq!(code, Some(0), "{out}");
        let status: Value = serde_json::from_str(&out).unwrap();
        status["tunnels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
            .collect()
    }

    /// Polls the status until `check` holds for tunnel `name`, within `limit`.
    async fn until(&self, name: &str, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.status().await;
            if let Some(tunnel) = status.get(name).filter(|t| check(t)) {
                return tunnel.clone();
            }
            assert!(
                Instant::now() < deadline,
                "tunnel {name}: not within {limit:?}: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until tunnel `name` is ready; its local port and session id.
    async fn ready(&self, name: &str) -> (u16, String) {
        let tunnel = self.until(name, WAIT, |t| t["state"] == "ready").await;
        (
            port_of(&tunnel),
            tunnel["session_id"].as_str().unwrap().to_owned(),
        )
    }
}

fn port_of(tunnel: &Value) -> u16 {
    let listen: std::net::SocketAddr = tunnel["listen"].as_str().unwrap().parse().unwrap();
    listen.port()
}

fn tunnel_config(name: &str, extra: &str) -> String {
    format!(
        "[tunnels.{name}]\ntarget_id = \"ttcp_1234567890\"\nlisten = \"127.0.0.1:0\"\n{extra}\n"
    )
}

/// `postern dev` whose target points at a new echo endpoint, sessions of `seconds`, logged in.
async fn dev_with_echo(seconds: Option<u32>) -> Dev {
    let echo = echo_endpoint().await.port().to_string();
    let mut args = vec!["-target-default-port".to_owned(), echo];
    if let Some(seconds) = seconds {
        args.extend([
            "-target-session-max-seconds".to_owned(),
            seconds.to_string(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut dev = Dev::launch(&args, tempfile::tempdir().unwrap()).await;
    // Its log (a few lines per connection) is read away, so it cannot fill the pipe and
    // stall the dev process mid-test.
    let mut log = dev._process.child.stderr.take().unwrap();
    tokio::spawn(async move { tokio::io::copy(&mut log, &mut tokio::io::sink()).await });
    dev.log_in().await;
    dev
}

/// A connection through the tunnel that has echoed `hello` once.
async fn echoing(port: u16) -> TcpStream {
    let mut stream = within("connecting", TcpStream::connect(("127.0.0.1", port)))
        .await
        .unwrap();
    echo_once(&mut stream, b"hello").await;
    stream
}

async fn echo_once(stream: &mut TcpStream, data: &[u8]) {
    stream.write_all(data).await.unwrap();
    let mut back = vec![0; data.len()];
    within("the echo", stream.read_exact(&mut back))
        .await
        .unwrap_or_else(|e| panic!("the echo failed: {e}"));
    assert_eq!(back, data);
}

/// A whole short connection: send, read the echo, close, see the endpoint's FIN.
async fn round_trip(port: u16, data: &[u8]) {
    let mut stream = echoing(port).await;
    echo_once(&mut stream, data).await;
    stream.shutdown().await.unwrap();
    let mut rest = Vec::new();
    within("the echo's end", stream.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn traffic_flows_across_three_renewals_without_a_failure() {
    let dev = dev_with_echo(Some(3)).await;
    let tunnels = Tunnels::start(&dev, &tunnel_config("echo", "renew_before = \"1500ms\"")).await;
    let (port, first) = tunnels.ready("echo").await;
    let mut sessions = vec![first];
    let mut held = echoing(port).await;
    let mut carried = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while sessions.len() < 4 {
        assert!(Instant::now() < deadline, "sessions seen: {sessions:?}");
        round_trip(port, format!("connection {carried}").as_bytes()).await;
        carried += 1;
        let status = tunnels.status().await;
        let current = status["echo"]["session_id"].as_str().map(str::to_owned);
        match current {
            Some(id) if Some(&id) != sessions.last() => {
                // The connection opened on the session before still carries bytes.
                echo_once(&mut held, b"still here").await;
                held.shutdown().await.unwrap();
                sessions.push(id);
                held = echoing(port).await;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(
        sessions.iter().collect::<BTreeSet<_>>().len(),
        4,
        "{sessions:?}"
    );
    assert!(carried >= 10, "only {carried} connections");
    let status = &tunnels.status().await["echo"];
    assert!(status["connections_total"].as_u64().unwrap() >= carried + 4);
}

#[tokio::test]
async fn a_canceled_session_is_replaced_within_a_second() {
    let dev = dev_with_echo(None).await;
    let tunnels = Tunnels::start(&dev, &tunnel_config("echo", "")).await;
    let (port, first) = tunnels.ready("echo").await;
    // With a live connection: the worker cuts it, which tells the tunnel.
    let mut live = echoing(port).await;
    dev.cli(&["sessions", "cancel", "-id", &first]).await;
    // From when the controller answered the cancel (the CLI's own start-up is not the tunnel's).
    let canceled = Instant::now();
    let second = tunnels
        .until("echo", Duration::from_secs(1), |t| {
            t["state"] == "ready" && t["session_id"] != first.as_str()
        })
        .await;
    assert!(canceled.elapsed() < Duration::from_secs(1));
    let mut rest = Vec::new();
    // The worker ends it (a close or a reset: either way it ends, and soon).
    if let Err(e) = within("the canceled connection's end", live.read_to_end(&mut rest)).await {
        eprintln!("the canceled connection ended with {e}");
    }
    round_trip(port, b"after the cancel").await;
    // Without one: the worker's watch tells the tunnel; a connection made at once is either
    // carried by the new session or refused by the worker and retried on it, never failed.
    let second = second["session_id"].as_str().unwrap().to_owned();
    dev.cli(&["sessions", "cancel", "-id", &second]).await;
    let canceled = Instant::now();
    round_trip(port, b"after the second cancel").await;
    let third = tunnels
        .until("echo", Duration::from_secs(1), |t| {
            t["state"] == "ready" && t["session_id"] != second.as_str()
        })
        .await;
    assert!(canceled.elapsed() < Duration::from_secs(1));
    assert_ne!(third["session_id"], first.as_str());
}

/// `DELETE /v1/auth-tokens/{id}` with the token itself.
async fn revoke(dev: &Dev) {
    let token = std::fs::read_to_string(dev.config_dir.path().join("token")).unwrap();
    let token = token.trim();
    let (id, _) = token.rsplit_once('_').unwrap();
    let addr = dev.api.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "DELETE /v1/auth-tokens/{id} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within("the revoke", stream.read_to_string(&mut response))
        .await
        .unwrap();
    assert!(
        response.starts_with("HTTP/1.0 204") || response.starts_with("HTTP/1.1 204"),
        "{response}"
    );
}

/// A new connection to `port` is closed at once (reset), not left waiting for a session.
async fn refused_at_once(port: u16) {
    // Far below the 15 s a connection waits for a session being authorized.
    const AT_ONCE: Duration = Duration::from_secs(5);
    // The reset may come so soon that the connect itself reports it.
    match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(mut stream) => {
            let mut buf = [0; 16];
            let read = tokio::time::timeout(AT_ONCE, stream.read(&mut buf))
                .await
                .expect("the refused connection was left open");
            assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[tokio::test]
async fn a_deleted_target_refuses_at_once_saying_so() {
    let dev = dev_with_echo(Some(2)).await;
    let tunnels = Tunnels::start(&dev, &tunnel_config("echo", "")).await;
    let (port, _) = tunnels.ready("echo").await;
    dev.cli(&["targets", "delete", "-id", "ttcp_1234567890"])
        .await;
    // At the latest when its 2 s session is due for renewal, the tunnel finds the target gone.
    let refusing = tunnels
        .until("echo", WAIT, |t| {
            t["state"].as_str().unwrap().starts_with("refusing")
        })
        .await;
    assert_eq!(
        refusing["state"],
        "refusing: target ttcp_1234567890 not found"
    );
    assert_eq!(refusing["reason"], "target ttcp_1234567890 not found");
    refused_at_once(port).await;
}

#[tokio::test]
async fn a_revoked_token_refuses_at_once_and_a_new_login_recovers() {
    let dev = dev_with_echo(Some(2)).await;
    let tunnels = Tunnels::start(&dev, &tunnel_config("echo", "")).await;
    let (port, _) = tunnels.ready("echo").await;
    revoke(&dev).await;
    let refusing = tunnels
        .until("echo", WAIT, |t| {
            t["state"].as_str().unwrap().starts_with("refusing")
        })
        .await;
    assert_eq!(
        refusing["state"],
        "refusing: run `postern authenticate` (auth token expired or revoked)"
    );
    refused_at_once(port).await;
    // Logging in again is picked up without a restart.
    dev.log_in().await;
    round_trip(port, b"after the new login").await;
    assert_eq!(tunnels.status().await["echo"]["state"], "ready");
}

#[tokio::test]
async fn reload_and_sighup_add_and_remove_tunnels() {
    let dev = dev_with_echo(None).await;
    let a = tunnel_config("a", "");
    let b = tunnel_config("b", "start = \"on-demand\"");
    let tunnels = Tunnels::start(&dev, &a).await;
    let (port_a, session_a) = tunnels.ready("a").await;
    tunnels.rewrite(&format!("{a}{b}"));
    let (code, out) = tunnels.ctl("reload", &[]).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "Reloaded: added b; removed none; restarted none.\n");
    let b_status = tunnels.status().await["b"].clone();
    assert_eq!(b_status["state"], "idle");
    round_trip(port_of(&b_status), b"on demand").await;
    round_trip(port_a, b"a still works").await;
    // A bad file changes nothing and says why.
    tunnels.rewrite("[tunnels.a]\nlisten = \"127.0.0.1:0\"\n");
    let (code, out) = tunnels.ctl("reload", &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("tunnels.a.target_id: missing"), "{out}");
    assert_eq!(tunnels.status().await.len(), 2);
    // The file as it was: nothing changes, said in JSON.
    tunnels.rewrite(&format!("{a}{b}"));
    let (code, out) = tunnels.ctl("reload", &["-format", "json"]).await;
    assert_eq!(code, Some(0), "{out}");
    let reloaded: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        reloaded,
        serde_json::json!({"changes": {"added": [], "removed": [], "restarted": []}})
    );
    // A changed tunnel on a fixed port restarts on that same port.
    let fixed = free_port();
    let c =
        format!("[tunnels.c]\ntarget_id = \"ttcp_1234567890\"\nlisten = \"127.0.0.1:{fixed}\"\n");
    tunnels.rewrite(&format!("{a}{b}{c}"));
    let (code, out) = tunnels.ctl("reload", &[]).await;
    assert_eq!(code, Some(0), "{out}");
    tunnels.until("c", WAIT, |t| t["state"] == "ready").await;
    tunnels.rewrite(&format!("{a}{b}{c}renew_before = \"10s\"\n"));
    let (code, out) = tunnels.ctl("reload", &[]).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "Reloaded: added none; removed none; restarted c.\n");
    tunnels.until("c", WAIT, |t| t["state"] == "ready").await;
    round_trip(fixed, b"restarted on its port").await;
    tunnels.rewrite(&format!("{a}{b}"));
    let (code, out) = tunnels.ctl("reload", &[]).await;
    assert_eq!(code, Some(0), "{out}");
    // SIGHUP: a is removed, its port closed.
    tunnels.rewrite(&b);
    kill(&tunnels.process, "-HUP");
    poll_status_until(&tunnels, |status| !status.contains_key("a")).await;
    assert!(TcpStream::connect(("127.0.0.1", port_a)).await.is_err());
    assert!(tunnels.status().await.contains_key("b"));
    // A removed tunnel's session is canceled once its connections are done, as a proxy
    // that stops cancels its own.
    let mut status = String::new();
    for _ in 0..100 {
        status = dev.session(&session_a).await["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status != "active" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        ["canceling", "terminated"].contains(&status.as_str()),
        "{status}"
    );
}

async fn poll_status_until(
    tunnels: &Tunnels,
    check: impl Fn(&std::collections::BTreeMap<String, Value>) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !check(&tunnels.status().await) {
        assert!(Instant::now() < deadline, "status never changed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_control_socket_is_the_users_alone() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dev = dev_with_echo(None).await;
    let tunnels = Tunnels::start(&dev, "").await;
    let metadata = std::fs::metadata(tunnels.socket()).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let own = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(metadata.uid(), own);
    assert!(tunnels.status().await.is_empty());
    // Another user cannot even reach it (tests run as root; `nobody` stands in).
    if own == 0 && which("setpriv") {
        let socket = tunnels.socket();
        let output = within(
            "setpriv",
            tokio::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_postern"))
                .args(["tunnels", "status", "-socket", socket.to_str().unwrap()])
                .output(),
        )
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains("Permission denied"), "{stderr}");
    }
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| Path::new(&dir).join(program).is_file())
    })
}

#[tokio::test]
async fn a_bad_file_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tunnels.toml");
    std::fs::write(
        &file,
        "[tunnels.ssh]\ntarget_id = \"ttcp_1\"\nlisten = \"localhost:2222\"\n",
    )
    .unwrap();
    let socket = dir.path().join("tunnels.sock");
    let (code, out) = run_postern(&[
        "tunnels",
        "-config",
        file.to_str().unwrap(),
        "-socket",
        socket.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, Some(64), "{out}");
    assert!(
        out.contains(&format!(
            "{}: tunnels.ssh.listen: \"localhost:2222\" is not an IP:port address",
            file.display()
        )),
        "{out}"
    );
    assert!(!socket.exists(), "nothing is bound for a bad file");
}
