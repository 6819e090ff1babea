//! Who is calling: `Authorization: Bearer <token>` resolved through the resource store.
//!
//! A request without a token is made by the anonymous user (`u_anon`), as in Boundary; what
//! it may do is what its roles grant (by default: list auth methods and authenticate). The
//! token is never logged.

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;

use super::authz::Caller;
use super::error::ApiError;
use super::ApiState;
use crate::resources::ResourceError;

/// The caller of a request: the token's user, or the anonymous user when there is no token.
/// A token that is malformed, unknown or expired also leaves the caller anonymous, and the
/// reason is kept to answer with when anonymity is not enough.
pub async fn resolve_caller(state: &ApiState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = match bearer_token(headers) {
        Ok(Some(token)) => token,
        Ok(None) => return anonymous(state, None).await,
        Err(e) => return anonymous(state, Some(e)).await,
    };
    match state.resources.principal(token).await {
        Ok(principal) => Ok(Caller {
            principal,
            token_error: None,
        }),
        Err(e @ ResourceError::Unauthenticated(_)) => anonymous(state, Some(e.into())).await,
        Err(e) => Err(e.into()),
    }
}

async fn anonymous(state: &ApiState, token_error: Option<ApiError>) -> Result<Caller, ApiError> {
    Ok(Caller {
        principal: state.resources.anonymous().await?,
        token_error,
    })
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
