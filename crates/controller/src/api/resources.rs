//! The routes every resource kind has, written once: `GET|POST /v1/<collection>` (list,
//! create) and `GET|PATCH|DELETE|POST /v1/<collection>/{id}[:<action>]` (read, update,
//! delete, membership actions and the kind's own actions).
//!
//! Who may do what comes from the kind's data ([`KindId::actions`], [`KindId::list_access`]):
//! a caller may read, update, delete or change members when their actions name it; only
//! admins create. What differs between kinds is how a request body becomes its `New` and
//! `Patch` values ([`Resource`]) and the actions a kind adds ([`KindAction`]).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use postern_api::bodies::{NameUpdate, Update};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::require_principal;
use super::body::{version, JsonBody, Params};
use super::error::ApiError;
use super::items::{self, ListParams};
use super::{require_admin, split_action, unknown_action, ApiState};
use crate::resources::{
    Change, Kind, KindId, ListAccess, NamePatch, Parent, Principal, GLOBAL_SCOPE_ID,
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
/// itself, since some are open to anonymous callers.
pub type KindAction = fn(ActionCall) -> ActionFuture;
pub type ActionFuture = Pin<Box<dyn Future<Output = Result<Json<Value>, ApiError>> + Send>>;

/// One call of a kind's own action.
#[derive(Debug)]
pub struct ActionCall {
    pub state: ApiState,
    pub headers: HeaderMap,
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
    let post = move |state: State<ApiState>, peer: Peer, headers: HeaderMap, segment, body| {
        action::<K>(state, peer, headers, segment, body, actions)
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

/// The caller of a request, or why there is none; never a rejection, so each handler decides
/// whether it needs one.
pub struct Caller(Result<Principal, ApiError>);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(require_principal(state, &parts.headers).await))
    }
}

async fn list<K: Resource>(
    State(state): State<ApiState>,
    Caller(principal): Caller,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let kind = K::KIND;
    let principal = match kind.list_access() {
        ListAccess::Public => {
            let principal = principal.ok();
            if principal.is_none() && (params.scope_id() != GLOBAL_SCOPE_ID || params.recursive) {
                return Err(ApiError::Unauthenticated(format!(
                    "Unauthenticated: only global's {}s are listed without a token.",
                    kind.name()
                )));
            }
            principal
        }
        ListAccess::Readers => Some(allowed(kind, principal?, "read")?),
    };
    let parent = match kind.parent() {
        Parent::Scope => params.scope_id(),
        Parent::Item(_) => {
            ListParams::required(params.parent(kind.parent()), kind.parent().field())?
        }
    };
    let filter = params.filter()?;
    let found = state
        .resources
        .list_as::<K>(parent, params.recursive)
        .await?;
    let actions = kind.actions().for_caller(principal.as_ref());
    items::list(found, &actions, filter.as_ref())
}

async fn read<K: Resource>(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<K>, ApiError> {
    let principal = allowed(K::KIND, principal, "read")?;
    let item = state.resources.get_as::<K>(&id).await?;
    Ok(one(item, &principal))
}

async fn create<K: Resource>(
    State(state): State<ApiState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<K>, ApiError> {
    require_admin(&principal)?;
    if let Some(subtype) = K::KIND.subtype() {
        body.check_type(subtype)?;
    }
    let new = K::new_from(body.read()?)?;
    let item = state.resources.create_as::<K>(new).await?;
    Ok(one(item, &principal))
}

async fn update<K: Resource>(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<K>, ApiError> {
    let principal = allowed(K::KIND, principal, "update")?;
    let update: K::Update = body.read()?;
    let version = version(update.version())?;
    let patch = K::patch_from(update);
    let item = state.resources.update_as::<K>(&id, version, patch).await?;
    Ok(one(item, &principal))
}

async fn delete<K: Resource>(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    allowed(K::KIND, principal, "delete")?;
    state.resources.delete_as::<K>(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/<collection>/{id}:<action>`: the kind's own actions, then its membership
/// actions (`:add-<members>`, `:set-…`, `:remove-…`, body `{"version", "<field>": [...]}`).
async fn action<K: Resource>(
    State(state): State<ApiState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Path(segment): Path<String>,
    body: JsonBody,
    actions: &'static [(&'static str, KindAction)],
) -> Result<Json<Value>, ApiError> {
    let (id, action) = split_action(&segment)?;
    if let Some((_, run)) = actions.iter().find(|(name, _)| *name == action) {
        let call = ActionCall {
            state,
            headers,
            peer,
            id: id.to_owned(),
            body,
        };
        return run(call).await;
    }
    let kind = K::KIND;
    let principal = require_principal(&state, &headers).await?;
    let change = kind
        .members()
        .and_then(|members| Some((members, Change::from_action(action, members.action)?)));
    let Some((members, change)) = change else {
        return Err(unknown_action(kind.collection(), action));
    };
    let principal = allowed(kind, principal, action)?;
    let (version, ids) = body.membership(members.field, change)?;
    let item = state
        .resources
        .change_members_as::<K>(id, version, change, &ids)
        .await?;
    items::to_json(&one(item, &principal).0).map(Json)
}

/// The caller, if the kind's actions for them name `action`; 403 otherwise.
fn allowed(kind: KindId, principal: Principal, action: &str) -> Result<Principal, ApiError> {
    if kind.actions().allows(Some(&principal), action) {
        Ok(principal)
    } else {
        Err(ApiError::denied())
    }
}

/// One item with the caller's actions.
pub fn one<K: Kind>(item: K, principal: &Principal) -> Json<K> {
    items::one(item, K::KIND.actions().for_caller(Some(principal)))
}
