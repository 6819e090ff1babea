//! Static hosts: `/v1/host-catalogs` (in a project), `/v1/host-sets` and `/v1/hosts` (under a
//! catalog, listed with `?host_catalog_id=`), and the host set actions `:add-hosts`,
//! `:set-hosts`, `:remove-hosts` (body `{"version", "host_ids"}`). Admin-only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::body::{JsonBody, Params};
use super::error::ApiError;
use super::items::{self, Actions, ListParams, ADMIN_CRUD};
use super::{require_admin, split_action, unknown_action, ApiState};
use crate::resources::{
    Change, Host, HostCatalog, HostCatalogPatch, HostPatch, HostSet, HostSetPatch, NewHost,
    NewHostCatalog, NewHostSet, Principal,
};

const HOST_SET_ACTIONS: Actions = Actions {
    admin: &[
        "no-op",
        "read",
        "update",
        "delete",
        "add-hosts",
        "set-hosts",
        "remove-hosts",
    ],
    others: &[],
};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/host-catalogs", get(list_catalogs).post(create_catalog))
        .route(
            "/v1/host-catalogs/{id}",
            get(read_catalog)
                .patch(update_catalog)
                .delete(delete_catalog),
        )
        .route("/v1/host-sets", get(list_sets).post(create_set))
        .route(
            "/v1/host-sets/{id}",
            get(read_set)
                .patch(update_set)
                .delete(delete_set)
                .post(set_action),
        )
        .route("/v1/hosts", get(list_hosts).post(create_host))
        .route(
            "/v1/hosts/{id}",
            get(read_host).patch(update_host).delete(delete_host),
        )
}

fn admin_actions(principal: &Principal) -> Vec<String> {
    ADMIN_CRUD.for_caller(Some(principal))
}

// Host catalogs.

async fn list_catalogs(
    State(state): State<ApiState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&principal)?;
    let filter = params.filter()?;
    let catalogs = state
        .directory
        .list_host_catalogs(params.scope_id(), params.recursive)?;
    items::list(catalogs, &admin_actions(&principal), filter.as_ref())
}

async fn read_catalog(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<HostCatalog>, ApiError> {
    require_admin(&principal)?;
    let catalog = state.directory.host_catalog(&id)?;
    Ok(items::one(catalog, admin_actions(&principal)))
}

async fn create_catalog(
    State(state): State<ApiState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<HostCatalog>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    fields.check_type("static")?;
    let catalog = state.directory.create_host_catalog(NewHostCatalog {
        scope_id: fields.str("scope_id")?,
        name: fields.opt_str("name")?.unwrap_or_default(),
        description: fields.opt_str("description")?.unwrap_or_default(),
    })?;
    Ok(items::one(catalog, admin_actions(&principal)))
}

async fn update_catalog(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<HostCatalog>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let version = fields.version()?;
    let patch = HostCatalogPatch {
        name: fields.patch_str("name")?,
        description: fields.patch_str("description")?,
    };
    let catalog = state.directory.update_host_catalog(&id, version, patch)?;
    Ok(items::one(catalog, admin_actions(&principal)))
}

async fn delete_catalog(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&principal)?;
    state.directory.delete_host_catalog(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

// Host sets.

async fn list_sets(
    State(state): State<ApiState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&principal)?;
    let catalog_id = ListParams::required(&params.host_catalog_id, "host_catalog_id")?;
    let filter = params.filter()?;
    let sets = state
        .directory
        .list_host_sets(catalog_id, params.recursive)?;
    items::list(
        sets,
        &HOST_SET_ACTIONS.for_caller(Some(&principal)),
        filter.as_ref(),
    )
}

async fn read_set(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<HostSet>, ApiError> {
    require_admin(&principal)?;
    let set = state.directory.host_set(&id)?;
    Ok(items::one(
        set,
        HOST_SET_ACTIONS.for_caller(Some(&principal)),
    ))
}

async fn create_set(
    State(state): State<ApiState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<HostSet>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    fields.check_type("static")?;
    let set = state.directory.create_host_set(NewHostSet {
        host_catalog_id: fields.str("host_catalog_id")?,
        name: fields.opt_str("name")?.unwrap_or_default(),
        description: fields.opt_str("description")?.unwrap_or_default(),
    })?;
    Ok(items::one(
        set,
        HOST_SET_ACTIONS.for_caller(Some(&principal)),
    ))
}

async fn update_set(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<HostSet>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let version = fields.version()?;
    let patch = HostSetPatch {
        name: fields.patch_str("name")?,
        description: fields.patch_str("description")?,
    };
    let set = state.directory.update_host_set(&id, version, patch)?;
    Ok(items::one(
        set,
        HOST_SET_ACTIONS.for_caller(Some(&principal)),
    ))
}

async fn delete_set(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&principal)?;
    state.directory.delete_host_set(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_action(
    State(state): State<ApiState>,
    principal: Principal,
    Path(segment): Path<String>,
    body: JsonBody,
) -> Result<Json<HostSet>, ApiError> {
    let (id, action) = split_action(&segment)?;
    require_admin(&principal)?;
    let fields = body.fields();
    let directory = &state.directory;
    let Some(change) = Change::from_action(action, "hosts") else {
        return Err(unknown_action("host sets", action));
    };
    let (version, ids) = fields.membership("host_ids", change)?;
    let set = directory.change_host_set_hosts(id, version, change, &ids)?;
    Ok(items::one(
        set,
        HOST_SET_ACTIONS.for_caller(Some(&principal)),
    ))
}

// Hosts.

async fn list_hosts(
    State(state): State<ApiState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&principal)?;
    let catalog_id = ListParams::required(&params.host_catalog_id, "host_catalog_id")?;
    let filter = params.filter()?;
    let hosts = state.directory.list_hosts(catalog_id, params.recursive)?;
    items::list(hosts, &admin_actions(&principal), filter.as_ref())
}

async fn read_host(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Host>, ApiError> {
    require_admin(&principal)?;
    let host = state.directory.host(&id)?;
    Ok(items::one(host, admin_actions(&principal)))
}

/// Body: `host_catalog_id`, `name`, `description`, `attributes: {address}`.
async fn create_host(
    State(state): State<ApiState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<Host>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    fields.check_type("static")?;
    let host = state.directory.create_host(NewHost {
        host_catalog_id: fields.str("host_catalog_id")?,
        name: fields.opt_str("name")?.unwrap_or_default(),
        description: fields.opt_str("description")?.unwrap_or_default(),
        address: fields.object("attributes")?.str("address")?,
    })?;
    Ok(items::one(host, admin_actions(&principal)))
}

async fn update_host(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Host>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let version = fields.version()?;
    let patch = HostPatch {
        name: fields.patch_str("name")?,
        description: fields.patch_str("description")?,
        address: fields.object("attributes")?.opt_str("address")?,
    };
    let host = state.directory.update_host(&id, version, patch)?;
    Ok(items::one(host, admin_actions(&principal)))
}

async fn delete_host(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&principal)?;
    state.directory.delete_host(&id)?;
    Ok(StatusCode::NO_CONTENT)
}
