//! The processes a benchmark path runs (relays, proxies, the iperf3 server) and what the
//! harness reads about them from /proc: CPU time, resident memory, listening sockets (so
//! readiness needs no probe connection) and the open-file limit.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// How long any process gets to start listening or print its first line.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A child process that is killed and reaped when dropped, so a failed workload leaves no
/// relay behind. Its stderr goes to a log file under the output directory.
#[derive(Debug)]
pub struct Spawned {
    pub name: String,
    child: Child,
}

impl Spawned {
    /// Starts `command` with stderr to `<logs>/<name>.log`; stdin and stdout are the
    /// caller's choice (null unless set).
    pub fn start(name: &str, mut command: Command, logs: &Path) -> Result<Self> {
        let log = File::create(logs.join(format!("{name}.log")))
            .with_context(|| format!("cannot create the log file for {name}"))?;
        command.stderr(log);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", command.get_program()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Fails with the process's exit status if it has already ended.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!(
                "{} exited early ({status}); see its log under target/bench/logs",
                self.name
            ),
        }
    }

    /// Waits until the process listens on 127.0.0.1:`port`.
    pub fn wait_listening(&mut self, port: u16) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.check_running()?;
            if is_listening(port)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on port {port} within {START_TIMEOUT:?}",
                    self.name
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            eprintln!("warning: cannot stop {}: {e}", self.name);
        }
        if let Err(e) = self.child.wait() {
            eprintln!("warning: cannot reap {}: {e}", self.name);
        }
    }
}

/// Reads a child's stdout line by line on a thread; lines arrive on the returned channel,
/// which ends with the stream. Keeps the pipe drained for the child's whole life.
pub fn stdout_lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // The receiver stops listening once the banner is read; keep draining anyway.
            let _ignored = tx.send(line);
        }
    });
    rx
}

/// The next line from `lines`, bounded by [`START_TIMEOUT`].
pub fn next_line(lines: &mpsc::Receiver<String>, what: &str) -> Result<String> {
    lines.recv_timeout(START_TIMEOUT).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => anyhow!("no line from {what} within {START_TIMEOUT:?}"),
        mpsc::RecvTimeoutError::Disconnected => {
            anyhow!("{what}: the process closed its output (exited?); see its log under target/bench/logs")
        }
    })
}

/// A port that was free a moment ago, for tools that take a port in their configuration.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Whether something listens on TCP `port` (IPv4 or IPv6, any address).
pub fn is_listening(port: u16) -> Result<bool> {
    let wanted = format!(":{port:04X}");
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace();
            let (Some(local), Some(state)) = (fields.nth(1), fields.nth(1)) else {
                continue;
            };
            if state == "0A" && local.ends_with(&wanted) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds (user + system, all threads, plus children it has reaped) of `pid`.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("odd /proc/pid/stat")?;
    // After the name: state is field 3; utime, stime, cutime, cstime are fields 14..=17.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let mut ticks = 0.0;
    for index in 11..=14 {
        let value: f64 = fields.get(index).context("short /proc/pid/stat")?.parse()?;
        ticks += value;
    }
    Ok(ticks / clock_ticks())
}

/// Resident set size of `pid` in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("process {pid} is gone"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("odd VmRSS")?
        .parse()?;
    Ok(kib * 1024)
}

/// Live child processes of `pid` (socat forks one per connection).
pub fn child_count(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .map(|children| children.split_whitespace().count())
        .sum()
}

/// Raises the soft open-file limit to the hard one (children inherit it) and returns the
/// limit now in force.
pub fn raise_nofile() -> Result<u64> {
    let (soft, hard) = nofile_limits()?;
    if soft < hard {
        let pid = std::process::id().to_string();
        let status = Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("warning: cannot raise the open-file limit from {soft} to {hard} (prlimit); run `ulimit -n {hard}` first");
        }
    }
    Ok(nofile_limits()?.0)
}

fn nofile_limits() -> Result<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .context("no open-file limit")?;
    let mut numbers = line
        .split_whitespace()
        .filter_map(|word| word.parse::<u64>().ok());
    let unlimited = u64::MAX;
    let soft = numbers.next().unwrap_or(unlimited);
    let hard = numbers.next().unwrap_or(unlimited);
    Ok((soft, hard))
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
