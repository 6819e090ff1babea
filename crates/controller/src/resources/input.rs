//! What a caller hands the store to create (`New<Kind>`) or change (`<Kind>Patch`) an
//! item, and the seed of `postern dev`. In a patch, `None` keeps a field and `Some("")`
//! clears a text field. Values that carry a password mask it in Debug.

use std::fmt;

use postern_api::ConnectionLimit;

/// Boundary's minimum for a password account's password.
pub const MIN_PASSWORD_LENGTH: usize = 8;

/// Changes an item whose only changeable fields are its name and description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamePatch {
    pub name: Option<String>,
    pub description: Option<String>,
}

pub type ScopePatch = NamePatch;
pub type AuthMethodPatch = NamePatch;
pub type UserPatch = NamePatch;
pub type HostCatalogPatch = NamePatch;
pub type HostSetPatch = NamePatch;
pub type GroupPatch = NamePatch;
pub type RolePatch = NamePatch;

/// A worker, in global; its certificate comes when it activates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewWorker {
    pub scope_id: String,
    pub name: String,
    pub description: String,
}

/// Changes a worker: its name and description (the API), or its certificate (the cluster
/// link: activation and renewal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub certificate: Option<CertificateChange>,
}

/// A worker's certificate (SHA-256, hex) replaced: `from` must be the one it holds (empty:
/// none yet, an activation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateChange {
    pub from: String,
    pub to: String,
}

impl From<NamePatch> for WorkerPatch {
    fn from(patch: NamePatch) -> Self {
        Self {
            name: patch.name,
            description: patch.description,
            certificate: None,
        }
    }
}

/// A group in global, an org or a project; members are added after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewGroup {
    pub scope_id: String,
    pub name: String,
    pub description: String,
}

/// A role in global, an org or a project. Its grants apply to its own scope (`this`) until
/// its grant scopes are changed; principals and grants are added after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRole {
    pub scope_id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewScope {
    /// The parent: global for an org, an org for a project.
    pub scope_id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAuthMethod {
    /// Global or an org.
    pub scope_id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    /// Global or an org.
    pub scope_id: String,
    pub name: String,
    pub description: String,
}

#[derive(Clone, Default, PartialEq, Eq)]
pub struct NewAccount {
    pub auth_method_id: String,
    pub name: String,
    pub description: String,
    /// Unique within the auth method.
    pub login_name: String,
    /// At least [`MIN_PASSWORD_LENGTH`] characters.
    pub password: String,
}

impl fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAccount")
            .field("auth_method_id", &self.auth_method_id)
            .field("name", &self.name)
            .field("description", &self.description)
            .field("login_name", &self.login_name)
            .field("password", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub login_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewHostCatalog {
    /// A project.
    pub scope_id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewHostSet {
    pub host_catalog_id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewHost {
    pub host_catalog_id: String,
    pub name: String,
    pub description: String,
    /// A host name or IP address, without scheme or port.
    pub address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
}

/// A tcp target. Ports are `u32` so that an out-of-range value from a request reaches the
/// store's validation (and its error names the field) instead of failing to parse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTarget {
    /// A project.
    pub scope_id: String,
    /// Required, unique within the project.
    pub name: String,
    pub description: String,
    /// Required: 1..=65535.
    pub default_port: Option<u32>,
    /// 0..=65535; 0 or `None` = none.
    pub default_client_port: Option<u32>,
    /// A direct address instead of host sources; `None` or empty = none.
    pub address: Option<String>,
    /// Positive; default [`super::DEFAULT_SESSION_MAX_SECONDS`].
    pub session_max_seconds: Option<u32>,
    /// -1 or positive; default -1 (unlimited).
    pub session_connection_limit: Option<i32>,
    /// A filter over workers; `None` or empty = any worker.
    pub egress_worker_filter: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub default_port: Option<u32>,
    /// `Some(0)` clears it.
    pub default_client_port: Option<u32>,
    /// `Some("")` clears it.
    pub address: Option<String>,
    pub session_max_seconds: Option<u32>,
    pub session_connection_limit: Option<i32>,
    /// `Some("")` clears it.
    pub egress_worker_filter: Option<String>,
}

/// What `postern dev` seeds (its flags); see `dev_seed` for the generated ids.
#[derive(Clone, PartialEq, Eq)]
pub struct DevSeed {
    pub login_name: String,
    pub password: String,
    /// `user` in Boundary.
    pub unprivileged_login_name: String,
    /// `password` in Boundary.
    pub unprivileged_password: String,
    /// 127.0.0.1 unless `-host-address`.
    pub host_address: String,
    /// 22 unless `-target-default-port`.
    pub target_default_port: u16,
    /// Unlimited unless `-target-session-connection-limit`.
    pub target_session_connection_limit: ConnectionLimit,
    /// 28800 unless `-target-session-max-seconds`.
    pub target_session_max_seconds: u32,
}

impl Default for DevSeed {
    fn default() -> Self {
        Self {
            login_name: "admin".into(),
            password: "password".into(),
            unprivileged_login_name: "user".into(),
            unprivileged_password: "password".into(),
            host_address: "127.0.0.1".into(),
            target_default_port: 22,
            target_session_connection_limit: ConnectionLimit::UNLIMITED,
            target_session_max_seconds: super::DEFAULT_SESSION_MAX_SECONDS,
        }
    }
}

impl fmt::Debug for DevSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevSeed")
            .field("login_name", &self.login_name)
            .field("password", &"***")
            .field("unprivileged_login_name", &self.unprivileged_login_name)
            .field("unprivileged_password", &"***")
            .field("host_address", &self.host_address)
            .field("target_default_port", &self.target_default_port)
            .field(
                "target_session_connection_limit",
                &self.target_session_connection_limit,
            )
            .field(
                "target_session_max_seconds",
                &self.target_session_max_seconds,
            )
            .finish()
    }
}
