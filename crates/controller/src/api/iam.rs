//! Identity: `/v1/auth-methods` (with the public `:authenticate`), `/v1/users`,
//! `/v1/accounts` and logout (`DELETE /v1/auth-tokens/{id}`).
//!
//! Anonymous callers may authenticate and list the auth methods of global (how a client finds
//! the method to log in with). Everything else here is admin-only, except that a user may
//! revoke their own token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use postern_api::bodies::{
    AccountCreate, AccountUpdate, Authenticate, Credentials, NameUpdate, ScopedCreate,
};
use serde_json::json;

use super::body::required;
use super::error::{ApiError, FieldError};
use super::items;
use super::resources::{ActionCall, ActionFuture, KindAction, Resource};
use super::throttle::Attempt;
use super::ApiState;
use crate::resources::{
    Account, AccountPatch, AuthMethod, AuthMethodPatch, NewAccount, NewAuthMethod, NewUser,
    Principal, ResourceError, User, UserPatch,
};

impl Resource for AuthMethod {
    /// `scope_id`: global or an org.
    type Create = ScopedCreate;
    type Update = NameUpdate;

    fn new_from(body: ScopedCreate) -> Result<NewAuthMethod, ApiError> {
        Ok(NewAuthMethod {
            scope_id: required(body.scope_id, "scope_id")?,
            name: body.name.unwrap_or_default(),
            description: body.description.unwrap_or_default(),
        })
    }

    fn patch_from(body: NameUpdate) -> AuthMethodPatch {
        body.into()
    }
}

impl Resource for User {
    /// `scope_id`: global or an org. Users made through the API are never admins.
    type Create = ScopedCreate;
    type Update = NameUpdate;

    fn new_from(body: ScopedCreate) -> Result<NewUser, ApiError> {
        Ok(NewUser {
            scope_id: required(body.scope_id, "scope_id")?,
            name: body.name.unwrap_or_default(),
            description: body.description.unwrap_or_default(),
            admin: false,
        })
    }

    fn patch_from(body: NameUpdate) -> UserPatch {
        body.into()
    }
}

impl Resource for Account {
    type Create = AccountCreate;
    type Update = AccountUpdate;

    fn new_from(body: AccountCreate) -> Result<NewAccount, ApiError> {
        let Credentials {
            login_name,
            password,
        } = body.attributes.unwrap_or_default();
        Ok(NewAccount {
            auth_method_id: required(body.auth_method_id, "auth_method_id")?,
            name: body.name.unwrap_or_default(),
            description: body.description.unwrap_or_default(),
            login_name: required(login_name, "attributes.login_name")?,
            password: required(password, "attributes.password")?,
        })
    }

    fn patch_from(body: AccountUpdate) -> AccountPatch {
        AccountPatch {
            name: body.name,
            description: body.description,
            login_name: body.attributes.unwrap_or_default().login_name,
        }
    }
}

/// The auth methods' own action.
pub const AUTH_METHOD_ACTIONS: &[(&str, KindAction)] = &[("authenticate", authenticate)];

/// `:authenticate`, open to anyone. Body `{"command": "login", "attributes": {"login_name",
/// "password"}}`; older clients send `credentials` instead of `attributes`. Answers
/// `{"command": "login", "attributes": <auth token with its "token">}`.
fn authenticate(call: ActionCall) -> ActionFuture {
    Box::pin(async move {
        let ActionCall {
            state,
            peer,
            id,
            body,
            ..
        } = call;
        let body: Authenticate = body.read()?;
        let command = body
            .command
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "login".into());
        if command != "login" {
            return Err(ApiError::field(FieldError::new(
                "command",
                "Password auth methods only support \"login\".",
            )));
        }
        let (prefix, credentials) = match (body.attributes, body.credentials) {
            (None, Some(credentials)) => ("credentials", credentials),
            (attributes, _) => ("attributes", attributes.unwrap_or_default()),
        };
        let login_name = required(credentials.login_name, &format!("{prefix}.login_name"))?;
        let password = required(credentials.password, &format!("{prefix}.password"))?;
        let attempt = Attempt {
            auth_method_id: &id,
            login_name: &login_name,
            source: peer,
        };
        let throttle = &state.login_throttle;
        throttle
            .check(&attempt)
            .map_err(ApiError::TooManyRequests)?;
        let token = match state
            .resources
            .authenticate(&id, &login_name, &password)
            .await
        {
            Ok(token) => token,
            Err(e @ ResourceError::Unauthenticated(_)) => {
                throttle.failed(&attempt);
                tracing::info!(auth_method_id = id, login_name, source = ?peer, "login failed");
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        throttle.succeeded(&attempt);
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
