//! `cargo bench --bench dataplane`: postern's data path against its peers, on loopback, in
//! one run (see benches/README.md).
//!
//! Every workload goes through every path (direct, two socat relays, a stunnel mTLS chain,
//! postern proxy -> worker in `postern dev`, and the same with the controller and the worker
//! as separate processes) in front of endpoints this process serves; throughput runs are
//! interleaved across paths so a noisy neighbour hurts them alike. Then cancel-to-cut is
//! timed across two controllers on PostgreSQL. The figures, postern's ratio to each peer,
//! the split path's to postern and the issues' targets go to stdout, and to `target/bench/`
//! as `dataplane.json` and `dataplane.svg`. Nothing is installed: a missing peer is skipped
//! with the command that would install it.

mod cancel;
mod chain;
mod endpoint;
mod http;
mod load;
mod phases;
mod postern;
mod procs;
mod report;
mod split;
mod svg;
mod targets;
mod tunnels;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::thread;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::json;

use chain::{PathKind, Setup};
use phases::{idle_phase, setup_phase, start_iperf3_server, throughput_phase};
use postern::WorkerMode;
use report::PathResult;

#[derive(Debug, Parser)]
#[command(
    name = "dataplane",
    about = "postern's data path against direct, socat and stunnel, on loopback"
)]
struct Options {
    /// Smoke run: 1 run of 1 s, 200 latency samples, 1 s of rate, 300 idle connections, 20
    /// cancels.
    #[arg(long)]
    quick: bool,
    /// Throughput runs per workload (the median is reported) [default: 3].
    #[arg(long)]
    runs: Option<usize>,
    /// Seconds per throughput run [default: 5].
    #[arg(long)]
    seconds: Option<u64>,
    /// Parallel streams of the multi-stream workload.
    #[arg(long, default_value_t = 8)]
    streams: usize,
    /// Sequential connections timed for setup latency [default: 2000].
    #[arg(long)]
    latency_samples: Option<usize>,
    /// Concurrent clients of the connection-rate workload.
    #[arg(long, default_value_t = 16)]
    rate_clients: usize,
    /// Seconds of the connection-rate workload [default: 5].
    #[arg(long)]
    rate_seconds: Option<u64>,
    /// Idle proxied connections held open for the memory figure [default: 5000].
    #[arg(long)]
    idle: Option<usize>,
    /// Cancels timed across two controllers, with the postern-split path (0: none)
    /// [default: 50].
    #[arg(long)]
    cancel_samples: Option<usize>,
    /// Tunnels `postern tunnels` serves for its figures, with the postern path (0: none)
    /// [default: 20].
    #[arg(long)]
    tunnels: Option<usize>,
    /// Fresh `postern proxy` processes timed from authorize to first echo, against the tunnel
    /// [default: 20; 5 with --quick].
    #[arg(long)]
    fresh_samples: Option<usize>,
    /// Paths to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = PathKind::ALL)]
    paths: Vec<PathKind>,
    /// Use the built-in throughput client even when iperf3 is installed.
    #[arg(long)]
    builtin: bool,
    /// The postern binary [default: the one cargo built for this bench].
    #[arg(long)]
    postern: Option<PathBuf>,
    /// Another postern binary (an older commit, a variant) measured as the "baseline" path in
    /// the same run: `p/baseline` is then before/after with the noise of one go.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Where postern's worker runs.
    #[arg(long, value_enum, default_value_t = WorkerMode::Auto)]
    worker: WorkerMode,
    /// Where the postern-split controller keeps its SQLite database (which commits with
    /// `synchronous=FULL`); a tmpfs such as /dev/shm takes the disk's fsync out of the figures
    /// [default: the system's temporary directory].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Output directory [default: <target dir>/bench].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    /// Internal: serve a postern worker for `--worker self` (see postern.rs).
    #[arg(long, hide = true)]
    worker_host: Option<SocketAddr>,
}

/// The workload sizes after `--quick` and the explicit options are applied.
#[derive(Debug, Clone)]
struct Plan {
    runs: usize,
    seconds: u64,
    streams: usize,
    latency_samples: usize,
    rate_clients: usize,
    rate_seconds: u64,
    idle: usize,
    cancel_samples: usize,
    tunnels: usize,
    fresh_samples: usize,
}

impl Plan {
    fn from(options: &Options) -> Plan {
        let quick = options.quick;
        Plan {
            runs: options.runs.unwrap_or(if quick { 1 } else { 3 }).max(1),
            seconds: options.seconds.unwrap_or(if quick { 1 } else { 5 }).max(1),
            streams: options.streams.max(1),
            latency_samples: options
                .latency_samples
                .unwrap_or(if quick { 200 } else { 2000 }),
            rate_clients: options.rate_clients.max(1),
            rate_seconds: options
                .rate_seconds
                .unwrap_or(if quick { 1 } else { 5 })
                .max(1),
            idle: options.idle.unwrap_or(if quick { 300 } else { 5000 }),
            cancel_samples: options
                .cancel_samples
                .unwrap_or(if quick { 20 } else { 50 }),
            tunnels: options.tunnels.unwrap_or(20),
            fresh_samples: options.fresh_samples.unwrap_or(if quick { 5 } else { 20 }),
        }
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    let outcome = match options.worker_host {
        Some(endpoint) => postern::run_worker_host(endpoint),
        None => run(options),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<()> {
    let mut plan = Plan::from(&options);
    let out = options.out.clone().unwrap_or_else(default_out_dir);
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;

    // Each idle connection costs two descriptors in this process and in each relay.
    let nofile = procs::raise_nofile()?;
    let most_idle = usize::try_from(nofile.saturating_sub(256) / 2).unwrap_or(usize::MAX);
    if plan.idle > most_idle {
        eprintln!("note: the open-file limit is {nofile}: holding {most_idle} idle connections instead of {} (raise the hard limit for more)", plan.idle);
        plan.idle = most_idle;
    }

    let mut kinds = options.paths.clone();
    kinds.retain(|k| *k != PathKind::Baseline);
    if options.baseline.is_some() {
        kinds.push(PathKind::Baseline);
    }
    kinds.sort();
    kinds.dedup();
    for (kind, program, package) in [
        (PathKind::Socat, "socat", "socat"),
        (PathKind::Stunnel, "stunnel", "stunnel4"),
    ] {
        if kinds.contains(&kind) && !procs::on_path(program) {
            eprintln!("note: {program} not found: skipping the {} path (install: sudo apt-get install {package})", kind.name());
            kinds.retain(|k| *k != kind);
        }
    }
    let use_iperf3 = !options.builtin && procs::on_path("iperf3");
    if !options.builtin && !use_iperf3 {
        eprintln!("note: iperf3 not found: using the built-in throughput client (install: sudo apt-get install iperf3)");
    }
    let postern = options
        .postern
        .clone()
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_postern")));
    let runs_postern =
        kinds.contains(&PathKind::Postern) || kinds.contains(&PathKind::PosternSplit);
    if runs_postern && !postern.is_file() {
        bail!(
            "no postern binary at {} (build it with `cargo build --release`)",
            postern.display()
        );
    }
    if let Some(baseline) = options.baseline.as_ref().filter(|b| !b.is_file()) {
        bail!("no baseline binary at {}", baseline.display());
    }
    let stunnel_pem = if kinds.contains(&PathKind::Stunnel) {
        Some(chain::write_stunnel_pem(&out)?)
    } else {
        None
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let endpoints = runtime.block_on(endpoint::start())?;
    let worker = if kinds.contains(&PathKind::Postern) {
        postern::resolve(options.worker, &postern, endpoints.echo, &logs)
    } else {
        options.worker
    };
    let setup = Setup {
        logs: logs.clone(),
        postern: postern.clone(),
        baseline: options.baseline.clone(),
        worker,
        stunnel_pem,
        state_dir: options.state_dir.clone(),
    };
    let iperf3_server = if use_iperf3 {
        Some(start_iperf3_server(&setup)?)
    } else {
        None
    };
    let bulk = iperf3_server
        .as_ref()
        .map_or(endpoints.bulk, |(_, addr)| *addr);

    let mut results: BTreeMap<PathKind, PathResult> =
        kinds.iter().map(|k| (*k, PathResult::default())).collect();
    let tool = if use_iperf3 { "iperf3" } else { "built-in" };
    eprintln!(
        "paths: {}; throughput by {tool}; {plan:?}",
        kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    throughput_phase(&kinds, bulk, &setup, &plan, use_iperf3, &mut results);
    drop(iperf3_server);
    setup_phase(&kinds, endpoints.echo, &setup, &plan, &mut results);
    idle_phase(&kinds, &endpoints, &setup, &plan, &runtime, &mut results);
    let cancel = if !kinds.contains(&PathKind::PosternSplit) {
        Err("the postern-split path is not among --paths".to_owned())
    } else if plan.cancel_samples == 0 {
        Err("--cancel-samples 0".to_owned())
    } else {
        eprintln!(
            "cancel-to-cut: {} samples across two controllers",
            plan.cancel_samples
        );
        cancel::measure(&postern, endpoints.echo, &logs, plan.cancel_samples)
            .map_err(|e| format!("{e:#}"))
    };
    if let Err(why) = &cancel {
        eprintln!("note: cancel-to-cut not measured: {why}");
    }
    let tunnels = if !kinds.contains(&PathKind::Postern) {
        Err("the postern path is not among --paths".to_owned())
    } else if plan.tunnels == 0 {
        Err("--tunnels 0".to_owned())
    } else {
        eprintln!("postern tunnels: {} tunnels", plan.tunnels);
        tunnels::measure(
            &postern,
            endpoints.echo,
            &logs,
            plan.tunnels,
            plan.latency_samples,
            plan.fresh_samples,
        )
        .map_err(|e| format!("{e:#}"))
    };

    let metrics = report::metrics(plan.streams, plan.rate_clients);
    let targets = targets::targets(&results, &metrics);
    let split_targets = targets::split_targets(&results, &metrics, cancel.as_ref().ok());
    println!("\n{}", report::table(&results, &metrics));
    println!("{}", targets::cancel_text(&cancel));
    match &tunnels {
        Ok(figures) => println!("{}", figures.text()),
        Err(why) => println!("postern tunnels: not measured: {why}\n"),
    }
    println!("{}", targets::targets_text("issue 4 targets", &targets));
    if kinds.contains(&PathKind::PosternSplit) {
        println!(
            "{}",
            targets::targets_text("split deployment targets", &split_targets)
        );
    }
    for (kind, result) in &results {
        for failure in &result.failures {
            println!("{}: {failure}", kind.name());
        }
    }
    let unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let context = json!({
        "unix_time": unix,
        "cpus": cpus,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "open_file_limit": nofile,
        "throughput_tool": tool,
        "postern_binary": postern.display().to_string(),
        "baseline_binary": options.baseline.as_ref().map(|b| b.display().to_string()),
        "postern_worker": format!("{worker:?}"),
        "split_state_dir": options.state_dir.as_ref().map_or_else(
            || std::env::temp_dir().display().to_string(),
            |d| d.display().to_string()
        ),
        "plan": {"runs": plan.runs, "seconds": plan.seconds, "streams": plan.streams,
                 "latency_samples": plan.latency_samples, "rate_clients": plan.rate_clients,
                 "rate_seconds": plan.rate_seconds, "idle": plan.idle,
                 "cancel_samples": plan.cancel_samples},
    });
    let json_path = out.join("dataplane.json");
    let document = report::to_json(
        &results,
        &metrics,
        &targets,
        &split_targets,
        &cancel,
        context,
    );
    std::fs::write(&json_path, serde_json::to_string_pretty(&document)?)?;
    let svg_path = out.join("dataplane.svg");
    let title =
        format!("postern data plane vs peers, loopback, {cpus} CPUs (throughput by {tool})");
    std::fs::write(&svg_path, svg::render(&results, plan.streams, &title))?;
    println!("wrote {} and {}", json_path.display(), svg_path.display());
    Ok(())
}

/// `$CARGO_TARGET_DIR/bench`, else `<workspace>/target/bench`.
fn default_out_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench")
}
