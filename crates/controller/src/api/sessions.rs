//! `/v1/sessions` (docs/protocol.md §6): list (filtered, paged), read, and `:cancel`.
//!
//! Sessions come from the [`SessionStore`](crate::sessions::SessionStore), newest first. An
//! admin sees and cancels every session; anyone else only their own (another user's session
//! is 403, and is left out of lists).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use postern_authority::SessionStatus;
use serde::Deserialize;
use serde_json::{json, Value};

use postern_api::bodies::Version;

use super::body::{version, JsonBody, Params};
use super::error::{ApiError, FieldError};
use super::items::{self, parse_filter};
use super::paging::{self, ListToken};
use super::{split_action, unknown_action, ApiState};
use crate::resources::{Principal, Scope, GLOBAL_SCOPE_ID};
use crate::sessions::Session;

const OWNER_ACTIONS: &[&str] = &["no-op", "read:self", "cancel:self"];
const ADMIN_ACTIONS: &[&str] = &["no-op", "read", "read:self", "cancel", "cancel:self"];

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/sessions", get(list))
        .route("/v1/sessions/{id}", get(read).post(action))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    scope_id: Option<String>,
    #[serde(default)]
    recursive: bool,
    filter: Option<String>,
    #[serde(default)]
    include_terminated: bool,
    page_size: Option<usize>,
    list_token: Option<String>,
}

async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let page_size = paging::page_size(params.page_size)?;
    let resume = match params.list_token.as_deref() {
        Some(token) => Some(ListToken::decode(token)?),
        None => None,
    };
    let filter = parse_filter(params.filter.as_deref())?;
    let scope_id = params.scope_id.as_deref().filter(|s| !s.is_empty());
    let scopes = if params.recursive {
        state
            .resources
            .scope_tree(scope_id.unwrap_or(GLOBAL_SCOPE_ID), true)
            .await?
    } else {
        let scope_id = scope_id.ok_or_else(|| ApiError::missing("scope_id"))?;
        let scope = state.resources.get_as::<Scope>(scope_id).await?;
        if scope.scope_type != "project" {
            return Err(ApiError::field(FieldError::new(
                "scope_id",
                "scope_id must be a project scope unless recursive.",
            )));
        }
        vec![scope.id]
    };

    let mut matching = Vec::new();
    for session in state.sessions.list().await? {
        let visible = scopes.contains(&session.scope_id)
            && (params.include_terminated || session.status != SessionStatus::Terminated)
            && (principal.admin || session.user_id == principal.user_id);
        if !visible {
            continue;
        }
        let item = session_json(&session, &principal)?;
        if items::passes(filter.as_ref(), &item) {
            matching.push((session.created_time, session.id, item));
        }
    }
    let page = paging::paginate(
        matching,
        |(created, id, _)| (*created, id.as_str()),
        page_size,
        resume.as_ref(),
    );
    let response_type = page.response_type();
    let items: Vec<Value> = page.items.into_iter().map(|(_, _, item)| item).collect();
    Ok(Json(json!({
        "items": items,
        "response_type": response_type,
        "list_token": page.list_token,
        "sort_by": "created_time",
        "sort_dir": "desc",
        "est_item_count": page.est_item_count,
    })))
}

async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = visible_session(&state, &principal, &id).await?;
    Ok(Json(session_json(&session, &principal)?))
}

/// `:cancel`, body `{"version": N}`. A session already canceling or terminated comes back
/// unchanged whatever the version; otherwise a stale version is a 400 naming the current one.
async fn action(
    State(state): State<ApiState>,
    principal: Principal,
    Path(segment): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (id, action) = split_action(&segment)?;
    if action != "cancel" {
        return Err(unknown_action("sessions", action));
    }
    let version = version(body.read::<Version>()?.version)?;
    visible_session(&state, &principal, id).await?;
    let session = state.sessions.cancel(id, Some(version)).await?;
    tracing::debug!(session_id = id, user_id = %principal.user_id, status = %session.status, "session cancel requested");
    Ok(Json(session_json(&session, &principal)?))
}

/// The session if it exists (404) and the caller may see it (403).
async fn visible_session(
    state: &ApiState,
    principal: &Principal,
    id: &str,
) -> Result<Session, ApiError> {
    let session = state
        .sessions
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Session {id} not found.")))?;
    if !principal.admin && session.user_id != principal.user_id {
        return Err(ApiError::PermissionDenied(format!(
            "Forbidden: session {id} belongs to another user."
        )));
    }
    Ok(session)
}

/// The session's JSON plus the caller's `authorized_actions` on it.
fn session_json(session: &Session, principal: &Principal) -> Result<Value, ApiError> {
    let actions = if principal.admin {
        ADMIN_ACTIONS
    } else {
        OWNER_ACTIONS
    };
    let mut item = items::to_json(session)?;
    if let Value::Object(map) = &mut item {
        map.insert("authorized_actions".into(), json!(actions));
    }
    Ok(item)
}
