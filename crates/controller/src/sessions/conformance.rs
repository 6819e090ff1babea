//! The session lifecycle over any [`SessionRecords`] backend, as one suite each backend runs
//! against itself: driven as a worker drives it (through `SessionAuthority`) and as the API
//! does (`authorize_session`, `cancel`, `reap`): states and their history, TOFU, connection
//! limits, expiry, byte counts, close reasons, cancellations, and the JSON of sessions and
//! authorizations. Each case is a public async function over an [`Open`];
//! [`session_records_conformance!`](crate::session_records_conformance) makes one test of
//! each for a backend.
//!
//! Built with the `conformance` feature (the crate's own tests turn it on).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed case
#![allow(missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_authority::{
    AuthorityError, AuthorityEvent, ClosedReason, ConnectedInfo, ConnectionBytes, ManualClock,
    SessionAuthority, SessionStatus,
};
use postern_tls::SessionCredentials;
use postern_wire::TofuToken;
use tokio::sync::broadcast::error::TryRecvError;

use super::{
    ConnectionStatus, NewSession, Scope, Session, SessionError, SessionQuery, SessionRecords,
    SessionStore, DEFAULT_MAX_DURATION, UNLIMITED_CONNECTIONS,
};

/// How a suite gets an empty backend to test.
#[async_trait::async_trait]
pub trait Open: Sync {
    async fn open(&self) -> Result<Arc<dyn SessionRecords>, SessionError>;
}

const WORKER: &str = "w_1234567890";

async fn store_with_clock(o: &dyn Open) -> (SessionStore, ManualClock) {
    let clock = ManualClock::starting_at(SystemTime::now());
    let records = o.open().await.unwrap();
    (SessionStore::with_records(records, clock.clock()), clock)
}

/// A new pending session's id.
async fn authorized_id(store: &SessionStore, connection_limit: i32) -> String {
    store
        .authorize_session(new_session(connection_limit))
        .await
        .unwrap()
        .session
        .id
}

/// The ids `list` gives, in its order.
async fn listed_ids(store: &SessionStore) -> Vec<String> {
    let every = SessionQuery {
        include_terminated: true,
        ..SessionQuery::default()
    };
    let sessions = store.list(&every).await.unwrap();
    sessions.into_iter().map(|s| s.id).collect()
}

fn new_session(connection_limit: i32) -> NewSession {
    let workers = vec!["127.0.0.1:9202".into(), "worker.example.com:9202".into()];
    dev_target_session(
        "tcp://127.0.0.1:22",
        22,
        workers,
        connection_limit,
        DEFAULT_MAX_DURATION,
    )
}

/// A session request for `postern dev`'s target ids (project, host, host set, user, token),
/// to `endpoint` through `worker_addresses`: the fixture of this suite, the end-to-end tests
/// and the data-path bench.
pub fn dev_target_session(
    endpoint: &str,
    endpoint_port: u32,
    worker_addresses: Vec<String>,
    connection_limit: i32,
    max_duration: Duration,
) -> NewSession {
    NewSession {
        target_id: "ttcp_1234567890".into(),
        scope: Scope {
            id: "p_1234567890".into(),
            scope_type: "project".into(),
            name: "Generated project scope".into(),
            description: String::new(),
            parent_scope_id: "o_1234567890".into(),
        },
        user_id: "u_1234567890".into(),
        auth_token_id: "at_1234567890".into(),
        host_id: "hst_1234567890".into(),
        host_set_id: "hsst_1234567890".into(),
        endpoint: endpoint.into(),
        endpoint_port,
        connection_limit,
        max_duration,
        worker_addresses,
        default_client_port: 0,
    }
}

fn connected_info() -> ConnectedInfo {
    ConnectedInfo {
        client: "127.0.0.1:50000".parse().unwrap(),
        endpoint: "127.0.0.1:22".parse().unwrap(),
    }
}

fn bytes(connection_id: &str, up: u64, down: u64) -> ConnectionBytes {
    ConnectionBytes {
        connection_id: connection_id.into(),
        bytes_up: up,
        bytes_down: down,
    }
}

fn statuses(session: &Session) -> Vec<SessionStatus> {
    session.states.iter().map(|s| s.status).collect()
}

/// History newest first; only the current entry lacks an end time, each entry ends when the
/// next began.
fn assert_history_well_formed(session: &Session) {
    assert_eq!(session.states[0].status, session.status);
    assert!(session.states[0].end_time.is_none());
    for pair in session.states.windows(2) {
        assert_eq!(pair[1].end_time, Some(pair[0].start_time));
    }
}

/// An active session with one connection connected.
async fn active_with_connection(store: &SessionStore, limit: i32) -> (String, TofuToken, String) {
    let id = authorized_id(store, limit).await;
    let tofu = TofuToken::generate();
    store.activate_session(&id, &tofu).await.unwrap();
    let conn = store.authorize_connection(&id, WORKER).await.unwrap();
    store
        .connection_connected(&conn.connection_id, connected_info())
        .await
        .unwrap();
    (id, tofu, conn.connection_id)
}

/// Closed connections keep counting against the limit and keep their place, order and
/// figures however the store loads a session to change it (a SQL store leaves closed ones
/// out of a change), and a cancel shows them all.
pub async fn closed_connections_count_and_show_after_later_changes(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let id = authorized_id(&store, 4).await;
    store
        .activate_session(&id, &TofuToken::generate())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (n, reason) in [
        (1, ClosedReason::ClosedByEndUser),
        (2, ClosedReason::NetworkError),
    ] {
        let conn = store.authorize_connection(&id, WORKER).await.unwrap();
        store
            .connection_connected(&conn.connection_id, connected_info())
            .await
            .unwrap();
        store
            .connection_closed(bytes(&conn.connection_id, n, 10 * n), reason, None)
            .await
            .unwrap();
        ids.push(conn.connection_id);
    }
    let third = store.authorize_connection(&id, WORKER).await.unwrap();
    assert_eq!(third.connections_left, 1, "the closed ones count");
    let fourth = store.authorize_connection(&id, WORKER).await.unwrap();
    assert_eq!(fourth.connections_left, 0);
    assert_eq!(
        store.authorize_connection(&id, WORKER).await.unwrap_err(),
        AuthorityError::ConnectionLimitReached(id.clone())
    );
    store
        .connection_closed(
            bytes(&third.connection_id, 3, 30),
            ClosedReason::ClosedByEndUser,
            None,
        )
        .await
        .unwrap();
    ids.extend([third.connection_id, fourth.connection_id.clone()]);
    let canceled = store.cancel(&id, None).await.unwrap();
    for session in [canceled, store.get(&id).await.unwrap().unwrap()] {
        let shown: Vec<_> = session
            .connections
            .iter()
            .map(|c| (c.id.clone(), c.bytes_up, c.closed_reason))
            .collect();
        assert_eq!(
            shown,
            [
                (ids[0].clone(), 1, Some(ClosedReason::ClosedByEndUser)),
                (ids[1].clone(), 2, Some(ClosedReason::NetworkError)),
                (ids[2].clone(), 3, Some(ClosedReason::ClosedByEndUser)),
                (ids[3].clone(), 0, None),
            ]
        );
        assert_eq!(session.status, SessionStatus::Canceling);
    }
    store
        .connection_closed(
            bytes(&fourth.connection_id, 4, 40),
            ClosedReason::Canceled,
            None,
        )
        .await
        .unwrap();
    let ended = store.get(&id).await.unwrap().unwrap();
    assert_eq!(ended.status, SessionStatus::Terminated);
    assert_eq!(ended.connections.len(), 4);
    assert_eq!(ended.connections[3].bytes_down, 40);
}

pub async fn a_limited_session_runs_its_course_and_ends_with_connection_limit(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let auth = store.authorize_session(new_session(2)).await.unwrap();
    let id = auth.session.id.clone();
    assert!(id.starts_with("s_") && id.len() == 12, "{id}");
    assert_eq!(auth.session.version, 1);
    assert_eq!(statuses(&auth.session), [SessionStatus::Pending]);

    let looked_up = store.lookup_session(&id).await.unwrap().unwrap();
    assert_eq!(looked_up.status, SessionStatus::Pending);
    assert!(looked_up.tofu.is_none());
    assert_eq!(
        looked_up.credentials.certificate_der(),
        auth.session.certificate.as_slice()
    );
    assert_eq!(looked_up.endpoint, "tcp://127.0.0.1:22");
    assert_eq!(looked_up.connection_limit, 2);
    assert_eq!(looked_up.expiration, auth.session.expiration_time);
    assert_eq!(
        auth.session
            .expiration_time
            .duration_since(auth.session.created_time)
            .unwrap(),
        DEFAULT_MAX_DURATION
    );
    assert!(store
        .lookup_session("s_0000000000")
        .await
        .unwrap()
        .is_none());

    // A pending session admits no connection.
    let refused = store.authorize_connection(&id, WORKER).await.unwrap_err();
    assert_eq!(
        refused,
        AuthorityError::WrongState {
            id: id.clone(),
            status: SessionStatus::Pending
        }
    );

    let tofu = TofuToken::generate();
    store.activate_session(&id, &tofu).await.unwrap();
    let looked_up = store.lookup_session(&id).await.unwrap().unwrap();
    assert_eq!(looked_up.status, SessionStatus::Active);
    assert_eq!(looked_up.tofu, Some(tofu.clone()));

    let first = store.authorize_connection(&id, WORKER).await.unwrap();
    let second = store.authorize_connection(&id, WORKER).await.unwrap();
    assert!(first.connection_id.starts_with("sc_") && first.connection_id.len() == 13);
    assert_ne!(first.connection_id, second.connection_id);
    assert_eq!((first.connection_limit, first.connections_left), (2, 1));
    assert_eq!((second.connection_limit, second.connections_left), (2, 0));
    assert_eq!(
        store.authorize_connection(&id, WORKER).await.unwrap_err(),
        AuthorityError::ConnectionLimitReached(id.clone())
    );

    for conn in [&first, &second] {
        store
            .connection_connected(&conn.connection_id, connected_info())
            .await
            .unwrap();
    }
    store
        .connection_progress(vec![
            bytes(&first.connection_id, 10, 20),
            bytes("sc_unknown00", 1, 1),
            bytes(&second.connection_id, 30, 40),
        ])
        .await
        .unwrap();
    let session = store.get(&id).await.unwrap().unwrap();
    let counts: Vec<(u64, u64)> = session
        .connections
        .iter()
        .map(|c| (c.bytes_up, c.bytes_down))
        .collect();
    assert_eq!(counts, vec![(10, 20), (30, 40)]);
    assert_eq!(session.open_connections(), 2);

    store
        .connection_closed(
            bytes(&first.connection_id, 100, 200),
            ClosedReason::ClosedByEndUser,
            None,
        )
        .await
        .unwrap();
    let session = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        session.status,
        SessionStatus::Active,
        "one connection is still open"
    );

    store
        .connection_closed(
            bytes(&second.connection_id, 5, 6),
            ClosedReason::ClosedByEndUser,
            None,
        )
        .await
        .unwrap();
    let session = store.get(&id).await.unwrap().unwrap();
    assert_eq!(session.status, SessionStatus::Terminated);
    assert_eq!(
        session.termination_reason.map(|r| r.as_str()),
        Some("connection limit")
    );
    assert_eq!(
        statuses(&session),
        [
            SessionStatus::Terminated,
            SessionStatus::Active,
            SessionStatus::Pending
        ]
    );
    assert_eq!(session.version, 3);
    assert_history_well_formed(&session);
    let json = serde_json::to_value(&session).unwrap();
    assert_eq!(json["termination_reason"], "connection limit");
    assert_eq!(json["connections"][0]["bytes_up"], "100");
    assert_eq!(json["connections"][0]["bytes_down"], "200");
    assert_eq!(
        json["connections"][0]["closed_reason"],
        "closed by end-user"
    );
    assert_eq!(json["connections"][1]["client_tcp_port"], 50000);

    // Reports about a closed connection: a second close is a no-op, connected is refused.
    store
        .connection_closed(
            bytes(&second.connection_id, 9, 9),
            ClosedReason::Unknown,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().connections[1].bytes_up,
        5
    );
    assert!(matches!(
        store
            .connection_connected(&second.connection_id, connected_info())
            .await,
        Err(AuthorityError::ConnectionNotFound(_))
    ));
}

pub async fn cancel_checks_the_version_and_waits_for_the_open_connection(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let mut canceled = store.events();
    let (id, _tofu, conn) = active_with_connection(&store, UNLIMITED_CONNECTIONS).await;
    assert_eq!(store.get(&id).await.unwrap().unwrap().version, 2);

    match store.cancel(&id, Some(1)).await {
        Err(SessionError::StaleVersion {
            id: stale_id,
            expected: 1,
            current: 2,
        }) => {
            assert_eq!(stale_id, id)
        }
        other => panic!("expected a stale version, got {other:?}"),
    }
    assert_eq!(canceled.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().status,
        SessionStatus::Active
    );

    let session = store.cancel(&id, Some(2)).await.unwrap();
    assert_eq!(session.status, SessionStatus::Canceling);
    assert_eq!(session.version, 3);
    assert!(session.termination_reason.is_none());
    assert_eq!(
        canceled.try_recv(),
        Ok(AuthorityEvent::SessionCanceled(id.clone()))
    );
    assert_eq!(
        store.authorize_connection(&id, WORKER).await.unwrap_err(),
        AuthorityError::WrongState {
            id: id.clone(),
            status: SessionStatus::Canceling
        }
    );

    // Canceling again, even with a stale version, returns the session unchanged.
    let again = store.cancel(&id, Some(1)).await.unwrap();
    assert_eq!((again.status, again.version), (SessionStatus::Canceling, 3));

    store
        .connection_closed(bytes(&conn, 1, 2), ClosedReason::Canceled, None)
        .await
        .unwrap();
    let session = store.get(&id).await.unwrap().unwrap();
    assert_eq!(session.status, SessionStatus::Terminated);
    assert_eq!(
        session.termination_reason.map(|r| r.as_str()),
        Some("canceled")
    );
    assert_eq!(session.version, 4);
    assert_eq!(
        statuses(&session),
        [
            SessionStatus::Terminated,
            SessionStatus::Canceling,
            SessionStatus::Active,
            SessionStatus::Pending
        ]
    );
    assert_history_well_formed(&session);

    let unchanged = store.cancel(&id, Some(1)).await.unwrap();
    assert_eq!(unchanged.version, 4);
    assert_eq!(unchanged.states, session.states);
    assert_eq!(unchanged.updated_time, session.updated_time);
    assert!(matches!(
        store.cancel("s_nosuchsess", None).await,
        Err(SessionError::NotFound(_))
    ));
}

/// A lost worker's open connections close as `system error` with the bytes last reported; a
/// canceling session among them then ends. Other workers' connections and closed ones stay.
pub async fn a_lost_workers_connections_close_with_system_error(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let (kept, _tofu, kept_conn) = active_with_connection(&store, UNLIMITED_CONNECTIONS).await;
    let (ending, _tofu, ending_conn) = active_with_connection(&store, UNLIMITED_CONNECTIONS).await;
    store
        .connection_progress(vec![bytes(&ending_conn, 10, 20)])
        .await
        .unwrap();
    store.cancel(&ending, None).await.unwrap();
    let elsewhere = store
        .authorize_connection(&kept, "w_other00000")
        .await
        .unwrap();

    assert_eq!(store.close_worker_connections(WORKER).await.unwrap(), 2);
    let session = store.get(&kept).await.unwrap().unwrap();
    assert_eq!(session.status, SessionStatus::Active);
    let reasons: Vec<_> = session
        .connections
        .iter()
        .map(|c| (c.id.as_str(), c.closed_reason))
        .collect();
    assert!(reasons.contains(&(kept_conn.as_str(), Some(ClosedReason::SystemError))));
    assert!(reasons.contains(&(elsewhere.connection_id.as_str(), None)));
    let ended = store.get(&ending).await.unwrap().unwrap();
    assert_eq!(ended.status, SessionStatus::Terminated);
    let connection = &ended.connections[0];
    assert_eq!((connection.bytes_up, connection.bytes_down), (10, 20));
    assert_eq!(connection.closed_reason, Some(ClosedReason::SystemError));
    assert_eq!(store.close_worker_connections(WORKER).await.unwrap(), 0);
}

pub async fn session_cancel_from_a_client_ends_an_idle_session_at_once(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let mut canceled = store.events();
    let id = authorized_id(&store, 1).await;
    store.cancel_session(&id).await.unwrap();
    assert_eq!(
        canceled.try_recv(),
        Ok(AuthorityEvent::SessionCanceled(id.clone()))
    );

    let session = store.get(&id).await.unwrap().unwrap();
    assert_eq!(session.status, SessionStatus::Terminated);
    assert_eq!(
        session.termination_reason.map(|r| r.as_str()),
        Some("canceled")
    );
    assert_eq!(
        statuses(&session),
        [
            SessionStatus::Terminated,
            SessionStatus::Canceling,
            SessionStatus::Pending
        ]
    );
    assert_eq!(session.version, 3);
    assert_eq!(
        store.cancel_session("s_nosuchsess").await.unwrap_err(),
        AuthorityError::SessionNotFound("s_nosuchsess".into())
    );
}

pub async fn an_expired_session_refuses_connections_and_times_out_once_its_connection_closes(
    o: &dyn Open,
) {
    let (store, clock) = store_with_clock(o).await;
    let mut canceled = store.events();
    let (id, _tofu, conn) = active_with_connection(&store, UNLIMITED_CONNECTIONS).await;
    let idle = authorized_id(&store, UNLIMITED_CONNECTIONS).await;
    let expiration = store.get(&id).await.unwrap().unwrap().expiration_time;

    store
        .reap(expiration - Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().status,
        SessionStatus::Active
    );
    assert_eq!(
        store.get(&idle).await.unwrap().unwrap().status,
        SessionStatus::Pending
    );

    clock.set(expiration);
    assert_eq!(
        store.authorize_connection(&id, WORKER).await.unwrap_err(),
        AuthorityError::Expired(id.clone())
    );

    store.reap(expiration).await.unwrap();
    let session = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        session.status,
        SessionStatus::Canceling,
        "its connection is still open"
    );
    assert!(session.termination_reason.is_none());
    let idle_session = store.get(&idle).await.unwrap().unwrap();
    assert_eq!(idle_session.status, SessionStatus::Terminated);
    assert_eq!(
        idle_session.termination_reason.map(|r| r.as_str()),
        Some("timed out")
    );
    // Expiry is the worker's to enforce; nothing is pushed.
    assert_eq!(canceled.try_recv(), Err(TryRecvError::Empty));

    store
        .connection_closed(bytes(&conn, 3, 4), ClosedReason::TimedOut, None)
        .await
        .unwrap();
    let session = store.get(&id).await.unwrap().unwrap();
    assert_eq!(session.status, SessionStatus::Terminated);
    assert_eq!(
        session.termination_reason.map(|r| r.as_str()),
        Some("timed out")
    );
    assert_history_well_formed(&session);
    let version = session.version;
    store
        .reap(expiration + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.get(&id).await.unwrap().unwrap().version, version);
}

/// A worker that never reports (gone, and no controller noticed) does not keep an expired
/// session open: the reaper closes its connections once the grace has passed.
pub async fn an_expired_session_ends_even_if_its_worker_never_reports(o: &dyn Open) {
    let (store, _clock) = store_with_clock(o).await;
    let (id, _tofu, conn) = active_with_connection(&store, UNLIMITED_CONNECTIONS).await;
    let expiration = store.get(&id).await.unwrap().unwrap().expiration_time;
    store.reap(expiration).await.unwrap();
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().status,
        SessionStatus::Canceling
    );
    store
        .reap(expiration + super::store::UNREPORTED_EXPIRY_GRACE)
        .await
        .unwrap();
    let session = store.get(&id).await.unwrap().unwrap();
    assert_eq!(session.status, SessionStatus::Terminated);
    assert_eq!(
        session.termination_reason.map(|r| r.as_str()),
        Some("timed out")
    );
    let connection = session.connections.iter().find(|c| c.id == conn).unwrap();
    assert_eq!(connection.closed_reason, Some(ClosedReason::TimedOut));
    assert_history_well_formed(&session);
}

pub async fn a_second_client_with_another_tofu_token_is_refused(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let id = authorized_id(&store, UNLIMITED_CONNECTIONS).await;
    let first = TofuToken::parse("aaaaaaaaaaaaaaaaaaaa").unwrap();
    let second = TofuToken::parse("aaaaaaaaaaaaaaaaaaab").unwrap();
    store.activate_session(&id, &first).await.unwrap();
    store.activate_session(&id, &first).await.unwrap();
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().version,
        2,
        "re-activation changes nothing"
    );
    assert_eq!(
        store.activate_session(&id, &second).await.unwrap_err(),
        AuthorityError::TofuMismatch(id.clone())
    );
    store.cancel(&id, None).await.unwrap();
    assert_eq!(
        store.activate_session(&id, &first).await.unwrap_err(),
        AuthorityError::WrongState {
            id: id.clone(),
            status: SessionStatus::Terminated
        }
    );
    assert_eq!(
        store
            .activate_session("s_nosuchsess", &first)
            .await
            .unwrap_err(),
        AuthorityError::SessionNotFound("s_nosuchsess".into())
    );
}

pub async fn the_token_carries_the_session_and_a_usable_key(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let mut req = new_session(UNLIMITED_CONNECTIONS);
    req.default_client_port = 2222;
    let auth = store.authorize_session(req).await.unwrap();
    let data = postern_wire::token::decode(&auth.authorization_token).unwrap();

    assert_eq!(data.session_id, auth.session.id);
    assert_eq!(data.target_id, "ttcp_1234567890");
    assert_eq!(data.certificate, auth.session.certificate);
    assert_eq!(data.private_key.len(), 64);
    let creds =
        SessionCredentials::from_parts(&data.session_id, &data.certificate, &data.private_key)
            .unwrap();
    assert_eq!(creds.certificate_der(), auth.session.certificate.as_slice());
    assert_eq!(data.r#type, "tcp");
    assert_eq!(data.connection_limit, -1);
    assert_eq!(data.endpoint_port, 22);
    assert_eq!(data.endpoint, "tcp://127.0.0.1:22");
    assert_eq!(data.host_id, "hst_1234567890");
    assert_eq!(data.default_client_port, 2222);
    let workers: Vec<_> = data
        .worker_info
        .iter()
        .map(|w| w.address.as_str())
        .collect();
    assert_eq!(workers, ["127.0.0.1:9202", "worker.example.com:9202"]);
    let scope = data.scope.unwrap();
    assert_eq!(
        (scope.id.as_str(), scope.r#type.as_str()),
        ("p_1234567890", "project")
    );
    assert_eq!(scope.parent_scope_id, "o_1234567890");
    let expiration = data.expiration.unwrap();
    let want = auth
        .session
        .expiration_time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    assert_eq!(expiration.seconds, want.as_secs() as i64);
    assert_eq!(expiration.nanos, want.subsec_nanos() as i32);
    assert!(data.created_time.is_some());
    // The certificate ends with the session, to the second.
    let not_after = creds
        .not_after()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    assert_eq!(not_after.as_secs(), want.as_secs());
}

pub async fn session_json_has_boundarys_field_names(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let session = store
        .authorize_session(new_session(1))
        .await
        .unwrap()
        .session;
    let json = serde_json::to_value(&session).unwrap();
    let keys: BTreeSet<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let want: BTreeSet<&str> = [
        "id",
        "target_id",
        "scope",
        "created_time",
        "updated_time",
        "version",
        "type",
        "expiration_time",
        "auth_token_id",
        "user_id",
        "host_set_id",
        "host_id",
        "scope_id",
        "endpoint",
        "status",
        "states",
        "worker_info",
        "certificate",
    ]
    .into_iter()
    .collect();
    assert_eq!(
        keys, want,
        "termination_reason and connections appear once set"
    );

    assert_eq!(json["id"], session.id.as_str());
    assert_eq!(json["type"], "tcp");
    assert_eq!(json["status"], "pending");
    assert_eq!(json["version"], 1);
    assert_eq!(json["scope_id"], "p_1234567890");
    assert_eq!(
        json["scope"],
        serde_json::json!({
            "id": "p_1234567890", "type": "project", "name": "Generated project scope",
            "parent_scope_id": "o_1234567890"
        })
    );
    assert_eq!(
        json["worker_info"],
        serde_json::json!([{"address": "127.0.0.1:9202"}, {"address": "worker.example.com:9202"}])
    );
    let state = json["states"][0].as_object().unwrap();
    assert_eq!(state.keys().collect::<Vec<_>>(), ["start_time", "status"]);
    for time in [
        &json["created_time"],
        &json["updated_time"],
        &json["expiration_time"],
        &json["states"][0]["start_time"],
    ] {
        let text = time.as_str().unwrap();
        assert!(text.ends_with('Z'), "{text}");
        chrono::DateTime::parse_from_rfc3339(text).unwrap();
    }
    assert_eq!(
        base64_decode(json["certificate"].as_str().unwrap()),
        session.certificate
    );
    for secret in [
        "private_key",
        "tofu",
        "credentials",
        "connection_limit",
        "authorized_actions",
    ] {
        assert!(json.get(secret).is_none(), "{secret}");
    }
}

pub async fn authorize_session_response_has_boundarys_field_names(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let auth = store.authorize_session(new_session(1)).await.unwrap();
    let json = serde_json::to_value(&auth).unwrap();
    let keys: BTreeSet<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let want: BTreeSet<&str> = [
        "session_id",
        "target_id",
        "scope",
        "created_time",
        "user_id",
        "host_set_id",
        "host_id",
        "type",
        "authorization_token",
        "connection_limit",
        "endpoint",
        "endpoint_port",
        "expiration",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, want);
    assert_eq!(
        json["authorization_token"],
        auth.authorization_token.as_str()
    );
    assert_eq!(json["connection_limit"], 1);
    assert_eq!(json["endpoint_port"], 22);
}

pub async fn debug_shows_neither_key_nor_tofu_nor_token(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let auth = store.authorize_session(new_session(1)).await.unwrap();
    let tofu = TofuToken::generate();
    store
        .activate_session(&auth.session.id, &tofu)
        .await
        .unwrap();
    let session = store.get(&auth.session.id).await.unwrap().unwrap();
    let key = session.credentials().private_key().as_bytes().to_vec();
    let key_list = format!("{:?}", &key[..8]);
    let key_list = key_list.trim_end_matches(']');
    let key_hex: String = key[..8].iter().map(|b| format!("{b:02x}")).collect();

    for text in [
        format!("{session:?}"),
        format!("{auth:?}"),
        format!("{store:?}"),
    ] {
        assert!(!text.contains(key_list), "{text}");
        assert!(!text.contains(&key_hex), "{text}");
        assert!(!text.contains(tofu.expose()), "{text}");
        assert!(!text.contains(&auth.authorization_token), "{text}");
    }
    assert!(format!("{session:?}").contains(&session.id));
}

pub async fn list_is_newest_first(o: &dyn Open) {
    let (store, clock) = store_with_clock(o).await;
    let start = clock.now();
    let mut ids = Vec::new();
    for i in 0..3 {
        clock.set(start + Duration::from_secs(i));
        ids.push(authorized_id(&store, 1).await);
    }
    // Same instant: creation order still decides.
    ids.push(authorized_id(&store, 1).await);
    ids.reverse();
    assert_eq!(listed_ids(&store).await, ids);
}

pub async fn bad_requests_are_refused_before_anything_is_issued(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let mut req = new_session(1);
    req.worker_addresses.clear();
    assert!(matches!(
        store.authorize_session(req).await,
        Err(SessionError::NoWorkers)
    ));
    for limit in [0, -2] {
        assert!(matches!(
            store.authorize_session(new_session(limit)).await,
            Err(SessionError::InvalidConnectionLimit(l)) if l == limit
        ));
    }
    let mut req = new_session(1);
    req.max_duration = Duration::ZERO;
    assert!(matches!(
        store.authorize_session(req).await,
        Err(SessionError::InvalidMaxDuration(_))
    ));
    assert!(store
        .list(&SessionQuery::default())
        .await
        .unwrap()
        .is_empty());
}

/// Lists select by scope, user and terminated status, resume after a session (ties in
/// creation time in insertion order; a session gone resumes at the older ones), stop at a
/// limit, and count what they select.
pub async fn lists_select_resume_and_count(o: &dyn Open) {
    let (store, clock) = store_with_clock(o).await;
    let mut other_scope = new_session(1);
    other_scope.scope.id = "p_otherscope".into();
    let mut other_user = new_session(1);
    other_user.user_id = "u_otheruser0".into();
    // Three at one instant, then three a second later.
    let mut ids = Vec::new();
    for request in [new_session(1), other_scope, other_user] {
        ids.push(store.authorize_session(request).await.unwrap().session.id);
    }
    clock.advance(Duration::from_secs(1));
    for _ in 0..3 {
        ids.push(authorized_id(&store, 1).await);
    }
    store.cancel(&ids[5], None).await.unwrap();
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let list = |query: SessionQuery| {
        let store = store.clone();
        async move {
            let sessions = store.list(&query).await.unwrap();
            let count = store.count(&query).await.unwrap();
            (
                sessions.into_iter().map(|s| s.id).collect::<Vec<_>>(),
                count,
            )
        }
    };
    let all = SessionQuery {
        include_terminated: true,
        ..SessionQuery::default()
    };
    assert_eq!(list(all.clone()).await, (newest_first.clone(), 6));
    let live = list(SessionQuery::default()).await;
    assert_eq!(live, (newest_first[1..].to_vec(), 5));
    let in_project = SessionQuery {
        scope_ids: Some(vec!["p_1234567890".into(), "p_elsewhere0".into()]),
        user_id: Some("u_1234567890".into()),
        include_terminated: true,
        ..SessionQuery::default()
    };
    let expected: Vec<String> = [5, 4, 3, 0].iter().map(|&i| ids[i].clone()).collect();
    assert_eq!(list(in_project.clone()).await, (expected.clone(), 4));

    // Walk two at a time, resuming after the last one seen.
    let mut walked = Vec::new();
    let mut after = None;
    for _ in 0..5 {
        let query = SessionQuery {
            after: after.clone(),
            limit: Some(2),
            ..all.clone()
        };
        let page = store.list(&query).await.unwrap();
        assert_eq!(store.count(&query).await.unwrap(), 6, "count ignores after");
        let Some(last) = page.last() else { break };
        after = Some((last.created_time, last.id.clone()));
        walked.extend(page.into_iter().map(|s| s.id));
    }
    assert_eq!(walked, newest_first);

    // After a session of the same instant: the ones inserted before it.
    let first_batch = store.get(&ids[1]).await.unwrap().unwrap();
    let after_middle = SessionQuery {
        after: Some((first_batch.created_time, ids[1].clone())),
        ..all.clone()
    };
    assert_eq!(list(after_middle).await.0, vec![ids[0].clone()]);
    // After a session that is gone: everything created strictly before its time.
    let newer = store.get(&ids[3]).await.unwrap().unwrap();
    let after_gone = SessionQuery {
        after: Some((newer.created_time, "s_gone000000".into())),
        ..all.clone()
    };
    assert_eq!(
        list(after_gone).await.0,
        ids[..3].iter().rev().cloned().collect::<Vec<_>>()
    );
}

pub async fn terminated_sessions_are_deleted_after_their_retention(o: &dyn Open) {
    let (store, clock) = store_with_clock(o).await;
    let start = clock.now();
    let retention = Duration::from_secs(3600);
    let (old, _tofu, old_conn) = active_with_connection(&store, UNLIMITED_CONNECTIONS).await;
    store
        .connection_closed(bytes(&old_conn, 1, 2), ClosedReason::Canceled, None)
        .await
        .unwrap();
    store.cancel_session(&old).await.unwrap();
    clock.set(start + Duration::from_secs(600));
    let recent = authorized_id(&store, 1).await;
    store.cancel_session(&recent).await.unwrap();
    let live = authorized_id(&store, 1).await;

    clock.set(start + retention);
    assert_eq!(store.delete_terminated(retention).await.unwrap(), 0);
    clock.set(start + retention + Duration::from_secs(1));
    assert_eq!(store.delete_terminated(retention).await.unwrap(), 1);
    assert!(store.get(&old).await.unwrap().is_none());
    assert_eq!(
        store
            .connection_closed(bytes(&old_conn, 1, 2), ClosedReason::Canceled, None)
            .await
            .unwrap_err(),
        AuthorityError::ConnectionNotFound(old_conn.clone())
    );
    assert_eq!(listed_ids(&store).await, [live.clone(), recent.clone()]);

    // Live sessions stay however old they are.
    clock.set(start + Duration::from_secs(365 * 24 * 3600));
    assert_eq!(store.delete_terminated(retention).await.unwrap(), 1);
    assert!(store.get(&live).await.unwrap().is_some());
}

pub async fn unknown_connections_are_reported_as_such(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let missing = "sc_0000000000".to_owned();
    assert_eq!(
        store
            .connection_connected(&missing, connected_info())
            .await
            .unwrap_err(),
        AuthorityError::ConnectionNotFound(missing.clone())
    );
    assert_eq!(
        store
            .connection_closed(bytes(&missing, 0, 0), ClosedReason::Unknown, None)
            .await
            .unwrap_err(),
        AuthorityError::ConnectionNotFound(missing.clone())
    );
    assert_eq!(
        store
            .authorize_connection("s_nosuchsess", WORKER)
            .await
            .unwrap_err(),
        AuthorityError::SessionNotFound("s_nosuchsess".into())
    );
}

/// A connection that ends before its worker reported it connected is reported once: the
/// close carries its addresses, and it shows them, closed, as if reported twice.
pub async fn a_close_that_carries_the_addresses_records_them_too(o: &dyn Open) {
    let (store, _) = store_with_clock(o).await;
    let id = authorized_id(&store, -1).await;
    store
        .activate_session(&id, &TofuToken::generate())
        .await
        .unwrap();
    let conn = store.authorize_connection(&id, WORKER).await.unwrap();
    store
        .connection_closed(
            bytes(&conn.connection_id, 3, 4),
            ClosedReason::ClosedByEndUser,
            Some(connected_info()),
        )
        .await
        .unwrap();
    let session = store.get(&id).await.unwrap().unwrap();
    let shown = &session.connections[0];
    assert_eq!(shown.status, ConnectionStatus::Closed);
    assert_eq!(shown.client, Some(connected_info().client));
    assert_eq!(shown.endpoint, Some(connected_info().endpoint));
    assert_eq!((shown.bytes_up, shown.bytes_down), (3, 4));
    assert_eq!(shown.closed_reason, Some(ClosedReason::ClosedByEndUser));
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let value = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// One test per case of the suite for the backend `$open` makes (an expression of a type that
/// implements [`Open`](crate::sessions::conformance::Open)).
#[macro_export]
macro_rules! session_records_conformance {
    ($open:expr) => {
        $crate::session_records_conformance!(@cases $open; a_limited_session_runs_its_course_and_ends_with_connection_limit, closed_connections_count_and_show_after_later_changes, cancel_checks_the_version_and_waits_for_the_open_connection, session_cancel_from_a_client_ends_an_idle_session_at_once, an_expired_session_refuses_connections_and_times_out_once_its_connection_closes, an_expired_session_ends_even_if_its_worker_never_reports, a_second_client_with_another_tofu_token_is_refused, the_token_carries_the_session_and_a_usable_key, session_json_has_boundarys_field_names, authorize_session_response_has_boundarys_field_names, debug_shows_neither_key_nor_tofu_nor_token, list_is_newest_first, bad_requests_are_refused_before_anything_is_issued, terminated_sessions_are_deleted_after_their_retention, unknown_connections_are_reported_as_such, a_lost_workers_connections_close_with_system_error, lists_select_resume_and_count, a_close_that_carries_the_addresses_records_them_too);
    };
    (@cases $open:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::sessions::conformance::$case(&$open).await;
            }
        )*
    };
}
