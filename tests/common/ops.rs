//! Talking to a `postern server`'s ops listener, signalling its process, and waiting on
//! conditions that need an async check (an HTTP request, a CLI call).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{within, PosternProcess};

/// `GET path` over plain HTTP/1.0: the status code and the body.
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within("the HTTP response", stream.read_to_string(&mut response))
        .await
        .unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `/metrics` read with `prometheus-parse`: each sample's value by `name{label=value,...}`
/// (labels sorted; `name` alone without labels). A histogram's `_count` and `_sum` are
/// samples of their own; its buckets are left out.
pub async fn scrape(ops: &str) -> HashMap<String, f64> {
    let (status, body) = http_get(ops, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    scrape
        .samples
        .into_iter()
        .filter_map(|sample| {
            let mut labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            labels.sort();
            let key = if labels.is_empty() {
                sample.metric
            } else {
                format!("{}{{{}}}", sample.metric, labels.join(","))
            };
            let value = match sample.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(_) => return None,
                other => panic!("unexpected sample {other:?}"),
            };
            Some((key, value))
        })
        .collect()
}

/// Polls `check` every 100 ms until it holds, at most `limit`.
pub async fn poll_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `signal` (`-TERM`, `-KILL`, `-HUP`) to a postern process.
pub fn kill(process: &PosternProcess, signal: &str) {
    let pid = process.child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(killed.success());
}
