//! [`ConnectionThreads`]: so each proxied connection lives its whole life on one.
//!
//! Every thread runs its own current-thread tokio runtime, so a connection's socket events,
//! its task and its wake-ups stay on one core. On a work-stealing runtime one busy stream
//! kept two threads busy handing the task back and forth (measured on 2 cores: iperf3
//! through postern dev + proxy, 4.7 / 5.4 Gbit/s up / down at 2.3 / 2.0 CPU s per GB; with
//! connection threads 5.9 / 6.2 Gbit/s at 1.9 / 1.8). Connections are dealt out
//! round-robin. The client proxy and the worker both carry their connections here.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use tokio::net::TcpStream;
use tokio::runtime::{Builder, Handle};
use tokio::sync::watch;
use tracing::warn;

/// A set of connection threads; dropping it stops them (dropping their tasks).
#[derive(Debug)]
pub struct ConnectionThreads {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Dropped with `ConnectionThreads`, which ends every thread's `block_on`.
    _stop: watch::Sender<()>,
}

impl ConnectionThreads {
    /// Starts `count` threads; 0 means one per core (see [`ConnectionThreads::available`]). Call it
    /// from within a runtime: should no thread start, connections run on that one instead.
    pub fn start(count: usize) -> Self {
        let count = match count {
            0 => Self::available(),
            n => n,
        };
        let (stop, stopped) = watch::channel(());
        let handles = match Self::start_threads(count, &stopped) {
            Ok(handles) => handles,
            Err(e) => {
                warn!(error = %e, "cannot start connection threads; connections share the caller's runtime");
                vec![Handle::current()]
            }
        };
        Self {
            handles,
            next: AtomicUsize::new(0),
            _stop: stop,
        }
    }

    /// Runs every connection on `runtime` instead of on threads of its own: for a caller
    /// that must share one runtime with its connections, such as a test on paused tokio time
    /// (a paused clock is one runtime's; a connection thread's runtime keeps real time).
    /// Dropping it leaves the connections to that runtime.
    pub fn on_runtime(runtime: Handle) -> Self {
        let (stop, _) = watch::channel(());
        Self {
            handles: vec![runtime],
            next: AtomicUsize::new(0),
            _stop: stop,
        }
    }

    fn start_threads(count: usize, stopped: &watch::Receiver<()>) -> io::Result<Vec<Handle>> {
        let mut handles = Vec::with_capacity(count);
        for index in 0..count {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let mut stopped = stopped.clone();
            thread::Builder::new()
                .name(format!("postern-conn-{index}"))
                .spawn(move || runtime.block_on(stopped.changed()).unwrap_or_default())?;
        }
        Ok(handles)
    }

    /// The default thread count: `POSTERN_CONNECTION_THREADS` if set to a positive number,
    /// else one per core the process may use.
    pub fn available() -> usize {
        let cores = || thread::available_parallelism().map_or(1, |n| n.get());
        let Ok(configured) = std::env::var("POSTERN_CONNECTION_THREADS") else {
            return cores();
        };
        match configured.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                warn!(value = %configured, "POSTERN_CONNECTION_THREADS is not a positive whole number; using one connection thread per core");
                cores()
            }
        }
    }

    /// Moves `tcp` (accepted on another runtime) to the next thread in turn and runs
    /// `serve(tcp)` there.
    pub fn spawn_connection<S, F>(&self, tcp: TcpStream, serve: S)
    where
        S: FnOnce(TcpStream) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        // The socket leaves the accepting runtime's reactor here and joins the thread's.
        let tcp = match tcp.into_std() {
            Ok(tcp) => tcp,
            Err(e) => return warn!(error = %e, "cannot hand an accepted connection over"),
        };
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        drop(self.handles[index].spawn(async move {
            match TcpStream::from_std(tcp) {
                Ok(tcp) => serve(tcp).await,
                Err(e) => warn!(error = %e, "cannot take an accepted connection over"),
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn a_connection_moves_to_a_connection_thread_and_keeps_working() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cores = ConnectionThreads::start(2);
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        cores.spawn_connection(accepted, move |mut tcp| async move {
            let thread = thread::current().name().map(str::to_owned);
            let mut buf = [0u8; 5];
            tcp.read_exact(&mut buf).await.unwrap();
            tcp.write_all(&buf).await.unwrap();
            drop(tx.send(thread));
        });
        client.write_all(b"hello").await.unwrap();
        let mut echoed = [0u8; 5];
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            client.read_exact(&mut echoed),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(&echoed, b"hello");
        let thread = rx.await.unwrap().unwrap();
        assert!(thread.starts_with("postern-conn-"), "{thread}");
    }
}
