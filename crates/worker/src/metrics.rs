//! What the worker's data path counts for `/metrics`, and the caps it admits connections
//! under; both shared with whoever runs the worker, who may register the one and change the
//! other while it serves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::error::{Phase, WorkerError};

/// Latency histograms, refusals and live sessions of one worker. Cheap to clone (the
/// metrics are shared); counting costs nothing unless someone registers them.
#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    handshake: Histogram,
    dial: Histogram,
    refused: Family<Refusal, Counter>,
    sessions: Gauge,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refusal {
    reason: &'static str,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        // 0.25 ms to 4 s: a loopback handshake is about a millisecond, a remote
        // authority's round trips add their own.
        let buckets = || exponential_buckets(0.000_25, 2.0, 15);
        Self {
            handshake: Histogram::new(buckets()),
            dial: Histogram::new(buckets()),
            refused: Family::default(),
            sessions: Gauge::default(),
        }
    }
}

impl WorkerMetrics {
    /// Adds these metrics to `registry`, named `postern_worker_*`.
    pub fn register(&self, registry: &mut Registry) {
        let worker = registry.sub_registry_with_prefix("postern_worker");
        worker.register(
            "handshake_seconds",
            "From accepting a client's TCP connection to its authorized connection (TLS, WebSocket upgrade, the protobuf handshake and the authority's answers)",
            self.handshake.clone(),
        );
        worker.register(
            "endpoint_dial_seconds",
            "Time to connect to the endpoint",
            self.dial.clone(),
        );
        worker.register(
            "connections_refused",
            "Client connections that never became an authorized connection, by reason: handshake_limit, connection_limit, tls, unknown_session, websocket, timeout, authority, or Boundary's close reason sent to the client",
            self.refused.clone(),
        );
        worker.register(
            "sessions_active",
            "Sessions this worker carries connections for now",
            self.sessions.clone(),
        );
    }

    pub(crate) fn handshake_done(&self, took: Duration) {
        self.handshake.observe(took.as_secs_f64());
    }

    pub(crate) fn dialed(&self, took: Duration) {
        self.dial.observe(took.as_secs_f64());
    }

    pub(crate) fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&Refusal { reason }).inc();
    }

    /// Counts a connection that failed before it was authorized.
    pub(crate) fn refused_by(&self, error: &WorkerError) {
        self.refused(refusal_reason(error));
    }

    pub(crate) fn set_sessions(&self, live: usize) {
        self.sessions.set(i64::try_from(live).unwrap_or(i64::MAX));
    }
}

/// The `reason` label of a connection that ended before it was authorized.
fn refusal_reason(error: &WorkerError) -> &'static str {
    match error {
        WorkerError::Timeout {
            phase: Phase::TlsHandshake,
            ..
        }
        | WorkerError::ClientTls(_) => "tls",
        WorkerError::NoSessionRequested
        | WorkerError::UnknownSession(_)
        | WorkerError::SessionCredentials { .. } => "unknown_session",
        WorkerError::Timeout {
            phase: Phase::WebSocketUpgrade,
            ..
        }
        | WorkerError::ClientWebSocket(_) => "websocket",
        WorkerError::Timeout { .. } => "timeout",
        WorkerError::Authority(_) => "authority",
        WorkerError::Refused { reason, .. } => reason,
        WorkerError::Endpoint { .. } => "endpoint",
    }
}

/// Default of [`Limits::max_concurrent_handshakes`]: far above what a burst of honest
/// clients needs (a handshake takes about a millisecond here), and a few MiB of handshake
/// buffers at most.
pub const DEFAULT_MAX_CONCURRENT_HANDSHAKES: usize = 1024;

/// Default of [`Limits::max_connections`]: two descriptors each, within the 65,536 the
/// systemd units allow.
pub const DEFAULT_MAX_CONNECTIONS: usize = 30_000;

/// The caps a worker admits client connections under; a connection beyond either is reset
/// at once. Cheap to clone: clones share the values, so a change (`set`) applies to the
/// running worker from its next accepted connection on.
#[derive(Debug, Clone)]
pub struct Limits(Arc<[AtomicUsize; 2]>);

const HANDSHAKES: usize = 0;
const CONNECTIONS: usize = 1;

impl Default for Limits {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_CONCURRENT_HANDSHAKES, DEFAULT_MAX_CONNECTIONS)
    }
}

impl Limits {
    /// Zero counts as one.
    pub fn new(max_concurrent_handshakes: usize, max_connections: usize) -> Self {
        let limits = Self(Arc::new([AtomicUsize::new(1), AtomicUsize::new(1)]));
        limits.set(max_concurrent_handshakes, max_connections);
        limits
    }

    pub fn set(&self, max_concurrent_handshakes: usize, max_connections: usize) {
        self.0[HANDSHAKES].store(max_concurrent_handshakes.max(1), Ordering::Relaxed);
        self.0[CONNECTIONS].store(max_connections.max(1), Ordering::Relaxed);
    }

    /// TLS handshakes in progress at once. Before its handshake is done a client has proven
    /// nothing, so this caps what strangers cost.
    pub fn max_concurrent_handshakes(&self) -> usize {
        self.0[HANDSHAKES].load(Ordering::Relaxed)
    }

    /// Client connections open at once, in any phase.
    pub fn max_connections(&self) -> usize {
        self.0[CONNECTIONS].load(Ordering::Relaxed)
    }
}

/// How many connections are open and in their TLS handshake, against the [`Limits`].
#[derive(Debug, Default)]
pub(crate) struct Occupancy {
    handshakes: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

/// Which cap a refused connection hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Handshakes(usize),
    Connections(usize),
}

impl Full {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Handshakes(_) => "handshake_limit",
            Self::Connections(_) => "connection_limit",
        }
    }
}

/// A place an admitted connection holds; given back when dropped.
#[derive(Debug)]
pub(crate) struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Occupancy {
    /// A place among the connections and one among the handshakes, or which cap is full.
    /// Only the accept loop takes places, so a load then an add cannot overshoot.
    pub(crate) fn admit(&self, limits: &Limits) -> Result<(Place, Place), Full> {
        let take = |count: &Arc<AtomicUsize>, limit: usize| {
            (count.load(Ordering::Relaxed) < limit).then(|| {
                count.fetch_add(1, Ordering::Relaxed);
                Place(count.clone())
            })
        };
        let connections = limits.max_connections();
        let connection =
            take(&self.connections, connections).ok_or(Full::Connections(connections))?;
        let handshakes = limits.max_concurrent_handshakes();
        let handshake = take(&self.handshakes, handshakes).ok_or(Full::Handshakes(handshakes))?;
        Ok((connection, handshake))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_back_and_limits_change_live() {
        let limits = Limits::new(1, 2);
        let occupancy = Occupancy::default();
        let (first, handshake) = occupancy.admit(&limits).unwrap();
        assert_eq!(occupancy.admit(&limits).unwrap_err(), Full::Handshakes(1));
        drop(handshake);
        let (_second, _handshake) = occupancy.admit(&limits).unwrap();
        assert_eq!(occupancy.admit(&limits).unwrap_err(), Full::Connections(2));
        drop(first);
        limits.set(5, 3);
        let kept = [
            occupancy.admit(&limits).unwrap(),
            occupancy.admit(&limits).unwrap(),
        ];
        assert_eq!(occupancy.admit(&limits).unwrap_err(), Full::Connections(3));
        drop(kept);
        assert_eq!(Limits::new(0, 0).max_connections(), 1);
    }
}
