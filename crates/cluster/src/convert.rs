//! Between the authority contract's types and the link's messages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postern_authority::{
    AuthorityError, ClosedReason, ConnectionBytes, SessionStatus, WorkerSession,
};
use postern_tls::SessionCredentials;
use postern_wire::TofuToken;
use zeroize::Zeroize;

use crate::pb;
use crate::pb::refusal::Kind;

pub(crate) fn refusal(error: &AuthorityError) -> pb::Refusal {
    let (kind, id, status, message) = match error {
        AuthorityError::SessionNotFound(id) => (Kind::SessionNotFound, id.as_str(), "", ""),
        AuthorityError::ConnectionNotFound(id) => (Kind::ConnectionNotFound, id.as_str(), "", ""),
        AuthorityError::WrongState { id, status } => {
            (Kind::WrongState, id.as_str(), status.as_str(), "")
        }
        AuthorityError::Expired(id) => (Kind::Expired, id.as_str(), "", ""),
        AuthorityError::ConnectionLimitReached(id) => {
            (Kind::ConnectionLimitReached, id.as_str(), "", "")
        }
        AuthorityError::TofuMismatch(id) => (Kind::TofuMismatch, id.as_str(), "", ""),
        AuthorityError::Unavailable(message) => (Kind::Unavailable, "", "", message.as_str()),
    };
    pb::Refusal {
        kind: kind as i32,
        id: id.to_owned(),
        status: status.to_owned(),
        message: message.to_owned(),
    }
}

/// `Ok` when there is no refusal.
pub(crate) fn outcome(refusal: Option<pb::Refusal>) -> Result<(), AuthorityError> {
    let Some(refusal) = refusal else {
        return Ok(());
    };
    let id = refusal.id;
    Err(
        match Kind::try_from(refusal.kind).unwrap_or(Kind::Unspecified) {
            Kind::SessionNotFound => AuthorityError::SessionNotFound(id),
            Kind::ConnectionNotFound => AuthorityError::ConnectionNotFound(id),
            Kind::WrongState => match status(&refusal.status) {
                Some(status) => AuthorityError::WrongState { id, status },
                None => unavailable(format!("unknown session status {:?}", refusal.status)),
            },
            Kind::Expired => AuthorityError::Expired(id),
            Kind::ConnectionLimitReached => AuthorityError::ConnectionLimitReached(id),
            Kind::TofuMismatch => AuthorityError::TofuMismatch(id),
            Kind::Unavailable => AuthorityError::Unavailable(refusal.message),
            Kind::Unspecified => unavailable(format!("unknown refusal {}", refusal.kind)),
        },
    )
}

pub(crate) fn unavailable(message: impl Into<String>) -> AuthorityError {
    AuthorityError::Unavailable(message.into())
}

pub(crate) fn status(text: &str) -> Option<SessionStatus> {
    SessionStatus::ALL
        .iter()
        .copied()
        .find(|s| s.as_str() == text)
}

pub(crate) fn closed_reason(text: &str) -> Option<ClosedReason> {
    ClosedReason::ALL
        .iter()
        .copied()
        .find(|r| r.as_str() == text)
}

pub(crate) fn worker_session(session: &WorkerSession) -> pb::WorkerSession {
    pb::WorkerSession {
        id: session.id.clone(),
        status: session.status.as_str().to_owned(),
        certificate: session.credentials.certificate_der().to_vec(),
        private_key: session.credentials.private_key().as_bytes().to_vec(),
        endpoint: session.endpoint.clone(),
        expiration_unix_nanos: unix_nanos(session.expiration),
        connection_limit: session.connection_limit,
        tofu_token: session
            .tofu
            .as_ref()
            .map(|t| t.expose().to_owned())
            .unwrap_or_default(),
    }
}

pub(crate) fn from_worker_session(
    mut session: pb::WorkerSession,
) -> Result<WorkerSession, AuthorityError> {
    let credentials =
        SessionCredentials::from_parts(&session.id, &session.certificate, &session.private_key);
    // Overwrites the key bytes before the buffer is freed.
    session.private_key.zeroize();
    let credentials =
        credentials.map_err(|e| unavailable(format!("session {}: {e}", session.id)))?;
    let status = status(&session.status)
        .ok_or_else(|| unavailable(format!("unknown session status {:?}", session.status)))?;
    let tofu = match session.tofu_token.as_str() {
        "" => None,
        token => Some(
            TofuToken::parse(token)
                .map_err(|e| unavailable(format!("session {}: {e}", session.id)))?,
        ),
    };
    Ok(WorkerSession {
        id: session.id,
        status,
        credentials,
        endpoint: session.endpoint,
        expiration: from_unix_nanos(session.expiration_unix_nanos),
        connection_limit: session.connection_limit,
        tofu,
    })
}

pub(crate) fn bytes(bytes: &ConnectionBytes) -> pb::ConnectionBytes {
    pb::ConnectionBytes {
        connection_id: bytes.connection_id.clone(),
        bytes_up: bytes.bytes_up,
        bytes_down: bytes.bytes_down,
    }
}

pub(crate) fn from_bytes(bytes: pb::ConnectionBytes) -> ConnectionBytes {
    ConnectionBytes {
        connection_id: bytes.connection_id,
        bytes_up: bytes.bytes_up,
        bytes_down: bytes.bytes_down,
    }
}

fn unix_nanos(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

fn from_unix_nanos(nanos: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(nanos.unsigned_abs());
    if nanos >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_comes_back_as_it_went() {
        let errors = [
            AuthorityError::SessionNotFound("s_1".into()),
            AuthorityError::ConnectionNotFound("sc_1".into()),
            AuthorityError::WrongState {
                id: "s_1".into(),
                status: SessionStatus::Canceling,
            },
            AuthorityError::Expired("s_1".into()),
            AuthorityError::ConnectionLimitReached("s_1".into()),
            AuthorityError::TofuMismatch("s_1".into()),
            AuthorityError::Unavailable("database down".into()),
        ];
        for error in errors {
            assert_eq!(outcome(Some(refusal(&error))), Err(error));
        }
        assert_eq!(outcome(None), Ok(()));
    }

    #[test]
    fn a_refusal_of_an_unknown_kind_is_unavailable_not_a_panic() {
        let odd = pb::Refusal {
            kind: 99,
            ..Default::default()
        };
        assert!(matches!(
            outcome(Some(odd)),
            Err(AuthorityError::Unavailable(_))
        ));
    }

    #[test]
    fn times_survive_the_trip() {
        for time in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            UNIX_EPOCH - Duration::from_secs(5),
        ] {
            assert_eq!(from_unix_nanos(unix_nanos(time)), time);
        }
    }

    #[test]
    fn reasons_and_statuses_read_back() {
        for reason in ClosedReason::ALL {
            assert_eq!(closed_reason(reason.as_str()), Some(*reason));
        }
        for s in SessionStatus::ALL {
            assert_eq!(status(s.as_str()), Some(*s));
        }
        assert_eq!(closed_reason("bogus"), None);
    }
}
