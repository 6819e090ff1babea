//! What a new session is given: its certificate and key, and the authorization token that
//! carries them (with everything else a client needs) to the user.

use std::time::SystemTime;

use postern_tls::{SessionCredentials, TlsError};
use postern_wire::pb::targets::{ScopeInfo, SessionAuthorizationData, WorkerInfo};

use super::model::Session;

/// Issues the session certificate: valid until the session expires, naming the session id and
/// every worker's host (each once, in the workers' order) so a client can check the worker.
pub(super) fn issue_credentials(
    session_id: &str,
    worker_addresses: &[String],
    not_after: SystemTime,
) -> Result<SessionCredentials, TlsError> {
    let mut hosts: Vec<String> = Vec::with_capacity(worker_addresses.len());
    for address in worker_addresses {
        let host = postern_tls::worker_host(address).unwrap_or(address);
        if !host.is_empty() && !hosts.iter().any(|known| known == host) {
            hosts.push(host.to_owned());
        }
    }
    SessionCredentials::issue(session_id, &hosts, not_after)
}

/// The Boundary authorization token of `session`: base58 of its `SessionAuthorizationData`.
pub(super) fn authorization_token(session: &Session) -> String {
    let mut data = SessionAuthorizationData {
        session_id: session.id.clone(),
        target_id: session.target_id.clone(),
        scope: Some(ScopeInfo {
            id: session.scope.id.clone(),
            r#type: session.scope.scope_type.clone(),
            name: session.scope.name.clone(),
            description: session.scope.description.clone(),
            parent_scope_id: session.scope.parent_scope_id.clone(),
        }),
        created_time: Some(session.created_time.into()),
        r#type: session.session_type.clone(),
        connection_limit: session.connection_limit.wire(),
        endpoint_port: session.endpoint_port,
        expiration: Some(session.expiration_time.into()),
        certificate: session.certificate.clone(),
        private_key: session.credentials.private_key().as_bytes().to_vec(),
        host_id: session.host_id.clone(),
        endpoint: session.endpoint.clone(),
        worker_info: session
            .worker_info
            .iter()
            .map(|worker| WorkerInfo {
                address: worker.address.clone(),
            })
            .collect(),
        default_client_port: session.default_client_port,
    };
    let token = postern_wire::token::encode(&data);
    // The token is the one copy of the key that leaves the store; drop this one promptly.
    data.private_key.fill(0);
    token
}
