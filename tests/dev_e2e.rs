//! Boundary's "Manage Sessions" tutorial with postern in place of boundary: a real
//! `postern dev`, the real CLI, a real sshd, ssh and scp through the session.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap
mod common;

use std::path::Path;
use std::time::Duration;

use common::dev::*;
use common::sshd::Sshd;
use common::*;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn ssh(sshd: &Sshd, port: u16, command: &str) -> std::process::Output {
    let mut ssh = tokio::process::Command::new("ssh");
    ssh.args(sshd.client_args(port))
        .arg(format!("{}@127.0.0.1", sshd.user))
        .arg(command);
    within("ssh", ssh.output()).await.unwrap()
}

fn sha256_file(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manage_sessions_tutorial_with_real_ssh() {
    let sshd = Sshd::start().await;
    let dev = Dev::start(sshd.port).await;

    let (mut proxy, port, id) = dev.proxy("ttcp_1234567890").await;
    let out = ssh(&sshd, port, "echo hello through postern").await;
    assert!(
        out.status.success(),
        "ssh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello through postern\n"
    );

    // scp 50 MiB there and back, through the same session.
    let local = sshd.dir.path().join("payload");
    std::fs::write(&local, random_bytes(50 << 20, 50)).unwrap();
    let remote = sshd.dir.path().join("uploaded");
    let back = sshd.dir.path().join("downloaded");
    for (from, to) in [
        (
            local.display().to_string(),
            format!("{}@127.0.0.1:{}", sshd.user, remote.display()),
        ),
        (
            format!("{}@127.0.0.1:{}", sshd.user, remote.display()),
            back.display().to_string(),
        ),
    ] {
        let mut args = sshd.client_args(port);
        args[0] = "-P".into(); // scp spells the port flag in capitals
        let out = within(
            "scp",
            tokio::process::Command::new("scp")
                .args(&args)
                .arg(&from)
                .arg(&to)
                .output(),
        )
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "scp {from} {to}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(sha256_file(&remote), sha256_file(&local));
    assert_eq!(sha256_file(&back), sha256_file(&local));

    let list = dev
        .json(&["sessions", "list", "-scope-id", "p_1234567890"])
        .await;
    let items = list["items"].as_array().unwrap();
    let mine = items
        .iter()
        .find(|s| s["id"] == id.as_str())
        .expect("session listed");
    assert_eq!(mine["status"], "active");
    assert_eq!(mine["host_id"], "hst_1234567890");
    assert_eq!(mine["host_set_id"], "hsst_1234567890");
    let read = dev.session(&id).await;
    assert_eq!(read["status"], "active");
    let states: Vec<_> = read["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["active", "pending"]);
    let connections = read["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 3, "ssh and two scp");
    let up: u64 = connections
        .iter()
        .map(|c| c["bytes_up"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(up > 50 << 20, "uploads counted: {up}");

    // A live ssh is cut by the cancel.
    let mut live = tokio::process::Command::new("ssh");
    live.args(sshd.client_args(port))
        .arg(format!("{}@127.0.0.1", sshd.user))
        .arg("echo ready; sleep 60");
    live.stdout(std::process::Stdio::piped()).kill_on_drop(true);
    let mut live = live.spawn().unwrap();
    let mut ready = tokio::io::BufReader::new(live.stdout.take().unwrap()).lines();
    assert_eq!(
        within("ssh to start", ready.next_line())
            .await
            .unwrap()
            .as_deref(),
        Some("ready")
    );
    dev.cli(&["sessions", "cancel", "-id", &id]).await;
    let status = within("the live ssh to be cut", live.wait()).await.unwrap();
    assert!(!status.success(), "ssh was cut, not finished");
    let ended = eventually_async(&dev, &id, "terminated").await;
    assert_eq!(ended["termination_reason"], "canceled");
    let states: Vec<_> = ended["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["terminated", "canceling", "active", "pending"]);

    let list = dev
        .json(&["sessions", "list", "-scope-id", "p_1234567890"])
        .await;
    assert!(
        list["items"]
            .as_array()
            .is_none_or(|items| items.iter().all(|s| s["id"] != id.as_str())),
        "terminated hidden by default"
    );
    let list = dev
        .json(&[
            "sessions",
            "list",
            "-scope-id",
            "p_1234567890",
            "-include-terminated",
        ])
        .await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == id.as_str()));
    // The proxy ends with its canceled session, and says so.
    let (status, stderr) = proxy.wait().await;
    assert_eq!(status.code(), Some(3), "{stderr}");
    let mut last = None;
    while let Ok(Some(line)) = within("the proxy's output", proxy.stdout.next_line()).await {
        last = Some(line);
    }
    let last: serde_json::Value = serde_json::from_str(&last.unwrap()).unwrap();
    assert_eq!(last["termination_reason"], "Session was canceled");
}

/// Reads the session until its status is `status` (bounded).
async fn eventually_async(dev: &Dev, id: &str, status: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let session = dev.session(id).await;
        if session["status"] == status {
            return session;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "session {id} never became {status}: {session}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `postern dev -database-url sqlite://...` killed with SIGKILL while a connection is open
/// and bytes have flowed: restarted on the same file, it still has the target made before,
/// the auth token still works (no new login), and the session is there with its connection
/// closed as `system error` (its worker died with the process) and a byte count no lower
/// than the one acknowledged before the kill. The database and key file are mode 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_state_in_sqlite_survives_sigkill() {
    let endpoint = echo_endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("dev.db").display());
    let args = ["-database-url", url.as_str()];
    let dev = Dev::launch(&args, tempfile::tempdir().unwrap()).await;
    dev.log_in().await;
    let target = dev.create_target("kept", endpoint).await;
    let (mut proxy, port, session_id) = dev.proxy(&target).await;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let sent = random_bytes(1 << 20, 3);
    let mut echoed = vec![0u8; sent.len()];
    let (mut reader, mut writer) = stream.split();
    let (wrote, read) = within("the echo", async {
        tokio::join!(writer.write_all(&sent), reader.read_exact(&mut echoed))
    })
    .await;
    wrote.unwrap();
    read.unwrap();
    assert!(echoed == sent);
    // Bytes flowed; wait until the controller acknowledged a count of them.
    let deadline = std::time::Instant::now() + WAIT;
    let reported = loop {
        let session = dev.session(&session_id).await;
        let up: u64 = session["connections"][0]["bytes_up"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if up > 0 {
            assert_eq!(session["status"], "active", "{session}");
            break up;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no byte count: {session}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let config_dir = dev.kill().await;
    for file in ["dev.db", "dev.db.key"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{file} mode");
    }
    drop(stream);
    proxy.interrupt();
    let _ = proxy.wait().await;

    let dev = Dev::launch(&args, config_dir).await;
    // The stored token, no new login.
    let read = dev.json(&["targets", "read", "-id", &target]).await;
    assert_eq!(read["item"]["name"], "kept", "{read}");
    let session = dev.session(&session_id).await;
    let connection = &session["connections"][0];
    assert_eq!(connection["closed_reason"], "system error", "{session}");
    let kept_up: u64 = connection["bytes_up"].as_str().unwrap().parse().unwrap();
    assert!(kept_up >= reported, "{kept_up} < {reported} acknowledged");
    assert_eq!(session["status"], "active", "{session}");
    let listed = dev
        .json(&["sessions", "list", "-scope-id", "p_1234567890"])
        .await;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&session_id.as_str()), "{listed}");
}

/// `postern database init` makes the schema, the key file and an admin with a printed
/// password; a second init is refused and changes nothing; `migrate` has nothing to do; a
/// controller (`postern dev`) on that database lets the admin in with that password and
/// seeds nothing of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_init_creates_an_admin_who_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let run = run_postern;
    let (method, password, out) = database_init(&["-database-url", &url]).await;
    assert!(password.len() >= 20, "{out}");
    let key = dir.path().join("postern.db.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let key_before = std::fs::read(&key).unwrap();

    let (code, again) = run(&["database", "init", "-database-url", &url]).await;
    assert_eq!(code, Some(64), "{again}");
    assert!(again.contains("initialized before"), "{again}");
    assert_eq!(std::fs::read(&key).unwrap(), key_before);
    let (code, migrated) = run(&["database", "migrate", "-database-url", &url]).await;
    assert_eq!(code, Some(0), "{migrated}");
    assert!(migrated.contains("nothing to do"), "{migrated}");
    let (code, no_key) = run(&[
        "database",
        "init",
        "-database-url",
        "postgres://u:pw@127.0.0.1:9/x",
    ])
    .await;
    assert_eq!(code, Some(64), "{no_key}");
    assert!(
        no_key.contains("-key-file") && !no_key.contains("pw@"),
        "{no_key}"
    );

    let dev = Dev::launch(&["-database-url", &url], tempfile::tempdir().unwrap()).await;
    dev.log_in_as(&method, &password).await;
    let scopes = dev.json(&["scopes", "list"]).await;
    assert!(
        scopes["items"].as_array().is_none_or(Vec::is_empty),
        "no dev org: {scopes}"
    );
    let dev_login = dev
        .command(&[
            "authenticate",
            "password",
            "-auth-method-id",
            "ampw_1234567890",
            "-login-name",
            "admin",
            "-password",
            "env://P",
        ])
        .env("P", "password")
        .output()
        .await
        .unwrap();
    assert_eq!(
        dev_login.status.code(),
        Some(1),
        "the dev seed was not applied"
    );
}

/// `postern server -config FILE` on a database `postern database init` made: the admin logs
/// in with the printed password, builds an org, a project and a target, and bytes flow
/// through a session; SIGTERM stops it cleanly. A bad file exits 64 naming the file and the
/// key; a database nobody initialized is refused with what to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_runs_from_its_config_on_an_initialized_database() {
    let endpoint = echo_endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("server.toml");
    let write_config = |data_dir: &Path, extra: &str| {
        let text = format!(
            "data_dir = {:?}\n[controller]\napi_listen_address = \"127.0.0.1:0\"\n\
             [worker]\nproxy_listen_address = \"127.0.0.1:0\"\n{extra}",
            data_dir.display().to_string()
        );
        std::fs::write(&config, text).unwrap();
    };
    let config_arg = config.display().to_string();
    let server = ["server", "-config", config_arg.as_str()];

    // Refusals first: a bad value, and a database nobody initialized.
    write_config(dir.path(), "max_concurrent_handshakes = 0\n");
    let (code, out) = run_postern(&server).await;
    assert_eq!(code, Some(64), "{out}");
    assert!(
        out.contains(&format!("{config_arg}: worker.max_concurrent_handshakes: ")),
        "{out}"
    );
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_config(&data, "");
    let (code, out) = run_postern(&server).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("postern database init"), "{out}");

    let url = format!("sqlite://{}", data.join("postern.db").display());
    let (method, password, _) = database_init(&["-database-url", &url]).await;

    // As systemd would (Type=notify): READY=1 once it serves.
    let notify_path = dir.path().join("notify");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    let notify_env = notify_path.display().to_string();
    let dev = Dev::spawn_with_env(
        &server,
        &[("NOTIFY_SOCKET", &notify_env)],
        "==> postern server started",
        tempfile::tempdir().unwrap(),
    )
    .await;
    let mut state = [0u8; 64];
    let n = notify.recv(&mut state).unwrap();
    assert_eq!(&state[..n], b"READY=1");
    dev.log_in_as(&method, &password).await;
    let org = dev.create_scope("global", "ops").await;
    let project = dev.create_scope(&org, "servers").await;
    let target = dev.create_target_in(&project, "echo", endpoint).await;
    let (mut proxy, port, _session) = dev.proxy(&target).await;
    let (_, echoed) = exchange(
        format!("127.0.0.1:{port}").parse().unwrap(),
        b"through the server",
    )
    .await;
    assert_eq!(echoed, Sha256::digest(b"through the server").to_vec());
    proxy.interrupt();
    let _ = proxy.wait().await;

    let mut process = dev.into_process();
    let pid = process.child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, stderr) = process.wait().await;
    assert!(status.success(), "{stderr}");
}

/// Two `postern server`s on one PostgreSQL (a throwaway cluster), each with its own worker:
/// what one creates the other serves at once, and a session authorized through one is read,
/// carries bytes and is canceled through the other, which cuts its live connection on the
/// first one's worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_postgresql() {
    let cluster = tokio::task::spawn_blocking(postern_store::cluster::Cluster::start)
        .await
        .unwrap()
        .unwrap();
    let endpoint = echo_endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("postern.key").display().to_string();
    let url = cluster.url();
    let (method, password, _) = database_init(&["-database-url", &url, "-key-file", &key]).await;
    let mut servers = Vec::new();
    for name in ["a", "b"] {
        let config = dir.path().join(format!("{name}.toml"));
        let text = format!(
            "data_dir = {:?}\n[controller]\napi_listen_address = \"127.0.0.1:0\"\n\
             database_url = {url:?}\nkey_file = {key:?}\n\
             [worker]\nproxy_listen_address = \"127.0.0.1:0\"\n",
            dir.path().display().to_string()
        );
        std::fs::write(&config, text).unwrap();
        let config = config.display().to_string();
        let server = Dev::spawn(
            &["server", "-config", &config],
            "==> postern server started",
            tempfile::tempdir().unwrap(),
        )
        .await;
        server.log_in_as(&method, &password).await;
        servers.push(server);
    }
    let (a, b) = (&servers[0], &servers[1]);
    let org = a.create_scope("global", "ops").await;
    let project = b.create_scope(&org, "db").await;
    let target = a.create_target_in(&project, "echo", endpoint).await;

    // Authorized through b (b's worker carries it); a reads it, bytes and all.
    let (mut proxy, port, session) = b.proxy(&target).await;
    let (_, echoed) = exchange(
        format!("127.0.0.1:{port}").parse().unwrap(),
        b"shared state",
    )
    .await;
    assert_eq!(echoed, Sha256::digest(b"shared state").to_vec());
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let read = a.session(&session).await;
        if read["connections"][0]["bytes_up"] == "12" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a never saw the bytes: {read}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = a.json(&["sessions", "list", "-scope-id", &project]).await;
    assert_eq!(listed["items"][0]["id"], session.as_str(), "{listed}");

    // A connection held open on b's worker is cut by a cancel made through a (PostgreSQL
    // NOTIFY from a, LISTEN on b).
    let mut held = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    held.write_all(b"held").await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while b.session(&session).await["connections"][1]["endpoint_tcp_address"].is_null() {
        assert!(std::time::Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let canceled = std::time::Instant::now();
    a.cli(&["sessions", "cancel", "-id", &session]).await;
    let mut rest = Vec::new();
    let cut = within("the held connection to be cut", held.read_to_end(&mut rest)).await;
    println!(
        "cancel through a cut b's connection after {:?} (including the CLI process)",
        canceled.elapsed()
    );
    drop(cut);
    let read = b.session(&session).await;
    assert!(
        read["status"] == "canceling" || read["status"] == "terminated",
        "{read}"
    );
    proxy.interrupt();
    let _ = proxy.wait().await;
    drop(servers);
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_counts_are_exact_and_users_only_see_their_own_sessions() {
    let endpoint = echo_endpoint().await;
    let dev = Dev::start(22).await;
    let target = dev.create_target("echo", endpoint).await;
    let (mut proxy, port, id) = dev.proxy(&target).await;
    let sent = random_bytes(1_234_567, 9);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut read, mut write) = stream.split();
    let writer = async {
        write.write_all(&sent).await.unwrap();
        write.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let (_, got) = tokio::join!(writer, read.read_to_end(&mut back));
    got.unwrap();
    assert_eq!(back, sent);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let session = dev.session(&id).await;
        let conn = &session["connections"][0];
        if conn["bytes_up"] == "1234567"
            && conn["bytes_down"] == "1234567"
            && conn["closed_reason"] == "closed by end-user"
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "byte counts never exact: {session}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The unprivileged dev user can neither read nor cancel the admin's session.
    let user_dir = tempfile::tempdir().unwrap();
    let as_user = |args: &[&str]| {
        let mut command = postern(args);
        command
            .env("POSTERN_ADDR", &dev.api)
            .env("POSTERN_CONFIG_DIR", user_dir.path())
            .env("USER_PASSWORD", "password");
        command
    };
    let out = as_user(&[
        "authenticate",
        "password",
        "-auth-method-id",
        "ampw_1234567890",
        "-login-name",
        "user",
        "-password",
        "env://USER_PASSWORD",
    ])
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for action in ["read", "cancel"] {
        let out = as_user(&["sessions", action, "-id", &id])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "user {action}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Another user's session does not exist for them.
        assert!(
            text.contains("NotFound") && text.contains("404"),
            "user {action}: {text}"
        );
    }
    proxy.interrupt();
    assert!(proxy.wait().await.0.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_ssh_runs_the_system_ssh_through_a_new_session() {
    let sshd = Sshd::start().await;
    let dev = Dev::start(sshd.port).await;
    let key = sshd.client_key.display().to_string();
    let out = within(
        "connect ssh",
        dev.command(&[
            "connect",
            "ssh",
            "-target-id",
            "ttcp_1234567890",
            "-username",
            &sshd.user,
            "--",
            "-i",
            &key,
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "echo",
            "via connect ssh",
        ])
        .output(),
    )
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "connect ssh: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("via connect ssh"));
}
