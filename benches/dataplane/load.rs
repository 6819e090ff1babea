//! The load generators. Each takes the entry address of a path (the direct endpoint, the
//! first relay, or the client proxy) and measures one workload through it.
//!
//! Throughput uses iperf3 when it is installed, else a built-in client against the bulk
//! endpoint. Latency and rate clients are plain blocking sockets on their own threads, so
//! no async scheduling sits inside a timed region.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::endpoint::{BULK_CHUNK, BULK_DOWN, BULK_UP};

/// Bound for one connect or read in the latency and rate workloads.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client toward endpoint (bytes_up).
    Up,
    /// Endpoint toward client (bytes_down).
    Down,
}

/// One throughput run: rate and payload bytes moved.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub gbit_per_s: f64,
    pub bytes: u64,
}

/// Runs iperf3 against an `iperf3 -s` behind `entry` for `seconds`.
pub fn iperf3(
    entry: SocketAddr,
    direction: Direction,
    streams: usize,
    seconds: u64,
) -> Result<Throughput> {
    let mut command = Command::new("iperf3");
    command.args([
        "-c",
        &entry.ip().to_string(),
        "-p",
        &entry.port().to_string(),
    ]);
    command.args(["-t", &seconds.to_string(), "-P", &streams.to_string(), "-J"]);
    if direction == Direction::Down {
        command.arg("-R");
    }
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run iperf3")?;
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("iperf3 printed no JSON")?;
    if let Some(error) = report.get("error").and_then(|e| e.as_str()) {
        bail!("iperf3: {error}");
    }
    let received = &report["end"]["sum_received"];
    let (Some(bits), Some(bytes)) = (
        received["bits_per_second"].as_f64(),
        received["bytes"].as_u64(),
    ) else {
        bail!("iperf3 JSON has no end.sum_received");
    };
    Ok(Throughput {
        gbit_per_s: bits / 1e9,
        bytes,
    })
}

/// The built-in throughput client: `streams` connections to the bulk endpoint behind
/// `entry`, all started together, each moving data one way for `seconds`.
pub fn builtin(
    entry: SocketAddr,
    direction: Direction,
    streams: usize,
    seconds: u64,
) -> Result<Throughput> {
    let duration = Duration::from_secs(seconds);
    let start = Arc::new(Barrier::new(streams));
    let workers: Vec<_> = (0..streams)
        .map(|_| {
            let start = start.clone();
            thread::spawn(move || -> Result<(u64, Duration)> {
                let mut stream = TcpStream::connect(entry)?;
                start.wait();
                match direction {
                    Direction::Up => send_for(&mut stream, duration),
                    Direction::Down => receive_for(&mut stream, duration),
                }
            })
        })
        .collect();
    let mut bytes = 0;
    let mut longest = Duration::ZERO;
    for worker in workers {
        let (moved, took) = worker
            .join()
            .map_err(|_| anyhow::anyhow!("a stream thread panicked"))??;
        bytes += moved;
        longest = longest.max(took);
    }
    Ok(Throughput {
        gbit_per_s: bytes as f64 * 8.0 / longest.as_secs_f64() / 1e9,
        bytes,
    })
}

/// Sends for `duration`, half-closes, and waits for the endpoint's count: the time covers
/// every byte reaching the endpoint, not just leaving this socket.
fn send_for(stream: &mut TcpStream, duration: Duration) -> Result<(u64, Duration)> {
    let chunk = vec![0x5au8; BULK_CHUNK];
    stream.write_all(&[BULK_UP])?;
    let started = Instant::now();
    while started.elapsed() < duration {
        stream.write_all(&chunk)?;
    }
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(IO_TIMEOUT * 6))?;
    let mut count = [0u8; 8];
    stream
        .read_exact(&mut count)
        .context("the bulk endpoint did not report its count")?;
    Ok((u64::from_be_bytes(count), started.elapsed()))
}

fn receive_for(stream: &mut TcpStream, duration: Duration) -> Result<(u64, Duration)> {
    let mut chunk = vec![0u8; BULK_CHUNK];
    stream.write_all(&[BULK_DOWN])?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let started = Instant::now();
    let mut received = 0u64;
    while started.elapsed() < duration {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("the bulk endpoint closed early");
        }
        received += n as u64;
    }
    Ok((received, started.elapsed()))
}

/// Connect, send one byte, read it back, close: the time of one proxied connection.
pub fn echo_once(entry: SocketAddr) -> Result<Duration> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&entry, IO_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(b"x")?;
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte)?;
    let took = started.elapsed();
    drop(stream);
    Ok(took)
}

#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub samples: usize,
    pub errors: usize,
}

/// `samples` sequential echo connections through each entry, after a few unrecorded ones
/// to warm up; the entries take turns, 50 connections at a time.
pub fn setup_latency(entries: &[SocketAddr], samples: usize) -> Vec<Latency> {
    const TURN: usize = 50;
    for entry in entries {
        for _ in 0..20 {
            // Warm-up only: a failure here shows again in the recorded loop.
            let _warm_up = echo_once(*entry);
        }
    }
    let mut times = vec![Vec::with_capacity(samples); entries.len()];
    let mut errors = vec![0; entries.len()];
    let mut done = 0;
    while done < samples {
        let turn = TURN.min(samples - done);
        for (i, entry) in entries.iter().enumerate() {
            for _ in 0..turn {
                match echo_once(*entry) {
                    Ok(took) => times[i].push(took.as_secs_f64() * 1e3),
                    Err(_) => errors[i] += 1,
                }
            }
        }
        done += turn;
    }
    times
        .into_iter()
        .zip(errors)
        .map(|(mut times, errors)| {
            times.sort_by(f64::total_cmp);
            Latency {
                p50_ms: percentile(&times, 0.50),
                p99_ms: percentile(&times, 0.99),
                samples: times.len(),
                errors,
            }
        })
        .collect()
}

/// Nearest-rank percentile of sorted values; NaN when there are none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[derive(Debug, Clone, Default)]
pub struct Rate {
    pub per_second: f64,
    pub completed: u64,
    pub errors: u64,
}

/// `clients` threads doing echo connections back to back through each entry for `seconds`
/// in all, the entries taking turns a second at a time.
pub fn connection_rate(entries: &[SocketAddr], clients: usize, seconds: u64) -> Vec<Rate> {
    let mut rates = vec![(0u64, 0u64, Duration::ZERO); entries.len()];
    for _ in 0..seconds {
        for (entry, total) in entries.iter().zip(&mut rates) {
            let (completed, errors, elapsed) = rate_for(*entry, clients, Duration::from_secs(1));
            total.0 += completed;
            total.1 += errors;
            total.2 += elapsed;
        }
    }
    rates
        .into_iter()
        .map(|(completed, errors, elapsed)| Rate {
            per_second: completed as f64 / elapsed.as_secs_f64(),
            completed,
            errors,
        })
        .collect()
}

/// Connections completed and failed by `clients` threads in about `window`, and the time
/// they were counted over.
fn rate_for(entry: SocketAddr, clients: usize, window: Duration) -> (u64, u64, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (stop, completed, errors, start) = (
                stop.clone(),
                completed.clone(),
                errors.clone(),
                start.clone(),
            );
            thread::spawn(move || {
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    let counter = if echo_once(entry).is_ok() {
                        &completed
                    } else {
                        &errors
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    thread::sleep(window);
    let done = completed.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        if thread.join().is_err() {
            eprintln!("warning: a rate client thread panicked");
        }
    }
    (done, errors.load(Ordering::Relaxed), elapsed)
}

/// Opens `count` echo connections through `entry`, each proven end to end by a one-byte
/// echo, `parallel` at a time, and returns the open ones with the number that failed.
pub async fn open_idle(
    entry: SocketAddr,
    count: usize,
    parallel: usize,
) -> (Vec<tokio::net::TcpStream>, usize) {
    let mut opening = tokio::task::JoinSet::new();
    let mut open = Vec::with_capacity(count);
    let mut failed = 0;
    let mut started = 0;
    while open.len() + failed < count {
        if started < count && opening.len() < parallel {
            opening.spawn(open_one(entry));
            started += 1;
            continue;
        }
        match opening.join_next().await {
            Some(Ok(Some(stream))) => open.push(stream),
            Some(_) => failed += 1,
            None => break,
        }
    }
    (open, failed)
}

async fn open_one(entry: SocketAddr) -> Option<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(entry).await?;
        stream.write_all(b"x").await?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await?;
        std::io::Result::Ok(stream)
    };
    match tokio::time::timeout(IO_TIMEOUT * 2, work).await {
        Ok(Ok(stream)) => Some(stream),
        _ => None,
    }
}
