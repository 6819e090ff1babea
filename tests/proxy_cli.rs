//! `postern proxy` as a user runs it: a real process, its output, its exit code.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap
mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use postern_authority::{Clock, SessionStatus};
use postern_controller::sessions::SessionStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

async fn echo_through(port: u16, data: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(data).await.unwrap();
    let mut back = vec![0u8; data.len()];
    within("the echo", stream.read_exact(&mut back))
        .await
        .unwrap();
    back
}

fn port_of(info: &serde_json::Value) -> u16 {
    info["port"].as_u64().unwrap().try_into().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_prints_json_info_tunnels_and_cancels_the_session_on_ctrl_c() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), 5, HOUR)
        .await;
    let mut proxy = PosternProcess::spawn(&[
        "proxy",
        "-authz",
        &auth.authorization_token,
        "-format",
        "json",
    ]);
    let info = proxy.next_json().await;
    assert_eq!(info["address"], "127.0.0.1");
    assert_eq!(info["protocol"], "tcp");
    assert_eq!(info["connection_limit"], 5);
    assert_eq!(info["session_id"], auth.session.id.as_str());
    assert!(info["expiration"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        echo_through(port_of(&info), b"hello over postern").await,
        b"hello over postern"
    );
    assert_eq!(
        proxy.next_json().await,
        serde_json::json!({"connections_left": 4})
    );
    proxy.interrupt();
    assert_eq!(
        proxy.next_json().await,
        serde_json::json!({"termination_reason": "Received shutdown signal"})
    );
    let (status, stderr) = proxy.wait().await;
    assert!(status.success(), "exit {status}: {stderr}");
    let id = auth.session.id.clone();
    let session = eventually("the session to terminate", || {
        Some(worker.session(&id)).filter(|s| s.status == SessionStatus::Terminated)
    })
    .await;
    assert_eq!(
        session.termination_reason.map(|r| r.as_str()),
        Some("canceled")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_with_the_same_token_is_refused_by_tofu() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let mut first = PosternProcess::spawn(&[
        "proxy",
        "-authz",
        &auth.authorization_token,
        "-format",
        "json",
    ]);
    let first_port = port_of(&first.next_json().await);
    assert_eq!(echo_through(first_port, b"mine").await, b"mine");

    let mut second = PosternProcess::spawn(&[
        "proxy",
        "-authz",
        &auth.authorization_token,
        "-format",
        "json",
    ]);
    let second_port = port_of(&second.next_json().await);
    let mut stream = TcpStream::connect(("127.0.0.1", second_port))
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.write_all(b"theirs").await;
    // The second process's connection is closed without a byte of the endpoint's.
    let _ = within(
        "the refused connection to close",
        stream.read_to_end(&mut rest),
    )
    .await;
    assert!(rest.is_empty());
    assert_eq!(
        second.next_json().await,
        serde_json::json!({"termination_reason": "Error from proxy client: session is already in use"})
    );
    let (status, _) = second.wait().await;
    assert_eq!(status.code(), Some(1));

    assert_eq!(echo_through(first_port, b"still mine").await, b"still mine");
    first.interrupt();
    assert!(first.wait().await.0.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_output_looks_like_boundarys_and_connect_is_an_alias() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let mut proxy = PosternProcess::spawn(&[
        "connect",
        "-authz-token",
        &auth.authorization_token,
        "-listen-port",
        "0",
    ]);
    let mut lines = Vec::new();
    while lines.len() < 8 {
        lines.push(
            within("a line", proxy.stdout.next_line())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(lines[0], "");
    assert_eq!(lines[1], "Proxy listening information:");
    assert_eq!(lines[2], "  Address:            127.0.0.1");
    assert_eq!(lines[3], "  Connection Limit:   -1");
    assert!(
        lines[4].starts_with("  Expiration:         "),
        "{}",
        lines[4]
    );
    assert!(
        lines[5].starts_with("  Port:               "),
        "{}",
        lines[5]
    );
    assert_eq!(lines[6], "  Protocol:           tcp");
    assert_eq!(
        lines[7],
        format!("  Session ID:         {}", auth.session.id)
    );
    let port: u16 = lines[5].rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(echo_through(port, b"table").await, b"table");
    proxy.interrupt();
    assert!(proxy.wait().await.0.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_from_stdin_as_authorize_session_json() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let json = serde_json::json!({"item": {"session_id": auth.session.id, "authorization_token": auth.authorization_token}});
    let mut child = postern(&["proxy", "-authz", "-", "-format", "json"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{json}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut proxy = PosternProcess {
        child,
        stdout: tokio::io::AsyncBufReadExt::lines(stdout),
    };
    let info = proxy.next_json().await;
    assert_eq!(info["session_id"], auth.session.id.as_str());
    assert_eq!(echo_through(port_of(&info), b"stdin").await, b"stdin");
    proxy.interrupt();
    assert!(proxy.wait().await.0.success());
}

/// The session is minted already expired, by a store whose clock runs an hour behind: no
/// waiting for it to expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_refused_before_anything_is_bound() {
    let an_hour_ago: Clock = Arc::new(|| SystemTime::now() - HOUR);
    let store = SessionStore::with_clock(an_hour_ago);
    // Nothing listens on either port: the proxy must not get as far as dialling.
    let request = new_session("tcp://127.0.0.1:9", "127.0.0.1:9", -1, MINUTE);
    let auth = store.authorize_session(request).await.unwrap();
    assert!(auth.session.expiration_time < SystemTime::now() - MINUTE);
    let mut proxy = PosternProcess::spawn(&["proxy", "-authz", &auth.authorization_token]);
    let (status, stderr) = proxy.wait().await;
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains(&auth.session.id) && stderr.contains("expired"),
        "{stderr}"
    );
    assert_eq!(
        within("stdout", proxy.stdout.next_line()).await.unwrap(),
        None,
        "nothing printed on stdout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_flags_get_clear_errors() {
    let cases: [(&[&str], i32, &str); 5] = [
        (&["proxy", "-authz", "0OIl"], 1, "not valid base58"),
        (&["proxy", "-authz", ""], 1, "empty"),
        (
            &["proxy", "-authz", "{\"item\": {}}"],
            1,
            "authorization_token",
        ),
        (&["proxy"], 64, "--authz"),
        (
            &[
                "dev",
                "-max-concurrent-handshakes",
                "0",
                "-api-listen-address",
                "127.0.0.1:0",
            ],
            64,
            "invalid -max-concurrent-handshakes: must be at least 1",
        ),
    ];
    for (args, code, needle) in cases {
        let mut proxy = PosternProcess::spawn(args);
        let (status, stderr) = proxy.wait().await;
        assert_eq!(status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// Waits for the proxy's termination line and exit; how long after `since` it exited.
async fn ended_with(
    proxy: &mut PosternProcess,
    reason: &str,
    since: std::time::Instant,
) -> Duration {
    assert_eq!(
        proxy.next_json().await,
        serde_json::json!({ "termination_reason": reason })
    );
    let (status, stderr) = proxy.wait().await;
    let took = since.elapsed();
    assert_eq!(status.code(), Some(3), "{stderr}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_ends_when_its_session_is_canceled_with_or_without_a_connection_open() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let spawn_proxy = |token: String| async move {
        let mut proxy = PosternProcess::spawn(&["proxy", "-authz", &token, "-format", "json"]);
        let info = proxy.next_json().await;
        (proxy, port_of(&info))
    };

    // No connection has ever been open: the proxy hears of the cancel from its watch.
    let idle = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let (mut proxy, _) = spawn_proxy(idle.authorization_token.clone()).await;
    // The watch is up once the worker knows the client (it looks the session up at TLS).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let since = std::time::Instant::now();
    worker.store.cancel(&idle.session.id, None).await.unwrap();
    let took = ended_with(&mut proxy, "Session was canceled", since).await;
    println!("idle proxy exited {took:?} after the cancel");

    // A connection is open: the worker cuts it saying why, and the proxy ends.
    let busy = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let (mut proxy, port) = spawn_proxy(busy.authorization_token.clone()).await;
    let mut open = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    open.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    within("the echo", open.read_exact(&mut back))
        .await
        .unwrap();
    let since = std::time::Instant::now();
    worker.store.cancel(&busy.session.id, None).await.unwrap();
    let took = ended_with(&mut proxy, "Session was canceled", since).await;
    println!("busy proxy exited {took:?} after the cancel");
    let mut rest = Vec::new();
    let cut = within("the cut connection to end", open.read_to_end(&mut rest)).await;
    assert!(cut.is_err() || rest.is_empty(), "{cut:?} {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_exec_ends_with_the_commands_status_either_way_round() {
    let endpoint = echo_endpoint().await;
    let dev = common::dev::Dev::start(endpoint.port()).await;
    let target = dev.create_target("exec", endpoint).await;

    // The command exits first: its status is postern's, and the session is canceled.
    let connect_exec = |command: &[&str]| {
        let mut args = vec!["connect", "-target-id", &target, "-format", "json", "-exec"];
        args.extend(command);
        dev.command(&args)
    };
    let out = within(
        "connect -exec",
        connect_exec(&["sh", "--", "-c", "exit 7"]).output(),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let info: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let id = info["session_id"].as_str().unwrap().to_owned();
    let ended = dev.session(&id).await;
    assert!(
        ["canceling", "terminated"].contains(&ended["status"].as_str().unwrap()),
        "{ended}"
    );

    // The session ends first: the command is stopped, and its status (SIGTERM) is postern's.
    let mut child = connect_exec(&["sleep", "--", "30"]).spawn().unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    within(
        "the listening line",
        tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line),
    )
    .await
    .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let id = info["session_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    dev.cli(&["sessions", "cancel", "-id", &id]).await;
    let status = within("connect to stop its command", child.wait())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(128 + 15), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_and_environment_defaults_for_the_common_flags() {
    let (code, out) = common::dev::run_postern(&["version", "-format", "json"]).await;
    assert_eq!(code, Some(0), "{out}");
    let version: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let out = within(
        "database init",
        postern(&["database", "init", "-database-url", &url])
            .env("POSTERN_FORMAT", "json")
            .output(),
    )
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let init: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(init["login_name"], "admin");
    assert!(init["auth_method_id"]
        .as_str()
        .unwrap()
        .starts_with("ampw_"));
    assert!(init["password"].as_str().unwrap().len() >= 8);
    assert_eq!(init["key_created"], true);
    let (code, out) = common::dev::run_postern(&[
        "database",
        "migrate",
        "-database-url",
        &url,
        "-format",
        "json",
    ])
    .await;
    assert_eq!(code, Some(0), "{out}");
    let migrated: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        migrated["schema_version"],
        migrated["schema_version_before"]
    );

    // POSTERN_LISTEN_PORT and POSTERN_FORMAT stand in for -listen-port and -format.
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    let auth = worker
        .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
        .await;
    let port = free_port();
    let mut proxy = PosternProcess::spawn_with_env(
        &["proxy", "-authz", &auth.authorization_token],
        &[
            ("POSTERN_FORMAT", "json"),
            ("POSTERN_LISTEN_PORT", &port.to_string()),
        ],
    );
    let info = proxy.next_json().await;
    assert_eq!(port_of(&info), port);
    assert_eq!(echo_through(port, b"env").await, b"env");
    proxy.interrupt();
    let (status, stderr) = proxy.wait().await;
    assert!(status.success(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_line_is_kept_on_a_terminal_and_only_there() {
    let worker = start_worker().await;
    let endpoint = echo_endpoint().await;
    for on_terminal in [true, false] {
        let auth = worker
            .authorize(&format!("tcp://{endpoint}"), -1, HOUR)
            .await;
        let port = free_port();
        let args = [
            "proxy",
            "-authz",
            &auth.authorization_token,
            "-listen-port",
            &port.to_string(),
            "-inactive-timeout",
            "2s",
        ]
        .join(" ");
        let bin = env!("CARGO_BIN_EXE_postern");
        // `script` gives the proxy a pseudo-terminal as its standard output.
        let mut command = if on_terminal {
            let mut script = tokio::process::Command::new("script");
            script.args(["-q", "-e", "-c", &format!("{bin} {args}"), "/dev/null"]);
            script
        } else {
            let mut plain = tokio::process::Command::new(bin);
            plain.args(args.split(' '));
            plain
        };
        let running = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let connected = eventually_connect(port).await;
        drop(connected);
        assert_eq!(echo_through(port, b"ping").await, b"ping");
        // Ends by itself 2 s after the last connection.
        let out = within("the proxy to end", running.wait_with_output())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("Inactivity timeout reached"), "{stdout}");
        let status = "0 open, 2 in all | up 4 B down 4 B | ";
        assert_eq!(stdout.contains(status), on_terminal, "{stdout}");
        assert_eq!(stdout.contains("\x1b[2K"), on_terminal, "{stdout}");
    }
}

/// A connection to the local port once the proxy listens on it.
async fn eventually_connect(port: u16) -> TcpStream {
    for _ in 0..100 {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await {
            return stream;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on port {port} after 5 s");
}
