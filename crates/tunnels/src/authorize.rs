//! Authorizing a tunnel's next session with the stored auth token, read afresh each time so a
//! new `postern authenticate` is picked up without a restart. The blocking API call runs on
//! tokio's blocking pool.

use std::path::PathBuf;
use std::time::SystemTime;

use postern_controller_client::api::ApiClient;
use postern_controller_client::commands::{targets, Context};
use postern_controller_client::config::{self, TokenFile};
use postern_controller_client::output::Format;
use postern_controller_client::ClientError;
use postern_wire::pb::targets::SessionAuthorizationData;

use crate::config::{TargetRef, TunnelSpec};

const ACTION: &str = "authorize-session action against given target";

/// Why no session could be authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No auth token, or the controller no longer takes it (401): a new login fixes it.
    AuthToken(String),
    /// The target is gone or the user may not use it (404/403): the user must act.
    Target(String),
    /// Anything else (controller unreachable, a 5xx): the next try may get through.
    Transient(String),
}

impl Refusal {
    /// The text `tunnels status` and the log show.
    pub fn reason(&self) -> &str {
        match self {
            Self::AuthToken(text) | Self::Target(text) | Self::Transient(text) => text,
        }
    }
}

/// Authorizes a session of `spec`'s target; blocks.
pub fn authorize(spec: &TunnelSpec) -> Result<SessionAuthorizationData, Refusal> {
    let token = config::resolve_token(None).map_err(|e| {
        Refusal::AuthToken(format!(
            "run `postern authenticate` (cannot read the stored auth token: {e})"
        ))
    })?;
    let Some(token) = token else {
        return Err(Refusal::AuthToken(
            "run `postern authenticate` (no auth token is stored)".into(),
        ));
    };
    let api =
        ApiClient::new(&spec.addr, Some(token)).map_err(|e| Refusal::Target(e.to_string()))?;
    let ctx =
        Context::with_api(api, Format::Json).map_err(|e| Refusal::Transient(e.to_string()))?;
    let host_id = spec.host_id.as_deref();
    let (id, scope_id) = match &spec.target {
        TargetRef::Id(id) => (id, None),
        TargetRef::Named { name, scope_id } => (name, Some(scope_id.as_str())),
    };
    let response = targets::authorize(&ctx, ACTION, id, host_id, scope_id)
        .map_err(|e| classify(&e, &spec.target))?;
    // As `connect -target-id` reads the reply.
    targets::session_token(&response, ACTION).map_err(|e| Refusal::Transient(e.to_string()))
}

fn classify(error: &ClientError, target: &TargetRef) -> Refusal {
    match error {
        ClientError::Controller(e) if e.status == 401 => {
            Refusal::AuthToken("run `postern authenticate` (auth token expired or revoked)".into())
        }
        ClientError::Controller(e) if e.status == 404 => {
            Refusal::Target(format!("target {target} not found"))
        }
        ClientError::Controller(e) if e.status == 403 => {
            Refusal::Target(format!("not authorized to connect to target {target}"))
        }
        ClientError::Controller(e) if e.status < 500 => Refusal::Target(error.to_string()),
        _ => Refusal::Transient(error.to_string()),
    }
}

/// The stored token file's inode, modification time and length: a new login changes it.
pub type TokenStamp = Option<(u64, SystemTime, u64)>;

/// What the stored token file looks like now; `None` when there is none.
pub fn token_file_stamp() -> TokenStamp {
    use std::os::unix::fs::MetadataExt;
    let path: PathBuf = TokenFile::default_location().ok()?.path().to_owned();
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.ino(), metadata.modified().ok()?, metadata.len()))
}
