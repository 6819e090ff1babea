//! `/v1/scopes`: any authenticated user may list and read scopes; only admins change them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::body::{JsonBody, Params};
use super::error::ApiError;
use super::items::{self, Actions, ListParams};
use super::{require_admin, ApiState};
use crate::resources::{Principal, Scope};

const ACTIONS: Actions = Actions {
    admin: &["no-op", "read", "update", "delete"],
    others: &["no-op", "read"],
};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/scopes", get(list).post(create))
        .route("/v1/scopes/{id}", get(read).patch(update).delete(delete))
}

async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let filter = params.filter()?;
    let scopes = state
        .directory
        .list_scopes(params.scope_id(), params.recursive)?;
    items::list(
        scopes,
        &ACTIONS.for_caller(Some(&principal)),
        filter.as_ref(),
    )
}

async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Scope>, ApiError> {
    let scope = state.directory.scope(&id)?;
    Ok(items::one(scope, ACTIONS.for_caller(Some(&principal))))
}

/// Body: `scope_id` (the parent: global for an org, an org for a project), `name`,
/// `description`.
async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<Scope>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let parent = fields.str("scope_id")?;
    let name = fields.opt_str("name")?.unwrap_or_default();
    let description = fields.opt_str("description")?.unwrap_or_default();
    let scope = state.directory.create_scope(&parent, &name, &description)?;
    Ok(items::one(scope, ACTIONS.for_caller(Some(&principal))))
}

async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Scope>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let version = fields.version()?;
    let scope = state.directory.update_scope(
        &id,
        version,
        fields.patch_str("name")?,
        fields.patch_str("description")?,
    )?;
    Ok(items::one(scope, ACTIONS.for_caller(Some(&principal))))
}

async fn delete(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&principal)?;
    state.directory.delete_scope(&id)?;
    Ok(StatusCode::NO_CONTENT)
}
