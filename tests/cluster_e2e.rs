//! A controller and a worker as separate `postern server` processes, linked over the cluster
//! listener (mutual TLS gRPC): the worker activates once with a token from `workers create
//! controller-led`, carries sessions, comes back after SIGKILL with its stored identity, and
//! is refused once deleted.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::cluster::*;
use common::dev::*;
use common::ops::*;
use common::*;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads systemd notifications until one starts with `wanted`; returns it. Others (STATUS=,
/// WATCHDOG=1 come all the time) are skipped, at most 500 of them.
fn notice(notify: &std::os::unix::net::UnixDatagram, wanted: &str) -> String {
    let mut buffer = [0u8; 256];
    for _ in 0..500 {
        let n = notify.recv(&mut buffer).unwrap();
        let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if message.starts_with(wanted) {
            return message;
        }
    }
    panic!("no {wanted} notification");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_worker_activates_carries_sessions_and_is_cut_off_when_deleted() {
    let ControllerAlone {
        dir,
        controller,
        cluster,
        target,
        ..
    } = controller_alone().await;

    // No worker linked yet: a session has nowhere to go.
    let (code, out) = run_cli(
        &controller,
        &["targets", "authorize-session", "-id", &target],
    )
    .await;
    assert_ne!(code, Some(0), "{out}");

    let created = controller
        .json(&["workers", "create", "controller-led", "-name", "w1"])
        .await;
    let worker_id = created["item"]["id"].as_str().unwrap().to_owned();
    let token = created["item"]["controller_generated_activation_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("pwat_"), "{created}");
    let read = controller
        .json(&["workers", "read", "-id", &worker_id])
        .await;
    assert!(
        read["item"]
            .get("controller_generated_activation_token")
            .is_none(),
        "the token is shown once: {read}"
    );

    let worker_dir = dir.path().join("w1");
    let worker_config = dir.path().join("worker.toml");
    let write_worker_config = |data_dir: &Path, token: &str| {
        std::fs::write(
            &worker_config,
            format!(
                "data_dir = {:?}\n[worker]\nproxy_listen_address = \"127.0.0.1:0\"\n\
                 upstreams = [\"127.0.0.1:1\", {cluster:?}]\nactivation_token = {token:?}\n\
                 controller_grace_seconds = 3\ntags = {{ region = \"test\" }}\n",
                data_dir.display().to_string()
            ),
        )
        .unwrap();
    };
    write_worker_config(&worker_dir, &token);
    let mut worker = start_server_worker(&worker_config).await;
    for file in ["worker.key", "worker.crt", "ca.crt"] {
        let mode = std::fs::metadata(worker_dir.join("worker").join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    poll_until("the worker shows as linked", WAIT, || async {
        let read = controller
            .json(&["workers", "read", "-id", &worker_id])
            .await;
        read["item"]["address"]
            .as_str()
            .is_some_and(|a| !a.is_empty())
            && read["item"]["config_tags"]["region"][0] == "test"
    })
    .await;

    // An egress worker filter picks workers by name and tags; none matching is a clear 400.
    let filter = |expression: &str| {
        vec![
            "targets".to_owned(),
            "update".to_owned(),
            "tcp".to_owned(),
            "-id".to_owned(),
            target.clone(),
            "-egress-worker-filter".to_owned(),
            expression.to_owned(),
        ]
    };
    let args = filter(r#""eu-west" in "/tags/region""#);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    controller.cli(&args).await;
    let (code, out) = run_cli(
        &controller,
        &["targets", "authorize-session", "-id", &target],
    )
    .await;
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("egress_worker_filter"), "{out}");
    let args = filter(r#""test" in "/tags/region" and "/name" == "w1""#);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    controller.cli(&args).await;
    let args = filter("\"/name\" ==");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = run_cli(&controller, &args).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("egress_worker_filter"), "{out}");

    // The same token again, from another worker: refused, it was used.
    write_worker_config(&dir.path().join("w2"), &token);
    let config_arg = worker_config.display().to_string();
    let (code, out) = run_postern(&["server", "-config", &config_arg]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("already activated"), "{out}");
    write_worker_config(&worker_dir, &token);

    // Bytes through a session the remote worker carries.
    let (mut proxy, port, session_id) = controller.proxy(&target).await;
    let proxied = format!("127.0.0.1:{port}").parse().unwrap();
    let (_, echoed) = exchange(proxied, b"through a remote worker").await;
    assert_eq!(echoed, Sha256::digest(b"through a remote worker").to_vec());
    poll_until("the closed connection is recorded", WAIT, || async {
        let session = controller.session(&session_id).await;
        let connection = &session["connections"][0];
        connection["closed_reason"] == "closed by end-user" && connection["bytes_up"] == "23"
    })
    .await;

    // SIGKILL the worker while a connection is open: the controller closes it with
    // `system error` once the link is gone.
    let mut open = TcpStream::connect(proxied).await.unwrap();
    open.write_all(b"held open").await.unwrap();
    poll_until("the held connection is connected", WAIT, || async {
        let session = controller.session(&session_id).await;
        session["connections"][1]["endpoint_tcp_address"].is_string()
    })
    .await;
    kill(&worker, "-KILL");
    let _ = worker.child.wait().await;
    poll_until("the killed worker's connection is closed", WAIT, || async {
        let session = controller.session(&session_id).await;
        session["connections"][1]["closed_reason"] == "system error"
    })
    .await;
    proxy.interrupt();
    let _ = proxy.wait().await;

    // It comes back with its stored identity (the token is spent) and carries a new session.
    let mut worker = start_server_worker(&worker_config).await;
    let (mut proxy, port, _) = controller.proxy(&target).await;
    let proxied = format!("127.0.0.1:{port}").parse().unwrap();
    let (_, echoed) = exchange(proxied, b"after a restart").await;
    assert_eq!(echoed, Sha256::digest(b"after a restart").to_vec());
    proxy.interrupt();
    let _ = proxy.wait().await;

    // Deleted: its link is cut, it is no longer offered, and its certificate is refused.
    controller
        .cli(&["workers", "delete", "-id", &worker_id])
        .await;
    poll_until(
        "no session can be sent to the deleted worker",
        WAIT,
        || async {
            let (code, _) = run_cli(
                &controller,
                &["targets", "authorize-session", "-id", &target],
            )
            .await;
            code != Some(0)
        },
    )
    .await;
    kill(&worker, "-TERM");
    let (status, log) = worker.wait().await;
    assert!(status.success(), "{log}");
    // -log-format json: every line an object; the link's events among them.
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["message"] == "linked to controller"),
        "{log}"
    );
    // Text logs to a file or pipe carry no colour escapes.
    let mut controller = controller.into_process();
    kill(&controller, "-TERM");
    let (status, log) = controller.wait().await;
    assert!(status.success(), "{log}");
    assert!(
        log.contains("worker linked") && !log.contains('\u{1b}'),
        "{log}"
    );
}

/// A CLI command against `dev` that may fail: its exit code and output.
async fn run_cli(dev: &Dev, args: &[&str]) -> (Option<i32>, String) {
    let output = within("postern", dev.command(args).output()).await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// SIGTERM drains a worker: /health says 503 at once, its listener refuses new connections,
/// the controller stops sending it sessions, and a transfer in flight finishes whole; the
/// worker then exits by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_worker_and_lets_a_transfer_finish() {
    let ControllerAlone {
        dir,
        controller,
        cluster,
        target,
        ..
    } = controller_alone().await;
    let created = controller
        .json(&["workers", "create", "controller-led"])
        .await;
    let token = created["item"]["controller_generated_activation_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let worker_config = dir.path().join("worker.toml");
    std::fs::write(
        &worker_config,
        format!(
            "data_dir = {:?}\nops_listen_address = \"127.0.0.1:0\"\n[worker]\n\
             proxy_listen_address = \"127.0.0.1:0\"\nupstreams = [{cluster:?}]\n\
             activation_token = {token:?}\nshutdown_grace_seconds = 60\n",
            dir.path().join("w").display().to_string()
        ),
    )
    .unwrap();
    let worker_file = std::fs::read_to_string(&worker_config).unwrap();
    // As systemd would run it (Type=notify, WatchdogSec=0.4).
    let notify_path = dir.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    let notify_env = notify_path.display().to_string();
    let (mut worker, banner) = start_server_worker_with_banner(
        &worker_config,
        &[("NOTIFY_SOCKET", &notify_env), ("WATCHDOG_USEC", "400000")],
    )
    .await;
    let mut state = [0u8; 64];
    let n = notify.recv(&mut state).unwrap();
    assert_eq!(&state[..n], b"READY=1", "ready once linked");
    notice(&notify, "WATCHDOG=1");
    let status = notice(&notify, "STATUS=");
    assert_eq!(status, "STATUS=linked to a controller; 0 connections open");
    let ops = banner["Ops Address"]
        .trim_start_matches("http://")
        .to_owned();
    let worker_proxy = banner["Worker Proxy Address"].clone();
    let (status, body) = http_get(&ops, "/health").await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["state"], "serving");
    assert_eq!(health["linked"], true);

    // One connection, counted in /metrics (parsed by an independent Prometheus parser).
    let (mut proxy, port, session) = controller.proxy(&target).await;
    let proxied = format!("127.0.0.1:{port}").parse().unwrap();
    exchange(proxied, b"counted").await;
    poll_until("/metrics counts the connection", WAIT, || async {
        let metrics = scrape(&ops).await;
        metrics.get("postern_worker_connections_opened_total") == Some(&1.0)
            && metrics.get("postern_worker_connections_closed_total{reason=closed by end-user}")
                == Some(&1.0)
            && metrics.get("postern_worker_bytes_up_total") == Some(&7.0)
            && metrics.get("postern_worker_bytes_down_total") == Some(&7.0)
            && metrics.get("postern_worker_connections_active") == Some(&0.0)
            && metrics.get("postern_worker_link_up") == Some(&1.0)
            && metrics.get("postern_worker_handshake_seconds_count") == Some(&1.0)
            && metrics.get("postern_worker_endpoint_dial_seconds_count") == Some(&1.0)
            && metrics.get("postern_worker_sessions_active") == Some(&0.0)
    })
    .await;

    // SIGHUP: a cap of one connection applies at once; new tags need a restart.
    std::fs::write(
        &worker_config,
        format!(
            "log_level = \"info,postern_worker=debug\"\n{worker_file}\
             max_connections = 1\ntags = {{ region = \"eu\" }}\n"
        ),
    )
    .unwrap();
    kill(&worker, "-HUP");
    notice(&notify, "RELOADING=1");
    notice(&notify, "READY=1");
    let mut held = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    held.write_all(b"held").await.unwrap();
    let mut echo = [0u8; 4];
    within("the held echo", held.read_exact(&mut echo))
        .await
        .unwrap();
    // A second connection while one is open: the worker resets it, the proxy closes ours.
    let mut refused = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let _ = refused.write_all(b"x").await;
    let mut rest = Vec::new();
    let ended = within(
        "the refused connection to end",
        refused.read_to_end(&mut rest),
    )
    .await;
    assert!(ended.is_err() || rest.is_empty(), "{ended:?} {rest:?}");
    poll_until("/metrics counts the refusal", WAIT, || async {
        scrape(&ops)
            .await
            .get("postern_worker_connections_refused_total{reason=connection_limit}")
            == Some(&1.0)
    })
    .await;
    drop(held);
    // Back to the default cap (and the tags still need a restart).
    let restored = format!("log_level = \"info,postern_worker=debug\"\n{worker_file}");
    std::fs::write(&worker_config, restored).unwrap();
    kill(&worker, "-HUP");
    notice(&notify, "RELOADING=1");
    notice(&notify, "READY=1");

    // A transfer starts, then the worker is told to stop.
    let mut transfer = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    transfer.write_all(b"first half, ").await.unwrap();
    poll_until("the transfer is connected", WAIT, || async {
        controller.session(&session).await["connections"][2]["endpoint_tcp_address"].is_string()
    })
    .await;
    kill(&worker, "-TERM");
    notice(&notify, "STOPPING=1");
    poll_until("/health says draining", WAIT, || async {
        let (status, body) = http_get(&ops, "/health").await;
        status == 503 && body.contains("\"draining\"")
    })
    .await;
    poll_until("the draining worker's listener to close", WAIT, || async {
        TcpStream::connect(&worker_proxy).await.is_err()
    })
    .await;
    poll_until(
        "no new session goes to the draining worker",
        WAIT,
        || async {
            let (code, out) = run_cli(
                &controller,
                &["targets", "authorize-session", "-id", &target],
            )
            .await;
            code != Some(0) && out.contains("No workers are available")
        },
    )
    .await;

    // The transfer in flight finishes whole.
    transfer.write_all(b"second half").await.unwrap();
    transfer.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    within(
        "the echo",
        tokio::io::AsyncReadExt::read_to_end(&mut transfer, &mut echoed),
    )
    .await
    .unwrap();
    assert_eq!(echoed, b"first half, second half");
    let (status, log) = worker.wait().await;
    assert!(status.success(), "{log}");
    let reload = log
        .lines()
        .find(|line| line.contains("reloaded the configuration"))
        .unwrap_or_else(|| panic!("no reload in the log: {log}"));
    let reload: serde_json::Value = serde_json::from_str(reload).unwrap();
    let fields = &reload["fields"];
    assert_eq!(
        fields["applied"], "[\"log_level\", \"worker.max_connections\"]",
        "{reload}"
    );
    assert_eq!(fields["needs_restart"], "[\"worker.tags\"]", "{reload}");
    assert!(
        log.lines().any(|line| line.contains("\"level\":\"DEBUG\"")),
        "the new log level is not in force: {log}"
    );
    poll_until("the connection closed normally", WAIT, || async {
        controller.session(&session).await["connections"][2]["closed_reason"]
            == "closed by end-user"
    })
    .await;
    proxy.interrupt();
    let _ = proxy.wait().await;
}

/// A controller with its worker in one process drains on SIGTERM too: /health says 503, no
/// new session is sent to its worker while the API still answers, a live connection keeps
/// flowing, and the process ends once it closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_a_controller_with_its_worker() {
    let endpoint = echo_endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let (method, password, _) = database_init(&["-database-url", &url]).await;
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nops_listen_address = \"127.0.0.1:0\"\n[controller]\n\
             api_listen_address = \"127.0.0.1:0\"\n[worker]\n\
             proxy_listen_address = \"127.0.0.1:0\"\nshutdown_grace_seconds = 60\n",
            dir.path().display().to_string()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let mut server = Dev::spawn(
        &["server", "-config", &config],
        READY,
        tempfile::tempdir().unwrap(),
    )
    .await;
    let ops = server
        .banner
        .iter()
        .find_map(|line| line.trim().strip_prefix("Ops Address: http://"))
        .expect("the banner names the ops address")
        .to_owned();
    server.log_in_as(&method, &password).await;
    let org = server.create_scope("global", "ops").await;
    let project = server.create_scope(&org, "servers").await;
    let target = server.create_target_in(&project, "echo", endpoint).await;
    let (mut proxy, port, session) = server.proxy(&target).await;
    let mut held = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    held.write_all(b"before, ").await.unwrap();
    poll_until("the held connection is connected", WAIT, || async {
        server.session(&session).await["connections"][0]["endpoint_tcp_address"].is_string()
    })
    .await;

    kill(&server._process, "-TERM");
    poll_until("/health says draining", WAIT, || async {
        let (status, body) = http_get(&ops, "/health").await;
        status == 503 && body.contains("\"draining\"")
    })
    .await;
    let (code, out) = run_cli(&server, &["targets", "authorize-session", "-id", &target]).await;
    assert!(
        code != Some(0) && out.contains("No workers are available"),
        "{out}"
    );
    held.write_all(b"after").await.unwrap();
    held.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    within("the echo", held.read_to_end(&mut echoed))
        .await
        .unwrap();
    assert_eq!(echoed, b"before, after");
    let (status, log) = server._process.wait().await;
    assert!(status.success(), "{log}");
    proxy.interrupt();
    let _ = proxy.wait().await;
}
