//! Figures per path, the table with postern's ratio to each peer (and the split path's to the
//! in-process one), and the JSON form of all of it with the targets ([`crate::targets`]).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::cancel::CancelToCut;
use crate::chain::PathKind;
use crate::load::{Latency, Rate};
use crate::targets::Target;

/// Everything measured on one path.
#[derive(Debug, Clone, Default)]
pub struct PathResult {
    /// Gbit/s per run.
    pub up: Vec<f64>,
    pub down: Vec<f64>,
    pub multi: Vec<f64>,
    /// Payload moved during the throughput runs, and the relays' CPU seconds meanwhile.
    pub bytes_moved: u64,
    pub cpu_seconds: Option<f64>,
    pub latency: Option<Latency>,
    pub rate: Option<Rate>,
    pub idle: Option<Idle>,
    /// Workloads that could not run, and why.
    pub failures: Vec<String>,
}

/// Resident memory with no connection and with `opened` idle proxied connections.
#[derive(Debug, Clone, Default)]
pub struct Idle {
    pub requested: usize,
    pub opened: usize,
    pub failed: usize,
    pub before: Vec<(&'static str, u64)>,
    pub after: Vec<(&'static str, u64)>,
}

impl Idle {
    pub fn per_connection_kib(&self, role: &str) -> Option<f64> {
        let find = |list: &[(&str, u64)]| {
            list.iter()
                .find(|(r, _)| *r == role)
                .map(|(_, bytes)| *bytes as f64)
        };
        if self.opened == 0 {
            return None;
        }
        Some((find(&self.after)? - find(&self.before)?) / self.opened as f64 / 1024.0)
    }
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len().checked_sub(1)? / 2).copied()
}

impl PathResult {
    pub fn cpu_per_gb(&self) -> Option<f64> {
        let gb = self.bytes_moved as f64 / 1e9;
        self.cpu_seconds.filter(|_| gb > 0.0).map(|cpu| cpu / gb)
    }
}

/// How a row's figure comes out of one path's results.
pub type Figure = fn(&PathResult) -> Option<f64>;

/// One row of the table.
pub struct Metric {
    pub key: &'static str,
    pub label: String,
    pub higher_is_better: bool,
    pub value: Figure,
}

pub fn metrics(streams: usize, clients: usize) -> Vec<Metric> {
    let metric = |key, label: String, higher_is_better, value: Figure| Metric {
        key,
        label,
        higher_is_better,
        value,
    };
    vec![
        metric("single_up_gbps", "1 stream up, Gbit/s".into(), true, |r| {
            median(&r.up)
        }),
        metric(
            "single_down_gbps",
            "1 stream down, Gbit/s".into(),
            true,
            |r| median(&r.down),
        ),
        metric(
            "multi_up_gbps",
            format!("{streams} streams up, Gbit/s"),
            true,
            |r| median(&r.multi),
        ),
        metric("setup_p50_ms", "setup p50, ms".into(), false, |r| {
            r.latency.as_ref().map(|l| l.p50_ms)
        }),
        metric("setup_p99_ms", "setup p99, ms".into(), false, |r| {
            r.latency.as_ref().map(|l| l.p99_ms)
        }),
        metric(
            "conn_per_s",
            format!("conn/s, {clients} clients"),
            true,
            |r| r.rate.as_ref().map(|x| x.per_second),
        ),
        metric(
            "idle_client_kib",
            "idle KiB/conn, client side".into(),
            false,
            |r| r.idle.as_ref()?.per_connection_kib("client"),
        ),
        metric(
            "idle_worker_kib",
            "idle KiB/conn, worker side".into(),
            false,
            |r| r.idle.as_ref()?.per_connection_kib("worker"),
        ),
        metric(
            "cpu_s_per_gb",
            "CPU s per GB moved".into(),
            false,
            PathResult::cpu_per_gb,
        ),
    ]
}

pub fn cell(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() && v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.is_finite() && v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "n/a".into(),
    }
}

pub fn ratio(postern: Option<f64>, peer: Option<f64>) -> Option<f64> {
    match (postern, peer) {
        (Some(p), Some(q)) if q != 0.0 && p.is_finite() && q.is_finite() => Some(p / q),
        _ => None,
    }
}

/// The table as text: one column per path, then postern / each peer, then the split path /
/// postern (the cost of running the controller and the worker as separate processes).
pub fn table(results: &BTreeMap<PathKind, PathResult>, metrics: &[Metric]) -> String {
    let peers: Vec<PathKind> = results
        .keys()
        .copied()
        .filter(|k| !matches!(k, PathKind::Postern | PathKind::PosternSplit))
        .collect();
    let postern = results.get(&PathKind::Postern);
    let split = results.get(&PathKind::PosternSplit).zip(postern);
    let mut header = vec!["metric".to_owned()];
    header.extend(results.keys().map(|k| k.name().to_owned()));
    if postern.is_some() {
        header.extend(peers.iter().map(|p| format!("p/{}", p.name())));
    }
    if split.is_some() {
        header.push("split/p".to_owned());
    }
    let mut rows = vec![header];
    for metric in metrics {
        let mut row = vec![format!(
            "{} {}",
            metric.label,
            if metric.higher_is_better {
                "(↑)"
            } else {
                "(↓)"
            }
        )];
        row.extend(results.values().map(|r| cell((metric.value)(r))));
        if let Some(postern) = postern {
            let mine = (metric.value)(postern);
            row.extend(peers.iter().map(|peer| {
                match ratio(mine, (metric.value)(&results[peer])) {
                    Some(r) => format!("{r:.2}x"),
                    None => "n/a".into(),
                }
            }));
        }
        if let Some((split, postern)) = split {
            row.push(
                match ratio((metric.value)(split), (metric.value)(postern)) {
                    Some(r) => format!("{r:.2}x"),
                    None => "n/a".into(),
                },
            );
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, text)| {
                let pad = widths[c] - text.chars().count();
                if c == 0 {
                    format!("{text}{}", " ".repeat(pad))
                } else {
                    format!("{}{text}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
    }
    out.push_str(
        "(↑) higher is better, (↓) lower is better; p/X = postern's figure divided by X's.\n",
    );
    if split.is_some() {
        out.push_str("split/p = postern-split's figure divided by postern's (controller and worker as separate processes / in one).\n");
    }
    out
}

pub fn to_json(
    results: &BTreeMap<PathKind, PathResult>,
    metrics: &[Metric],
    targets: &[Target],
    split_targets: &[Target],
    cancel: &Result<CancelToCut, String>,
    context: Value,
) -> Value {
    let paths: serde_json::Map<String, Value> = results
        .iter()
        .map(|(kind, r)| {
            let idle = r.idle.as_ref().map(|i| {
                json!({
                    "requested": i.requested, "opened": i.opened, "failed": i.failed,
                    "rss_before_bytes": i.before.iter().map(|(role, b)| (role.to_string(), json!(b))).collect::<serde_json::Map<_, _>>(),
                    "rss_after_bytes": i.after.iter().map(|(role, b)| (role.to_string(), json!(b))).collect::<serde_json::Map<_, _>>(),
                })
            });
            let raw = json!({
                "single_up_gbps_runs": r.up, "single_down_gbps_runs": r.down, "multi_up_gbps_runs": r.multi,
                "bytes_moved": r.bytes_moved, "cpu_seconds": r.cpu_seconds,
                "latency": r.latency.as_ref().map(|l| json!({"p50_ms": l.p50_ms, "p99_ms": l.p99_ms, "samples": l.samples, "errors": l.errors})),
                "rate": r.rate.as_ref().map(|x| json!({"per_second": x.per_second, "completed": x.completed, "errors": x.errors})),
                "idle": idle,
                "failures": r.failures,
                "figures": metrics.iter().map(|m| (m.key.to_owned(), json!((m.value)(r).filter(|v| v.is_finite())))).collect::<serde_json::Map<_, _>>(),
            });
            (kind.name().to_owned(), raw)
        })
        .collect();
    let targets_json = |targets: &[Target]| -> Vec<Value> {
        targets
            .iter()
            .map(|t| json!({"target": t.text, "measured": t.measured, "goal": t.goal, "verdict": t.verdict()}))
            .collect()
    };
    let cancel = match cancel {
        Ok(c) => json!({
            "requested": c.requested, "cut_ms": c.cut_ms, "answer_ms": c.answer_ms,
            "cut_p50_ms": c.cut().map(|p| p.0), "cut_p99_ms": c.cut().map(|p| p.1),
            "answer_p50_ms": c.answer().map(|p| p.0), "answer_p99_ms": c.answer().map(|p| p.1),
            "errors": c.errors,
        }),
        Err(why) => json!({"not_measured": why}),
    };
    json!({"context": context, "paths": paths, "targets": targets_json(targets),
           "split_targets": targets_json(split_targets), "cancel_to_cut": cancel})
}
