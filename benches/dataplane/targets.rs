//! The issues' targets, checked against this run's figures: issue 4's (postern against its
//! peers), the split deployment's (the separate-process path against the in-process one,
//! cancel-to-cut across two controllers), and the cancel-to-cut lines.

use std::collections::BTreeMap;

use crate::cancel::CancelToCut;
use crate::chain::PathKind;
use crate::report::{cell, ratio, Metric, PathResult};

/// One of the targets, checked against this run.
#[derive(Debug, Clone)]
pub struct Target {
    pub text: String,
    pub measured: Option<f64>,
    pub goal: f64,
    pub at_least: bool,
}

impl Target {
    pub fn verdict(&self) -> String {
        match self.measured {
            None => "not measured".into(),
            Some(m) if (self.at_least && m >= self.goal) || (!self.at_least && m <= self.goal) => {
                "met".into()
            }
            Some(m) if self.at_least => {
                format!("missed: {:.0}% short", (1.0 - m / self.goal) * 100.0)
            }
            Some(m) => format!("missed: {:.0}% over", (m / self.goal - 1.0) * 100.0),
        }
    }
}

pub fn targets(results: &BTreeMap<PathKind, PathResult>, metrics: &[Metric]) -> Vec<Target> {
    let value = |kind: PathKind, key: &str| -> Option<f64> {
        let metric = metrics.iter().find(|m| m.key == key)?;
        (metric.value)(results.get(&kind)?)
    };
    let versus = |key: &str, peer: PathKind| ratio(value(PathKind::Postern, key), value(peer, key));
    let target = |text: String, measured, goal, at_least| Target {
        text,
        measured,
        goal,
        at_least,
    };
    let idle = results.get(&PathKind::Postern).and_then(|r| r.idle.clone());
    let mut list = vec![
        target(
            "1 stream up >= 1.8x stunnel".into(),
            versus("single_up_gbps", PathKind::Stunnel),
            1.8,
            true,
        ),
        target(
            "1 stream down >= 1.8x stunnel".into(),
            versus("single_down_gbps", PathKind::Stunnel),
            1.8,
            true,
        ),
        target(
            "1 stream up >= 0.75x socat chain".into(),
            versus("single_up_gbps", PathKind::Socat),
            0.75,
            true,
        ),
        target(
            "1 stream down >= 0.75x socat chain".into(),
            versus("single_down_gbps", PathKind::Socat),
            0.75,
            true,
        ),
        target(
            "multi-stream up >= 1.5x stunnel".into(),
            versus("multi_up_gbps", PathKind::Stunnel),
            1.5,
            true,
        ),
        target(
            "setup p50 <= 1.0 ms".into(),
            value(PathKind::Postern, "setup_p50_ms"),
            1.0,
            false,
        ),
        target(
            ">= 1000 new proxied connections/s".into(),
            value(PathKind::Postern, "conn_per_s"),
            1000.0,
            true,
        ),
        target(
            "idle connection <= 16 KiB, client side".into(),
            value(PathKind::Postern, "idle_client_kib"),
            16.0,
            false,
        ),
        target(
            "idle connection <= 16 KiB, worker side".into(),
            value(PathKind::Postern, "idle_worker_kib"),
            16.0,
            false,
        ),
    ];
    if let Some(idle) = idle {
        // Only a run that asked for 10000 (`--idle 10000`) can show this one.
        let clean = (idle.requested >= 10_000).then_some(if idle.failed == 0 {
            idle.opened as f64
        } else {
            0.0
        });
        let text = if idle.requested >= 10_000 {
            format!(
                "10000 concurrent connections, none failing ({} opened, {} failed)",
                idle.opened, idle.failed
            )
        } else {
            format!(
                "10000 concurrent connections (ran {}, {} failed: needs --idle 10000 and an open-file hard limit above 20256)",
                idle.opened, idle.failed
            )
        };
        list.push(target(text, clean, 10_000.0, true));
    }
    list
}

/// The split deployment's targets: the path with the controller and the worker as separate
/// processes against the in-process one, and cancel-to-cut across two controllers.
pub fn split_targets(
    results: &BTreeMap<PathKind, PathResult>,
    metrics: &[Metric],
    cancel: Option<&CancelToCut>,
) -> Vec<Target> {
    let value = |kind: PathKind, key: &str| -> Option<f64> {
        let metric = metrics.iter().find(|m| m.key == key)?;
        (metric.value)(results.get(&kind)?)
    };
    let versus = |key: &str| {
        ratio(
            value(PathKind::PosternSplit, key),
            value(PathKind::Postern, key),
        )
    };
    let target = |text: &str, measured, goal, at_least| Target {
        text: text.to_owned(),
        measured,
        goal,
        at_least,
    };
    vec![
        target(
            "split: setup p50 <= 1.2 ms",
            value(PathKind::PosternSplit, "setup_p50_ms"),
            1.2,
            false,
        ),
        target(
            "split: 1 stream up >= 0.95x postern (within 5%)",
            versus("single_up_gbps"),
            0.95,
            true,
        ),
        target(
            "split: 1 stream down >= 0.95x postern (within 5%)",
            versus("single_down_gbps"),
            0.95,
            true,
        ),
        target(
            "cancel-to-cut p99 <= 100 ms, two controllers",
            cancel.and_then(CancelToCut::cut).map(|(_, p99)| p99),
            100.0,
            false,
        ),
    ]
}

/// The cancel-to-cut figures as a line, or why there are none.
pub fn cancel_text(cancel: &Result<CancelToCut, String>) -> String {
    match cancel {
        Err(why) => format!("cancel-to-cut across two controllers: not measured: {why}\n"),
        Ok(c) => {
            let mut out = String::from(
                "cancel-to-cut across two controllers (PostgreSQL; session on B's worker, canceled through A's API):\n",
            );
            let pair = |p: Option<(f64, f64)>| {
                p.map_or("n/a".into(), |(p50, p99)| {
                    format!("p50 {} ms, p99 {} ms", cell(Some(p50)), cell(Some(p99)))
                })
            };
            out.push_str(&format!(
                "  connection cut:  {}  ({} of {} samples, {} failed)\n",
                pair(c.cut()),
                c.cut_ms.len(),
                c.requested,
                c.errors.len()
            ));
            out.push_str(&format!(
                "  A answered:      {}  (the rest of the cut is A -> NOTIFY -> B -> worker -> proxy)\n",
                pair(c.answer())
            ));
            for error in c.errors.iter().take(5) {
                out.push_str(&format!("  failed: {error}\n"));
            }
            out
        }
    }
}

pub fn targets_text(title: &str, targets: &[Target]) -> String {
    let mut out = format!("{title}, from this run:\n");
    for t in targets {
        out.push_str(&format!(
            "  {:<66} {:>9}  {}\n",
            t.text,
            cell(t.measured),
            t.verdict()
        ));
    }
    out
}
