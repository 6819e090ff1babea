//! The form a session record takes in a durable store: plain serde data in three parts, so
//! that a backend can keep each where it belongs. [`StoredSession`] is everything but the
//! connections and the secrets; [`StoredConnection`] is one connection (a row of its own:
//! connections only grow, and one worker report changes one of them); [`SessionSecrets`] is
//! the session's private key and TOFU token, which a backend must encrypt before storing.
//! Enumerations are stored by their Boundary names.

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use postern_api::ConnectionLimit;
use postern_authority::{ClosedReason, SessionStatus};
use postern_tls::SessionCredentials;
use postern_wire::TofuToken;
use serde::{Deserialize, Serialize};

use super::ids::base64_encode;
use super::model::{Connection, ConnectionStatus, Scope, Session, SessionState, WorkerInfo};
use super::{SessionError, SessionRecord, TerminationReason};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    pub id: String,
    pub target_id: String,
    pub scope: Scope,
    pub created_time: SystemTime,
    pub updated_time: SystemTime,
    pub version: u32,
    pub session_type: String,
    pub expiration_time: SystemTime,
    pub auth_token_id: String,
    pub user_id: String,
    pub host_set_id: String,
    pub host_id: String,
    pub scope_id: String,
    pub endpoint: String,
    pub status: String,
    pub states: Vec<StoredState>,
    pub worker_addresses: Vec<String>,
    /// DER.
    #[serde(with = "base64_bytes")]
    pub certificate: Vec<u8>,
    pub termination_reason: Option<String>,
    /// Why it will be terminated once its last connection closes.
    pub ending: Option<String>,
    pub connection_limit: ConnectionLimit,
    pub endpoint_port: u32,
    pub default_client_port: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredState {
    pub status: String,
    pub start_time: SystemTime,
    pub end_time: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredConnection {
    pub id: String,
    pub status: String,
    pub worker_id: String,
    pub client: Option<SocketAddr>,
    pub endpoint: Option<SocketAddr>,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub closed_reason: Option<String>,
}

/// The session's private key (64 bytes) and, once a client pinned it, its TOFU token.
/// Debug shows neither.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSecrets {
    #[serde(with = "base64_bytes")]
    pub private_key: Vec<u8>,
    pub tofu: Option<String>,
}

impl fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecrets(***)")
    }
}

impl SessionRecord {
    /// The record in its stored parts.
    pub fn to_stored(&self) -> (StoredSession, SessionSecrets, Vec<StoredConnection>) {
        let s = &self.session;
        let stored = StoredSession {
            id: s.id.clone(),
            target_id: s.target_id.clone(),
            scope: s.scope.clone(),
            created_time: s.created_time,
            updated_time: s.updated_time,
            version: s.version,
            session_type: s.session_type.clone(),
            expiration_time: s.expiration_time,
            auth_token_id: s.auth_token_id.clone(),
            user_id: s.user_id.clone(),
            host_set_id: s.host_set_id.clone(),
            host_id: s.host_id.clone(),
            scope_id: s.scope_id.clone(),
            endpoint: s.endpoint.clone(),
            status: s.status.as_str().into(),
            states: s.states.iter().map(StoredState::from).collect(),
            worker_addresses: s.worker_info.iter().map(|w| w.address.clone()).collect(),
            certificate: s.certificate.clone(),
            termination_reason: s.termination_reason.map(|r| r.as_str().into()),
            ending: self.ending.map(|r| r.as_str().into()),
            connection_limit: s.connection_limit,
            endpoint_port: s.endpoint_port,
            default_client_port: s.default_client_port,
        };
        let secrets = SessionSecrets {
            private_key: s.credentials.private_key().as_bytes().to_vec(),
            tofu: s.tofu.as_ref().map(|t| t.expose().to_owned()),
        };
        let connections = s.connections.iter().map(StoredConnection::from).collect();
        (stored, secrets, connections)
    }

    /// The record back from its parts; refuses parts that do not fit together (a key that is
    /// not the certificate's, an unknown state name). `known`: credentials made of these
    /// parts before, used when they are the same parts.
    pub fn from_stored(
        stored: StoredSession,
        secrets: &SessionSecrets,
        connections: Vec<StoredConnection>,
        known: Option<&SessionCredentials>,
    ) -> Result<Self, SessionError> {
        let corrupt = |what: String| SessionError::Corrupt {
            id: stored.id.clone(),
            what,
        };
        let credentials = match known {
            Some(known)
                if known.is_made_of(&stored.id, &stored.certificate, &secrets.private_key) =>
            {
                known.clone()
            }
            _ => SessionCredentials::from_parts(
                &stored.id,
                &stored.certificate,
                &secrets.private_key,
            )
            .map_err(|e| corrupt(format!("credentials: {e}")))?,
        };
        let tofu = secrets
            .tofu
            .as_deref()
            .map(TofuToken::parse)
            .transpose()
            .map_err(|e| corrupt(format!("TOFU token: {e}")))?;
        let states = stored
            .states
            .iter()
            .map(|state| {
                Ok(SessionState {
                    status: session_status(&state.status).ok_or_else(|| {
                        corrupt(format!("unknown session state {:?}", state.status))
                    })?,
                    start_time: state.start_time,
                    end_time: state.end_time,
                })
            })
            .collect::<Result<Vec<_>, SessionError>>()?;
        let reason = |text: &Option<String>| {
            text.as_deref()
                .map(|t| {
                    termination_reason(t)
                        .ok_or_else(|| corrupt(format!("unknown termination reason {t:?}")))
                })
                .transpose()
        };
        let connections = connections
            .into_iter()
            .map(|c| c.into_connection().map_err(&corrupt))
            .collect::<Result<Vec<_>, SessionError>>()?;
        let status = session_status(&stored.status)
            .ok_or_else(|| corrupt(format!("unknown session state {:?}", stored.status)))?;
        let termination_reason = reason(&stored.termination_reason)?;
        let ending = reason(&stored.ending)?;
        let session = Session {
            id: stored.id,
            target_id: stored.target_id,
            scope: stored.scope,
            created_time: stored.created_time,
            updated_time: stored.updated_time,
            version: stored.version,
            session_type: stored.session_type,
            expiration_time: stored.expiration_time,
            auth_token_id: stored.auth_token_id,
            user_id: stored.user_id,
            host_set_id: stored.host_set_id,
            host_id: stored.host_id,
            scope_id: stored.scope_id,
            endpoint: stored.endpoint,
            status,
            states,
            worker_info: stored
                .worker_addresses
                .into_iter()
                .map(|address| WorkerInfo { address })
                .collect(),
            certificate: stored.certificate,
            termination_reason,
            connections,
            closed_not_loaded: 0,
            connection_limit: stored.connection_limit,
            endpoint_port: stored.endpoint_port,
            default_client_port: stored.default_client_port,
            credentials,
            tofu,
        };
        Ok(Self { session, ending })
    }
}

impl From<&SessionState> for StoredState {
    fn from(state: &SessionState) -> Self {
        Self {
            status: state.status.as_str().into(),
            start_time: state.start_time,
            end_time: state.end_time,
        }
    }
}

impl From<&Connection> for StoredConnection {
    fn from(c: &Connection) -> Self {
        Self {
            id: c.id.clone(),
            status: c.status.as_str().into(),
            worker_id: c.worker_id.clone(),
            client: c.client,
            endpoint: c.endpoint,
            bytes_up: c.bytes_up,
            bytes_down: c.bytes_down,
            closed_reason: c.closed_reason.map(|r| r.as_str().into()),
        }
    }
}

impl StoredConnection {
    fn into_connection(self) -> Result<Connection, String> {
        let status = by_name(
            &self.status,
            ConnectionStatus::ALL,
            ConnectionStatus::as_str,
        )
        .ok_or_else(|| format!("unknown connection state {:?}", self.status))?;
        let closed_reason = self
            .closed_reason
            .as_deref()
            .map(|t| {
                by_name(t, ClosedReason::ALL, ClosedReason::as_str)
                    .ok_or_else(|| format!("unknown closed reason {t:?}"))
            })
            .transpose()?;
        Ok(Connection {
            id: self.id,
            status,
            worker_id: self.worker_id,
            client: self.client,
            endpoint: self.endpoint,
            bytes_up: self.bytes_up,
            bytes_down: self.bytes_down,
            closed_reason,
        })
    }
}

fn session_status(name: &str) -> Option<SessionStatus> {
    by_name(name, SessionStatus::ALL, SessionStatus::as_str)
}

fn termination_reason(name: &str) -> Option<TerminationReason> {
    by_name(name, TerminationReason::ALL, TerminationReason::as_str)
}

/// The variant of `all` whose name is `name`.
fn by_name<T: Copy>(name: &str, all: &[T], as_str: fn(T) -> &'static str) -> Option<T> {
    all.iter().copied().find(|v| as_str(*v) == name)
}

/// Bytes as standard base64 text in the stored JSON: a session's certificate and key are
/// read on every change, and as text they parse several times faster than as an array of
/// numbers, which is how records written before this are stored; those read as well.
mod base64_bytes {
    use std::fmt;

    use base64::Engine as _;
    use serde::de::{self, SeqAccess};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::base64_encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_any(Bytes)
    }

    struct Bytes;

    impl<'de> de::Visitor<'de> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("base64 text or an array of bytes")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| E::custom(format!("not base64: {e}")))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64 * 1024));
            while let Some(byte) = seq.next_element::<u8>()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn key_bytes_are_stored_as_base64_and_read_in_either_form() {
        let secrets = SessionSecrets {
            private_key: vec![0, 1, 2, 253, 254, 255],
            tofu: None,
        };
        let json = serde_json::to_string(&secrets).unwrap();
        assert_eq!(json, r#"{"private_key":"AAEC/f7/","tofu":null}"#);
        assert!(serde_json::from_str::<SessionSecrets>(&json).unwrap() == secrets);
        // As records written before base64 hold them.
        let numbers = r#"{"private_key":[0,1,2,253,254,255],"tofu":null}"#;
        assert!(serde_json::from_str::<SessionSecrets>(numbers).unwrap() == secrets);
        for bad in [
            r#"{"private_key":"not base64!","tofu":null}"#,
            r#"{"private_key":[0,256],"tofu":null}"#,
            r#"{"private_key":7,"tofu":null}"#,
        ] {
            assert!(
                serde_json::from_str::<SessionSecrets>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
