//! Who is calling: `Authorization: Bearer <token>` resolved through the resource store, or
//! the web console's cookie holding the same token.
//!
//! A request without a token is made by the anonymous user (`u_anon`), as in Boundary; what
//! it may do is what its roles grant (by default: list auth methods and authenticate). The
//! token is never logged.
//!
//! The cookie ([`TOKEN_COOKIE`]: HttpOnly, SameSite=Strict) is only taken on a request that
//! changes something (any method but GET, HEAD, OPTIONS) when it also carries the session's
//! CSRF token in [`CSRF_HEADER`]: a keyed hash of the auth token that the console's script
//! reads from `/ui/whoami` and keeps in memory. Another site can make a browser send the
//! cookie (SameSite aside) but cannot read that value.

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, Method};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::authz::Caller;
use super::error::ApiError;
use super::ApiState;
use crate::resources::ResourceError;

/// The web console's cookie: the auth token (`<id>_<secret>`).
pub const TOKEN_COOKIE: &str = "postern_token";
/// The header that carries the console's CSRF token on requests that change something.
pub const CSRF_HEADER: &str = "x-postern-csrf";

/// The caller of a request: the token's user, or the anonymous user when there is no token.
/// A token that is malformed, unknown or expired also leaves the caller anonymous, and the
/// reason is kept to answer with when anonymity is not enough. A console cookie on a
/// state-changing request without its CSRF token is refused outright (403).
pub async fn resolve_caller(
    state: &ApiState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Caller, ApiError> {
    let token = match bearer_token(headers) {
        Ok(Some(token)) => token,
        Ok(None) => match cookie(headers, TOKEN_COOKIE) {
            Some(token) => {
                check_csrf(method, headers, token)?;
                token
            }
            None => return anonymous(state, None).await,
        },
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

/// The CSRF token of a console session: HMAC-SHA256 keyed with the auth token, so only who
/// holds the token (the controller, and the page it told) knows it.
pub fn csrf_token(auth_token: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"postern web console csrf v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Refuses a cookie-authenticated request that changes something without the session's CSRF
/// token.
fn check_csrf(method: &Method, headers: &HeaderMap, auth_token: &str) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match sent {
        Some(sent) if same_secret(sent, &csrf_token(auth_token)) => Ok(()),
        Some(_) => Err(ApiError::PermissionDenied(format!(
            "Forbidden: the {CSRF_HEADER} header does not match this console session; reload the page."
        ))),
        None => Err(ApiError::PermissionDenied(format!(
            "Forbidden: a request authenticated by the console's cookie must carry the {CSRF_HEADER} header."
        ))),
    }
}

/// The value of cookie `name` among the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
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
    fn cookies_are_found_among_several_headers_and_pairs() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; postern_token=at_1_x"),
        );
        h.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, TOKEN_COOKIE), Some("at_1_x"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "postern"), None);
        h.insert(COOKIE, HeaderValue::from_static("postern_token="));
        assert_eq!(cookie(&h, TOKEN_COOKIE), None);
    }

    #[test]
    fn a_cookie_changes_nothing_without_the_sessions_csrf_token() {
        let token = "at_1234567890_secret";
        let mut h = HeaderMap::new();
        assert!(check_csrf(&Method::GET, &h, token).is_ok());
        for method in [Method::POST, Method::DELETE, Method::PATCH] {
            let refused = check_csrf(&method, &h, token).unwrap_err();
            assert!(matches!(refused, ApiError::PermissionDenied(_)), "{method}");
        }
        h.insert(
            CSRF_HEADER,
            HeaderValue::from_str(&csrf_token("at_other")).unwrap(),
        );
        assert!(check_csrf(&Method::POST, &h, token).is_err());
        h.insert(
            CSRF_HEADER,
            HeaderValue::from_str(&csrf_token(token)).unwrap(),
        );
        assert!(check_csrf(&Method::POST, &h, token).is_ok());
        assert_ne!(csrf_token(token), csrf_token("at_1234567890_secreT"));
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
