//! The plot: throughput (left) and connection setup latency (right) side by side, one bar
//! per path in each group. Plain SVG, written by hand, so the harness needs no plotting
//! library.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::chain::PathKind;
use crate::report::{median, PathResult};

const PANEL_WIDTH: f64 = 460.0;
const PANEL_HEIGHT: f64 = 300.0;
const MARGIN: f64 = 50.0;

fn colour(kind: PathKind) -> &'static str {
    match kind {
        PathKind::Direct => "#9e9e9e",
        PathKind::Socat => "#6baed6",
        PathKind::Stunnel => "#fd8d3c",
        PathKind::Postern => "#31a354",
        PathKind::PosternSplit => "#006d2c",
        PathKind::Baseline => "#a1d99b",
    }
}

/// A group of bars: its label and one value per path (None: not measured).
type Group = (String, Vec<(PathKind, Option<f64>)>);

pub fn render(results: &BTreeMap<PathKind, PathResult>, streams: usize, title: &str) -> String {
    let per_path = |value: &dyn Fn(&PathResult) -> Option<f64>| -> Vec<(PathKind, Option<f64>)> {
        results.iter().map(|(kind, r)| (*kind, value(r))).collect()
    };
    let throughput: Vec<Group> = vec![
        ("1 stream up".into(), per_path(&|r| median(&r.up))),
        ("1 stream down".into(), per_path(&|r| median(&r.down))),
        (
            format!("{streams} streams up"),
            per_path(&|r| median(&r.multi)),
        ),
    ];
    let latency: Vec<Group> = vec![
        (
            "p50".into(),
            per_path(&|r| r.latency.as_ref().map(|l| l.p50_ms)),
        ),
        (
            "p99".into(),
            per_path(&|r| r.latency.as_ref().map(|l| l.p99_ms)),
        ),
    ];
    let width = 2.0 * PANEL_WIDTH + 3.0 * MARGIN;
    let height = PANEL_HEIGHT + 3.0 * MARGIN;
    let mut svg = String::new();
    // Writing into a String cannot fail.
    let _infallible = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _infallible = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _infallible = writeln!(
        svg,
        r#"<text x="{MARGIN}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    legend(&mut svg, results.keys().copied(), MARGIN, 38.0);
    panel(
        &mut svg,
        MARGIN,
        1.5 * MARGIN,
        "Throughput, Gbit/s (higher is better)",
        &throughput,
    );
    panel(
        &mut svg,
        2.0 * MARGIN + PANEL_WIDTH,
        1.5 * MARGIN,
        "Connection setup, ms (lower is better)",
        &latency,
    );
    svg.push_str("</svg>\n");
    svg
}

fn legend(svg: &mut String, kinds: impl Iterator<Item = PathKind>, x: f64, y: f64) {
    for (i, kind) in kinds.enumerate() {
        let left = x + i as f64 * 110.0;
        let _infallible = writeln!(
            svg,
            r#"<rect x="{left}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            y - 10.0,
            colour(kind),
            left + 16.0,
            y,
            kind.name()
        );
    }
}

fn panel(svg: &mut String, x: f64, y: f64, title: &str, groups: &[Group]) {
    let top = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().filter_map(|(_, v)| *v))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let scale_max = nice_ceiling(top);
    let plot_top = y + 20.0;
    let plot_height = PANEL_HEIGHT - 40.0;
    let base = plot_top + plot_height;
    let _infallible = writeln!(
        svg,
        r#"<text x="{x}" y="{}" font-weight="bold">{}</text>"#,
        y + 8.0,
        escape(title)
    );
    for tick in 0..=4 {
        let value = scale_max * f64::from(tick) / 4.0;
        let ty = base - plot_height * f64::from(tick) / 4.0;
        let _infallible = writeln!(
            svg,
            r##"<line x1="{x}" y1="{ty}" x2="{}" y2="{ty}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end" fill="#555">{}</text>"##,
            x + PANEL_WIDTH,
            x - 4.0,
            ty + 4.0,
            short(value)
        );
    }
    let group_width = PANEL_WIDTH / groups.len().max(1) as f64;
    for (g, (label, bars)) in groups.iter().enumerate() {
        let group_left = x + g as f64 * group_width;
        let bar_width = (group_width - 20.0) / bars.len().max(1) as f64;
        for (b, (kind, value)) in bars.iter().enumerate() {
            let bx = group_left + 10.0 + b as f64 * bar_width;
            let Some(v) = value.filter(|v| v.is_finite()) else {
                let _infallible = writeln!(
                    svg,
                    r##"<text x="{}" y="{}" text-anchor="middle" fill="#999">n/a</text>"##,
                    bx + bar_width / 2.0,
                    base - 4.0
                );
                continue;
            };
            let h = if scale_max > 0.0 {
                plot_height * v / scale_max
            } else {
                0.0
            };
            let _infallible = writeln!(
                svg,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {v:.3}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                base - h,
                bar_width - 2.0,
                colour(*kind),
                kind.name(),
                bx + bar_width / 2.0 - 1.0,
                base - h - 3.0,
                short(v)
            );
        }
        let _infallible = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            group_left + group_width / 2.0,
            base + 16.0,
            escape(label)
        );
    }
    let _infallible = writeln!(
        svg,
        r##"<line x1="{x}" y1="{base}" x2="{}" y2="{base}" stroke="#333"/>"##,
        x + PANEL_WIDTH
    );
}

/// 1, 2 or 5 times a power of ten, at or above `value`.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|c| *c >= value)
        .unwrap_or(10.0 * power)
}

fn short(value: f64) -> String {
    if value == 0.0 {
        "0".into()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
