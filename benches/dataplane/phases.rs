//! The three phases of a run, each over every path: throughput (all chains up at once,
//! runs interleaved across paths), connection setup (latency, then rate) and idle memory
//! (a fresh chain per path, resident memory before and after holding the connections).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::chain::{Chain, PathKind, Setup};
use crate::endpoint::Endpoints;
use crate::load::{self, Direction};
use crate::procs;
use crate::report::{Idle, PathResult};
use crate::Plan;

pub fn start_iperf3_server(setup: &Setup) -> Result<(procs::Spawned, SocketAddr)> {
    let port = procs::free_port()?;
    let mut command = Command::new("iperf3");
    command
        .args(["-s", "-B", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let mut server = procs::Spawned::start("iperf3-server", command, &setup.logs)?;
    server.wait_listening(port)?;
    Ok((server, SocketAddr::from(([127, 0, 0, 1], port))))
}

pub fn throughput_phase(
    kinds: &[PathKind],
    endpoint: SocketAddr,
    setup: &Setup,
    plan: &Plan,
    iperf3: bool,
    results: &mut BTreeMap<PathKind, PathResult>,
) {
    let mut chains = Vec::new();
    for kind in kinds {
        match Chain::start(*kind, endpoint, setup, "throughput") {
            Ok(chain) => chains.push(chain),
            Err(e) => results
                .entry(*kind)
                .or_default()
                .failures
                .push(format!("throughput: {e:#}")),
        }
    }
    let cpu_before: Vec<Option<f64>> = chains.iter().map(|c| c.cpu_seconds().ok()).collect();
    let workloads = [
        (Direction::Up, 1),
        (Direction::Down, 1),
        (Direction::Up, plan.streams),
    ];
    for run in 1..=plan.runs {
        for chain in &chains {
            let result = results.entry(chain.kind).or_default();
            for (direction, streams) in workloads {
                let measured = if iperf3 {
                    load::iperf3(chain.entry, direction, streams, plan.seconds)
                } else {
                    load::builtin(chain.entry, direction, streams, plan.seconds)
                };
                chain.settle();
                let what = format!(
                    "{streams} stream{} {direction:?}",
                    if streams == 1 { "" } else { "s" }
                )
                .to_lowercase();
                match measured {
                    Ok(t) => {
                        eprintln!(
                            "throughput run {run}/{}: {:<13} {what:<16} {:6.2} Gbit/s",
                            plan.runs,
                            chain.kind.name(),
                            t.gbit_per_s
                        );
                        result.bytes_moved += t.bytes;
                        let runs = match (direction, streams) {
                            (Direction::Up, 1) => &mut result.up,
                            (Direction::Down, _) => &mut result.down,
                            (Direction::Up, _) => &mut result.multi,
                        };
                        runs.push(t.gbit_per_s);
                    }
                    Err(e) => result.failures.push(format!("throughput {what}: {e:#}")),
                }
            }
        }
    }
    for (chain, before) in chains.iter().zip(cpu_before) {
        if chain.sides.is_empty() {
            continue;
        }
        if let (Some(before), Ok(after)) = (before, chain.cpu_seconds()) {
            results.entry(chain.kind).or_default().cpu_seconds = Some(after - before);
        }
    }
}

/// Setup latency and connection rate. Every path is started first, then measured in turns
/// (latency in rounds of 50 connections, the rate second by second), so a machine that
/// speeds up or slows down during the phase affects every path alike.
pub fn setup_phase(
    kinds: &[PathKind],
    echo: SocketAddr,
    setup: &Setup,
    plan: &Plan,
    results: &mut BTreeMap<PathKind, PathResult>,
) {
    let mut chains = Vec::new();
    for kind in kinds {
        match Chain::start(*kind, echo, setup, "setup") {
            Ok(chain) => chains.push(chain),
            Err(e) => results
                .entry(*kind)
                .or_default()
                .failures
                .push(format!("setup: {e:#}")),
        }
    }
    let entries: Vec<SocketAddr> = chains.iter().map(|c| c.entry).collect();
    let latencies = load::setup_latency(&entries, plan.latency_samples);
    let rates = load::connection_rate(&entries, plan.rate_clients, plan.rate_seconds);
    for ((chain, latency), rate) in chains.iter().zip(latencies).zip(rates) {
        let name = chain.kind.name();
        eprintln!(
            "setup latency: {name:<13} p50 {:.3} ms, p99 {:.3} ms ({} errors)",
            latency.p50_ms, latency.p99_ms, latency.errors
        );
        eprintln!(
            "connection rate: {name:<13} {:.0}/s ({} errors)",
            rate.per_second, rate.errors
        );
        let result = results.entry(chain.kind).or_default();
        result.latency = Some(latency);
        result.rate = Some(rate);
    }
}

pub fn idle_phase(
    kinds: &[PathKind],
    endpoints: &Endpoints,
    setup: &Setup,
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    results: &mut BTreeMap<PathKind, PathResult>,
) {
    for kind in kinds.iter().filter(|k| k.measures_idle()) {
        let result = results.entry(*kind).or_default();
        match measure_idle(*kind, endpoints, setup, plan, runtime) {
            Ok(idle) => {
                let per = |role| {
                    idle.per_connection_kib(role)
                        .map_or("n/a".into(), |k| format!("{k:.1} KiB"))
                };
                eprintln!(
                    "idle memory: {:<13} {} connections ({} failed): client side {}, worker side {} per connection",
                    kind.name(),
                    idle.opened,
                    idle.failed,
                    per("client"),
                    per("worker")
                );
                result.idle = Some(idle);
            }
            Err(e) => result.failures.push(format!("idle: {e:#}")),
        }
    }
}

fn measure_idle(
    kind: PathKind,
    endpoints: &Endpoints,
    setup: &Setup,
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
) -> Result<Idle> {
    let chain = Chain::start(kind, endpoints.echo, setup, "idle")?;
    // A few connections first (the warm-up), so lazily built state (TLS configs, runtime threads) counts in
    // the baseline rather than per connection.
    load::setup_latency(&[chain.entry], 0);
    let before = settled_rss(&chain)?;
    let live_before = endpoints.echo_live();
    let (streams, failed) = runtime.block_on(load::open_idle(chain.entry, plan.idle, 64));
    let deadline = Instant::now() + Duration::from_secs(10);
    while endpoints.echo_live() < live_before + streams.len() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let after = settled_rss(&chain)?;
    let idle = Idle {
        requested: plan.idle,
        opened: streams.len(),
        failed,
        before,
        after,
    };
    let _entered = runtime.enter();
    drop(streams);
    Ok(idle)
}

/// Resident memory per side once two readings 100 ms apart agree within 1% (at most 3 s).
fn settled_rss(chain: &Chain) -> Result<Vec<(&'static str, u64)>> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = chain.rss()?;
    loop {
        thread::sleep(Duration::from_millis(100));
        let now = chain.rss()?;
        let steady = last
            .iter()
            .zip(&now)
            .all(|((_, a), (_, b))| a.abs_diff(*b) * 100 <= (*a).max(1));
        if steady || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}
