//! How a worker's call reaches its controller: over the link's shared channel, or over the
//! calling connection thread's own HTTP/2 connection to the same controller.
//!
//! A worker's connections live on connection threads (`postern_io::ConnectionThreads`), each
//! with a runtime of its own, while the link's channel runs on the work-stealing runtime. A
//! call from a connection went from its thread to the channel's task, on to the HTTP/2
//! connection's task and back, each a thread wake-up; those hand-offs cost more than the call's
//! own work. So each connection thread opens a connection of its own to the controller the
//! link is on, the first time it calls on that link, and uses it from then on. Until it is up,
//! after it fails, and from any other thread, calls take the shared channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::Duration;

use futures::future::BoxFuture;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tonic::body::Body;
use tonic::transport::Channel;
use tracing::debug;

use postern_tls::cluster::CLUSTER_SERVER_NAME;

use crate::pb::cluster_client::ClusterClient;

/// A link that is up: its channel, and how to dial the same controller again.
#[derive(Clone)]
pub(crate) struct Linked {
    pub(crate) channel: Channel,
    pub(crate) upstream: String,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    /// `http://` and the upstream.
    pub(crate) origin: http::Uri,
    /// Which link this is, counted from the worker's start: a thread's connection made for
    /// an earlier link is not used.
    pub(crate) generation: u64,
}

impl Linked {
    /// A client over the shared channel.
    pub(crate) fn shared(&self) -> ClusterClient<Route> {
        self.client(Route::Shared(self.channel.clone()))
    }

    /// A client over `route`; its requests name the controller (HTTP/2 wants a scheme and
    /// an authority in each).
    pub(crate) fn client(&self, route: Route) -> ClusterClient<Route> {
        ClusterClient::with_origin(route, self.origin.clone())
    }
}

/// Where one call goes.
#[derive(Clone)]
pub(crate) enum Route {
    Shared(Channel),
    Thread(http2::SendRequest<Body>),
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<http::Request<Body>> for Route {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<http::Response<Body>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Route::Shared(channel) => channel.poll_ready(cx).map_err(Into::into),
            Route::Thread(sender) => sender.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self {
            Route::Shared(channel) => {
                let answered = channel.call(request);
                Box::pin(async move { answered.await.map_err(Into::into) })
            }
            Route::Thread(sender) => {
                let answered = sender.send_request(request);
                Box::pin(async move { Ok(answered.await?.map(Body::new)) })
            }
        }
    }
}

/// A thread's own connection, by state.
enum ThreadLink {
    Dialing {
        generation: u64,
    },
    Up {
        generation: u64,
        sender: http2::SendRequest<Body>,
    },
    Failed {
        generation: u64,
        at: Instant,
    },
}

/// After a thread's dial fails, how long its calls take the shared channel before it dials
/// again.
const REDIAL_AFTER: Duration = Duration::from_secs(1);

/// The connection threads' own connections.
#[derive(Clone, Default)]
pub(crate) struct ThreadLinks(Arc<Mutex<HashMap<ThreadId, ThreadLink>>>);

impl ThreadLinks {
    fn lock(&self) -> MutexGuard<'_, HashMap<ThreadId, ThreadLink>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The route for a call from this thread on `linked`. On a connection thread (a
    /// current-thread runtime) with no connection of its own for this link yet, starts
    /// dialing one in the background.
    pub(crate) fn route(&self, linked: &Linked, connect_timeout: Duration) -> Route {
        let shared = Route::Shared(linked.channel.clone());
        let on_connection_thread = Handle::try_current()
            .is_ok_and(|runtime| runtime.runtime_flavor() == RuntimeFlavor::CurrentThread);
        if !on_connection_thread {
            return shared;
        }
        let thread = std::thread::current().id();
        let mut links = self.lock();
        match links.get(&thread) {
            Some(ThreadLink::Up { generation, sender })
                if *generation == linked.generation && !sender.is_closed() =>
            {
                return Route::Thread(sender.clone());
            }
            Some(ThreadLink::Dialing { generation }) if *generation == linked.generation => {
                return shared;
            }
            Some(ThreadLink::Failed { generation, at })
                if *generation == linked.generation && at.elapsed() < REDIAL_AFTER =>
            {
                return shared;
            }
            _ => {}
        }
        let generation = linked.generation;
        links.insert(thread, ThreadLink::Dialing { generation });
        drop(links);
        let links = self.clone();
        let (upstream, tls) = (linked.upstream.clone(), linked.tls.clone());
        tokio::spawn(async move {
            let dialed = tokio::time::timeout(connect_timeout, open(&upstream, tls)).await;
            let link = match dialed {
                Ok(Ok(sender)) => ThreadLink::Up { generation, sender },
                Ok(Err(e)) => {
                    debug!(%upstream, error = %e, "a connection thread's own link failed; its calls take the shared one");
                    ThreadLink::Failed {
                        generation,
                        at: Instant::now(),
                    }
                }
                Err(_) => {
                    debug!(%upstream, "a connection thread's own link timed out; its calls take the shared one");
                    ThreadLink::Failed {
                        generation,
                        at: Instant::now(),
                    }
                }
            };
            let mut links = links.lock();
            // A later link may have begun meanwhile; what it started stays.
            if matches!(links.get(&thread), Some(ThreadLink::Dialing { generation: g }) if *g == generation)
            {
                links.insert(thread, link);
            }
        });
        shared
    }

    /// Drops every thread's connection (each closes once its calls under way end): the link
    /// they were made for is gone.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }
}

/// A TLS connection to `upstream`, as the link's channel and the threads' connections dial.
pub(crate) async fn dial(
    upstream: &str,
    tls: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(upstream).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(CLUSTER_SERVER_NAME)
        .map_err(std::io::Error::other)?
        .to_owned();
    TlsConnector::from(tls).connect(name, tcp).await
}

/// A thread's own HTTP/2 connection to `upstream`; its connection task runs on this thread.
async fn open(
    upstream: &str,
    tls: Arc<rustls::ClientConfig>,
) -> Result<http2::SendRequest<Body>, BoxError> {
    let stream = dial(upstream, tls).await?;
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(2))
        .keep_alive_timeout(Duration::from_secs(3))
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(error = %e, "a connection thread's own link ended");
        }
    });
    Ok(sender)
}
