//! The controller's resources: scopes, password auth methods, users, accounts, auth tokens,
//! static host catalogs, host sets, hosts and tcp targets.
//!
//! The HTTP API reaches them only through the async [`ResourceStore`] trait, which
//! [`Resources`] implements over a [`ResourceRecords`] backend: [`MemoryResources`] for
//! `postern dev`, or a database (`postern-store`). Every rule between items is written once,
//! in [`ResourceState`], and every backend is held to them by the [`conformance`] suite. What differs between kinds is data ([`KindId`]: name,
//! collection, parent, members, actions) and each kind's typed face ([`Kind`]: the model
//! struct of [`postern_api::items`], serialising to Boundary's JSON field names, and the `New<Kind>` /
//! `<Kind>Patch` values of [`input`] that create and change it). Every update is checked
//! against the version the caller read and bumps it.
//!
//! Two methods connect the store to the rest of the controller: [`ResourceStore::principal`]
//! resolves a bearer token to the user behind a request, and [`ResourceStore::plan_session`]
//! picks the host and endpoint that `authorize-session` hands to the session store.
//!
//! Passwords are stored only as Argon2id hashes (checked off the async threads and outside
//! a backend's lock), token secrets as SHA-256 digests, both compared in constant time
//! (`secret`). Failed logins are throttled by the API (`api::throttle`).

use std::sync::Arc;
use std::time::Duration;

use postern_grants::Acl;

mod build;
#[cfg(feature = "conformance")]
pub mod conformance;
mod ids;
mod input;
mod kind;
mod plan;
mod records;
mod roles;
mod secret;
mod seed;
mod state;
mod store;
mod tokens;
mod validate;

pub use ids::{
    ACCOUNT_PREFIX, ANONYMOUS_USER_ID, AUTHENTICATED_USER_ID, AUTH_METHOD_PREFIX,
    AUTH_TOKEN_PREFIX, GROUP_PREFIX, HOST_CATALOG_PREFIX, HOST_PREFIX, HOST_SET_PREFIX, ORG_PREFIX,
    PROJECT_PREFIX, ROLE_PREFIX, TARGET_PREFIX, USER_PREFIX, WORKER_PREFIX,
};
pub use input::{
    AccountPatch, AuthMethodPatch, CertificateChange, DevSeed, GroupPatch, HostCatalogPatch,
    HostPatch, HostSetPatch, NamePatch, NewAccount, NewAuthMethod, NewGroup, NewHost,
    NewHostCatalog, NewHostSet, NewRole, NewScope, NewTarget, NewUser, NewWorker, RolePatch,
    ScopePatch, TargetPatch, UserPatch, WorkerPatch, MIN_PASSWORD_LENGTH,
};
pub use kind::{
    Item, ItemPatch, Kind, KindId, MemberOf, Members, NewItem, Parent, COLLECTION_ACTIONS,
};
pub use postern_api::items::{
    Account, AccountAttributes, AuthMethod, AuthToken, Group, Host, HostAttributes, HostCatalog,
    HostSet, Role, Scope, ScopeInfo, Target, TargetAttributes, User, Worker, AUTH_TOKEN_LIFETIME,
    DEFAULT_SESSION_MAX_SECONDS, GLOBAL_SCOPE_ID,
};
pub use records::{MemoryResources, ResourceRecords, StateChange};
pub use secret::{generate_password, PasswordDigest, TokenDigest};
pub use seed::{
    default_roles, dev_seed, init_seed, scope_roles, InitialAdmin, SeedStep, DEV_ADMIN_ACCOUNT_ID,
    DEV_ADMIN_USER_ID, DEV_AUTH_METHOD_ID, DEV_HOST_CATALOG_ID, DEV_HOST_ID, DEV_HOST_SET_ID,
    DEV_ORG_ID, DEV_PROJECT_ID, DEV_TARGET_ID, DEV_USER_ACCOUNT_ID, DEV_USER_ID,
};
pub use state::{ResourceState, StoredItem};
pub use store::Resources;
pub use tokens::TokenRecord;

/// What authorize-session needs from the store (see [`ResourceStore::plan_session`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPlan {
    pub target_id: String,
    /// The target's project.
    pub scope: ScopeInfo,
    /// Empty for a target with a direct address.
    pub host_id: String,
    /// Empty for a target with a direct address.
    pub host_set_id: String,
    /// `tcp://address:port` (`tcp://[v6]:port` for an IPv6 address).
    pub endpoint: String,
    pub endpoint_port: u32,
    /// -1 = unlimited.
    pub connection_limit: i32,
    pub max_duration: Duration,
    /// 0 = none.
    pub default_client_port: u32,
}

/// A caller: resolved from `Authorization: Bearer <token>`, or the anonymous user.
#[derive(Debug, Clone)]
pub struct Principal {
    /// [`ANONYMOUS_USER_ID`] for a caller without a (usable) token.
    pub user_id: String,
    /// Empty for the anonymous user.
    pub auth_token_id: String,
    /// Empty for the anonymous user.
    pub account_id: String,
    /// What the caller's roles grant, compiled.
    pub acl: Arc<Acl>,
}

impl Principal {
    pub fn is_anonymous(&self) -> bool {
        self.auth_token_id.is_empty()
    }
}

/// What the store refused, and why. The API maps each variant to Boundary's error kinds.
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
    /// -> 500: the store itself failed (a database error, a broken invariant).
    #[error("store failure: {0}")]
    Store(String),
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

/// What the API asks of the resources; [`Resources`] is the implementation. Every method is
/// async so that a store may wait on a database.
///
/// Items come and go as kind-tagged values ([`Item`], [`NewItem`], [`ItemPatch`]); the typed
/// helpers on `dyn ResourceStore` ([`get`](ResourceStore::get) and friends, e.g.
/// `store.get_as::<Target>(id)`) are what callers use.
///
/// What every store enforces (the conformance suite, [`conformance`], holds each rule):
/// - ids are fresh, with the kind's prefix; updates name the version they were made from
///   and bump it (a stale one is [`ResourceError::StaleVersion`]);
/// - names are unique within a parent for scopes and targets (and every kind, when set);
///   login names within an auth method; targets need a name;
/// - where items live: orgs in global, projects in an org; users and auth methods in global
///   or an org; host catalogs and targets in a project; accounts under an auth method, host
///   sets and hosts under a host catalog;
/// - members: a user's accounts, a host set's hosts (of its catalog), a target's host
///   sources (host sets of its project; none while it has an address);
/// - deletes cascade: a scope takes everything in it, an auth method its accounts, an
///   account or a user its auth tokens, a catalog its hosts and host sets; a deleted member
///   leaves every member list.
#[async_trait::async_trait]
pub trait ResourceStore: Send + Sync + 'static {
    /// One item of `kind`.
    async fn get(&self, kind: KindId, id: &str) -> Result<Item, ResourceError>;
    /// The items of `kind` under `parent_id` (a scope, an auth method, a host catalog, as
    /// [`KindId::parent`] says); `recursive` takes in a scope's sub-scopes (scopes: all
    /// descendants).
    async fn list(
        &self,
        kind: KindId,
        parent_id: &str,
        recursive: bool,
    ) -> Result<Vec<Item>, ResourceError>;
    /// A new item with a fresh id.
    async fn create(&self, new: NewItem) -> Result<Item, ResourceError>;
    /// Changes an item made from `version`, and bumps it.
    async fn update(&self, id: &str, version: u32, patch: ItemPatch)
        -> Result<Item, ResourceError>;
    /// Deletes an item and what depends on it (see above). Global cannot be deleted.
    async fn delete(&self, kind: KindId, id: &str) -> Result<(), ResourceError>;
    /// Adds, replaces or removes the members in `field` ([`KindId::members`]), checked
    /// against `version`.
    async fn change_members(
        &self,
        kind: KindId,
        id: &str,
        version: u32,
        change: Change,
        field: &str,
        member_ids: &[String],
    ) -> Result<Item, ResourceError>;
    /// Scope ids under `scope_id` (itself included) when recursive, else just itself.
    async fn scope_tree(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> Result<Vec<String>, ResourceError>;

    /// Logs in with a password account; the returned token carries `token` (`<id>_<secret>`),
    /// the only time the secret is shown. A wrong password and an unknown login both fail
    /// with `Unauthenticated("authentication failed")`.
    async fn authenticate(
        &self,
        auth_method_id: &str,
        login_name: &str,
        password: &str,
    ) -> Result<AuthToken, ResourceError>;
    /// Resolves a bearer token; the secret is compared in constant time.
    async fn principal(&self, bearer_token: &str) -> Result<Principal, ResourceError>;
    /// The anonymous user, with what its roles grant.
    async fn anonymous(&self) -> Result<Principal, ResourceError>;
    /// An auth token (without its secret).
    async fn auth_token(&self, auth_token_id: &str) -> Result<AuthToken, ResourceError>;
    /// Creates items in order, all in one change (see [`SeedStep`]); the first refusal
    /// stops it and nothing is stored.
    async fn apply_steps(&self, steps: Vec<SeedStep>) -> Result<(), ResourceError>;
    /// Revokes an auth token.
    async fn logout(&self, auth_token_id: &str) -> Result<(), ResourceError>;
    /// Picks the host (the given one, or one at random among the hosts of the target's host
    /// sets) and builds what authorize-session needs. A target with an `address` connects
    /// there and has no host. Errors: the target is unknown (NotFound); `host_id` is not in
    /// the target's host sets (InvalidArgument `host_id`); the target has neither an address
    /// nor any host (InvalidArgument `host_source_ids`).
    async fn plan_session(
        &self,
        target_id: &str,
        host_id: Option<&str>,
    ) -> Result<SessionPlan, ResourceError>;
}

/// The typed face of a store.
impl dyn ResourceStore {
    pub async fn get_as<K: Kind>(&self, id: &str) -> Result<K, ResourceError> {
        K::from_item(self.get(K::KIND, id).await?)
    }

    pub async fn list_as<K: Kind>(
        &self,
        parent_id: &str,
        recursive: bool,
    ) -> Result<Vec<K>, ResourceError> {
        let items = self.list(K::KIND, parent_id, recursive).await?;
        items.into_iter().map(K::from_item).collect()
    }

    pub async fn create_as<K: Kind>(&self, new: K::New) -> Result<K, ResourceError> {
        K::from_item(self.create(K::new_item(new)).await?)
    }

    pub async fn update_as<K: Kind>(
        &self,
        id: &str,
        version: u32,
        patch: K::Patch,
    ) -> Result<K, ResourceError> {
        K::from_item(self.update(id, version, K::patch_item(patch)).await?)
    }

    pub async fn delete_as<K: Kind>(&self, id: &str) -> Result<(), ResourceError> {
        self.delete(K::KIND, id).await
    }

    /// Changes the first (for most kinds, the only) member list of `K`.
    pub async fn change_members_as<K: Kind>(
        &self,
        id: &str,
        version: u32,
        change: Change,
        member_ids: &[String],
    ) -> Result<K, ResourceError> {
        let field = K::KIND.members().first().map_or("", |m| m.field);
        let item = self
            .change_members(K::KIND, id, version, change, field, member_ids)
            .await?;
        K::from_item(item)
    }
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
