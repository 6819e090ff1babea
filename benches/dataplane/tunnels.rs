//! `postern tunnels` against the one-off proxy: what a connection costs when a tunnel is
//! already up, what it costs to get one the `postern connect` way, and the daemon's memory.
//!
//! One `postern dev` in front of the echo endpoint; the CLI logs in (a config directory of its
//! own), and `postern tunnels run` serves `--tunnels` eager tunnels to the dev target. Figures:
//! - through a tunnel: the setup latency workload (connect, 1-byte echo, close) on one
//!   tunnel's port, p50/p99;
//! - through a fresh proxy: authorize-session over HTTP, start `postern proxy -authz -`, wait
//!   for its listening line, then the same echo; p50/p99 of `--fresh-samples` (each a new
//!   session and process);
//! - the daemon's RSS with every tunnel ready (a session each, its watch open, no connection).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::http::Api;
use crate::load::{echo_once, percentile, setup_latency, Latency};
use crate::postern::{authorize, launch_dev, start_proxy};
use crate::procs::{rss_bytes, Spawned};

/// How long the daemon may take to have every tunnel ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct TunnelFigures {
    pub tunnels: usize,
    pub through_tunnel: Latency,
    /// Milliseconds per fresh `postern proxy`, authorize to first echo.
    pub fresh_ms: Vec<f64>,
    pub daemon_rss_kib: u64,
}

impl TunnelFigures {
    pub fn text(&self) -> String {
        let mut sorted = self.fresh_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let fresh = if sorted.is_empty() {
            "n/a".to_owned()
        } else {
            format!(
                "p50 {:.3} ms, p99 {:.3} ms ({} samples)",
                percentile(&sorted, 0.50),
                percentile(&sorted, 0.99),
                sorted.len()
            )
        };
        let tunnel = &self.through_tunnel;
        let ratio = if sorted.is_empty() {
            String::new()
        } else {
            format!(
                " ({:.0}x faster)",
                percentile(&sorted, 0.50) / tunnel.p50_ms.max(f64::EPSILON)
            )
        };
        format!(
            "postern tunnels (issue 12):\n  \
             setup through a tunnel already up: p50 {:.3} ms, p99 {:.3} ms ({} samples, {} errors){ratio}\n  \
             setup through a fresh postern proxy (authorize + start + first echo): {fresh}\n  \
             tunnels daemon idle memory with {} tunnels ready: {} KiB RSS\n",
            tunnel.p50_ms,
            tunnel.p99_ms,
            tunnel.samples,
            tunnel.errors,
            self.tunnels,
            self.daemon_rss_kib
        )
    }
}

pub fn measure(
    postern: &Path,
    echo: SocketAddr,
    logs: &Path,
    tunnels: usize,
    samples: usize,
    fresh_samples: usize,
) -> Result<TunnelFigures> {
    let (_dev, api_addr) = launch_dev(postern, echo, logs, "tunnels")?;
    let home = tempfile::tempdir()?;
    let config_dir = home.path().join("config");
    let base_url = format!("http://{api_addr}");
    let logged_in = Command::new(postern)
        .args([
            "authenticate",
            "password",
            "-auth-method-id",
            "ampw_1234567890",
        ])
        .args(["-login-name", "admin", "-password", "env://BENCH_PASSWORD"])
        .env("BENCH_PASSWORD", "password")
        .env("POSTERN_ADDR", &base_url)
        .env("POSTERN_CONFIG_DIR", &config_dir)
        .stdout(Stdio::null())
        .status()?;
    if !logged_in.success() {
        bail!("postern authenticate failed: {logged_in}");
    }
    let file = home.path().join("tunnels.toml");
    let mut text = format!("addr = \"{base_url}\"\n");
    for n in 0..tunnels {
        text.push_str(&format!(
            "\n[tunnels.t{n}]\ntarget_id = \"ttcp_1234567890\"\nlisten = \"127.0.0.1:0\"\n"
        ));
    }
    std::fs::write(&file, text)?;
    let socket = home.path().join("tunnels.sock");
    let mut command = Command::new(postern);
    command
        .args(["tunnels", "run", "-config"])
        .arg(&file)
        .arg("-socket")
        .arg(&socket)
        .env("POSTERN_CONFIG_DIR", &config_dir)
        .env("POSTERN_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let daemon = Spawned::start("tunnels-daemon", command, logs)?;
    let ports = all_ready(postern, &socket, &config_dir, tunnels)?;
    // Let allocations settle before reading the footprint.
    thread::sleep(Duration::from_secs(1));
    let daemon_rss_kib = rss_bytes(daemon.pid())? / 1024;
    let entry = SocketAddr::from(([127, 0, 0, 1], ports[0]));
    let through_tunnel = setup_latency(&[entry], samples)
        .pop()
        .context("no latency measured")?;

    let mut api = Api::new(&api_addr);
    api.log_in("ampw_1234567890", "password")?;
    let mut fresh_ms = Vec::with_capacity(fresh_samples);
    for n in 0..fresh_samples {
        let started = Instant::now();
        let token = authorize(&api)?;
        let (proxy, entry) = start_proxy(postern, &token, logs, &format!("fresh-{n}"))?;
        echo_once(entry).with_context(|| format!("echo through fresh proxy {n}"))?;
        fresh_ms.push(started.elapsed().as_secs_f64() * 1e3);
        drop(proxy);
    }
    drop(daemon);
    Ok(TunnelFigures {
        tunnels,
        through_tunnel,
        fresh_ms,
        daemon_rss_kib,
    })
}

/// Polls `postern tunnels status` until all `count` tunnels are ready; their ports.
fn all_ready(
    postern: &Path,
    socket: &PathBuf,
    config_dir: &Path,
    count: usize,
) -> Result<Vec<u16>> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = Command::new(postern)
            .args(["tunnels", "status", "-format", "json", "-socket"])
            .arg(socket)
            .env("POSTERN_CONFIG_DIR", config_dir)
            .output()?;
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            let status: Value = serde_json::from_slice(&out.stdout)?;
            let tunnels = status["tunnels"].as_array().cloned().unwrap_or_default();
            let ready: Vec<u16> = tunnels
                .iter()
                .filter(|t| t["state"] == "ready")
                .filter_map(|t| t["listen"].as_str()?.parse::<SocketAddr>().ok())
                .map(|a| a.port())
                .collect();
            if ready.len() == count {
                return Ok(ready);
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    std::io::stderr().write_all(last.as_bytes())?;
    bail!("the tunnels were not all ready within {READY_TIMEOUT:?}")
}
