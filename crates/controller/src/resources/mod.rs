//! The controller's resource directory: scopes, password auth methods, users, accounts, auth
//! tokens, static host catalogs, host sets, hosts and tcp targets.
//!
//! The HTTP API reaches it only through the [`Directory`] trait, so that the in-memory
//! [`MemoryDirectory`] of `postern dev` can later be joined by a durable store. Items come back
//! as plain data ([`model`]) that serialises to Boundary's JSON field names; what a caller may
//! create or change arrives as `New<Kind>`/`<Kind>Patch` values ([`input`]). Every update is
//! checked against the version the caller read and bumps it.
//!
//! Two methods connect the directory to the rest of the controller: [`Directory::principal`]
//! resolves a bearer token to the user behind a request, and [`Directory::plan_session`] picks
//! the host and endpoint that `authorize-session` hands to the session store.
//!
//! Passwords are stored only as salted SHA-256 digests, token secrets as SHA-256 digests, both
//! compared in constant time (`secret`). A password-grade KDF (argon2) belongs with the
//! durable store.

mod ids;
mod input;
mod memory;
mod model;
mod secret;
mod validate;

pub use ids::{
    ACCOUNT_PREFIX, AUTH_METHOD_PREFIX, AUTH_TOKEN_PREFIX, HOST_CATALOG_PREFIX, HOST_PREFIX,
    HOST_SET_PREFIX, ORG_PREFIX, PROJECT_PREFIX, TARGET_PREFIX, USER_PREFIX,
};
pub use input::{
    AccountPatch, AuthMethodPatch, DevSeed, HostCatalogPatch, HostPatch, HostSetPatch, NewAccount,
    NewAuthMethod, NewHost, NewHostCatalog, NewHostSet, NewTarget, NewUser, TargetPatch, UserPatch,
    MIN_PASSWORD_LENGTH,
};
pub use memory::{
    MemoryDirectory, DEV_ADMIN_ACCOUNT_ID, DEV_ADMIN_USER_ID, DEV_AUTH_METHOD_ID,
    DEV_HOST_CATALOG_ID, DEV_HOST_ID, DEV_HOST_SET_ID, DEV_ORG_ID, DEV_PROJECT_ID, DEV_TARGET_ID,
    DEV_USER_ACCOUNT_ID, DEV_USER_ID,
};
pub use model::{
    Account, AccountAttributes, AuthMethod, AuthToken, Host, HostAttributes, HostCatalog, HostSet,
    Scope, ScopeInfo, SessionPlan, Target, TargetAttributes, User, AUTH_TOKEN_LIFETIME,
    DEFAULT_SESSION_CONNECTION_LIMIT, DEFAULT_SESSION_MAX_SECONDS, GLOBAL_SCOPE_ID,
};

/// A caller, resolved from `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub auth_token_id: String,
    /// Holds every grant; other users may only read scopes and targets, authorize sessions,
    /// and read or cancel their own sessions.
    pub admin: bool,
}

/// What the directory refused, and why. The API maps each variant to Boundary's error kinds.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// -> 404 NotFound.
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// -> 400 InvalidArgument, `field` in `details.request_fields`.
    #[error("invalid {field}: {message}")]
    InvalidArgument { field: String, message: String },
    /// -> 400 InvalidArgument.
    #[error("{id} is at version {current}, not {expected}: read it again and retry")]
    StaleVersion {
        id: String,
        expected: u32,
        current: u32,
    },
    /// -> 401: a missing, malformed, unknown or expired token, or a failed login.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// -> 403.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// -> 400 InvalidArgument: e.g. a name already used in the same parent.
    #[error("conflict: {0}")]
    Conflict(String),
}

impl ResourceError {
    /// An [`ResourceError::InvalidArgument`] naming the request field (its JSON path, e.g.
    /// `attributes.default_port`).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(kind: &'static str, id: &str) -> Self {
        Self::NotFound {
            kind,
            id: id.to_owned(),
        }
    }
}

/// The three membership actions: `:add-…`, `:set-…` and `:remove-…` of users' accounts,
/// host sets' hosts and targets' host sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Set,
    Remove,
}

impl Change {
    /// The change an action names for `members` (`add-hosts` -> `Add` for "hosts").
    pub fn from_action(action: &str, members: &str) -> Option<Self> {
        let (verb, rest) = action.split_once('-')?;
        if rest != members {
            return None;
        }
        match verb {
            "add" => Some(Self::Add),
            "set" => Some(Self::Set),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }
}

/// Storage of the directory: [`MemoryDirectory`] now, a durable one later. All methods are
/// synchronous; the API calls them directly.
///
/// For every kind there are the same five methods: read by id, list under a parent
/// (`recursive` takes in the parent's sub-scopes where the parent is a scope; for accounts,
/// host sets and hosts the parent is the auth method or host catalog and `recursive` changes
/// nothing), create, update (checked against `version`, which it bumps) and delete.
/// Membership actions take the version of the item they change and return it updated.
pub trait Directory: Send + Sync + 'static {
    // Authentication.

    /// Logs in with a password account; the returned token carries `token` (`<id>_<secret>`),
    /// the only time the secret is shown. A wrong password and an unknown login both fail
    /// with `Unauthenticated("authentication failed")`.
    fn authenticate(
        &self,
        auth_method_id: &str,
        login_name: &str,
        password: &str,
    ) -> Result<AuthToken, ResourceError>;
    /// Resolves a bearer token; the secret is compared in constant time.
    fn principal(&self, bearer_token: &str) -> Result<Principal, ResourceError>;
    /// Revokes an auth token.
    fn logout(&self, auth_token_id: &str) -> Result<(), ResourceError>;

    // Scopes: global -> orgs -> projects.

    fn scope(&self, id: &str) -> Result<Scope, ResourceError>;
    /// Children of `parent_id`; with `recursive`, all its descendants.
    fn list_scopes(&self, parent_id: &str, recursive: bool) -> Result<Vec<Scope>, ResourceError>;
    /// An org under global, a project under an org.
    fn create_scope(
        &self,
        parent_id: &str,
        name: &str,
        description: &str,
    ) -> Result<Scope, ResourceError>;
    fn update_scope(
        &self,
        id: &str,
        version: u32,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<Scope, ResourceError>;
    /// Deletes the scope and everything in it, sub-scopes included. Global cannot be deleted.
    fn delete_scope(&self, id: &str) -> Result<(), ResourceError>;
    /// Scope ids under `scope_id` (itself included) when recursive, else just itself.
    fn scope_tree(&self, scope_id: &str, recursive: bool) -> Result<Vec<String>, ResourceError>;

    // Auth methods (password), in global or an org.

    fn auth_method(&self, id: &str) -> Result<AuthMethod, ResourceError>;
    fn list_auth_methods(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> Result<Vec<AuthMethod>, ResourceError>;
    fn create_auth_method(&self, new: NewAuthMethod) -> Result<AuthMethod, ResourceError>;
    fn update_auth_method(
        &self,
        id: &str,
        version: u32,
        patch: AuthMethodPatch,
    ) -> Result<AuthMethod, ResourceError>;
    /// Deletes its accounts and their auth tokens too.
    fn delete_auth_method(&self, id: &str) -> Result<(), ResourceError>;

    // Users, in global or an org.

    fn user(&self, id: &str) -> Result<User, ResourceError>;
    fn list_users(&self, scope_id: &str, recursive: bool) -> Result<Vec<User>, ResourceError>;
    fn create_user(&self, new: NewUser) -> Result<User, ResourceError>;
    fn update_user(&self, id: &str, version: u32, patch: UserPatch) -> Result<User, ResourceError>;
    /// Deletes the user's auth tokens too; its accounts stay, unassociated.
    fn delete_user(&self, id: &str) -> Result<(), ResourceError>;
    /// Adds, replaces or removes members (`:add-…`, `:set-…`, `:remove-…`).
    fn change_user_accounts(
        &self,
        id: &str,
        version: u32,
        change: Change,
        account_ids: &[String],
    ) -> Result<User, ResourceError>;

    // Password accounts, under an auth method.

    fn account(&self, id: &str) -> Result<Account, ResourceError>;
    fn list_accounts(
        &self,
        auth_method_id: &str,
        recursive: bool,
    ) -> Result<Vec<Account>, ResourceError>;
    fn create_account(&self, new: NewAccount) -> Result<Account, ResourceError>;
    fn update_account(
        &self,
        id: &str,
        version: u32,
        patch: AccountPatch,
    ) -> Result<Account, ResourceError>;
    /// Deletes the account's auth tokens and drops it from its user.
    fn delete_account(&self, id: &str) -> Result<(), ResourceError>;

    // Static host catalogs, in a project.

    fn host_catalog(&self, id: &str) -> Result<HostCatalog, ResourceError>;
    fn list_host_catalogs(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> Result<Vec<HostCatalog>, ResourceError>;
    fn create_host_catalog(&self, new: NewHostCatalog) -> Result<HostCatalog, ResourceError>;
    fn update_host_catalog(
        &self,
        id: &str,
        version: u32,
        patch: HostCatalogPatch,
    ) -> Result<HostCatalog, ResourceError>;
    /// Deletes its hosts and host sets too (and drops those sets from targets).
    fn delete_host_catalog(&self, id: &str) -> Result<(), ResourceError>;

    // Static host sets, under a host catalog.

    fn host_set(&self, id: &str) -> Result<HostSet, ResourceError>;
    fn list_host_sets(
        &self,
        host_catalog_id: &str,
        recursive: bool,
    ) -> Result<Vec<HostSet>, ResourceError>;
    fn create_host_set(&self, new: NewHostSet) -> Result<HostSet, ResourceError>;
    fn update_host_set(
        &self,
        id: &str,
        version: u32,
        patch: HostSetPatch,
    ) -> Result<HostSet, ResourceError>;
    /// Drops the set from the targets that use it as a host source.
    fn delete_host_set(&self, id: &str) -> Result<(), ResourceError>;
    /// Hosts must be in the set's catalog.
    /// Adds, replaces or removes members (`:add-…`, `:set-…`, `:remove-…`).
    fn change_host_set_hosts(
        &self,
        id: &str,
        version: u32,
        change: Change,
        host_ids: &[String],
    ) -> Result<HostSet, ResourceError>;

    // Static hosts, under a host catalog.

    fn host(&self, id: &str) -> Result<Host, ResourceError>;
    fn list_hosts(
        &self,
        host_catalog_id: &str,
        recursive: bool,
    ) -> Result<Vec<Host>, ResourceError>;
    fn create_host(&self, new: NewHost) -> Result<Host, ResourceError>;
    fn update_host(&self, id: &str, version: u32, patch: HostPatch) -> Result<Host, ResourceError>;
    /// Drops the host from its host sets.
    fn delete_host(&self, id: &str) -> Result<(), ResourceError>;

    // Tcp targets, in a project.

    fn target(&self, id: &str) -> Result<Target, ResourceError>;
    fn list_targets(&self, scope_id: &str, recursive: bool) -> Result<Vec<Target>, ResourceError>;
    fn create_target(&self, new: NewTarget) -> Result<Target, ResourceError>;
    fn update_target(
        &self,
        id: &str,
        version: u32,
        patch: TargetPatch,
    ) -> Result<Target, ResourceError>;
    fn delete_target(&self, id: &str) -> Result<(), ResourceError>;
    /// Host sets must be in the target's project.
    /// Adds, replaces or removes members (`:add-…`, `:set-…`, `:remove-…`).
    fn change_target_host_sources(
        &self,
        id: &str,
        version: u32,
        change: Change,
        host_source_ids: &[String],
    ) -> Result<Target, ResourceError>;

    /// Picks the host (the given one, or one at random among the hosts of the target's host
    /// sets) and builds what authorize-session needs. A target with an `address` connects
    /// there and has no host. Errors: the target is unknown (NotFound); `host_id` is not in
    /// the target's host sets (InvalidArgument `host_id`); the target has neither an address
    /// nor any host (InvalidArgument `host_source_ids`).
    fn plan_session(
        &self,
        target_id: &str,
        host_id: Option<&str>,
    ) -> Result<SessionPlan, ResourceError>;
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn membership_actions_parse_only_for_their_members() {
        assert_eq!(Change::from_action("add-hosts", "hosts"), Some(Change::Add));
        assert_eq!(
            Change::from_action("set-host-sources", "host-sources"),
            Some(Change::Set)
        );
        assert_eq!(
            Change::from_action("remove-accounts", "accounts"),
            Some(Change::Remove)
        );
        for (action, members) in [
            ("add-hosts", "accounts"),
            ("replace-hosts", "hosts"),
            ("add-host", "hosts"),
            ("add", "hosts"),
            ("", "hosts"),
        ] {
            assert_eq!(
                Change::from_action(action, members),
                None,
                "{action} for {members}"
            );
        }
    }
}
