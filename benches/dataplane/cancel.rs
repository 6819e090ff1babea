//! Cancel-to-cut across two controllers: how long after a cancel reaches one controller a
//! live connection carried by a worker linked to the other one is closed.
//!
//! Two `postern server` controllers, A and B, share a throwaway PostgreSQL database
//! (`postern_store::cluster::Cluster`); one worker process links to B only. Each sample
//! authorizes a session through B (the worker's own controller, where its status is first), opens a
//! connection through `postern proxy` and echoes a byte through it, reads the session's
//! version from A, and then times from just before `POST /v1/sessions/{id}:cancel` is sent
//! to A until the held connection sees EOF or a reset. The cancel travels A -> PostgreSQL
//! (NOTIFY) -> B (LISTEN) -> the worker over the cluster link -> the proxy -> the client.
//! A's answer to the request is timed too: the rest is the propagation.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::http::{item, Api};
use crate::load::percentile;
use crate::postern::start_proxy;
use crate::split::{self, Controller, Database};

/// How long a held connection may stay open after the cancel before the sample counts as
/// not cut.
const CUT_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole measurement stops taking samples after this long.
const SAMPLING_BUDGET: Duration = Duration::from_secs(120);

/// The samples, in milliseconds from just before the cancel request was sent.
#[derive(Debug, Clone, Default)]
pub struct CancelToCut {
    /// Until the client's connection was closed.
    pub cut_ms: Vec<f64>,
    /// Until controller A answered the cancel request.
    pub answer_ms: Vec<f64>,
    /// Samples that failed, and why.
    pub errors: Vec<String>,
    pub requested: usize,
}

impl CancelToCut {
    /// (p50, p99) of `samples`, if there are any.
    pub fn percentiles(samples: &[f64]) -> Option<(f64, f64)> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        (!sorted.is_empty()).then(|| (percentile(&sorted, 0.50), percentile(&sorted, 0.99)))
    }

    pub fn cut(&self) -> Option<(f64, f64)> {
        Self::percentiles(&self.cut_ms)
    }

    pub fn answer(&self) -> Option<(f64, f64)> {
        Self::percentiles(&self.answer_ms)
    }
}

/// Builds the two-controller cluster in front of the echo endpoint and takes `samples`
/// samples. Fails when PostgreSQL cannot be started (the error says what to install).
pub fn measure(
    postern: &Path,
    echo: SocketAddr,
    logs: &Path,
    samples: usize,
) -> Result<CancelToCut> {
    // Declared first so it is dropped last, after the controllers on it.
    let postgres = postern_store::cluster::Cluster::start()
        .map_err(|e| anyhow::anyhow!("no throwaway PostgreSQL: {e}"))?;
    let state = split::state_dir(None)?;
    let database = Database {
        url: postgres.url(),
        key_file: Some(state.path().join("postern.key")),
    };
    let admin = split::database_init(postern, &database, logs, "cancel")?;
    let a = Controller::start(postern, state.path(), "a", &database, logs, "cancel")?
        .logged_in(&admin)?;
    let b = Controller::start(postern, state.path(), "b", &database, logs, "cancel")?
        .logged_in(&admin)?;
    let target = split::create_target(&a.api, echo)?;
    let _worker = split::start_worker(postern, state.path(), &b, logs, "cancel")?;
    // The first authorization waits for the worker to be offered; not a sample.
    split::authorize(&b.api, &target)?;

    let mut result = CancelToCut {
        requested: samples,
        ..CancelToCut::default()
    };
    let started = Instant::now();
    for index in 0..samples {
        if started.elapsed() > SAMPLING_BUDGET {
            result.errors.push(format!(
                "stopped after {index} samples: the {SAMPLING_BUDGET:?} budget is spent"
            ));
            break;
        }
        match sample(postern, &a.api, &b.api, &target, logs) {
            Ok((answer, cut)) => {
                result.answer_ms.push(answer.as_secs_f64() * 1e3);
                result.cut_ms.push(cut.as_secs_f64() * 1e3);
            }
            Err(e) => result.errors.push(format!("sample {}: {e:#}", index + 1)),
        }
    }
    Ok(result)
}

/// One sample: (A's answer, the cut), both from just before the cancel was sent.
fn sample(
    postern: &Path,
    a: &Api,
    b: &Api,
    target: &str,
    logs: &Path,
) -> Result<(Duration, Duration)> {
    let session = split::authorize(b, target)?;
    let token = session["authorization_token"]
        .as_str()
        .context("authorize-session returned no authorization_token")?;
    let id = session["session_id"]
        .as_str()
        .context("authorize-session returned no session_id")?
        .to_owned();
    let (_proxy, entry) = start_proxy(postern, token, logs, "cancel")?;
    let mut held = TcpStream::connect(entry).context("cannot connect to postern proxy")?;
    held.set_nodelay(true)?;
    held.set_read_timeout(Some(CUT_TIMEOUT))?;
    held.write_all(b"x")?;
    let mut echoed = [0u8; 1];
    held.read_exact(&mut echoed)
        .context("no echo through the session")?;

    // The watcher blocks in read() from now on, so the cut is seen when it happens, not
    // when this thread gets to it after A's answer.
    let mut watched = held.try_clone()?;
    let watcher = thread::spawn(move || {
        let mut rest = [0u8; 64];
        let read = watched.read(&mut rest);
        (Instant::now(), read)
    });
    // A stale version (the session moved on between the read and the cancel) is retried.
    let mut attempt = 0;
    let (sent, answered) = loop {
        attempt += 1;
        let version = item(&a.get(&format!("/v1/sessions/{id}"))?)["version"].clone();
        let sent = Instant::now();
        let (status, body) = a.send(
            "POST",
            &format!("/v1/sessions/{id}:cancel"),
            Some(&json!({ "version": version })),
        )?;
        let answered = sent.elapsed();
        match status {
            200..=299 => break (sent, answered),
            400 if attempt < 3 => continue,
            _ => {
                // Unblock the watcher before giving up.
                held.shutdown(std::net::Shutdown::Both)?;
                let _unblocked = watcher.join();
                bail!("cancel through A: HTTP {status}: {}", describe(&body));
            }
        }
    };
    let (cut_at, read) = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("the watcher thread panicked"))?;
    match read {
        Ok(0) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            bail!("the connection was still open {CUT_TIMEOUT:?} after the cancel")
        }
        Err(e) => bail!("reading the held connection: {e}"),
        Ok(n) => bail!("{n} unexpected bytes on the held connection instead of a cut"),
    }
    Ok((answered, cut_at.saturating_duration_since(sent)))
}

fn describe(body: &Value) -> String {
    body.get("message")
        .and_then(Value::as_str)
        .map_or_else(|| body.to_string(), str::to_owned)
}
