//! `/v1/sessions` (docs/protocol.md §6): list (filtered, paged), read, and `:cancel`.
//!
//! Sessions come from the [`SessionStore`](crate::sessions::SessionStore), newest first.
//! Who sees and cancels which is the caller's grants on type `session` in each project:
//! `read`/`cancel` reach every session there, `read:self`/`cancel:self` only the caller's
//! own. A session the caller may not see is 404 for them, and left out of lists.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use postern_api::bodies::Version;

use super::authz::Caller;
use super::body::{version, JsonBody, Params};
use super::error::{ApiError, FieldError};
use super::items::{self, parse_filter};
use super::paging::{self, ListToken};
use super::resources::existing;
use super::{split_action, unknown_action, ApiState};
use crate::filter::Filter;
use crate::resources::{Scope, ScopeInfo, GLOBAL_SCOPE_ID};
use crate::sessions::{Session, SessionQuery};
use postern_grants::ResourceType;

/// Sessions read per batch at least, when a filter may pass few of them.
const BATCH_MIN: usize = 100;

/// Stands for "any session" when asking what grants allow in a scope: grants on every
/// session match it, grants on one named session do not.
const ANY_SESSION: &str = "s_";

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
    caller: Caller,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let page_size = paging::page_size(params.page_size)?;
    let resume = match params.list_token.as_deref() {
        Some(token) => Some(ListToken::decode(token)?),
        None => None,
    };
    let filter = parse_filter(params.filter.as_deref())?;
    let scope_id = params.scope_id.as_deref().filter(|s| !s.is_empty());
    let scopes: Vec<Scope> = if params.recursive {
        let root = scope_id.unwrap_or(GLOBAL_SCOPE_ID);
        let root = existing::<Scope>(&state, &caller, root).await?;
        let mut scopes = state.resources.list_as::<Scope>(&root.id, true).await?;
        scopes.push(root);
        scopes.retain(|scope| scope.scope_type == "project" && may_list(&caller, scope));
        scopes
    } else {
        let scope_id = scope_id.ok_or_else(|| ApiError::missing("scope_id"))?;
        let scope = existing::<Scope>(&state, &caller, scope_id).await?;
        if scope.scope_type != "project" {
            return Err(ApiError::field(FieldError::new(
                "scope_id",
                "scope_id must be a project scope unless recursive.",
            )));
        }
        if !may_list(&caller, &scope) {
            return Err(if caller.item_actions(&scope).is_empty() {
                caller.not_found(format!("scope {} not found", scope.id))
            } else {
                caller.denied()
            });
        }
        vec![scope]
    };
    // Where the caller reads every session, and where only their own.
    let (every, own): (Vec<Scope>, Vec<Scope>) = scopes
        .into_iter()
        .partition(|scope| !only_own(&caller, scope));
    let ids = |scopes: Vec<Scope>| scopes.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let own = (!own.is_empty()).then(|| (caller.principal.user_id.clone(), ids(own)));
    let query = SessionQuery {
        scope_ids: Some(ids(every)),
        user_id: None,
        own,
        include_terminated: params.include_terminated,
        after: resume.as_ref().and_then(|token| token.position().cloned()),
        limit: None,
    };
    // Deciding each session's actions costs more than its JSON: sessions the filter drops
    // skip it, unless the filter could look at them.
    let filter_reads_actions = params
        .filter
        .as_deref()
        .is_some_and(|text| text.contains("authorized_actions") || text.contains("/item\""));
    let filter = filter.as_ref().map(|f| (f, filter_reads_actions));
    let page = page_of_sessions(&state, &caller, query, filter, page_size).await?;
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

/// The project as the collection of its sessions.
fn project_info(scope: &Scope) -> ScopeInfo {
    ScopeInfo {
        id: scope.id.clone(),
        scope_type: scope.scope_type.clone(),
        parent_scope_id: scope.scope_id.clone(),
        ..ScopeInfo::default()
    }
}

fn may_list(caller: &Caller, scope: &Scope) -> bool {
    caller.may_collection(ResourceType::Session, &project_info(scope), "", "list")
}

/// Whether the caller reads only their own sessions in the project: nothing but `:self`
/// actions reach a session of someone else there.
fn only_own(caller: &Caller, scope: &Scope) -> bool {
    let others = caller.session_actions(&project_info(scope), ANY_SESSION, "");
    !others.iter().any(|a| a == "read")
}

/// Sessions read from the store per batch, until the page is full and one more item shows
/// whether others follow; the filter (over each item's JSON) picks among them. So a page
/// costs about its own size in reads, not the whole history's.
async fn page_of_sessions(
    state: &ApiState,
    caller: &Caller,
    mut query: SessionQuery,
    filter: Option<(&Filter, bool)>,
    page_size: Option<usize>,
) -> Result<paging::Page<Value>, ApiError> {
    let (filter, reads_actions) = filter.unzip();
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
            let item = if reads_actions == Some(false) {
                let bare = items::to_json(&session)?;
                if !items::passes(filter, &bare) {
                    continue;
                }
                with_actions(bare, &session, caller)
            } else {
                let item = session_json(&session, caller)?;
                if !items::passes(filter, &item) {
                    continue;
                }
                item
            };
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
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let session = visible_session(&state, &caller, &id, "read").await?;
    Ok(Json(session_json(&session, &caller)?))
}

/// `:cancel`, body `{"version": N}`. A session already canceling or terminated comes back
/// unchanged whatever the version; otherwise a stale version is a 400 naming the current one.
async fn action(
    State(state): State<ApiState>,
    caller: Caller,
    Path(segment): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (id, action) = split_action(&segment)?;
    if action != "cancel" {
        return Err(unknown_action("sessions", action));
    }
    visible_session(&state, &caller, id, "cancel").await?;
    let version = version(body.read::<Version>()?.version)?;
    let session = state.sessions.cancel(id, Some(version)).await?;
    tracing::debug!(session_id = id, user_id = %caller.principal.user_id, status = %session.status, "session cancel requested");
    Ok(Json(session_json(&session, &caller)?))
}

/// The session, if the caller may `action` (read, cancel) it: on their own session
/// `<action>:self` is enough. 404 when they may not see it at all, 403 when they may only
/// see it.
async fn visible_session(
    state: &ApiState,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<Session, ApiError> {
    let not_found = || caller.not_found(format!("Session {id} not found."));
    let session = state.sessions.get(id).await?.ok_or_else(not_found)?;
    let actions = actions_on(&session, caller);
    if actions.is_empty() {
        return Err(not_found());
    }
    let own = format!("{action}:self");
    if !actions.iter().any(|a| *a == action || *a == own) {
        return Err(caller.denied());
    }
    Ok(session)
}

fn actions_on(session: &Session, caller: &Caller) -> Vec<String> {
    caller.session_actions(&session.scope, &session.id, &session.user_id)
}

/// The session's JSON plus the caller's `authorized_actions` on it.
fn session_json(session: &Session, caller: &Caller) -> Result<Value, ApiError> {
    Ok(with_actions(items::to_json(session)?, session, caller))
}

/// The session's JSON `item` with the caller's `authorized_actions` on it added.
fn with_actions(mut item: Value, session: &Session, caller: &Caller) -> Value {
    if let Value::Object(map) = &mut item {
        map.insert(
            "authorized_actions".into(),
            json!(actions_on(session, caller)),
        );
    }
    item
}
