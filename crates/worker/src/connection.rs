//! One proxied connection on the worker, phase by phase:
//!
//! TLS (session from ALPN/SNI) -> WebSocket upgrade -> ClientHandshake -> TOFU check or
//! activation -> authorize with the authority -> HandshakeResult -> dial the endpoint ->
//! report connected -> splice until either side ends, the session expires or is canceled ->
//! report closed with the byte counts.
//!
//! Refusals close the WebSocket with Boundary's code and reason text: clients match on them.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::OptionFuture;
use futures::FutureExt;
use postern_io::{reset_on_close, splice, tune_tcp, ByteCounts, Counted, End, Side};
use postern_tls::TlsStream;
use postern_wire::pb::proxy::{ClientHandshake, HandshakeResult, Handshakecommand};
use postern_wire::TofuToken;
use postern_ws::{self as ws, close, Purpose, WsStream};
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{debug, info};

use crate::error::{Phase, WorkerError};
use crate::live::LiveConnection;
use crate::metrics::Place;
use crate::Shared;
use postern_authority::{
    AuthorityError, ClosedReason, ConnectedInfo, ConnectionBytes, SessionAuthority, SessionStatus,
    WorkerSession,
};

/// Largest ClientHandshake accepted; a real one is about 30 bytes.
const MAX_HANDSHAKE_MESSAGE: usize = 4 * 1024;

type ClientWs = WsStream<TlsStream>;

/// Runs `fut` under the deadline of `phase`.
///
/// Boxed: a setup phase's state (a TLS handshake in progress is ~6 KiB) lives on the heap
/// while the phase runs, instead of in every connection's task for the connection's life.
fn phase<T>(
    phase: Phase,
    after: Duration,
    fut: impl Future<Output = Result<T, WorkerError>>,
) -> Pin<Box<impl Future<Output = Result<T, WorkerError>>>> {
    let timed = tokio::time::timeout(after, fut);
    // `map`, not an async block, which would hold the inner future twice.
    Box::pin(timed.map(move |done| done.map_err(|_| WorkerError::Timeout { phase, after })?))
}

/// Serves one client connection; `place` is its place among the connections, `tls_place`
/// its place among the TLS handshakes in progress, given back once its handshake is done.
pub(crate) async fn serve<A: SessionAuthority>(
    shared: Arc<Shared<A>>,
    tcp: TcpStream,
    client: SocketAddr,
    place: Place,
    tls_place: Place,
) -> Result<(), WorkerError> {
    let mut place = Some(place);
    let accepted = Instant::now();
    let metrics = &shared.config.metrics;
    // Boxed, as `phase` does: the setup's state lives on the heap while it runs instead of
    // beside the proxying state in every connection's task.
    let opened = Box::pin(open(&shared, tcp, &mut place, tls_place)).await;
    let (mut ws, session, mut live, connection_id) = match opened {
        Ok(Some(opened)) => opened,
        Ok(None) => return Ok(()),
        Err(e) => {
            metrics.refused_by(&e);
            return Err(e);
        }
    };
    metrics.handshake_done(accepted.elapsed());
    tracing::Span::current().record("connection", connection_id.as_str());
    let counts = Arc::new(ByteCounts::default());
    live.track(&connection_id, counts.clone());
    let Proxied {
        reason,
        unreported,
        result,
    } = proxy(
        &shared,
        &mut ws,
        &session,
        &connection_id,
        client,
        &counts,
        &live,
    )
    .await;
    info!(%reason, bytes_up = counts.up(), bytes_down = counts.down(), "connection closed");
    let bytes = ConnectionBytes {
        connection_id,
        bytes_up: counts.up(),
        bytes_down: counts.down(),
    };
    shared
        .authority
        .connection_closed(bytes, reason, unreported)
        .await?;
    result
}

/// A client connection authorized: its WebSocket, session, place among the live sessions
/// and connection id.
type Opened = (ClientWs, WorkerSession, LiveConnection, String);

/// TLS, the WebSocket upgrade and the protobuf handshake, up to an authorized connection;
/// `None` when the client's request was served without one (SESSION_CANCEL, a watch).
async fn open<A: SessionAuthority>(
    shared: &Shared<A>,
    tcp: TcpStream,
    place: &mut Option<Place>,
    tls_place: Place,
) -> Result<Option<Opened>, WorkerError> {
    if let Err(e) = tune_tcp(&tcp) {
        debug!(error = %e, "could not tune client socket");
    }
    let config = &shared.config;
    let (tls, session) = phase(
        Phase::TlsHandshake,
        config.tls_handshake_timeout,
        accept_tls(shared, tcp),
    )
    .await?;
    drop(tls_place);
    tracing::Span::current().record("session", session.id.as_str());
    let (mut ws, purpose) = phase(Phase::WebSocketUpgrade, config.upgrade_timeout, async {
        Ok(ws::accept(tls).await?)
    })
    .await?;
    let watching = purpose == Purpose::Watch;
    let live = shared.live.enter(&session.id, watching);
    if watching {
        // A watch is no connection: it takes no place among them.
        drop(place.take());
        watch(shared, &mut ws, &session, &live).await;
        return Ok(None);
    }
    let authorized = handshake(shared, &mut ws, &session).await?;
    Ok(authorized.map(|connection_id| (ws, session, live, connection_id)))
}

/// Reads the ClientHello, finds the session it names, and finishes the handshake with that
/// session's certificate; an unknown, ended or expired session gets a TLS alert.
async fn accept_tls<A: SessionAuthority>(
    shared: &Shared<A>,
    tcp: TcpStream,
) -> Result<(TlsStream, WorkerSession), WorkerError> {
    let start = postern_tls::accept(tcp)
        .await
        .map_err(WorkerError::ClientTls)?;
    let requested = postern_tls::requested_session(&start.client_hello());
    let session = match &requested {
        Some(id) => shared.authority.lookup_session(id).await?,
        None => None,
    };
    let servable =
        session.filter(|s| s.status != SessionStatus::Terminated && s.expiration > shared.now());
    let Some(session) = servable else {
        // The handshake is expected to fail here: that failure is the refusal.
        if let Err(e) = start.finish(postern_tls::refusal_config()).await {
            debug!(error = %e, "refused TLS handshake");
        }
        return Err(match requested {
            Some(id) => WorkerError::UnknownSession(id),
            None => WorkerError::NoSessionRequested,
        });
    };
    let config = postern_tls::worker_config(&session.credentials).map_err(|source| {
        WorkerError::SessionCredentials {
            id: session.id.clone(),
            source,
        }
    })?;
    let tls = start.finish(config).await.map_err(WorkerError::ClientTls)?;
    Ok((tls, session))
}

/// A client's watch on its session (a postern extension, [`Purpose::Watch`]): no message
/// either way, and not one of the session's connections. It ends with 1000 `session
/// canceled` once the session is canceled, or 1000 `done` at its expiration, when the
/// worker drains or stops, or loses its authority; the client may then watch again.
async fn watch<A: SessionAuthority>(
    shared: &Shared<A>,
    ws: &mut ClientWs,
    session: &WorkerSession,
    live: &LiveConnection,
) {
    // A cancellation pushed before this watch entered the live sessions did not reach it:
    // ask once more now that it has.
    let ended = session.status == SessionStatus::Canceling
        || match shared.authority.lookup_session(&session.id).await {
            Ok(Some(now)) => !matches!(now.status, SessionStatus::Pending | SessionStatus::Active),
            Ok(None) => true,
            Err(e) => {
                debug!(error = %e, "could not look the watched session up again");
                false
            }
        };
    let reason = if ended {
        close::SESSION_CANCELED
    } else {
        debug!("client watching its session");
        tokio::select! {
            () = live.canceled() => close::SESSION_CANCELED,
            () = tokio::time::sleep(shared.until(session.expiration)) => close::DONE,
            () = live.cut() => close::DONE,
            () = shared.drain.cancelled() => close::DONE,
            () = shared.shutdown.cancelled() => close::DONE,
            // A watch carries nothing: whatever the client sends, or its going away, ends it.
            _ = ws.recv_message(0) => return,
        }
    };
    debug!(reason, "ending the client's watch");
    match tokio::time::timeout(shared.config.close_timeout, ws.close(close::NORMAL, reason)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(error = %e, "closing handshake failed"),
        Err(_) => debug!("closing handshake timed out"),
    }
}

/// Closes the WebSocket with `code`/`reason` (bounded in time) and names the refusal.
async fn refuse(
    close_timeout: Duration,
    ws: &mut ClientWs,
    code: u16,
    reason: &'static str,
    cause: impl std::fmt::Display,
) -> WorkerError {
    info!(code, reason, %cause, "refusing client");
    match tokio::time::timeout(close_timeout, ws.close(code, reason)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(error = %e, "closing handshake failed"),
        Err(_) => debug!("closing handshake timed out"),
    }
    WorkerError::Refused {
        code,
        reason,
        cause: cause.to_string(),
    }
}

/// The protobuf handshake up to an authorized connection. `Ok(None)` means the client's
/// request was served without a connection (SESSION_CANCEL).
async fn handshake<A: SessionAuthority>(
    shared: &Shared<A>,
    ws: &mut ClientWs,
    session: &WorkerSession,
) -> Result<Option<String>, WorkerError> {
    let authority = &*shared.authority;
    let close_timeout = shared.config.close_timeout;
    let deadline = shared
        .config
        .handshake_timeout
        .min(shared.until(session.expiration));
    let message = match tokio::time::timeout(deadline, ws.recv_message(MAX_HANDSHAKE_MESSAGE)).await
    {
        Ok(Ok(message)) => message,
        Ok(Err(e)) => {
            return Err(refuse(
                close_timeout,
                ws,
                close::POLICY_VIOLATION,
                close::INVALID_HANDSHAKE,
                e,
            )
            .await)
        }
        Err(_) => {
            let cause = format!("no handshake within {deadline:?}");
            return Err(refuse(
                close_timeout,
                ws,
                close::POLICY_VIOLATION,
                close::INVALID_HANDSHAKE,
                cause,
            )
            .await);
        }
    };
    let request = match ClientHandshake::decode(message.as_slice()) {
        Ok(request) => request,
        Err(e) => {
            return Err(refuse(
                close_timeout,
                ws,
                close::POLICY_VIOLATION,
                close::INVALID_HANDSHAKE,
                e,
            )
            .await)
        }
    };
    let tofu = match TofuToken::parse(&request.tofu_token) {
        Ok(tofu) => tofu,
        Err(e) => {
            return Err(refuse(
                close_timeout,
                ws,
                close::UNSUPPORTED_DATA,
                close::INVALID_TOFU,
                e,
            )
            .await)
        }
    };
    // SESSION_CANCEL is honoured before the TOFU comparison, as Boundary does.
    if request.command() == Handshakecommand::SessionCancel {
        return match authority.cancel_session(&session.id).await {
            Ok(()) => {
                info!("session canceled by its client");
                match tokio::time::timeout(
                    close_timeout,
                    ws.close(close::NORMAL, close::SESSION_CANCELED),
                )
                .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => debug!(error = %e, "closing handshake failed"),
                    Err(_) => debug!("closing handshake timed out"),
                }
                Ok(None)
            }
            Err(e) => Err(refuse(
                close_timeout,
                ws,
                close::INTERNAL_ERROR,
                close::UNABLE_TO_CANCEL,
                e,
            )
            .await),
        };
    }
    match &session.tofu {
        Some(pinned) if *pinned != tofu => {
            return Err(refuse(
                close_timeout,
                ws,
                close::POLICY_VIOLATION,
                close::TOFU_NOT_ALLOWED,
                "tofu token mismatch",
            )
            .await);
        }
        Some(_) => {}
        None if session.status != SessionStatus::Pending => {
            let cause = format!("session is {} without a pinned tofu token", session.status);
            return Err(refuse(
                close_timeout,
                ws,
                close::INTERNAL_ERROR,
                close::REFUSING_TO_ACTIVATE,
                cause,
            )
            .await);
        }
        None => match authority.activate_session(&session.id, &tofu).await {
            Ok(()) => info!("session activated"),
            Err(e @ AuthorityError::TofuMismatch(_)) => {
                return Err(refuse(
                    close_timeout,
                    ws,
                    close::POLICY_VIOLATION,
                    close::TOFU_NOT_ALLOWED,
                    e,
                )
                .await);
            }
            Err(e) => {
                return Err(refuse(
                    close_timeout,
                    ws,
                    close::INTERNAL_ERROR,
                    close::UNABLE_TO_ACTIVATE,
                    e,
                )
                .await)
            }
        },
    }
    let authorized = match authority
        .authorize_connection(&session.id, &shared.config.worker_id)
        .await
    {
        Ok(authorized) => authorized,
        Err(e) => {
            return Err(refuse(
                close_timeout,
                ws,
                close::INTERNAL_ERROR,
                close::UNABLE_TO_AUTHORIZE,
                e,
            )
            .await)
        }
    };
    let result = HandshakeResult {
        expiration: Some(session.expiration.into()),
        connection_limit: authorized.connection_limit,
        connections_left: authorized.connections_left,
    };
    if let Err(e) = ws.send_message(&result.encode_to_vec()).await {
        let error = refuse(
            close_timeout,
            ws,
            close::PROTOCOL_ERROR,
            close::UNABLE_TO_SEND_HANDSHAKE_RESULT,
            e,
        )
        .await;
        let bytes = ConnectionBytes {
            connection_id: authorized.connection_id,
            bytes_up: 0,
            bytes_down: 0,
        };
        authority
            .connection_closed(bytes, ClosedReason::NetworkError, None)
            .await?;
        return Err(error);
    }
    Ok(Some(authorized.connection_id))
}

/// How a proxied connection ended.
struct Proxied {
    reason: ClosedReason,
    /// Its addresses, when it ended before it was reported connected.
    unreported: Option<ConnectedInfo>,
    result: Result<(), WorkerError>,
}

impl Proxied {
    /// Ended before it reached its endpoint.
    fn unconnected(reason: ClosedReason, error: WorkerError) -> Self {
        Self {
            reason,
            unreported: None,
            result: Err(error),
        }
    }
}

/// From an authorized connection to its end.
async fn proxy<A: SessionAuthority>(
    shared: &Shared<A>,
    ws: &mut ClientWs,
    session: &WorkerSession,
    connection_id: &str,
    client: SocketAddr,
    counts: &Arc<ByteCounts>,
    live: &LiveConnection,
) -> Proxied {
    let config = &shared.config;
    let Some(address) = endpoint_address(&session.endpoint) else {
        let cause = format!("endpoint {:?} is not tcp://host:port", session.endpoint);
        let e = refuse(
            config.close_timeout,
            ws,
            close::PROTOCOL_ERROR,
            close::UNABLE_TO_PARSE_ENDPOINT,
            cause,
        )
        .await;
        return Proxied::unconnected(ClosedReason::SystemError, e);
    };
    let dial_started = Instant::now();
    let dialed = phase(Phase::EndpointDial, config.dial_timeout, async {
        TcpStream::connect(address)
            .await
            .map_err(|source| WorkerError::Endpoint {
                endpoint: session.endpoint.clone(),
                source,
            })
    })
    .await;
    let endpoint = match dialed {
        Ok(endpoint) => {
            config.metrics.dialed(dial_started.elapsed());
            endpoint
        }
        Err(e) => {
            let e = refuse(
                config.close_timeout,
                ws,
                close::PROXY_SETUP_ERROR,
                close::UNABLE_TO_SETUP_PROXYING,
                e,
            )
            .await;
            return Proxied::unconnected(ClosedReason::NetworkError, e);
        }
    };
    if let Err(e) = tune_tcp(&endpoint) {
        debug!(error = %e, "could not tune endpoint socket");
    }
    let endpoint_addr = match endpoint.peer_addr() {
        Ok(addr) => addr,
        Err(cause) => {
            let e = refuse(
                config.close_timeout,
                ws,
                close::INTERNAL_ERROR,
                close::UNABLE_TO_ESTABLISH_PROXY,
                cause,
            )
            .await;
            return Proxied::unconnected(ClosedReason::SystemError, e);
        }
    };
    // Reported while the bytes already flow, so the report's round trip to the authority is
    // not part of the connection's setup, and only once the connection has run for
    // `connected_report_delay` (else the close carries it); the close is reported after it.
    let mut unreported = Some(ConnectedInfo {
        client,
        endpoint: endpoint_addr,
    });
    // Boxed and dropped once done, so their state does not stay in the connection's task.
    let mut report_at = Some(Box::pin(tokio::time::sleep(config.connected_report_delay)));
    let mut report = None;
    debug!("proxying");
    let mut endpoint = Counted::new(endpoint, Side::Endpoint, counts.clone());
    let cut = {
        let spliced = splice(ws, &mut endpoint);
        let expires = tokio::time::sleep(shared.until(session.expiration));
        tokio::pin!(spliced, expires);
        loop {
            break tokio::select! {
                Some(()) = OptionFuture::from(report_at.as_mut()), if report_at.is_some() => {
                    report_at = None;
                    if let Some(info) = unreported.take() {
                        report = Some(Box::pin(shared.authority.connection_connected(connection_id, info)));
                    }
                    continue;
                }
                Some(done) = OptionFuture::from(report.as_mut()), if report.is_some() => {
                    report = None;
                    match done {
                        Ok(()) => continue,
                        Err(e) => {
                            info!(error = %e, "the authority refused the connection as connected");
                            Ok((ClosedReason::SystemError, close::INTERNAL_ERROR, close::UNABLE_TO_ESTABLISH_PROXY))
                        }
                    }
                }
                copied = &mut spliced => Err(copied),
                () = &mut expires => Ok((ClosedReason::TimedOut, close::NORMAL, close::DONE)),
                () = live.canceled() => Ok((ClosedReason::Canceled, close::NORMAL, close::SESSION_CANCELED)),
                () = live.cut() => Ok((ClosedReason::SystemError, close::NORMAL, close::DONE)),
                () = shared.shutdown.cancelled() => Ok((ClosedReason::SystemError, close::NORMAL, close::DONE)),
            };
        }
    };
    if let Some(report) = report {
        if let Err(e) = report.await {
            info!(error = %e, "the authority refused the connection as connected");
        }
    }
    let (reason, result) = match cut {
        Err(Ok(_)) => {
            // Both directions ended with a closing handshake; finish TLS politely.
            if tokio::time::timeout(config.close_timeout, ws.shutdown())
                .await
                .is_err()
            {
                debug!("TLS shutdown timed out");
            }
            (ClosedReason::ClosedByEndUser, Ok(()))
        }
        Err(Err(e)) => {
            // One side ended abnormally (a reset, EOF without a WebSocket Close, a TLS
            // error): the other side gets a reset, not a FIN, so it can tell.
            let reset = match e.end {
                End::A => {
                    info!(error = %e, "client side ended abnormally; resetting the endpoint connection");
                    reset_on_close(endpoint.get_ref())
                }
                End::B => {
                    info!(error = %e, "endpoint connection ended abnormally; resetting the client's");
                    reset_on_close(ws.get_ref().get_ref())
                }
            };
            if let Err(e) = reset {
                debug!(error = %e, "could not arrange the reset");
            }
            (ClosedReason::NetworkError, Ok(()))
        }
        Ok((reason, code, close_reason)) => {
            info!(%reason, "cutting connection");
            match tokio::time::timeout(config.close_timeout, ws.close(code, close_reason)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(error = %e, "closing handshake failed"),
                Err(_) => debug!("closing handshake timed out"),
            }
            (reason, Ok(()))
        }
    };
    Proxied {
        reason,
        unreported,
        result,
    }
}

/// `tcp://host:port` -> `host:port` (brackets kept for IPv6, as `TcpStream::connect` wants).
fn endpoint_address(endpoint: &str) -> Option<&str> {
    let address = endpoint.strip_prefix("tcp://")?.trim_end_matches('/');
    let (host, port) = address.rsplit_once(':')?;
    let valid = !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0);
    valid.then_some(address)
}

#[cfg(test)]
mod tests {
    use super::endpoint_address;

    #[test]
    fn endpoints_parse_only_as_tcp_host_port() {
        assert_eq!(endpoint_address("tcp://127.0.0.1:22"), Some("127.0.0.1:22"));
        assert_eq!(
            endpoint_address("tcp://db.internal:5432/"),
            Some("db.internal:5432")
        );
        assert_eq!(endpoint_address("tcp://[::1]:22"), Some("[::1]:22"));
        for bad in [
            "",
            "127.0.0.1:22",
            "tcp://host",
            "tcp://:22",
            "tcp://h:0",
            "tcp://h:99999",
            "udp://h:1",
        ] {
            assert_eq!(endpoint_address(bad), None, "{bad}");
        }
    }
}
