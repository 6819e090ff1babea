//! The sessions this worker is carrying connections for right now.
//!
//! A connection enters its session here *before* asking the authority to authorize it, so a
//! cancellation pushed after that point always finds it, and one pushed before it makes the
//! authority refuse. Each connection also leaves its byte counters here for the once-a-second
//! progress report.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use postern_io::ByteCounts;
use tokio_util::sync::CancellationToken;

use postern_authority::ConnectionBytes;

use crate::WorkerMetrics;

#[derive(Debug, Default)]
pub(crate) struct LiveSessions {
    sessions: Mutex<HashMap<String, LiveSession>>,
    /// Sessions with a connection in flight (not only watched); changed under the lock.
    carrying: AtomicUsize,
    /// Told how many sessions are live whenever that changes.
    metrics: WorkerMetrics,
}

#[derive(Debug, Default)]
struct LiveSession {
    cancel: CancellationToken,
    /// Cut because the authority is out of reach, not canceled: closes say `system error`.
    cut: CancellationToken,
    /// Connections in flight, authorized or not yet.
    entered: usize,
    /// Client watches on the session: they hear its cancellation, and are no connection.
    watchers: usize,
    counters: HashMap<String, Arc<ByteCounts>>,
}

impl LiveSessions {
    pub(crate) fn new(metrics: WorkerMetrics) -> Self {
        Self {
            sessions: Mutex::default(),
            carrying: AtomicUsize::new(0),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, LiveSession>> {
        // A panic while holding this lock leaves only plain maps behind; keep serving.
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A connection of `session_id` in flight, or with `watching` a client's watch on it.
    pub(crate) fn enter(self: &Arc<Self>, session_id: &str, watching: bool) -> LiveConnection {
        let mut sessions = self.lock();
        let session = sessions.entry(session_id.to_owned()).or_default();
        if watching {
            session.watchers += 1;
        } else {
            session.entered += 1;
            if session.entered == 1 {
                let carrying = self.carrying.fetch_add(1, Ordering::Relaxed) + 1;
                self.metrics.set_sessions(carrying);
            }
        }
        let (cancel, cut) = (session.cancel.clone(), session.cut.clone());
        LiveConnection {
            live: self.clone(),
            session_id: session_id.to_owned(),
            watching,
            connection_id: None,
            cancel,
            cut,
        }
    }

    /// Cuts every live connection (the authority is out of reach); how many sessions.
    pub(crate) fn cut_all(&self) -> usize {
        let sessions = self.lock();
        for session in sessions.values() {
            session.cut.cancel();
        }
        sessions.len()
    }

    pub(crate) fn cancel(&self, session_id: &str) {
        if let Some(session) = self.lock().get(session_id) {
            session.cancel.cancel();
        }
    }

    pub(crate) fn session_ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    pub(crate) fn progress(&self) -> Vec<ConnectionBytes> {
        self.lock()
            .values()
            .flat_map(|session| session.counters.iter())
            .map(|(id, counts)| ConnectionBytes {
                connection_id: id.clone(),
                bytes_up: counts.up(),
                bytes_down: counts.down(),
            })
            .collect()
    }
}

/// One connection's membership of a live session; leaving is dropping it.
#[derive(Debug)]
pub(crate) struct LiveConnection {
    live: Arc<LiveSessions>,
    session_id: String,
    watching: bool,
    connection_id: Option<String>,
    cancel: CancellationToken,
    cut: CancellationToken,
}

impl LiveConnection {
    /// Completes when the session is canceled.
    pub(crate) fn canceled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Completes when the worker must cut the session's connections for want of its
    /// authority.
    pub(crate) fn cut(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cut.cancelled()
    }

    pub(crate) fn track(&mut self, connection_id: &str, counts: Arc<ByteCounts>) {
        let mut sessions = self.live.lock();
        if let Some(session) = sessions.get_mut(&self.session_id) {
            session.counters.insert(connection_id.to_owned(), counts);
            self.connection_id = Some(connection_id.to_owned());
        }
    }
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        let mut sessions = self.live.lock();
        if let Some(session) = sessions.get_mut(&self.session_id) {
            if let Some(id) = &self.connection_id {
                session.counters.remove(id);
            }
            if self.watching {
                session.watchers -= 1;
            } else {
                session.entered -= 1;
                if session.entered == 0 {
                    let carrying = self.live.carrying.fetch_sub(1, Ordering::Relaxed) - 1;
                    self.live.metrics.set_sessions(carrying);
                }
            }
            if session.entered + session.watchers == 0 {
                sessions.remove(&self.session_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_reaches_entered_connections_and_the_map_empties_on_leave() {
        let live = Arc::new(LiveSessions::default());
        let mut a = live.enter("s_1", false);
        let b = live.enter("s_1", true);
        a.track("sc_1", Arc::new(ByteCounts::default()));
        assert_eq!(live.progress().len(), 1);
        live.cancel("s_1");
        assert!(a.cancel.is_cancelled() && b.cancel.is_cancelled());
        drop(a);
        assert_eq!(live.session_ids(), vec!["s_1".to_owned()]);
        assert!(live.progress().is_empty());
        drop(b);
        assert!(live.session_ids().is_empty());
        let c = live.enter("s_2", false);
        assert_eq!(live.cut_all(), 1);
        assert!(c.cut.is_cancelled() && !c.cancel.is_cancelled());
    }
}
