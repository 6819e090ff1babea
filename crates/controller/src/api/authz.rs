//! The one authorization check of the API. Every route resolves its [`Caller`] and asks
//! here, with the resource (type, id, scope, pin) and the action, whether the caller's
//! grants allow it; the same check fills each item's `authorized_actions` and each
//! container's `authorized_collection_actions`.
//!
//! What a refusal says depends on what the caller may know: an anonymous caller is told to
//! authenticate (401, or why their token was refused); an item the caller has no action on
//! at all does not exist for them (404, as if it were not there); an item they may see but
//! not change this way is 403.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use postern_grants::{Resource, ResourceType};

use super::auth::resolve_caller;
use super::error::ApiError;
use super::ApiState;
use crate::resources::{
    Item, Kind, KindId, Parent, Principal, ResourceError, ScopeInfo, COLLECTION_ACTIONS,
};

/// Every action on a session; `:self` ones only count on the caller's own sessions.
pub const SESSION_ACTIONS: &[&str] = &["no-op", "read", "read:self", "cancel", "cancel:self"];

/// Who is calling: the principal behind the token, or the anonymous user, and why a given
/// token was not taken (told to the caller when anonymity is not enough).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub token_error: Option<ApiError>,
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        resolve_caller(state, &parts.method, &parts.headers).await
    }
}

impl Caller {
    /// The refusal of an action the caller's grants do not allow on something they may see.
    pub fn denied(&self) -> ApiError {
        if self.principal.is_anonymous() {
            return self.unauthenticated();
        }
        ApiError::denied()
    }

    /// The refusal of something the caller may not even see: not found, or 401 for an
    /// anonymous caller.
    pub fn not_found(&self, message: String) -> ApiError {
        if self.principal.is_anonymous() {
            return self.unauthenticated();
        }
        ApiError::NotFound(message)
    }

    fn unauthenticated(&self) -> ApiError {
        self.token_error.clone().unwrap_or_else(|| {
            ApiError::Unauthenticated(
                "Unauthenticated: no auth token was given (Authorization: Bearer <token>).".into(),
            )
        })
    }

    /// The caller's actions on an item, in the kind's order.
    pub fn item_actions(&self, item: &impl Grantable) -> Vec<String> {
        let acl = &self.principal.acl;
        acl.allowed_actions(&item.resource(), item.kind_id().actions())
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The caller's actions on an item, if they include `action`; 404 when the caller has
    /// none at all, 403 otherwise.
    pub fn check_item(&self, item: &impl Grantable, action: &str) -> Result<Vec<String>, ApiError> {
        let actions = self.item_actions(item);
        if actions.is_empty() {
            return Err(self.not_found(not_found_message(item.kind_id(), item.id())));
        }
        if !actions.iter().any(|a| a == action) {
            return Err(self.denied());
        }
        Ok(actions)
    }

    /// Whether the caller may `action` (create, list) on `kind`'s collection in `scope`
    /// (under the item `pin` for kinds that live under an item).
    pub fn may_collection(
        &self,
        kind: ResourceType,
        scope: &ScopeInfo,
        pin: &str,
        action: &str,
    ) -> bool {
        let resource = Resource {
            id: "",
            kind,
            scope_id: &scope.id,
            parent_scope_id: &scope.parent_scope_id,
            pin,
        };
        self.principal.acl.allowed(&resource, action)
    }

    /// Checks `action` on `kind`'s collection in the container `container` (a scope, or the
    /// item the kind lives under). Refused: 404 when the caller may not see the container
    /// either, 403 otherwise.
    pub fn check_collection(
        &self,
        kind: KindId,
        container: &Item,
        action: &str,
    ) -> Result<(), ApiError> {
        if self.allows_collection(kind, container, action) {
            return Ok(());
        }
        if self.item_actions(container).is_empty() {
            return Err(self.not_found(not_found_message(container.kind(), container.id())));
        }
        Err(self.denied())
    }

    /// Whether the caller may `action` on `kind`'s collection in `container`.
    pub fn allows_collection(&self, kind: KindId, container: &Item, action: &str) -> bool {
        let (scope, pin) = collection_place(kind, container);
        self.may_collection(kind.grant_type(), &scope, pin, action)
    }

    /// Fills an item's `authorized_actions` and, for containers, its
    /// `authorized_collection_actions`.
    pub fn fill<K: Kind>(&self, mut item: K) -> K {
        *item.authorized_actions() = self.item_actions(&item);
        if matches!(
            K::KIND,
            KindId::Scope | KindId::AuthMethod | KindId::HostCatalog
        ) {
            let container = item.clone().into_item();
            *item.authorized_collection_actions() = self.collection_actions(&container);
        }
        item
    }

    /// What the caller may do with the collections an item holds: a scope's kinds (and a
    /// project's sessions), an auth method's accounts, a host catalog's host sets and hosts.
    fn collection_actions(&self, container: &Item) -> BTreeMap<String, Vec<String>> {
        let mut map = BTreeMap::new();
        let mut add =
            |plural: &str, kind: ResourceType, scope: &ScopeInfo, pin: &str, actions: &[&str]| {
                let allowed: Vec<String> = actions
                    .iter()
                    .filter(|a| self.may_collection(kind, scope, pin, a))
                    .map(|a| (*a).to_owned())
                    .collect();
                if !allowed.is_empty() {
                    map.insert(plural.to_owned(), allowed);
                }
            };
        for &kind in KindId::ALL {
            if !holds_collection(container, kind) {
                continue;
            }
            let (scope, pin) = collection_place(kind, container);
            add(
                kind.collection(),
                kind.grant_type(),
                &scope,
                pin,
                COLLECTION_ACTIONS,
            );
        }
        if let Item::Scope(scope) = container {
            if scope.scope_type == "project" {
                let (info, _) = collection_place(KindId::Target, container);
                add("sessions", ResourceType::Session, &info, "", &["list"]);
            }
        }
        map
    }

    /// The caller's actions on a session owned by `owner` in the project `scope`: `:self`
    /// actions count only on their own.
    pub fn session_actions(&self, scope: &ScopeInfo, session_id: &str, owner: &str) -> Vec<String> {
        let resource = Resource {
            id: session_id,
            kind: ResourceType::Session,
            scope_id: &scope.id,
            parent_scope_id: &scope.parent_scope_id,
            pin: "",
        };
        let own = owner == self.principal.user_id;
        self.principal
            .acl
            .allowed_actions(&resource, SESSION_ACTIONS)
            .into_iter()
            .filter(|a| own || !a.ends_with(":self"))
            .map(str::to_owned)
            .collect()
    }
}

/// An item as grants see it: its type, id, scope (a scope's is its parent; global's is
/// itself) and, for kinds under another item, that item as its pin.
pub trait Grantable {
    fn kind_id(&self) -> KindId;
    fn id(&self) -> &str;
    fn scope(&self) -> &ScopeInfo;
    fn parent_id(&self) -> &str;

    fn resource(&self) -> Resource<'_> {
        let scope = self.scope();
        let pin = match self.kind_id().parent() {
            Parent::Item(_) => self.parent_id(),
            Parent::Scope => "",
        };
        Resource {
            id: self.id(),
            kind: self.kind_id().grant_type(),
            scope_id: &scope.id,
            parent_scope_id: &scope.parent_scope_id,
            pin,
        }
    }
}

impl<K: Kind> Grantable for K {
    fn kind_id(&self) -> KindId {
        K::KIND
    }
    fn id(&self) -> &str {
        Kind::id(self)
    }
    fn scope(&self) -> &ScopeInfo {
        Kind::scope(self)
    }
    fn parent_id(&self) -> &str {
        Kind::parent_id(self)
    }
}

impl Grantable for Item {
    fn kind_id(&self) -> KindId {
        self.kind()
    }
    fn id(&self) -> &str {
        Item::id(self)
    }
    fn scope(&self) -> &ScopeInfo {
        Item::scope(self)
    }
    fn parent_id(&self) -> &str {
        Item::parent_id(self)
    }
}

/// Where `kind`'s collection in `container` is for grants: the scope (the container itself,
/// or the scope it is in) and the pin (the container, for kinds that live under an item).
fn collection_place(kind: KindId, container: &Item) -> (ScopeInfo, &str) {
    match (kind.parent(), container) {
        (Parent::Scope, Item::Scope(scope)) => {
            let info = ScopeInfo {
                id: scope.id.clone(),
                scope_type: scope.scope_type.clone(),
                parent_scope_id: scope.scope_id.clone(),
                ..ScopeInfo::default()
            };
            (info, "")
        }
        _ => (container.scope().clone(), container.id()),
    }
}

/// Whether `container` holds a collection of `kind`.
fn holds_collection(container: &Item, kind: KindId) -> bool {
    match (kind.parent(), container) {
        (Parent::Scope, Item::Scope(scope)) => {
            kind.scope_types().contains(&scope.scope_type.as_str())
        }
        (Parent::Item(parent), item) => item.kind() == parent,
        _ => false,
    }
}

/// The message of a real "not found", so that an item the caller may not see reads the same.
fn not_found_message(kind: KindId, id: &str) -> String {
    ResourceError::not_found(kind.name(), id).to_string()
}
