//! Identity: `/v1/auth-methods` (with the public `:authenticate`), `/v1/users`,
//! `/v1/accounts` and logout (`DELETE /v1/auth-tokens/{id}`).
//!
//! Anonymous callers may authenticate and list the auth methods of global (how a client finds
//! the method to log in with). Everything else here is admin-only, except that a user may
//! revoke their own token.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::json;

use super::body::{Fields, JsonBody};
use super::error::{ApiError, FieldError};
use super::items;
use super::resources::{ActionFuture, KindAction, Resource};
use super::ApiState;
use crate::resources::{
    Account, AccountPatch, AuthMethod, AuthMethodPatch, NewAccount, NewAuthMethod, NewUser,
    Principal, User, UserPatch,
};

impl Resource for AuthMethod {
    /// Body: `scope_id` (global or an org), `name`, `description`, `type` (`password`).
    fn new_from(fields: &Fields<'_>) -> Result<NewAuthMethod, ApiError> {
        Ok(NewAuthMethod {
            scope_id: fields.str("scope_id")?,
            name: fields.opt_str("name")?.unwrap_or_default(),
            description: fields.opt_str("description")?.unwrap_or_default(),
        })
    }

    fn patch_from(fields: &Fields<'_>) -> Result<AuthMethodPatch, ApiError> {
        fields.name_patch()
    }
}

impl Resource for User {
    /// Body: `scope_id` (global or an org), `name`, `description`. Users made through the
    /// API are never admins.
    fn new_from(fields: &Fields<'_>) -> Result<NewUser, ApiError> {
        Ok(NewUser {
            scope_id: fields.str("scope_id")?,
            name: fields.opt_str("name")?.unwrap_or_default(),
            description: fields.opt_str("description")?.unwrap_or_default(),
            admin: false,
        })
    }

    fn patch_from(fields: &Fields<'_>) -> Result<UserPatch, ApiError> {
        fields.name_patch()
    }
}

impl Resource for Account {
    /// Body: `auth_method_id`, `name`, `description`, `type` (`password`),
    /// `attributes: {login_name, password}`.
    fn new_from(fields: &Fields<'_>) -> Result<NewAccount, ApiError> {
        let attributes = fields.object("attributes")?;
        Ok(NewAccount {
            auth_method_id: fields.str("auth_method_id")?,
            name: fields.opt_str("name")?.unwrap_or_default(),
            description: fields.opt_str("description")?.unwrap_or_default(),
            login_name: attributes.str("login_name")?,
            password: attributes.str("password")?,
        })
    }

    fn patch_from(fields: &Fields<'_>) -> Result<AccountPatch, ApiError> {
        let attributes = fields.object("attributes")?;
        Ok(AccountPatch {
            name: fields.patch_str("name")?,
            description: fields.patch_str("description")?,
            login_name: attributes.opt_str("login_name")?,
        })
    }
}

/// The auth methods' own action.
pub const AUTH_METHOD_ACTIONS: &[(&str, KindAction)] = &[("authenticate", authenticate)];

/// `:authenticate`, open to anyone. Body `{"command": "login", "attributes": {"login_name",
/// "password"}}`; older clients send `credentials` instead of `attributes`. Answers
/// `{"command": "login", "attributes": <auth token with its "token">}`.
fn authenticate(state: ApiState, _: HeaderMap, id: String, body: JsonBody) -> ActionFuture {
    Box::pin(async move {
        let fields = body.fields();
        let command = fields
            .opt_str("command")?
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "login".into());
        if command != "login" {
            return Err(ApiError::field(FieldError::new(
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
        let token = state
            .resources
            .authenticate(&id, &login_name, &password)
            .await?;
        tracing::debug!(auth_method_id = id, user_id = %token.user_id, auth_token_id = %token.id, "authenticated");
        Ok(Json(json!({
            "command": command,
            "attributes": items::to_json(&token)?,
        })))
    })
}

/// Revokes an auth token: one's own, or any for an admin.
pub async fn logout(
    State(state): State<ApiState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !principal.admin && principal.auth_token_id != id {
        return Err(ApiError::denied());
    }
    state.resources.logout(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
