//! A real OpenSSH server on a loopback port, with a host key and a client key made per test.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub port: u16,
    pub user: String,
    pub client_key: PathBuf,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Err(e) = self.child.start_kill() {
            eprintln!("stopping sshd: {e}");
        }
    }
}

fn keygen(path: &std::path::Path) {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) must be installed: .ci/run installs it");
    assert!(status.success(), "ssh-keygen failed");
}

impl Sshd {
    /// Starts sshd on a free loopback port and waits for its banner.
    pub async fn start() -> Sshd {
        assert!(
            std::path::Path::new(SSHD).exists(),
            "{SSHD} is missing: .ci/run installs openssh-server"
        );
        // sshd's privilege separation needs this directory; it is root's to make.
        std::fs::create_dir_all("/run/sshd").expect("cannot create /run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let host_key = dir.path().join("host_key");
        let client_key = dir.path().join("client_key");
        keygen(&host_key);
        keygen(&client_key);
        std::fs::copy(
            client_key.with_extension("pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let user = String::from_utf8(
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_owned();
        // sshd cannot report a port it picked, so take a free one; retry if another process
        // grabbed it first.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {dir}/authorized_keys\n\
                     PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
                    host = host_key.display(),
                    dir = dir.path().display(),
                ),
            )
            .unwrap();
            let child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let mut child = child;
            if wait_for_banner(port).await {
                return Sshd {
                    port,
                    user,
                    client_key,
                    dir,
                    child,
                };
            }
            if let Err(e) = child.start_kill() {
                eprintln!("stopping sshd: {e}");
            }
        }
        panic!("sshd did not start on a free loopback port (see its stderr above)");
    }
}

async fn wait_for_banner(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await {
            let mut banner = [0u8; 8];
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut banner)).await
            {
                return &banner == b"SSH-2.0-";
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

impl Sshd {
    /// ssh options for a client of this server through `port` (a proxy's local port).
    pub fn client_args(&self, port: u16) -> Vec<String> {
        vec![
            "-p".into(),
            port.to_string(),
            "-i".into(),
            self.client_key.display().to_string(),
            "-o".into(),
            "StrictHostKeyChecking=no".into(),
            "-o".into(),
            "UserKnownHostsFile=/dev/null".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ]
    }
}
