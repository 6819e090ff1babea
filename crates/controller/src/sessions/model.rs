//! The session record as the API shows it, and the rules of its state machine.
//!
//! [`Session`] serialises to Boundary's session JSON (docs/protocol.md §6): the field names,
//! RFC 3339 times, the certificate as base64, byte counts as strings (proto3 JSON writes int64
//! that way, and Boundary's Go client reads them so), and empty values left out as Boundary's
//! gateway does. What the API must not show (the key, the pinned TOFU token, limits the worker
//! needs) stays in the record with `#[serde(skip)]`.

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use postern_api::ConnectionLimit;
use postern_authority::{ClosedReason, SessionStatus};
use postern_tls::SessionCredentials;
use postern_wire::TofuToken;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::ids::base64_encode;

/// The scope a session's target lives in: the same shape as any item's `scope`.
pub use postern_api::items::ScopeInfo as Scope;

/// One worker a client may connect through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerInfo {
    /// `host:port` of the worker's proxy listener.
    pub address: String,
}

/// Why a session ended; the texts are Boundary's, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TerminationReason {
    TimedOut,
    ClosedByEndUser,
    Terminated,
    NetworkError,
    SystemError,
    ConnectionLimit,
    Canceled,
    Unknown,
}

impl TerminationReason {
    pub const ALL: &'static [Self] = &[
        Self::TimedOut,
        Self::ClosedByEndUser,
        Self::Terminated,
        Self::NetworkError,
        Self::SystemError,
        Self::ConnectionLimit,
        Self::Canceled,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TimedOut => "timed out",
            Self::ClosedByEndUser => "closed by end-user",
            Self::Terminated => "terminated",
            Self::NetworkError => "network error",
            Self::SystemError => "system error",
            Self::ConnectionLimit => "connection limit",
            Self::Canceled => "canceled",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TerminationReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One entry of a session's state history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionState {
    #[serde(serialize_with = "status_text")]
    pub status: SessionStatus,
    #[serde(serialize_with = "rfc3339")]
    pub start_time: SystemTime,
    /// `None` for the current state.
    #[serde(
        serialize_with = "rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<SystemTime>,
}

/// Connection states: authorized -> connected -> closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionStatus {
    Authorized,
    Connected,
    Closed,
}

impl ConnectionStatus {
    pub const ALL: &'static [Self] = &[Self::Authorized, Self::Connected, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "authorized",
            Self::Connected => "connected",
            Self::Closed => "closed",
        }
    }
}

/// One proxied TCP connection of a session. Its JSON holds only Boundary's fields (no id, no
/// status: a closed connection is the one with a `closed_reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `sc_` + 10 base62 characters.
    pub id: String,
    pub status: ConnectionStatus,
    /// The worker that asked for it.
    pub worker_id: String,
    /// The client's address as the worker saw it, once connected.
    pub client: Option<SocketAddr>,
    /// The endpoint's address the worker dialled, once connected.
    pub endpoint: Option<SocketAddr>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub closed_reason: Option<ClosedReason>,
}

impl Connection {
    /// Authorized or connected: the session cannot end while one is open.
    pub fn is_open(&self) -> bool {
        self.status != ConnectionStatus::Closed
    }
}

impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(client) = self.client {
            map.serialize_entry("client_tcp_address", &client.ip().to_string())?;
            map.serialize_entry("client_tcp_port", &client.port())?;
        }
        if let Some(endpoint) = self.endpoint {
            map.serialize_entry("endpoint_tcp_address", &endpoint.ip().to_string())?;
            map.serialize_entry("endpoint_tcp_port", &endpoint.port())?;
        }
        if self.bytes_up != 0 {
            map.serialize_entry("bytes_up", &self.bytes_up.to_string())?;
        }
        if self.bytes_down != 0 {
            map.serialize_entry("bytes_down", &self.bytes_down.to_string())?;
        }
        if let Some(reason) = self.closed_reason {
            map.serialize_entry("closed_reason", reason.as_str())?;
        }
        map.end()
    }
}

/// A session: what the API reads, lists and cancels, and what the worker serves.
#[derive(Clone, Serialize)]
pub struct Session {
    /// `s_` + 10 base62 characters.
    pub id: String,
    pub target_id: String,
    pub scope: Scope,
    #[serde(serialize_with = "rfc3339")]
    pub created_time: SystemTime,
    #[serde(serialize_with = "rfc3339")]
    pub updated_time: SystemTime,
    /// Starts at 1; every state change bumps it. A cancel names the version it read.
    pub version: u32,
    /// `tcp`.
    #[serde(rename = "type")]
    pub session_type: String,
    #[serde(serialize_with = "rfc3339")]
    pub expiration_time: SystemTime,
    pub auth_token_id: String,
    pub user_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host_set_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host_id: String,
    pub scope_id: String,
    /// Where the worker proxies to, e.g. `tcp://10.0.0.5:22`.
    pub endpoint: String,
    #[serde(serialize_with = "status_text")]
    pub status: SessionStatus,
    /// Newest first; the current state has no end time.
    pub states: Vec<SessionState>,
    pub worker_info: Vec<WorkerInfo>,
    /// DER of the session certificate; base64 in JSON.
    #[serde(serialize_with = "base64")]
    pub certificate: Vec<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_reason: Option<TerminationReason>,
    /// Every connection ever authorized, oldest first (but see `closed_not_loaded`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Connection>,
    /// Closed connections a store left out of `connections` when it loaded the session to
    /// change it: they can change no more, and reading them all back for every change of a
    /// long-lived session would cost in proportion to its history. The limit counts them.
    /// Always 0 in a session read to be shown.
    #[serde(skip)]
    pub closed_not_loaded: usize,
    #[serde(skip)]
    pub connection_limit: ConnectionLimit,
    #[serde(skip)]
    pub endpoint_port: u32,
    /// 0 = none.
    #[serde(skip)]
    pub default_client_port: u32,
    #[serde(skip)]
    pub(super) credentials: SessionCredentials,
    #[serde(skip)]
    pub(super) tofu: Option<TofuToken>,
}

impl Session {
    /// The session certificate and its private key.
    pub fn credentials(&self) -> &SessionCredentials {
        &self.credentials
    }

    /// Whether a client has pinned the session with its TOFU token.
    pub fn is_tofu_pinned(&self) -> bool {
        self.tofu.is_some()
    }

    /// Connections authorized so far, closed ones included: what the limit counts.
    pub fn authorized_connections(&self) -> usize {
        self.connections.len() + self.closed_not_loaded
    }

    pub fn open_connections(&self) -> usize {
        self.connections.iter().filter(|c| c.is_open()).count()
    }

    /// Whether the limit admits no more connections.
    pub fn connection_limit_reached(&self) -> bool {
        self.connection_limit.reached(self.authorized_connections())
    }

    /// `limit - authorized`, or -1 when unlimited.
    pub fn connections_left(&self) -> i32 {
        self.connection_limit.left(self.authorized_connections())
    }

    /// When it was terminated, if it is.
    pub fn terminated_at(&self) -> Option<SystemTime> {
        let current = self.states.first()?;
        (current.status == SessionStatus::Terminated).then_some(current.start_time)
    }

    /// Moves to `to`: closes the current history entry, pushes the new one, bumps the
    /// version. Refuses a transition the state machine does not have.
    pub(super) fn transition(
        &mut self,
        to: SessionStatus,
        now: SystemTime,
    ) -> Result<(), InvalidTransition> {
        if !transition_allowed(self.status, to) {
            return Err(InvalidTransition {
                from: self.status,
                to,
            });
        }
        if let Some(current) = self.states.first_mut() {
            current.end_time = Some(now);
        }
        self.states.insert(
            0,
            SessionState {
                status: to,
                start_time: now,
                end_time: None,
            },
        );
        self.status = to;
        self.version = self.version.saturating_add(1);
        self.updated_time = now;
        Ok(())
    }
}

/// A state change the session state machine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidTransition {
    pub from: SessionStatus,
    pub to: SessionStatus,
}

/// pending -> {active, canceling, terminated}; active -> {canceling, terminated};
/// canceling -> terminated. Nothing else.
pub fn transition_allowed(from: SessionStatus, to: SessionStatus) -> bool {
    use SessionStatus::{Active, Canceling, Pending, Terminated};
    matches!(
        (from, to),
        (Pending, Active | Canceling | Terminated)
            | (Active, Canceling | Terminated)
            | (Canceling, Terminated)
    )
}

impl fmt::Debug for Session {
    /// Leaves out the key and the TOFU token; the certificate shows as its length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("target_id", &self.target_id)
            .field("scope", &self.scope)
            .field("created_time", &self.created_time)
            .field("updated_time", &self.updated_time)
            .field("version", &self.version)
            .field("type", &self.session_type)
            .field("expiration_time", &self.expiration_time)
            .field("auth_token_id", &self.auth_token_id)
            .field("user_id", &self.user_id)
            .field("host_set_id", &self.host_set_id)
            .field("host_id", &self.host_id)
            .field("scope_id", &self.scope_id)
            .field("endpoint", &self.endpoint)
            .field("status", &self.status)
            .field("states", &self.states)
            .field("worker_info", &self.worker_info)
            .field(
                "certificate",
                &format_args!("<{} bytes>", self.certificate.len()),
            )
            .field("termination_reason", &self.termination_reason)
            .field("connections", &self.connections)
            .field("connection_limit", &self.connection_limit)
            .field("endpoint_port", &self.endpoint_port)
            .field("default_client_port", &self.default_client_port)
            .field("tofu_pinned", &self.tofu.is_some())
            .finish_non_exhaustive()
    }
}

/// RFC 3339 in UTC with as many fractional digits as needed, as Boundary's API writes times.
pub fn rfc3339_text(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn rfc3339<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339_text(*time))
}

fn rfc3339_opt<S: Serializer>(time: &Option<SystemTime>, serializer: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => rfc3339(time, serializer),
        None => serializer.serialize_none(),
    }
}

fn status_text<S: Serializer>(status: &SessionStatus, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(status.as_str())
}

fn base64<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&base64_encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionStatus::{Active, Canceling, Pending, Terminated};

    #[test]
    fn only_the_protocol_transitions_are_allowed() {
        let all = [Pending, Active, Canceling, Terminated];
        let allowed = [
            (Pending, Active),
            (Pending, Canceling),
            (Pending, Terminated),
            (Active, Canceling),
            (Active, Terminated),
            (Canceling, Terminated),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    transition_allowed(from, to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn termination_reasons_are_boundarys_texts() {
        let texts: Vec<_> = [
            TerminationReason::TimedOut,
            TerminationReason::ClosedByEndUser,
            TerminationReason::Terminated,
            TerminationReason::NetworkError,
            TerminationReason::SystemError,
            TerminationReason::ConnectionLimit,
            TerminationReason::Canceled,
            TerminationReason::Unknown,
        ]
        .iter()
        .map(|r| r.as_str())
        .collect();
        assert_eq!(
            texts,
            [
                "timed out",
                "closed by end-user",
                "terminated",
                "network error",
                "system error",
                "connection limit",
                "canceled",
                "unknown"
            ]
        );
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_601_504_294, 0);
        assert_eq!(rfc3339_text(t), "2020-09-30T22:18:14Z");
        let t = t + std::time::Duration::from_millis(250);
        assert_eq!(rfc3339_text(t), "2020-09-30T22:18:14.250Z");
    }

    #[test]
    fn a_connection_serialises_only_what_it_has() {
        let mut c = Connection {
            id: "sc_1234567890".into(),
            status: ConnectionStatus::Authorized,
            worker_id: "w_1".into(),
            client: None,
            endpoint: None,
            bytes_up: 0,
            bytes_down: 0,
            closed_reason: None,
        };
        assert_eq!(serde_json::to_string(&c).unwrap(), "{}");
        c.client = Some("127.0.0.1:5000".parse().unwrap());
        c.endpoint = Some("[::1]:22".parse().unwrap());
        c.bytes_up = 12;
        c.bytes_down = 3400;
        c.closed_reason = Some(ClosedReason::ClosedByEndUser);
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({
                "client_tcp_address": "127.0.0.1", "client_tcp_port": 5000,
                "endpoint_tcp_address": "::1", "endpoint_tcp_port": 22,
                "bytes_up": "12", "bytes_down": "3400", "closed_reason": "closed by end-user",
            })
        );
    }
}
