//! Identity: `/v1/auth-methods` (with the public `:authenticate`), `/v1/users`,
//! `/v1/accounts` and logout (`DELETE /v1/auth-tokens/{id}`).
//!
//! What a caller may do is what their grants say; by default anonymous callers may list
//! auth methods and authenticate (how a client finds the method to log in with), and a user
//! may revoke their own token.

use std::net::IpAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use postern_api::bodies::{AccountCreate, AccountUpdate, Authenticate, Credentials};
use serde_json::json;

use super::authz::Caller;
use super::body::required;
use super::error::{ApiError, FieldError};
use super::items;
use super::resources::{existing, ActionCall, ActionFuture, KindAction, Resource as ApiResource};
use super::throttle::Attempt;
use super::ApiState;
use crate::resources::{Account, AccountPatch, AuthMethod, AuthToken, NewAccount, ResourceError};
use postern_grants::{Resource, ResourceType};

impl ApiResource for Account {
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
            caller,
            peer,
            id,
            body,
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
        let token = password_login(&state, &caller, peer, &id, &login_name, &password).await?;
        Ok(Json(json!({
            "command": command,
            "attributes": items::to_json(&token)?,
        })))
    })
}

/// A password login through auth method `id`, counted by the login throttle: the one path
/// for `:authenticate` and the web console's login form. The token carries its secret.
pub(super) async fn password_login(
    state: &ApiState,
    caller: &Caller,
    peer: Option<IpAddr>,
    id: &str,
    login_name: &str,
    password: &str,
) -> Result<AuthToken, ApiError> {
    let method = existing::<AuthMethod>(state, caller, id).await?;
    caller.check_item(&method, "authenticate")?;
    let attempt = Attempt {
        auth_method_id: id,
        login_name,
        source: peer,
    };
    let throttle = &state.login_throttle;
    throttle
        .check(&attempt)
        .map_err(ApiError::TooManyRequests)?;
    let token = match state.resources.authenticate(id, login_name, password).await {
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
    Ok(token)
}

/// Every action on an auth token; `:self` ones only count on the caller's own.
const AUTH_TOKEN_ACTIONS: &[&str] = &["no-op", "read", "read:self", "delete", "delete:self"];

/// Revokes an auth token: one's own with `delete:self`, anyone's with `delete`.
pub async fn logout(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let token = match state.resources.auth_token(&id).await {
        Err(e @ ResourceError::NotFound { .. }) => return Err(caller.not_found(e.to_string())),
        other => other?,
    };
    let resource = Resource {
        id: &token.id,
        kind: ResourceType::AuthToken,
        scope_id: &token.scope.id,
        parent_scope_id: &token.scope.parent_scope_id,
        pin: "",
    };
    let own = token.user_id == caller.principal.user_id;
    let acl = &caller.principal.acl;
    let actions: Vec<&str> = acl
        .allowed_actions(&resource, AUTH_TOKEN_ACTIONS)
        .into_iter()
        .filter(|a| own || !a.ends_with(":self"))
        .collect();
    if actions.is_empty() {
        return Err(caller.not_found(format!("auth token {id} not found")));
    }
    if !actions.contains(&"delete") && !actions.contains(&"delete:self") {
        return Err(caller.denied());
    }
    state.resources.logout(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
