//! A real `postern dev` (or `postern server`) process and the CLI pointed at it, for the
//! end-to-end tests of the binary.

use super::*;

/// What `postern dev` prints once it serves (Boundary's words); scripts wait for it.
pub const DEV_READY_LINE: &str = "==> postern dev started! Log data will stream in below:";

/// A running `postern dev` and the CLI environment pointing at it.
pub struct Dev {
    /// Kept so the dev process lives exactly as long as the test's `Dev` (kill on drop).
    pub _process: PosternProcess,
    pub api: String,
    /// The banner's lines, up to the ready line.
    pub banner: Vec<String>,
    pub config_dir: tempfile::TempDir,
}

impl Dev {
    pub async fn start(target_port: u16) -> Dev {
        let port = target_port.to_string();
        let dev = Dev::launch(
            &["-target-default-port", &port],
            tempfile::tempdir().unwrap(),
        )
        .await;
        dev.log_in().await;
        dev
    }

    /// Starts `postern dev` with `args`, the CLI's config (token) in `config_dir`.
    pub async fn launch(args: &[&str], config_dir: tempfile::TempDir) -> Dev {
        let mut all = vec![
            "dev",
            "-api-listen-address",
            "127.0.0.1:0",
            "-proxy-listen-address",
            "127.0.0.1:0",
        ];
        all.extend(args);
        Dev::spawn(&all, DEV_READY_LINE, config_dir).await
    }

    /// Starts `postern ARGS` and waits for its banner's `ready` line.
    pub async fn spawn(args: &[&str], ready: &str, config_dir: tempfile::TempDir) -> Dev {
        Dev::spawn_with_env(args, &[], ready, config_dir).await
    }

    pub async fn spawn_with_env(
        args: &[&str],
        env: &[(&str, &str)],
        ready: &str,
        config_dir: tempfile::TempDir,
    ) -> Dev {
        let mut process = PosternProcess::spawn_with_env(args, env);
        let mut api = None;
        let mut banner = Vec::new();
        loop {
            let line = within("postern dev's banner", process.stdout.next_line())
                .await
                .unwrap()
                .expect("postern dev exited before it was ready");
            if let Some(addr) = line.trim().strip_prefix("Controller API Address: ") {
                api = Some(addr.to_owned());
            }
            if line == ready {
                break;
            }
            banner.push(line);
        }
        Dev {
            _process: process,
            api: api.expect("banner names the API address"),
            banner,
            config_dir,
        }
    }

    /// Logs in as the dev admin; the token lands in the config dir, mode 0600.
    pub async fn log_in(&self) {
        self.log_in_as("ampw_1234567890", "password").await;
        let token_file = self.config_dir.path().join("token");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&token_file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "token file mode");
    }

    /// The process, to stop it by hand.
    pub fn into_process(self) -> PosternProcess {
        self._process
    }

    /// Logs in as `admin` through `auth_method` with `password`.
    pub async fn log_in_as(&self, auth_method: &str, password: &str) {
        let out = self
            .cli_env(
                &[
                    "authenticate",
                    "password",
                    "-auth-method-id",
                    auth_method,
                    "-login-name",
                    "admin",
                    "-password",
                    "env://ADMIN_PASSWORD",
                ],
                &[("ADMIN_PASSWORD", password)],
            )
            .await;
        assert!(out.contains("Authentication information"), "{out}");
    }

    /// Creates a scope named `name` in `parent`; its id.
    pub async fn create_scope(&self, parent: &str, name: &str) -> String {
        let created = self
            .json(&["scopes", "create", "-scope-id", parent, "-name", name])
            .await;
        created["item"]["id"].as_str().unwrap().to_owned()
    }

    /// Kills the process with SIGKILL (no chance to clean up) and hands back the config dir.
    pub async fn kill(mut self) -> tempfile::TempDir {
        let child = &mut self._process.child;
        child.start_kill().unwrap();
        within("postern dev to die", child.wait()).await.unwrap();
        self.config_dir
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        cli_command(&self.api, &self.config_dir, args)
    }

    pub async fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let mut command = self.command(args);
        for (k, v) in env {
            command.env(k, v);
        }
        let output = within("the CLI", command.output()).await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "postern {args:?} failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    pub async fn cli(&self, args: &[&str]) -> String {
        self.cli_env(args, &[]).await
    }

    pub async fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.extend(["-format", "json"]);
        let out = self.cli(&args).await;
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("postern {args:?} printed non-JSON ({e}): {out}"))
    }

    /// Creates a tcp target named `name` in the dev project, at `endpoint`; its id.
    pub async fn create_target(&self, name: &str, endpoint: std::net::SocketAddr) -> String {
        self.create_target_in("p_1234567890", name, endpoint).await
    }

    /// Creates a tcp target named `name` in `project`, at `endpoint`; its id.
    pub async fn create_target_in(
        &self,
        project: &str,
        name: &str,
        endpoint: std::net::SocketAddr,
    ) -> String {
        let port = endpoint.port().to_string();
        let created = self
            .json(&[
                "targets",
                "create",
                "tcp",
                "-scope-id",
                project,
                "-name",
                name,
                "-default-port",
                &port,
                "-address",
                "127.0.0.1",
            ])
            .await;
        created["item"]["id"].as_str().unwrap().to_owned()
    }

    /// Starts `postern proxy` for a fresh session of `target`; returns it and its local port.
    pub async fn proxy(&self, target: &str) -> (PosternProcess, u16, String) {
        let auth = self
            .json(&["targets", "authorize-session", "-id", target])
            .await;
        let token = auth["item"]["authorization_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let session_id = auth["item"]["session_id"].as_str().unwrap().to_owned();
        let mut proxy = PosternProcess::spawn(&["proxy", "-authz", &token, "-format", "json"]);
        let info = proxy.next_json().await;
        (proxy, info["port"].as_u64().unwrap() as u16, session_id)
    }

    pub async fn session(&self, id: &str) -> serde_json::Value {
        let read = self.json(&["sessions", "read", "-id", id]).await;
        if read.get("item").is_some() {
            read["item"].clone()
        } else {
            read
        }
    }
}

/// Runs `postern ARGS` to its end: its exit code, and stdout then stderr.
pub async fn run_postern(args: &[&str]) -> (Option<i32>, String) {
    let output = within("postern", postern(args).output()).await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// `postern database init ARGS`: the admin's auth method id and password, and the output.
pub async fn database_init(args: &[&str]) -> (String, String, String) {
    let mut all = vec!["database", "init"];
    all.extend(args);
    let (code, out) = run_postern(&all).await;
    assert_eq!(code, Some(0), "{out}");
    let field = |name: &str| {
        out.lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    (field("Auth method ID:"), field("Password:"), out)
}

/// Another user of the same `postern dev`, logged in with their own CLI config dir.
pub struct CliUser {
    api: String,
    config_dir: tempfile::TempDir,
}

impl CliUser {
    /// Logs `login_name` in through the dev auth method.
    pub async fn log_in(dev: &Dev, login_name: &str, password: &str) -> CliUser {
        let user = CliUser {
            api: dev.api.clone(),
            config_dir: tempfile::tempdir().unwrap(),
        };
        let args = [
            "authenticate",
            "password",
            "-auth-method-id",
            "ampw_1234567890",
            "-login-name",
            login_name,
            "-password",
            "env://LOGIN_PASSWORD",
        ];
        let mut command = user.command(&args);
        command.env("LOGIN_PASSWORD", password);
        let out = within("the CLI", command.output()).await.unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        user
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        cli_command(&self.api, &self.config_dir, args)
    }

    /// Runs the CLI with `-format json`: the exit code and the JSON it printed (on stdout
    /// when it succeeded, on stderr when it failed).
    pub async fn json(&self, args: &[&str]) -> (Option<i32>, serde_json::Value) {
        let mut args = args.to_vec();
        args.extend(["-format", "json"]);
        let out = within("the CLI", self.command(&args).output())
            .await
            .unwrap();
        let text = if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        };
        let text = String::from_utf8_lossy(text);
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("postern {args:?} printed non-JSON ({e}): {text}"));
        (out.status.code(), json)
    }
}

/// `postern ARGS` as a CLI user whose token is kept in `config_dir`, against `api`.
fn cli_command(
    api: &str,
    config_dir: &tempfile::TempDir,
    args: &[&str],
) -> tokio::process::Command {
    let mut command = postern(args);
    command
        .env("POSTERN_ADDR", api)
        .env("POSTERN_CONFIG_DIR", config_dir.path())
        .env_remove("POSTERN_TOKEN");
    command
}
