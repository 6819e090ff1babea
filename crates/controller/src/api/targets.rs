//! `/v1/targets`: tcp targets in a project. Any authenticated user may list and read them and
//! `:authorize-session`; admins create, change and delete them and manage their host sources
//! (`:add-host-sources`, `:set-host-sources`, `:remove-host-sources`, body
//! `{"version", "host_source_ids"}`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::body::{Fields, JsonBody, Params};
use super::error::ApiError;
use super::items::{self, Actions, ListParams};
use super::{require_admin, split_action, unknown_action, ApiState};
use crate::resources::{Change, NewTarget, Principal, ResourceError, Target, TargetPatch};
use crate::sessions::NewSession;

const ACTIONS: Actions = Actions {
    admin: &[
        "no-op",
        "read",
        "update",
        "delete",
        "add-host-sources",
        "set-host-sources",
        "remove-host-sources",
        "authorize-session",
    ],
    others: &["no-op", "read", "authorize-session"],
};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/targets", get(list).post(create))
        .route(
            "/v1/targets/{id}",
            get(read).patch(update).delete(delete).post(action),
        )
}

async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let filter = params.filter()?;
    let targets = state
        .directory
        .list_targets(params.scope_id(), params.recursive)?;
    items::list(
        targets,
        &ACTIONS.for_caller(Some(&principal)),
        filter.as_ref(),
    )
}

async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Target>, ApiError> {
    let target = state.directory.target(&id)?;
    Ok(items::one(target, ACTIONS.for_caller(Some(&principal))))
}

/// Body: `scope_id` (a project), `name`, `description`, `type` (`tcp`),
/// `attributes: {default_port, default_client_port}`, `address`, `session_max_seconds`,
/// `session_connection_limit`.
async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<Target>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    fields.check_type("tcp")?;
    let attributes = fields.object("attributes")?;
    let target = state.directory.create_target(NewTarget {
        scope_id: fields.str("scope_id")?,
        name: fields.str("name")?,
        description: fields.opt_str("description")?.unwrap_or_default(),
        default_port: attributes.opt_u32("default_port")?,
        default_client_port: attributes.opt_u32("default_client_port")?,
        address: fields.opt_str("address")?.filter(|a| !a.is_empty()),
        session_max_seconds: fields.opt_u32("session_max_seconds")?,
        session_connection_limit: fields.opt_i32("session_connection_limit")?,
    })?;
    Ok(items::one(target, ACTIONS.for_caller(Some(&principal))))
}

async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Target>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let version = fields.version()?;
    let attributes = fields.object("attributes")?;
    let default_client_port = if attributes.has("default_client_port") {
        // `null` clears it, as 0 does.
        Some(attributes.opt_u32("default_client_port")?.unwrap_or(0))
    } else {
        None
    };
    let patch = TargetPatch {
        name: fields.patch_str("name")?,
        description: fields.patch_str("description")?,
        default_port: attributes.opt_u32("default_port")?,
        default_client_port,
        address: fields.patch_str("address")?,
        session_max_seconds: fields.opt_u32("session_max_seconds")?,
        session_connection_limit: fields.opt_i32("session_connection_limit")?,
    };
    let target = state.directory.update_target(&id, version, patch)?;
    Ok(items::one(target, ACTIONS.for_caller(Some(&principal))))
}

async fn delete(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&principal)?;
    state.directory.delete_target(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn action(
    State(state): State<ApiState>,
    principal: Principal,
    Path(segment): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (id, action) = split_action(&segment)?;
    let fields = body.fields();
    let directory = &state.directory;
    let target = match action {
        "authorize-session" => return authorize_session(&state, &principal, id, &fields),
        action => {
            let Some(change) = Change::from_action(action, "host-sources") else {
                return Err(unknown_action("targets", action));
            };
            require_admin(&principal)?;
            let (version, ids) = fields.membership("host_source_ids", change)?;
            directory.change_target_host_sources(id, version, change, &ids)?
        }
    };
    let target = items::one(target, ACTIONS.for_caller(Some(&principal))).0;
    Ok(Json(items::to_json(&target)?))
}

/// Body `{"host_id"}` (optional: otherwise a host of the target's host sets at random).
/// Like Boundary, the target may be named instead of identified when the body says which
/// scope it is in (`scope_id`). Answers `{"item": <session authorization>}`.
fn authorize_session(
    state: &ApiState,
    principal: &Principal,
    target: &str,
    fields: &Fields<'_>,
) -> Result<Json<Value>, ApiError> {
    let host_id = fields.opt_str("host_id")?.filter(|h| !h.is_empty());
    let target_id = resolve_target(state, target, fields)?;
    let plan = state
        .directory
        .plan_session(&target_id, host_id.as_deref())?;
    let authorization = state.sessions.authorize_session(NewSession {
        target_id: plan.target_id,
        scope: plan.scope.into(),
        user_id: principal.user_id.clone(),
        auth_token_id: principal.auth_token_id.clone(),
        host_id: plan.host_id,
        host_set_id: plan.host_set_id,
        endpoint: plan.endpoint,
        endpoint_port: plan.endpoint_port,
        connection_limit: plan.connection_limit,
        max_duration: plan.max_duration,
        worker_addresses: state.worker_addresses.clone(),
        default_client_port: plan.default_client_port,
    })?;
    tracing::debug!(
        session_id = %authorization.session.id,
        target_id = %authorization.session.target_id,
        user_id = %principal.user_id,
        "session authorized"
    );
    Ok(Json(json!({ "item": items::to_json(&authorization)? })))
}

/// The target's id: `target` itself, or, when it is no target id and the body names a
/// `scope_id`, the target of that name in that scope.
fn resolve_target(state: &ApiState, target: &str, fields: &Fields<'_>) -> Result<String, ApiError> {
    match state.directory.target(target) {
        Ok(found) => Ok(found.id),
        Err(ResourceError::NotFound { .. }) if fields.opt_str("scope_id")?.is_some() => {
            let scope_id = fields.str("scope_id")?;
            state
                .directory
                .list_targets(&scope_id, false)?
                .into_iter()
                .find(|t| t.name == target)
                .map(|t| t.id)
                .ok_or_else(|| {
                    ApiError::NotFound(format!("No target named {target:?} in scope {scope_id}."))
                })
        }
        Err(e) => Err(e.into()),
    }
}
