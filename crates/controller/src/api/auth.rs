//! Who is calling: `Authorization: Bearer <token>` resolved through the resource store.
//!
//! A handler that takes a [`Principal`] argument is closed to anonymous callers (401). The
//! two public endpoints (authenticate, and listing global's auth methods) take a `Caller`
//! instead, where a missing or unusable token simply means "anonymous", as Boundary's
//! anonymous user works. The token is never logged.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::ApiError;
use super::ApiState;
use crate::resources::Principal;

const NO_TOKEN: &str = "Unauthenticated: no auth token was given (Authorization: Bearer <token>).";

impl FromRequestParts<ApiState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        require_principal(state, &parts.headers).await
    }
}

/// The caller of a request with a valid token; 401 naming what is wrong otherwise.
pub async fn require_principal(
    state: &ApiState,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let token = bearer_token(headers)?.ok_or_else(|| ApiError::Unauthenticated(NO_TOKEN.into()))?;
    Ok(state.resources.principal(token).await?)
}

/// The token of an `Authorization: Bearer` header; `None` when there is no such header.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || {
        ApiError::Unauthenticated(
            "Unauthenticated: the Authorization header is not \"Bearer <token>\".".into(),
        )
    };
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(Some(token))
}

/// Refuses a non-admin caller: everything but reads of scopes and targets, authorize-session
/// and a user's own sessions needs the admin grant.
pub fn require_admin(principal: &Principal) -> Result<(), ApiError> {
    if principal.admin {
        Ok(())
    } else {
        Err(ApiError::denied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        assert_eq!(
            bearer_token(&headers("Bearer at_1_x")).unwrap(),
            Some("at_1_x")
        );
        assert_eq!(
            bearer_token(&headers("bearer  at_1_x ")).unwrap(),
            Some("at_1_x")
        );
        assert_eq!(bearer_token(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_unauthenticated() {
        for value in ["Basic abc", "Bearer", "Bearer   ", "at_1_x"] {
            assert!(
                matches!(
                    bearer_token(&headers(value)),
                    Err(ApiError::Unauthenticated(_))
                ),
                "{value}"
            );
        }
    }
}
