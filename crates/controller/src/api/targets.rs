//! `/v1/targets`: tcp targets in a project, with their host sources (`:add-host-sources`,
//! `:set-host-sources`, `:remove-host-sources`, body `{"version", "host_source_ids"}`) and
//! `:authorize-session`, each as the caller's grants allow.

use std::collections::BTreeMap;

use axum::Json;
use postern_api::bodies::{AuthorizeSession, TargetCreate, TargetUpdate};
use postern_api::ConnectionLimit;
use serde_json::{json, Value};

use super::authz::Caller;
use super::body::required;
use super::error::ApiError;
use super::items;
use super::resources::{ActionCall, ActionFuture, KindAction, Resource};
use super::ApiState;
use crate::filter::Filter;
use crate::resources::{NewTarget, ResourceError, Target, TargetPatch, Worker};
use crate::sessions::NewSession;

impl Resource for Target {
    type Create = TargetCreate;
    type Update = TargetUpdate;

    fn new_from(body: TargetCreate) -> Result<NewTarget, ApiError> {
        let ports = body.attributes.unwrap_or_default();
        Ok(NewTarget {
            scope_id: required(body.scope_id, "scope_id")?,
            name: required(body.name, "name")?,
            description: body.description.unwrap_or_default(),
            default_port: ports.default_port,
            default_client_port: ports.default_client_port,
            address: body.address.filter(|a| !a.is_empty()),
            session_max_seconds: body.session_max_seconds,
            session_connection_limit: body.session_connection_limit.map(ConnectionLimit::wire),
            egress_worker_filter: body.egress_worker_filter,
        })
    }

    fn patch_from(body: TargetUpdate) -> TargetPatch {
        let ports = body.attributes.unwrap_or_default();
        TargetPatch {
            name: body.name,
            description: body.description,
            default_port: ports.default_port,
            default_client_port: ports.default_client_port,
            address: body.address,
            session_max_seconds: body.session_max_seconds,
            session_connection_limit: body.session_connection_limit.map(ConnectionLimit::wire),
            egress_worker_filter: body.egress_worker_filter,
        }
    }
}

/// The targets' own action.
pub const TARGET_ACTIONS: &[(&str, KindAction)] = &[("authorize-session", authorize_session)];

/// Body `{"host_id"}` (optional: otherwise a host of the target's host sets at random).
/// Like Boundary, the target may be named instead of identified when the body says which
/// scope it is in (`scope_id`). Answers `{"item": <session authorization>}`.
fn authorize_session(call: ActionCall) -> ActionFuture {
    Box::pin(async move { authorize(&call.state, &call.caller, &call.id, call.body.read()?).await })
}

async fn authorize(
    state: &ApiState,
    caller: &Caller,
    target: &str,
    body: AuthorizeSession,
) -> Result<Json<Value>, ApiError> {
    let principal = &caller.principal;
    let host_id = body.host_id.filter(|h| !h.is_empty());
    let target = resolve_target(state, caller, target, body.scope_id).await?;
    caller.check_item(&target, "authorize-session")?;
    let workers = egress_workers(state, &target.egress_worker_filter).await?;
    let target_id = target.id;
    let plan = state
        .resources
        .plan_session(&target_id, host_id.as_deref())
        .await?;
    let authorization = state
        .sessions
        .authorize_session(NewSession {
            target_id: plan.target_id,
            scope: plan.scope,
            user_id: principal.user_id.clone(),
            auth_token_id: principal.auth_token_id.clone(),
            host_id: plan.host_id,
            host_set_id: plan.host_set_id,
            endpoint: plan.endpoint,
            endpoint_port: plan.endpoint_port,
            connection_limit: plan.connection_limit,
            max_duration: plan.max_duration,
            worker_addresses: workers,
            default_client_port: plan.default_client_port,
        })
        .await?;
    tracing::debug!(
        session_id = %authorization.session.id,
        target_id = %authorization.session.target_id,
        user_id = %principal.user_id,
        "session authorized"
    );
    Ok(Json(json!({ "item": items::to_json(&authorization)? })))
}

/// The addresses of the workers that may carry a session of a target with this egress
/// worker filter: all of them without one; with one, those whose `{"name", "tags"}` it
/// matches (Boundary's filter input). None matching is a 400 that says so.
async fn egress_workers(state: &ApiState, filter: &str) -> Result<Vec<String>, ApiError> {
    if filter.is_empty() {
        return Ok(state.workers.addresses());
    }
    let parsed = Filter::parse(filter).map_err(|e| {
        ApiError::FailedPrecondition(format!(
            "the target's egress_worker_filter does not parse: {e}"
        ))
    })?;
    let candidates = state.workers.candidates();
    let mut chosen = Vec::new();
    for candidate in &candidates {
        let name = match &candidate.worker_id {
            Some(id) => state
                .resources
                .get_as::<Worker>(id)
                .await
                .map(|w| w.name)
                .unwrap_or_default(),
            None => String::new(),
        };
        let mut tags: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (key, value) in &candidate.tags {
            tags.entry(key).or_default().push(value);
        }
        if parsed.matches_document(&json!({ "name": name, "tags": tags })) {
            chosen.push(candidate.address.clone());
        }
    }
    if chosen.is_empty() {
        return Err(ApiError::FailedPrecondition(format!(
            "No workers are available to handle this session: none of the {} worker(s) available matches the target's egress_worker_filter {filter:?}.",
            candidates.len()
        )));
    }
    Ok(chosen)
}

/// The target: `target` itself, or, when it is no target id and the body names a
/// `scope_id`, the target of that name in that scope.
async fn resolve_target(
    state: &ApiState,
    caller: &Caller,
    target: &str,
    scope_id: Option<String>,
) -> Result<Target, ApiError> {
    match state.resources.get_as::<Target>(target).await {
        Ok(found) => Ok(found),
        Err(ResourceError::NotFound { .. }) if scope_id.is_some() => {
            let scope_id = required(scope_id, "scope_id")?;
            let named = match state.resources.list_as::<Target>(&scope_id, false).await {
                Err(ResourceError::NotFound { .. }) => None,
                other => other?.into_iter().find(|t| t.name == target),
            };
            named.ok_or_else(|| {
                caller.not_found(format!("No target named {target:?} in scope {scope_id}."))
            })
        }
        Err(e @ ResourceError::NotFound { .. }) => Err(caller.not_found(e.to_string())),
        Err(e) => Err(e.into()),
    }
}
