//! The paths under test, each started in front of a given endpoint:
//! - direct: the client talks to the endpoint itself;
//! - socat: two `socat -b 65536` relays in a row, no TLS (fork per connection);
//! - stunnel: stunnel client -> stunnel server, mutual TLS 1.3 with one self-signed Ed25519
//!   certificate on both ends, as a Boundary session has;
//! - postern: `postern proxy` -> postern worker (see [`crate::postern`]);
//! - postern-split: the same, with the controller and the worker as separate processes
//!   linked over the cluster listener (see [`crate::split`]);
//! - baseline: the same with another postern binary (`--baseline`), for before/after in one
//!   run.
//!
//! A [`Chain`] owns its processes (they die with it) and names the two sides whose CPU and
//! memory the report shows: the one the client connects to, and the one nearer the endpoint.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::postern::{self, WorkerMode};
use crate::procs::{self, free_port, Spawned};
use crate::split;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum PathKind {
    Direct,
    Socat,
    Stunnel,
    Postern,
    PosternSplit,
    Baseline,
}

impl PathKind {
    pub const ALL: [PathKind; 5] = [
        PathKind::Direct,
        PathKind::Socat,
        PathKind::Stunnel,
        PathKind::Postern,
        PathKind::PosternSplit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PathKind::Direct => "direct",
            PathKind::Socat => "socat",
            PathKind::Stunnel => "stunnel",
            PathKind::Postern => "postern",
            PathKind::PosternSplit => "postern-split",
            PathKind::Baseline => "baseline",
        }
    }

    /// Whether idle memory per connection means something here: direct has no relay, and
    /// socat's fork per connection makes RSS per process meaningless.
    pub fn measures_idle(self) -> bool {
        matches!(
            self,
            PathKind::Stunnel | PathKind::Postern | PathKind::PosternSplit | PathKind::Baseline
        )
    }
}

/// What every chain start needs.
#[derive(Debug, Clone)]
pub struct Setup {
    pub logs: PathBuf,
    pub postern: PathBuf,
    /// The binary of the baseline path (`--baseline`).
    pub baseline: Option<PathBuf>,
    pub worker: WorkerMode,
    /// PEM files for stunnel: (certificate, key).
    pub stunnel_pem: Option<(PathBuf, PathBuf)>,
    /// Where the split path's controller keeps its SQLite database (`--state-dir`).
    pub state_dir: Option<PathBuf>,
}

/// One side of a chain whose resources count.
#[derive(Debug, Clone, Copy)]
pub struct Side {
    /// "client" (where the client connects) or "worker" (nearer the endpoint).
    pub role: &'static str,
    pub pid: u32,
}

#[derive(Debug)]
pub struct Chain {
    pub kind: PathKind,
    pub entry: SocketAddr,
    pub sides: Vec<Side>,
    _processes: Vec<Spawned>,
    /// Databases and configurations of the split path, removed after its processes die.
    _state: Option<tempfile::TempDir>,
}

impl Chain {
    /// Starts `kind` in front of `endpoint`; `tag` names the workload in log file names.
    pub fn start(kind: PathKind, endpoint: SocketAddr, setup: &Setup, tag: &str) -> Result<Chain> {
        match kind {
            PathKind::Direct => Ok(Chain {
                kind,
                entry: endpoint,
                sides: Vec::new(),
                _processes: Vec::new(),
                _state: None,
            }),
            PathKind::Socat => start_socat(endpoint, setup, tag),
            PathKind::Stunnel => start_stunnel(endpoint, setup, tag),
            PathKind::Postern | PathKind::Baseline => {
                let (binary, tag) = match kind {
                    PathKind::Baseline => (
                        setup.baseline.as_ref().context("no --baseline binary")?,
                        format!("{tag}-baseline"),
                    ),
                    _ => (&setup.postern, tag.to_owned()),
                };
                let path = postern::start(binary, setup.worker, endpoint, &setup.logs, &tag)?;
                let sides = client_and_worker(&path.proxy, &path.worker);
                Ok(Chain {
                    kind,
                    entry: path.entry,
                    sides,
                    _processes: vec![path.proxy, path.worker],
                    _state: None,
                })
            }
            PathKind::PosternSplit => {
                let path = split::start(
                    &setup.postern,
                    endpoint,
                    setup.state_dir.as_deref(),
                    &setup.logs,
                    tag,
                )?;
                // The controller process is not a side: it carries no bytes, and the
                // in-process postern path's "worker side" is a whole `postern dev`.
                let sides = client_and_worker(&path.proxy, &path.worker);
                Ok(Chain {
                    kind,
                    entry: path.entry,
                    sides,
                    _processes: vec![path.proxy, path.worker, path.controller.process],
                    _state: Some(path.state),
                })
            }
        }
        .with_context(|| format!("cannot start the {} path", kind.name()))
    }

    /// CPU seconds used so far by all sides.
    pub fn cpu_seconds(&self) -> Result<f64> {
        self.sides
            .iter()
            .map(|side| procs::cpu_seconds(side.pid))
            .sum()
    }

    /// Resident memory of each side, in bytes.
    pub fn rss(&self) -> Result<Vec<(&'static str, u64)>> {
        self.sides
            .iter()
            .map(|side| Ok((side.role, procs::rss_bytes(side.pid)?)))
            .collect()
    }

    /// Waits (bounded) until per-connection children have exited and been reaped, so their
    /// CPU time shows in the parent's figures.
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self
            .sides
            .iter()
            .any(|side| procs::child_count(side.pid) > 0)
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn start_socat(endpoint: SocketAddr, setup: &Setup, tag: &str) -> Result<Chain> {
    let (entry_port, middle_port) = (free_port()?, free_port()?);
    let relay = |name: &str, listen: u16, to: SocketAddr| -> Result<Spawned> {
        let mut command = Command::new("socat");
        command
            .args(["-b", "65536"])
            .arg(format!(
                "TCP-LISTEN:{listen},bind=127.0.0.1,reuseaddr,fork,backlog=4096"
            ))
            .arg(format!("TCP:{to}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut spawned = Spawned::start(&format!("{tag}-{name}"), command, &setup.logs)?;
        spawned.wait_listening(listen)?;
        Ok(spawned)
    };
    let second = relay("socat-worker", middle_port, endpoint)?;
    let first = relay(
        "socat-client",
        entry_port,
        SocketAddr::from(([127, 0, 0, 1], middle_port)),
    )?;
    let sides = vec![
        Side {
            role: "client",
            pid: first.pid(),
        },
        Side {
            role: "worker",
            pid: second.pid(),
        },
    ];
    Ok(Chain {
        kind: PathKind::Socat,
        entry: SocketAddr::from(([127, 0, 0, 1], entry_port)),
        sides,
        _processes: vec![first, second],
        _state: None,
    })
}

fn start_stunnel(endpoint: SocketAddr, setup: &Setup, tag: &str) -> Result<Chain> {
    let (cert, key) = setup
        .stunnel_pem
        .as_ref()
        .context("no stunnel certificate")?;
    let (entry_port, middle_port) = (free_port()?, free_port()?);
    let instance = |name: &str, client: bool, listen: u16, to: SocketAddr| -> Result<Spawned> {
        let conf = setup.logs.join(format!("{tag}-{name}.conf"));
        let text = format!(
            "foreground = yes\nsyslog = no\npid =\ndebug = warning\n\n[bench]\nclient = {}\naccept = 127.0.0.1:{listen}\nconnect = {to}\n\
             cert = {}\nkey = {}\nCAfile = {}\nverifyPeer = yes\nsslVersionMin = TLSv1.3\nsslVersionMax = TLSv1.3\n",
            if client { "yes" } else { "no" },
            cert.display(),
            key.display(),
            cert.display(),
        );
        std::fs::write(&conf, text)?;
        let mut command = Command::new("stunnel");
        command
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut spawned = Spawned::start(&format!("{tag}-{name}"), command, &setup.logs)?;
        spawned.wait_listening(listen)?;
        Ok(spawned)
    };
    let server = instance("stunnel-server", false, middle_port, endpoint)?;
    let client = instance(
        "stunnel-client",
        true,
        entry_port,
        SocketAddr::from(([127, 0, 0, 1], middle_port)),
    )?;
    let sides = vec![
        Side {
            role: "client",
            pid: client.pid(),
        },
        Side {
            role: "worker",
            pid: server.pid(),
        },
    ];
    Ok(Chain {
        kind: PathKind::Stunnel,
        entry: SocketAddr::from(([127, 0, 0, 1], entry_port)),
        sides,
        _processes: vec![client, server],
        _state: None,
    })
}

/// Writes a session-style certificate (self-signed Ed25519, CA used as a leaf, minted by
/// postern's own code) and its PKCS#8 key as PEM for stunnel, under `dir`.
pub fn write_stunnel_pem(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let not_after = SystemTime::now() + Duration::from_secs(24 * 3600);
    let credentials = postern_tls::SessionCredentials::issue(
        "s_bench00001",
        &["127.0.0.1".to_owned()],
        not_after,
    )?;
    // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): fixed prefix, then the 32-byte seed.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&credentials.private_key().as_bytes()[..32]);
    let (cert_path, key_path) = (dir.join("stunnel-cert.pem"), dir.join("stunnel-key.pem"));
    std::fs::write(
        &cert_path,
        pem("CERTIFICATE", credentials.certificate_der()),
    )?;
    // The key is a secret: owner-only, as stunnel insists (mode applies on creation).
    if key_path.exists() {
        std::fs::remove_file(&key_path)?;
    }
    let mut key_file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&key_path)?;
    key_file.write_all(pem("PRIVATE KEY", &pkcs8).as_bytes())?;
    Ok((cert_path, key_path))
}

fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = Vec::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            encoded.push(if i <= chunk.len() {
                ALPHABET[(n >> (18 - 6 * i)) as usize & 63]
            } else {
                b'='
            });
        }
    }
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// The two measured sides of a postern path: the client proxy and the worker process.
fn client_and_worker(proxy: &Spawned, worker: &Spawned) -> Vec<Side> {
    vec![
        Side {
            role: "client",
            pid: proxy.pid(),
        },
        Side {
            role: "worker",
            pid: worker.pid(),
        },
    ]
}
