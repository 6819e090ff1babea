//! Close reasons that only appear when the session authority refuses or fails: a wrapper
//! around the real session store fails the one call each test names.

#![allow(clippy::unwrap_used)] // a test says "this must hold" with unwrap

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use postern_authority::{
    AuthorityError, AuthorizedConnection, ClosedReason, ConnectedInfo, ConnectionBytes,
    SessionAuthority, SessionStatus, WorkerSession,
};
use postern_controller::sessions::SessionStore;
use postern_wire::pb::proxy::{ClientHandshake, Handshakecommand};
use postern_wire::TofuToken;
use postern_ws::{self as ws, CloseFrame, WsError};
use prost::Message;
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Activate,
    Cancel,
    Connected,
    /// Lookup reports the session active without a pinned token.
    ActiveWithoutTofu,
}

/// The real store, failing the call named by `fault`.
struct Faulty {
    store: SessionStore,
    fault: Mutex<Fault>,
}

impl Faulty {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }

    fn failed(&self) -> AuthorityError {
        AuthorityError::Unavailable(format!("injected {:?} failure", self.fault()))
    }
}

impl SessionAuthority for Faulty {
    fn lookup_session(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<WorkerSession>, AuthorityError>> + Send {
        let fault = self.fault();
        let looked_up = self.store.lookup_session(id);
        async move {
            let mut session = looked_up.await?;
            if fault == Fault::ActiveWithoutTofu {
                if let Some(s) = session.as_mut() {
                    s.status = SessionStatus::Active;
                }
            }
            Ok(session)
        }
    }

    async fn activate_session(&self, id: &str, tofu: &TofuToken) -> Result<(), AuthorityError> {
        if self.fault() == Fault::Activate {
            return Err(self.failed());
        }
        self.store.activate_session(id, tofu).await
    }

    async fn cancel_session(&self, id: &str) -> Result<(), AuthorityError> {
        if self.fault() == Fault::Cancel {
            return Err(self.failed());
        }
        self.store.cancel_session(id).await
    }

    async fn authorize_connection(
        &self,
        id: &str,
        worker: &str,
    ) -> Result<AuthorizedConnection, AuthorityError> {
        self.store.authorize_connection(id, worker).await
    }

    async fn connection_connected(
        &self,
        id: &str,
        info: ConnectedInfo,
    ) -> Result<(), AuthorityError> {
        if self.fault() == Fault::Connected {
            return Err(self.failed());
        }
        self.store.connection_connected(id, info).await
    }

    async fn connection_progress(
        &self,
        progress: Vec<ConnectionBytes>,
    ) -> Result<(), AuthorityError> {
        self.store.connection_progress(progress).await
    }

    async fn connection_closed(
        &self,
        bytes: ConnectionBytes,
        reason: ClosedReason,
        connected: Option<ConnectedInfo>,
    ) -> Result<(), AuthorityError> {
        self.store.connection_closed(bytes, reason, connected).await
    }

    fn events(&self) -> tokio::sync::broadcast::Receiver<postern_authority::AuthorityEvent> {
        self.store.events()
    }
}

/// One handshake against a worker whose authority fails as told; returns the close frame.
async fn close_for(fault: Fault, command: Handshakecommand) -> (CloseFrame, SessionStore, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = SessionStore::new();
    let authority = Arc::new(Faulty {
        store: store.clone(),
        fault: Mutex::new(Fault::None),
    });
    let shutdown = CancellationToken::new();
    let _guard = shutdown.clone().drop_guard();
    tokio::spawn(postern_worker::serve(
        listener,
        authority.clone(),
        Default::default(),
        shutdown,
    ));
    let endpoint = echo_endpoint().await;
    let request = new_session(
        &format!("tcp://{endpoint}"),
        &addr.to_string(),
        -1,
        Duration::from_secs(3600),
    );
    let auth = store.authorize_session(request).await.unwrap();
    *authority.fault.lock().unwrap() = fault;

    let data = postern_wire::token::decode(&auth.authorization_token).unwrap();
    let creds = postern_tls::SessionCredentials::from_parts(
        &data.session_id,
        &data.certificate,
        &data.private_key,
    )
    .unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(postern_tls::client_config(&creds).unwrap())
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    let mut ws = within("the upgrade", ws::connect(tls, &addr.to_string()))
        .await
        .unwrap();
    let hello = ClientHandshake {
        tofu_token: TofuToken::generate().expose().into(),
        command: command.into(),
    };
    ws.send_message(&hello.encode_to_vec()).await.unwrap();
    // A HandshakeResult may come first (the failure is after authorization); the close follows.
    for _ in 0..2 {
        match within("the worker's answer", ws.recv_message(4096)).await {
            Ok(_) => continue,
            Err(WsError::Closed(frame)) => return (frame, store, auth.session.id),
            Err(e) => panic!("expected a close, got {e}"),
        }
    }
    panic!("no close frame after the handshake result");
}

fn frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authority_failures_close_with_boundarys_reasons() {
    let (close, _, _) = close_for(Fault::Activate, Handshakecommand::Unspecified).await;
    assert_eq!(close, frame(1011, "unable to activate session"));
    let (close, _, _) = close_for(Fault::ActiveWithoutTofu, Handshakecommand::Unspecified).await;
    assert_eq!(close, frame(1011, "refusing to activate session"));
    let (close, _, _) = close_for(Fault::Cancel, Handshakecommand::SessionCancel).await;
    assert_eq!(close, frame(1011, "unable to cancel session"));

    let (close, store, id) = close_for(Fault::Connected, Handshakecommand::Unspecified).await;
    assert_eq!(close, frame(1011, "unable to establish proxy"));
    // The authorized connection is still reported closed, so the session is not left with a
    // phantom open connection.
    let conn = eventually("the connection to close", || {
        stored_session(&store, &id)
            .connections
            .first()
            .filter(|c| c.closed_reason.is_some())
            .cloned()
    })
    .await;
    assert_eq!(conn.closed_reason, Some(ClosedReason::SystemError));
}
