//! `POST /v1/workers:create:controller-led`: a worker and its one-time activation token
//! (Boundary's controller-led registration). The worker presents the token to a cluster
//! listener once and gets its certificate. Reading and listing workers are the generic
//! routes; a linked worker's live facts are added to what they return
//! ([`Resource::complete`](super::resources::Resource::complete)).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use postern_api::bodies::ScopedCreate;

use super::authz::Caller;
use super::body::JsonBody;
use super::error::{ApiError, FieldError};
use super::ApiState;
use crate::resources::{KindId, NewWorker, Worker, GLOBAL_SCOPE_ID};

pub(super) fn routes() -> Router<ApiState> {
    Router::new().route(
        "/v1/workers:create:controller-led",
        post(create_controller_led),
    )
}

async fn create_controller_led(
    State(state): State<ApiState>,
    caller: Caller,
    body: JsonBody,
) -> Result<Json<Worker>, ApiError> {
    let global = state.resources.get(KindId::Scope, GLOBAL_SCOPE_ID).await?;
    caller.check_collection(KindId::Worker, &global, "create:controller-led")?;
    if state.workers.activation_token("").is_none() {
        return Err(ApiError::invalid(
            "this controller has no cluster listener, so no worker can activate through it: \
             set controller.cluster_listen_address",
        ));
    }
    let body: ScopedCreate = body.read()?;
    let scope_id = body.scope_id.unwrap_or_else(|| GLOBAL_SCOPE_ID.to_owned());
    if scope_id != GLOBAL_SCOPE_ID {
        return Err(ApiError::field(FieldError::new(
            "scope_id",
            "workers are created in the global scope",
        )));
    }
    let new = NewWorker {
        scope_id,
        name: body.name.unwrap_or_default(),
        description: body.description.unwrap_or_default(),
    };
    let mut worker = state.resources.create_as::<Worker>(new).await?;
    worker.controller_generated_activation_token = state
        .workers
        .activation_token(&worker.id)
        .unwrap_or_default();
    Ok(Json(caller.fill(worker)))
}

/// Adds what the worker's link says (address, tags, last status, connections), if it is
/// linked to this controller.
pub(super) fn complete(worker: &mut Worker, state: &ApiState) {
    let Some(linked) = state.workers.linked(&worker.id) else {
        return;
    };
    worker.address = linked.address;
    worker.config_tags.clear();
    for (key, value) in linked.tags {
        worker.config_tags.entry(key).or_default().push(value);
    }
    worker.last_status_time = Some(DateTime::<Utc>::from(linked.last_status));
    worker.active_connection_count = Some(linked.active_connections);
    worker.release_version = linked.release_version;
}
