//! What byte accounting costs: the worker's splice with the endpoint side wrapped in
//! `Counted` (as in production) against the same splice over the bare socket.
//!
//! `cargo bench --bench accounting` (`-- --quick` for a smoke run). Loopback only: a
//! blocking writer thread -> TCP -> splice (one current-thread runtime on its own thread)
//! -> TCP -> a blocking reader thread. Runs alternate between the two variants; the table
//! gives the median throughput and the splice thread's CPU seconds per GB of each, and their
//! ratio. No pass/fail: timings on a shared machine vary by several percent run to run;
//! `-- --once counted` / `-- --once plain` under callgrind give repeatable instruction
//! counts instead (see benches/README.md).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use postern_io::{splice, ByteCounts, Counted, Side};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Counted,
    Plain,
}

struct Run {
    gbit_per_s: f64,
    cpu_s_per_gb: f64,
}

/// utime + stime of the calling thread, in seconds (from /proc, in clock ticks of 10 ms).
fn thread_cpu() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> { Ok(fields.get(i).context("short stat")?.parse()?) };
    // utime and stime are fields 14 and 15 of stat: 12 and 13 after the name.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn pair(listener: &TcpListener) -> Result<(TcpStream, TcpStream)> {
    let near = TcpStream::connect(listener.local_addr()?)?;
    let (far, _) = listener.accept()?;
    near.set_nodelay(true)?;
    far.set_nodelay(true)?;
    Ok((near, far))
}

fn run(variant: Variant, bytes: u64) -> Result<Run> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let (mut source, client_side) = pair(&listener)?;
    let (endpoint_side, mut sink) = pair(&listener)?;
    client_side.set_nonblocking(true)?;
    endpoint_side.set_nonblocking(true)?;

    let spliced = thread::spawn(move || -> Result<(u64, f64)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut client = tokio::net::TcpStream::from_std(client_side)?;
            let endpoint = tokio::net::TcpStream::from_std(endpoint_side)?;
            let cpu = thread_cpu()?;
            let (up, _) = match variant {
                Variant::Counted => {
                    let counts = Arc::new(ByteCounts::default());
                    let mut endpoint = Counted::new(endpoint, Side::Endpoint, counts.clone());
                    let copied = splice(&mut client, &mut endpoint).await?;
                    if counts.up() != copied.0 {
                        bail!("counted {} bytes up, copied {}", counts.up(), copied.0);
                    }
                    copied
                }
                Variant::Plain => {
                    let mut endpoint = endpoint;
                    splice(&mut client, &mut endpoint).await?
                }
            };
            Ok((up, thread_cpu()? - cpu))
        })
    });
    let reader = thread::spawn(move || -> Result<u64> {
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0u64;
        loop {
            match sink.read(&mut buf)? {
                0 => return Ok(got),
                n => got += n as u64,
            }
        }
    });
    let started = Instant::now();
    let chunk = vec![0x5Au8; 128 * 1024];
    let mut sent = 0u64;
    while sent < bytes {
        let n = chunk.len().min(usize::try_from(bytes - sent)?);
        source.write_all(&chunk[..n])?;
        sent += n as u64;
    }
    source.shutdown(std::net::Shutdown::Write)?;
    let got = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    let elapsed = started.elapsed();
    drop(source);
    let (up, cpu) = spliced
        .join()
        .map_err(|_| anyhow::anyhow!("splice thread panicked"))??;
    if got != bytes || up != bytes {
        bail!("sent {bytes} bytes, spliced {up}, received {got}");
    }
    let gb = bytes as f64 / 1e9;
    Ok(Run {
        gbit_per_s: gb * 8.0 / elapsed.as_secs_f64().max(1e-9),
        cpu_s_per_gb: cpu / gb,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--once counted|plain`: one run of one variant, for instruction counts under
    // `valgrind --tool=callgrind`, which are repeatable where timings are not.
    if let Some(pos) = args.iter().position(|a| a == "--once") {
        let variant = match args.get(pos + 1).map(String::as_str) {
            Some("counted") => Variant::Counted,
            Some("plain") => Variant::Plain,
            other => bail!("--once takes counted or plain, not {other:?}"),
        };
        let r = run(variant, 256 << 20)?;
        println!("{variant:?}: {:.2} Gbit/s", r.gbit_per_s);
        return Ok(());
    }
    let (runs, bytes) = if quick { (3, 256 << 20) } else { (9, 2 << 30) };
    println!(
        "accounting: {runs} runs per variant of {} MiB through the splice, alternating",
        bytes >> 20
    );
    let mut results: Vec<(Variant, Run)> = Vec::new();
    for i in 0..runs {
        // Which goes first alternates too, so neither always follows the other.
        let order = if i % 2 == 0 {
            [Variant::Counted, Variant::Plain]
        } else {
            [Variant::Plain, Variant::Counted]
        };
        for variant in order {
            let r = run(variant, bytes)?;
            println!(
                "run {}/{runs}: {variant:?} {:.2} Gbit/s, {:.3} CPU s/GB",
                i + 1,
                r.gbit_per_s,
                r.cpu_s_per_gb
            );
            results.push((variant, r));
        }
        thread::sleep(Duration::from_millis(100));
    }
    let figure = |v: Variant, f: fn(&Run) -> f64| {
        median(
            results
                .iter()
                .filter(|(x, _)| *x == v)
                .map(|(_, r)| f(r))
                .collect(),
        )
    };
    let (counted_tp, plain_tp) = (
        figure(Variant::Counted, |r| r.gbit_per_s),
        figure(Variant::Plain, |r| r.gbit_per_s),
    );
    let (counted_cpu, plain_cpu) = (
        figure(Variant::Counted, |r| r.cpu_s_per_gb),
        figure(Variant::Plain, |r| r.cpu_s_per_gb),
    );
    println!();
    println!("variant            Gbit/s   CPU s/GB (splice thread)");
    println!("counted (as used)  {counted_tp:>6.2}   {counted_cpu:>6.3}");
    println!("plain              {plain_tp:>6.2}   {plain_cpu:>6.3}");
    println!(
        "counted / plain    {:>6.3}x  {:>6.3}x",
        counted_tp / plain_tp,
        counted_cpu / plain_cpu
    );
    Ok(())
}
