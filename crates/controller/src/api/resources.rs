//! The routes every resource kind has, written once: `GET|POST /v1/<collection>` (list,
//! create) and `GET|PATCH|DELETE|POST /v1/<collection>/{id}[:<action>]` (read, update,
//! delete, membership actions and the kind's own actions).
//!
//! Every route asks the one check ([`Caller`], `authz`) whether the caller's grants allow
//! the action on the item (or, for list and create, on the kind's collection in the scope or
//! under the parent item). What differs between kinds is how a request body becomes its
//! `New` and `Patch` values ([`Resource`]) and the actions a kind adds ([`KindAction`]).

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use postern_api::bodies::{NameUpdate, ScopedCreate, Update};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::authz::Caller;
use super::body::{required, version, JsonBody, Params};
use super::error::ApiError;
use super::items::{self, ListParams};
use super::{split_action, unknown_action, ApiState};
use crate::resources::{
    scope_roles, AuthMethod, AuthMethodPatch, Group, GroupPatch, HostCatalog, HostCatalogPatch,
    Item, Kind, KindId, NamePatch, NewAuthMethod, NewGroup, NewHostCatalog, NewRole, NewScope,
    NewUser, NewWorker, Parent, ResourceError, Role, RolePatch, Scope, ScopePatch, User, UserPatch,
    Worker, WorkerPatch,
};

/// A kind the API serves: its create and update bodies (the contract's types) and how they
/// become the store's `New` and `Patch` values.
pub trait Resource: Kind {
    /// The body of `POST /v1/<collection>`.
    type Create: DeserializeOwned + Send;
    /// The body of `PATCH /v1/<collection>/{id}`.
    type Update: DeserializeOwned + Update + Send;
    /// Every refusal names its field.
    fn new_from(body: Self::Create) -> Result<Self::New, ApiError>;
    fn patch_from(body: Self::Update) -> Self::Patch;
    /// Adds what the store does not keep (a linked worker's live facts) before the item is
    /// returned.
    fn complete(&mut self, _state: &ApiState) {}
}

/// The kinds made from a scope, a name and a description, and changed only in their name and
/// description: scopes (`scope_id` is the parent), auth methods and users (global or an org),
/// host catalogs (a project), groups and roles (any scope).
macro_rules! scoped_resources {
    ($($kind:ty => $new:ident, $patch:ty;)*) => {$(
        impl Resource for $kind {
            type Create = ScopedCreate;
            type Update = NameUpdate;

            fn new_from(body: ScopedCreate) -> Result<$new, ApiError> {
                Ok($new {
                    scope_id: required(body.scope_id, "scope_id")?,
                    name: body.name.unwrap_or_default(),
                    description: body.description.unwrap_or_default(),
                })
            }

            fn patch_from(body: NameUpdate) -> $patch {
                body.into()
            }
        }
    )*};
}

scoped_resources! {
    Scope => NewScope, ScopePatch;
    AuthMethod => NewAuthMethod, AuthMethodPatch;
    User => NewUser, UserPatch;
    HostCatalog => NewHostCatalog, HostCatalogPatch;
    Group => NewGroup, GroupPatch;
    Role => NewRole, RolePatch;
}

impl Resource for Worker {
    type Create = ScopedCreate;
    type Update = NameUpdate;

    /// A worker made this way has no activation token: `:create:controller-led` makes one.
    fn new_from(body: ScopedCreate) -> Result<NewWorker, ApiError> {
        Ok(NewWorker {
            scope_id: required(body.scope_id, "scope_id")?,
            name: body.name.unwrap_or_default(),
            description: body.description.unwrap_or_default(),
        })
    }

    fn patch_from(body: NameUpdate) -> WorkerPatch {
        NamePatch::from(body).into()
    }

    fn complete(&mut self, state: &ApiState) {
        super::workers::complete(self, state);
    }
}

impl From<NameUpdate> for NamePatch {
    fn from(body: NameUpdate) -> Self {
        Self {
            name: body.name,
            description: body.description,
        }
    }
}

/// An action a kind adds (`:authenticate`, `:authorize-session`): it checks its caller
/// itself (with [`Caller::check_item`]).
pub type KindAction = fn(ActionCall) -> ActionFuture;
pub type ActionFuture = Pin<Box<dyn Future<Output = Result<Json<Value>, ApiError>> + Send>>;

/// One call of a kind's own action.
#[derive(Debug)]
pub struct ActionCall {
    pub state: ApiState,
    pub caller: Caller,
    /// The caller's address, when the server was started with connect info.
    pub peer: Option<IpAddr>,
    /// The item's id (or, for `:authorize-session`, possibly a target's name).
    pub id: String,
    pub body: JsonBody,
}

/// The routes of kind `K`, with its own actions by name.
pub fn routes<K: Resource>(actions: &'static [(&'static str, KindAction)]) -> Router<ApiState> {
    let collection = format!("/v1/{}", K::KIND.collection());
    let item = format!("{collection}/{{id}}");
    let post = move |state: State<ApiState>, peer: Peer, caller: Caller, segment, body| {
        action::<K>(state, peer, caller, segment, body, actions)
    };
    Router::new()
        .route(&collection, get(list::<K>).post(create::<K>))
        .route(
            &item,
            get(read::<K>)
                .patch(update::<K>)
                .delete(delete::<K>)
                .post(post),
        )
}

/// The address a request came from, if the server knows it (served with connect info).
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let info = parts.extensions.get::<ConnectInfo<SocketAddr>>();
        Ok(Self(info.map(|ConnectInfo(addr)| addr.ip())))
    }
}

/// The query of a create: Boundary's switches for the roles a new scope gets.
#[derive(Debug, Default, Deserialize)]
struct CreateParams {
    #[serde(default)]
    skip_admin_role_creation: bool,
    #[serde(default)]
    skip_default_role_creation: bool,
}

/// `GET /v1/<collection>?scope_id=&recursive=&filter=` (or `?auth_method_id=`,
/// `?host_catalog_id=`): the items the caller has any action on, in the scopes (or under the
/// item) where they may list this kind.
async fn list<K: Resource>(
    State(state): State<ApiState>,
    caller: Caller,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let kind = K::KIND;
    let filter = params.filter()?;
    let found = match kind.parent() {
        Parent::Scope => {
            let scope_id = params.scope_id();
            let root = state.resources.get(KindId::Scope, scope_id).await?;
            let found = state
                .resources
                .list_as::<K>(scope_id, params.recursive)
                .await?;
            if params.recursive {
                // Only from the scopes of the tree where the caller may list this kind.
                let mut scopes = state.resources.list(KindId::Scope, scope_id, true).await?;
                scopes.push(root);
                let listable: HashSet<&str> = scopes
                    .iter()
                    .filter(|scope| caller.allows_collection(kind, scope, "list"))
                    .map(Item::id)
                    .collect();
                found
                    .into_iter()
                    .filter(|item| listable.contains(item.scope().id.as_str()))
                    .collect()
            } else {
                caller.check_collection(kind, &root, "list")?;
                found
            }
        }
        Parent::Item(parent) => {
            let field = kind.parent().field();
            let parent_id = ListParams::required(params.parent(kind.parent()), field)?;
            let container = state.resources.get(parent, parent_id).await?;
            caller.check_collection(kind, &container, "list")?;
            state.resources.list_as::<K>(parent_id, false).await?
        }
    };
    let visible = found
        .into_iter()
        .map(|mut item| {
            item.complete(&state);
            caller.fill(item)
        })
        .filter(|item| !caller.item_actions(item).is_empty());
    items::list(visible, filter.as_ref())
}

async fn read<K: Resource>(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<K>, ApiError> {
    let mut item = existing::<K>(&state, &caller, &id).await?;
    caller.check_item(&item, "read")?;
    item.complete(&state);
    Ok(Json(caller.fill(item)))
}

async fn create<K: Resource>(
    State(state): State<ApiState>,
    caller: Caller,
    Params(params): Params<CreateParams>,
    body: JsonBody,
) -> Result<Json<K>, ApiError> {
    // Who may create here is checked first: the rest of the body is only read for them.
    let kind = K::KIND;
    let (container_kind, field) = match kind.parent() {
        Parent::Scope => (KindId::Scope, "scope_id"),
        Parent::Item(parent) => (parent, kind.parent().field()),
    };
    let parent_id = match body.0.get(field) {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return Err(ApiError::missing(field)),
    };
    let container = match state.resources.get(container_kind, &parent_id).await {
        Err(ResourceError::NotFound { .. }) => {
            return Err(caller.not_found(format!("{field} {parent_id} not found")));
        }
        other => other?,
    };
    caller.check_collection(kind, &container, "create")?;
    if let Some(subtype) = kind.subtype() {
        body.check_type(subtype)?;
    }
    let new = K::new_from(body.read()?)?;
    let item = state.resources.create_as::<K>(new).await?;
    if let Item::Scope(scope) = item.clone().into_item() {
        let principal = &caller.principal;
        let creator = (!params.skip_admin_role_creation).then_some(principal.user_id.as_str());
        let defaults = !params.skip_default_role_creation;
        let steps = scope_roles(&scope.id, &scope.scope_type, creator, defaults);
        state.resources.apply_steps(steps).await?;
    }
    Ok(Json(caller.fill(item)))
}

async fn update<K: Resource>(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<K>, ApiError> {
    let item = existing::<K>(&state, &caller, &id).await?;
    caller.check_item(&item, "update")?;
    let update: K::Update = body.read()?;
    let version = version(update.version())?;
    let patch = K::patch_from(update);
    let item = state.resources.update_as::<K>(&id, version, patch).await?;
    Ok(Json(caller.fill(item)))
}

async fn delete<K: Resource>(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let item = existing::<K>(&state, &caller, &id).await?;
    caller.check_item(&item, "delete")?;
    state.resources.delete_as::<K>(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/<collection>/{id}:<action>`: the kind's own actions, then its membership
/// actions (`:add-<members>`, `:set-…`, `:remove-…`, body `{"version", "<field>": [...]}`).
async fn action<K: Resource>(
    State(state): State<ApiState>,
    Peer(peer): Peer,
    caller: Caller,
    Path(segment): Path<String>,
    body: JsonBody,
    actions: &'static [(&'static str, KindAction)],
) -> Result<Json<Value>, ApiError> {
    let (id, action) = split_action(&segment)?;
    if let Some((_, run)) = actions.iter().find(|(name, _)| *name == action) {
        let call = ActionCall {
            state,
            caller,
            peer,
            id: id.to_owned(),
            body,
        };
        return run(call).await;
    }
    let kind = K::KIND;
    let Some((members, change)) = kind.membership_action(action) else {
        return Err(unknown_action(kind.collection(), action));
    };
    let item = existing::<K>(&state, &caller, id).await?;
    caller.check_item(&item, action)?;
    let (version, ids) = body.membership(members.field, change)?;
    let item = state
        .resources
        .change_members(kind, id, version, change, members.field, &ids)
        .await?;
    let item = caller.fill(K::from_item(item)?);
    items::to_json(&item).map(Json)
}

/// The item, or 404 (401 for an anonymous caller, who is told to log in first).
pub async fn existing<K: Kind>(state: &ApiState, caller: &Caller, id: &str) -> Result<K, ApiError> {
    match state.resources.get_as::<K>(id).await {
        Err(e @ ResourceError::NotFound { .. }) => Err(caller.not_found(e.to_string())),
        other => Ok(other?),
    }
}
