//! `/v1/sessions` (docs/protocol.md §6): list (filtered, paged), read, and `:cancel`.
//!
//! Sessions come from the [`SessionStore`](crate::sessions::SessionStore), newest first. An
//! admin sees and cancels every session; anyone else only their own (another user's session
//! is 403, and is left out of lists).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use postern_api::bodies::Version;

use super::body::{version, JsonBody, Params};
use super::error::{ApiError, FieldError};
use super::items::{self, parse_filter};
use super::paging::{self, ListToken};
use super::{split_action, unknown_action, ApiState};
use crate::filter::Filter;
use crate::resources::{Principal, Scope, GLOBAL_SCOPE_ID};
use crate::sessions::{Session, SessionQuery};

/// Sessions read per batch at least, when a filter may pass few of them.
const BATCH_MIN: usize = 100;

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

    let query = SessionQuery {
        scope_ids: Some(scopes),
        user_id: (!principal.admin).then(|| principal.user_id.clone()),
        include_terminated: params.include_terminated,
        after: resume.as_ref().and_then(|token| token.position().cloned()),
        limit: None,
    };
    let page = page_of_sessions(&state, &principal, query, filter.as_ref(), page_size).await?;
    let response_type = page.response_type();
    let items = page.items;
    Ok(Json(json!({
        "items": items,
        "response_type": response_type,
        "list_token": page.list_token,
        "sort_by": "created_time",
        "sort_dir": "desc",
        "est_item_count": page.est_item_count,
    })))
}

/// Sessions read from the store per batch, until the page is full and one more item shows
/// whether others follow; the filter (over each item's JSON) picks among them. So a page
/// costs about its own size in reads, not the whole history's.
async fn page_of_sessions(
    state: &ApiState,
    principal: &Principal,
    mut query: SessionQuery,
    filter: Option<&Filter>,
    page_size: Option<usize>,
) -> Result<paging::Page<Value>, ApiError> {
    let want = page_size.unwrap_or(usize::MAX);
    let batch = want
        .saturating_add(1)
        .clamp(BATCH_MIN, paging::MAX_PAGE_SIZE + 1);
    let started_at = query.after.clone();
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    'reading: loop {
        query.limit = Some(batch);
        let sessions = state.sessions.list(&query).await?;
        let exhausted = sessions.len() < batch;
        for session in sessions {
            query.after = Some((session.created_time, session.id.clone()));
            let item = session_json(&session, principal)?;
            if !items::passes(filter, &item) {
                continue;
            }
            if items.len() == want {
                more = true;
                break 'reading;
            }
            last = Some((session.created_time, session.id));
            items.push(item);
        }
        if exhausted {
            break;
        }
    }
    // Without a filter the store counts; with one, the count is exact when this page is the
    // whole list, and otherwise the store's count of what the filter chose from.
    let est_item_count = if filter.is_some() && started_at.is_none() && !more {
        items.len()
    } else {
        query.after = None;
        state.sessions.count(&query).await?
    };
    let position = last.or(started_at);
    Ok(paging::Page {
        items,
        complete: !more,
        list_token: ListToken::at(position).encode(),
        est_item_count,
    })
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
