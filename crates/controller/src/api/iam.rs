//! Identity: `/v1/auth-methods` (with the public `:authenticate`), `/v1/users`,
//! `/v1/accounts` and logout (`DELETE /v1/auth-tokens/{id}`).
//!
//! Anonymous callers may authenticate and list the auth methods of global (how a client finds
//! the method to log in with). Everything else here is admin-only, except that a user may
//! revoke their own token.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::caller;
use super::body::{JsonBody, Params};
use super::error::ApiError;
use super::items::{self, Actions, ListParams, ADMIN_CRUD};
use super::{require_admin, split_action, unknown_action, ApiState};
use crate::resources::{
    Account, AccountPatch, AuthMethod, AuthMethodPatch, Change, NewAccount, NewAuthMethod, NewUser,
    Principal, User, UserPatch, GLOBAL_SCOPE_ID,
};

const AUTH_METHOD_ACTIONS: Actions = Actions {
    admin: &["no-op", "read", "update", "delete", "authenticate"],
    others: &["no-op", "authenticate"],
};
const USER_ACTIONS: Actions = Actions {
    admin: &[
        "no-op",
        "read",
        "update",
        "delete",
        "add-accounts",
        "set-accounts",
        "remove-accounts",
    ],
    others: &[],
};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/auth-methods",
            get(list_auth_methods).post(create_auth_method),
        )
        .route(
            "/v1/auth-methods/{id}",
            get(read_auth_method)
                .patch(update_auth_method)
                .delete(delete_auth_method)
                .post(auth_method_action),
        )
        .route("/v1/auth-tokens/{id}", delete(logout))
        .route("/v1/users", get(list_users).post(create_user))
        .route(
            "/v1/users/{id}",
            get(read_user)
                .patch(update_user)
                .delete(delete_user)
                .post(user_action),
        )
        .route("/v1/accounts", get(list_accounts).post(create_account))
        .route(
            "/v1/accounts/{id}",
            get(read_account)
                .patch(update_account)
                .delete(delete_account),
        )
}

// Auth methods.

/// Public for global (without a token, or with one that no longer works); any other scope
/// needs a caller.
async fn list_auth_methods(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let principal = caller(&state, &headers);
    if principal.is_none() && (params.scope_id() != GLOBAL_SCOPE_ID || params.recursive) {
        return Err(ApiError::Unauthenticated(
            "Unauthenticated: only global's auth methods are listed without a token.".into(),
        ));
    }
    let filter = params.filter()?;
    let methods = state
        .directory
        .list_auth_methods(params.scope_id(), params.recursive)?;
    let actions = AUTH_METHOD_ACTIONS.for_caller(principal.as_ref());
    items::list(methods, &actions, filter.as_ref())
}

async fn read_auth_method(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<AuthMethod>, ApiError> {
    require_admin(&principal)?;
    let method = state.directory.auth_method(&id)?;
    Ok(items::one(
        method,
        AUTH_METHOD_ACTIONS.for_caller(Some(&principal)),
    ))
}

async fn create_auth_method(
    State(state): State<ApiState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<AuthMethod>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    fields.check_type("password")?;
    let method = state.directory.create_auth_method(NewAuthMethod {
        scope_id: fields.str("scope_id")?,
        name: fields.opt_str("name")?.unwrap_or_default(),
        description: fields.opt_str("description")?.unwrap_or_default(),
    })?;
    Ok(items::one(
        method,
        AUTH_METHOD_ACTIONS.for_caller(Some(&principal)),
    ))
}

async fn update_auth_method(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<AuthMethod>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let version = fields.version()?;
    let patch = AuthMethodPatch {
        name: fields.patch_str("name")?,
        description: fields.patch_str("description")?,
    };
    let method = state.directory.update_auth_method(&id, version, patch)?;
    Ok(items::one(
        method,
        AUTH_METHOD_ACTIONS.for_caller(Some(&principal)),
    ))
}

async fn delete_auth_method(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&principal)?;
    state.directory.delete_auth_method(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `:authenticate`, the one action. Body `{"command": "login", "attributes": {"login_name",
/// "password"}}`; older clients send `credentials` instead of `attributes`. Answers
/// `{"command": "login", "attributes": <auth token with its "token">}`.
async fn auth_method_action(
    State(state): State<ApiState>,
    Path(segment): Path<String>,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (id, action) = split_action(&segment)?;
    if action != "authenticate" {
        return Err(unknown_action("auth methods", action));
    }
    let fields = body.fields();
    let command = fields
        .opt_str("command")?
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "login".into());
    if command != "login" {
        return Err(ApiError::field(super::FieldError::new(
            "command",
            "Password auth methods only support \"login\".",
        )));
    }
    let credentials = if fields.has("attributes") || !fields.has("credentials") {
        fields.object("attributes")?
    } else {
        fields.object("credentials")?
    };
    let login_name = credentials.str("login_name")?;
    let password = credentials.str("password")?;
    let token = state.directory.authenticate(id, &login_name, &password)?;
    tracing::debug!(auth_method_id = id, user_id = %token.user_id, auth_token_id = %token.id, "authenticated");
    Ok(Json(json!({
        "command": command,
        "attributes": items::to_json(&token)?,
    })))
}

/// Revokes an auth token: one's own, or any for an admin.
async fn logout(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !principal.admin && principal.auth_token_id != id {
        return Err(ApiError::denied());
    }
    state.directory.logout(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

// Users.

async fn list_users(
    State(state): State<ApiState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&principal)?;
    let filter = params.filter()?;
    let users = state
        .directory
        .list_users(params.scope_id(), params.recursive)?;
    items::list(
        users,
        &USER_ACTIONS.for_caller(Some(&principal)),
        filter.as_ref(),
    )
}

async fn read_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    require_admin(&principal)?;
    let user = state.directory.user(&id)?;
    Ok(items::one(user, USER_ACTIONS.for_caller(Some(&principal))))
}

async fn create_user(
    State(state): State<ApiState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<User>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let user = state.directory.create_user(NewUser {
        scope_id: fields.str("scope_id")?,
        name: fields.opt_str("name")?.unwrap_or_default(),
        description: fields.opt_str("description")?.unwrap_or_default(),
        admin: false,
    })?;
    Ok(items::one(user, USER_ACTIONS.for_caller(Some(&principal))))
}

async fn update_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<User>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let version = fields.version()?;
    let patch = UserPatch {
        name: fields.patch_str("name")?,
        description: fields.patch_str("description")?,
    };
    let user = state.directory.update_user(&id, version, patch)?;
    Ok(items::one(user, USER_ACTIONS.for_caller(Some(&principal))))
}

async fn delete_user(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&principal)?;
    state.directory.delete_user(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `:add-accounts`, `:set-accounts`, `:remove-accounts`; body `{"version", "account_ids"}`.
async fn user_action(
    State(state): State<ApiState>,
    principal: Principal,
    Path(segment): Path<String>,
    body: JsonBody,
) -> Result<Json<User>, ApiError> {
    let (id, action) = split_action(&segment)?;
    require_admin(&principal)?;
    let fields = body.fields();
    let directory = &state.directory;
    let Some(change) = Change::from_action(action, "accounts") else {
        return Err(unknown_action("users", action));
    };
    let (version, ids) = fields.membership("account_ids", change)?;
    let user = directory.change_user_accounts(id, version, change, &ids)?;
    Ok(items::one(user, USER_ACTIONS.for_caller(Some(&principal))))
}

// Accounts.

async fn list_accounts(
    State(state): State<ApiState>,
    principal: Principal,
    Params(params): Params<ListParams>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&principal)?;
    let auth_method_id = ListParams::required(&params.auth_method_id, "auth_method_id")?;
    let filter = params.filter()?;
    let accounts = state
        .directory
        .list_accounts(auth_method_id, params.recursive)?;
    items::list(
        accounts,
        &ADMIN_CRUD.for_caller(Some(&principal)),
        filter.as_ref(),
    )
}

async fn read_account(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Account>, ApiError> {
    require_admin(&principal)?;
    let account = state.directory.account(&id)?;
    Ok(items::one(account, ADMIN_CRUD.for_caller(Some(&principal))))
}

/// Body: `auth_method_id`, `name`, `description`, `attributes: {login_name, password}`.
async fn create_account(
    State(state): State<ApiState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<Account>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    fields.check_type("password")?;
    let attributes = fields.object("attributes")?;
    let account = state.directory.create_account(NewAccount {
        auth_method_id: fields.str("auth_method_id")?,
        name: fields.opt_str("name")?.unwrap_or_default(),
        description: fields.opt_str("description")?.unwrap_or_default(),
        login_name: attributes.str("login_name")?,
        password: attributes.str("password")?,
    })?;
    Ok(items::one(account, ADMIN_CRUD.for_caller(Some(&principal))))
}

async fn update_account(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Account>, ApiError> {
    require_admin(&principal)?;
    let fields = body.fields();
    let version = fields.version()?;
    let attributes = fields.object("attributes")?;
    let patch = AccountPatch {
        name: fields.patch_str("name")?,
        description: fields.patch_str("description")?,
        login_name: attributes.opt_str("login_name")?,
    };
    let account = state.directory.update_account(&id, version, patch)?;
    Ok(items::one(account, ADMIN_CRUD.for_caller(Some(&principal))))
}

async fn delete_account(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&principal)?;
    state.directory.delete_account(&id)?;
    Ok(StatusCode::NO_CONTENT)
}
