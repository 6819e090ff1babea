//! A throwaway PostgreSQL cluster for tests and benchmarks: Debian's `initdb`/`pg_ctl` in a
//! temporary directory, on 127.0.0.1 and a free port, as the `postgres` user when run as
//! root (PostgreSQL refuses to run as root), stopped and deleted on drop. Built with the
//! `cluster` feature.

#![allow(clippy::unwrap_used)] // not built into postern: tests and benches only

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL cluster in a temporary directory; stopped and removed on drop.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// Starts a cluster; the error says what is missing or what failed.
    pub fn start() -> Result<Self, String> {
        let bin = postgres_bin()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let as_postgres = is_root();
        if as_postgres {
            let uid = user_id("postgres")?;
            chown_all(dir.path(), uid)?;
        }
        let data = dir.path().join("data");
        let port = free_port()?;
        let cluster = Self {
            dir,
            port,
            as_postgres,
        };
        cluster.run(
            &bin.join("initdb"),
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            cluster.dir.path().display()
        );
        cluster.run(
            &bin.join("pg_ctl"),
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &options,
                "-l",
                &cluster.dir.path().join("log").display().to_string(),
                "-w",
                "-t",
                "30",
                "start",
            ],
        )?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, program: &Path, args: &[&str]) -> Result<(), String> {
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let output = command
            .args(args)
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed: {}{}",
                program.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Ok(bin) = postgres_bin() {
            let data = self.dir.path().join("data").display().to_string();
            let _ = self.run(
                &bin.join("pg_ctl"),
                &["-D", &data, "-m", "immediate", "stop"],
            );
        }
    }
}

/// Debian's PostgreSQL binaries: the newest `/usr/lib/postgresql/*/bin`.
fn postgres_bin() -> Result<PathBuf, String> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("PostgreSQL is not installed (apt-get install postgresql): {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql (apt-get install postgresql)".into())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn user_id(name: &str) -> Result<u32, String> {
    let output = Command::new("id")
        .args(["-u", name])
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("no user {name} to run PostgreSQL as"))
}

fn chown_all(dir: &Path, uid: u32) -> Result<(), String> {
    std::os::unix::fs::chown(dir, Some(uid), None).map_err(|e| e.to_string())
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
