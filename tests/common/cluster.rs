//! A controller and workers as separate `postern server` processes: a controller alone on a
//! new SQLite database with a cluster listener, and workers started from a config file.

use std::path::Path;

use super::dev::*;
use super::*;

pub const READY: &str = "==> postern server started";

/// Starts a worker process from `config`, logging JSON; waits until it says it is linked
/// and serving.
pub async fn start_server_worker(config: &Path) -> PosternProcess {
    start_server_worker_with_banner(config, &[]).await.0
}

/// [`start_server_worker`], with the banner's `Name: value` lines.
pub async fn start_server_worker_with_banner(
    config: &Path,
    env: &[(&str, &str)],
) -> (PosternProcess, std::collections::HashMap<String, String>) {
    let config = config.display().to_string();
    let args = ["server", "-config", &config, "-log-format", "json"];
    let mut worker = PosternProcess::spawn_with_env(&args, env);
    let mut banner = std::collections::HashMap::new();
    loop {
        let line = within("the worker's banner", worker.stdout.next_line())
            .await
            .unwrap()
            .expect("the worker exited before it was ready");
        if line == READY {
            return (worker, banner);
        }
        if let Some((name, value)) = line.trim().split_once(": ") {
            banner.insert(name.to_owned(), value.to_owned());
        }
    }
}

/// A controller alone (no worker of its own, a cluster listener) on a new SQLite database,
/// its admin logged in, and an echo target in a project.
pub struct ControllerAlone {
    pub dir: tempfile::TempDir,
    pub controller: Dev,
    /// Where workers link.
    pub cluster: String,
    pub target: String,
    /// The admin's password (login name `admin`).
    pub password: String,
}

pub async fn controller_alone() -> ControllerAlone {
    let endpoint = echo_endpoint().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("postern.db").display());
    let (method, password, _) = database_init(&["-database-url", &url]).await;
    let config = dir.path().join("controller.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[controller]\napi_listen_address = \"127.0.0.1:0\"\n\
             cluster_listen_address = \"127.0.0.1:0\"\n",
            dir.path().display().to_string()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let controller = Dev::spawn(
        &["server", "-config", &config],
        READY,
        tempfile::tempdir().unwrap(),
    )
    .await;
    let cluster = controller
        .banner
        .iter()
        .find_map(|line| line.trim().strip_prefix("Cluster Address: "))
        .expect("the banner names the cluster address")
        .to_owned();
    controller.log_in_as(&method, &password).await;
    let org = controller.create_scope("global", "ops").await;
    let project = controller.create_scope(&org, "servers").await;
    let target = controller
        .create_target_in(&project, "echo", endpoint)
        .await;
    ControllerAlone {
        dir,
        controller,
        cluster,
        target,
        password,
    }
}
