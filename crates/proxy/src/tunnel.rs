//! One tunnel to the worker: TCP -> TLS 1.3 with the session certificate -> WebSocket
//! upgrade -> protobuf handshake. What comes out is a byte stream to the endpoint.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use postern_io::tune_tcp;
use postern_tls::TlsStream;
use postern_wire::pb::proxy::{ClientHandshake, HandshakeResult, Handshakecommand};
use postern_wire::TofuToken;
use postern_ws::{self as ws, close, Purpose, WsError, WsStream};
use prost::Message;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use crate::error::ProxyError;
use crate::SessionOver;

pub(crate) type WorkerWs = WsStream<TlsStream>;

/// Largest HandshakeResult accepted; a real one is about 20 bytes.
const MAX_RESULT_MESSAGE: usize = 4 * 1024;

/// Everything needed to open tunnels for one session.
pub(crate) struct Dialer {
    pub(crate) worker_address: String,
    pub(crate) server_name: ServerName<'static>,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) tofu: TofuToken,
    pub(crate) setup_timeout: Duration,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("worker_address", &self.worker_address)
            .field("server_name", &self.server_name)
            .field("setup_timeout", &self.setup_timeout)
            .finish_non_exhaustive()
    }
}

/// (`map`, not an async fn or block: those would hold `fut` twice, as the argument and
/// inside the timeout.)
fn phase<T>(
    phase: &'static str,
    after: Duration,
    fut: impl Future<Output = Result<T, ProxyError>>,
) -> impl Future<Output = Result<T, ProxyError>> {
    let timed = tokio::time::timeout(after, fut);
    timed.map(move |done| done.map_err(|_| ProxyError::Timeout { phase, after })?)
}

impl Dialer {
    pub(crate) fn new(
        worker_address: &str,
        tls: Arc<rustls::ClientConfig>,
        setup_timeout: Duration,
    ) -> Result<Self, ProxyError> {
        Ok(Self {
            worker_address: worker_address.to_owned(),
            server_name: postern_tls::worker_server_name(worker_address)?,
            tls,
            tofu: TofuToken::generate(),
            setup_timeout,
        })
    }

    /// TCP, TLS and the WebSocket upgrade for `purpose`, each under the setup deadline.
    async fn open(&self, purpose: Purpose) -> Result<WorkerWs, ProxyError> {
        let after = self.setup_timeout;
        let tcp = phase("connecting to the worker", after, async {
            TcpStream::connect(&self.worker_address)
                .await
                .map_err(|source| ProxyError::WorkerUnreachable {
                    address: self.worker_address.clone(),
                    source,
                })
        })
        .await?;
        if let Err(e) = tune_tcp(&tcp) {
            tracing::debug!(error = %e, "could not tune worker socket");
        }
        let tls = phase("TLS handshake with the worker", after, async {
            postern_tls::connect(self.tls.clone(), self.server_name.clone(), tcp)
                .await
                .map_err(|source| ProxyError::WorkerTls {
                    address: self.worker_address.clone(),
                    source,
                })
        })
        .await?;
        phase("WebSocket upgrade with the worker", after, async {
            Ok(ws::connect_for(tls, &self.worker_address, purpose).await?)
        })
        .await
    }

    fn handshake(&self, command: Handshakecommand) -> Vec<u8> {
        ClientHandshake {
            tofu_token: self.tofu.expose().to_owned(),
            command: command.into(),
        }
        .encode_to_vec()
    }

    /// Opens a tunnel for one proxied connection and returns it with the worker's result.
    pub(crate) async fn connect(&self) -> Result<(WorkerWs, HandshakeResult), ProxyError> {
        let mut ws = self.open(Purpose::Proxy).await?;
        let result = phase(
            "protobuf handshake with the worker",
            self.setup_timeout,
            async {
                ws.send_message(&self.handshake(Handshakecommand::Unspecified))
                    .await?;
                match ws.recv_message(MAX_RESULT_MESSAGE).await {
                    Ok(message) => Ok(HandshakeResult::decode(message.as_slice())?),
                    Err(WsError::Closed(frame)) if frame.reason == close::TOFU_NOT_ALLOWED => {
                        Err(ProxyError::SessionInUse)
                    }
                    Err(WsError::Closed(frame)) => Err(ProxyError::Refused {
                        code: frame.code,
                        reason: frame.reason,
                    }),
                    Err(e) => Err(e.into()),
                }
            },
        )
        .await?;
        Ok((ws, result))
    }

    /// Asks the worker to cancel the session (the client is going away early).
    pub(crate) async fn cancel_session(&self) -> Result<(), ProxyError> {
        let mut ws = self.open(Purpose::Proxy).await?;
        phase(
            "session cancel with the worker",
            self.setup_timeout,
            async {
                ws.send_message(&self.handshake(Handshakecommand::SessionCancel))
                    .await?;
                match ws.recv_message(MAX_RESULT_MESSAGE).await {
                    Err(WsError::Closed(frame))
                        if frame.code == close::NORMAL
                            && frame.reason == close::SESSION_CANCELED =>
                    {
                        Ok(())
                    }
                    Err(WsError::Closed(frame)) => Err(ProxyError::Refused {
                        code: frame.code,
                        reason: frame.reason,
                    }),
                    Err(e) => Err(e.into()),
                    Ok(_) => Err(ProxyError::Refused {
                        code: 0,
                        reason: "worker answered a cancel with data".to_owned(),
                    }),
                }
            },
        )
        .await
    }
}

impl Dialer {
    /// Watches the session on the worker ([`Purpose::Watch`]) until the worker says it was
    /// canceled or refuses it, watching again whenever the worker ends a watch for its own
    /// reasons (expiry, drain) or the link breaks. Never completes against a worker without
    /// watches (a Boundary worker answers 404).
    pub(crate) async fn watch(&self) -> SessionOver {
        const FIRST_RETRY: Duration = Duration::from_millis(250);
        const MAX_RETRY: Duration = Duration::from_secs(10);
        let mut retry = FIRST_RETRY;
        loop {
            match self.open(Purpose::Watch).await {
                Ok(mut ws) => {
                    retry = FIRST_RETRY;
                    match ws.recv_message(0).await {
                        Err(WsError::Closed(frame)) if frame.reason == close::SESSION_CANCELED => {
                            return SessionOver::Canceled
                        }
                        ended => tracing::debug!(?ended, "the worker ended the session watch"),
                    }
                }
                Err(ProxyError::WorkerWebSocket(WsError::UpgradeRefused {
                    status: 404, ..
                })) => {
                    tracing::debug!("the worker offers no session watch");
                    return std::future::pending().await;
                }
                Err(e) if e.session_unusable() => return SessionOver::Refused(e.to_string()),
                Err(e) => tracing::debug!(error = %e, "could not watch the session"),
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(MAX_RETRY);
        }
    }
}
