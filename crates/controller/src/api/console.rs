//! The web console, served beside the JSON API: `/` and `/ui/...`.
//!
//! The pages are one HTML shell and one script (`crates/controller/ui/`, embedded in the
//! binary: nothing is fetched from elsewhere, nothing is built with npm). The script draws
//! each page from the `/v1` API the CLI uses, so the console shows exactly what the
//! caller's grants let them see and do, and polls every second for live numbers.
//!
//! Login is a plain form posted to `/ui/login`, checked by the same code as
//! `:authenticate`; the auth token goes into an HttpOnly, SameSite=Strict cookie (Secure
//! when the request came over TLS through a proxy that says so) and never into the page.
//! The form carries a random value that must equal a cookie set with it (so another site
//! cannot log a browser in); once logged in, every state-changing request carries the
//! session's CSRF token in a header (see `auth`). Every page is sent with a
//! Content-Security-Policy that allows no inline script and no other origin.

use axum::extract::{Form, Path, State};
use std::io::Write;
use std::sync::OnceLock;

use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
    SET_COOKIE, VARY,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::auth::{cookie, csrf_token, same_secret, TOKEN_COOKIE};
use super::authz::Caller;
use super::error::ApiError;
use super::iam::password_login;
use super::resources::Peer;
use super::ApiState;
use crate::resources::{AuthMethod, KindId, User, GLOBAL_SCOPE_ID};

const APP_HTML: &str = include_str!("../../ui/app.html");
const LOGIN_HTML: &str = include_str!("../../ui/login.html");

/// The shell every page of the console is, and what it loads.
static SHELL: Asset = Asset::new("text/html; charset=utf-8", APP_HTML);
static SCRIPT: Asset = Asset::new(
    "text/javascript; charset=utf-8",
    include_str!("../../ui/app.js"),
);
static STYLE: Asset = Asset::new("text/css; charset=utf-8", include_str!("../../ui/app.css"));
static ICON: Asset = Asset::new("image/svg+xml", include_str!("../../ui/icon.svg"));

/// No inline script or style, nothing from another origin, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The login form's anti-forgery value, also in a hidden field of the form.
const LOGIN_COOKIE: &str = "postern_login";

/// Where the console starts.
const HOME: &str = "/ui/sessions";

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(home))
        .route("/ui", get(home))
        .route("/ui/", get(home))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/whoami", get(whoami))
        .route(
            "/ui/assets/app.js",
            get(|h: HeaderMap| async move { SCRIPT.serve(&h) }),
        )
        .route(
            "/ui/assets/app.css",
            get(|h: HeaderMap| async move { STYLE.serve(&h) }),
        )
        .route(
            "/ui/assets/icon.svg",
            get(|h: HeaderMap| async move { ICON.serve(&h) }),
        )
        .route("/ui/{*page}", get(page))
}

async fn home() -> Response {
    redirect(HOME, Vec::new())
}

/// Every page of the console is the same shell; the script draws the one its path names.
/// A caller without a usable token goes to the login form instead.
async fn page(caller: Caller, Path(page): Path<String>, headers: HeaderMap) -> Response {
    if page.starts_with("assets/") {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    }
    if caller.principal.is_anonymous() {
        return redirect("/ui/login", Vec::new());
    }
    SHELL.serve(&headers)
}

async fn login_page(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !caller.principal.is_anonymous() && cookie(&headers, TOKEN_COOKIE).is_some() {
        return Ok(redirect(HOME, Vec::new()));
    }
    login_form(&state, &caller, &headers, StatusCode::OK, None, "").await
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    auth_method_id: String,
    #[serde(default)]
    login_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// The login form's POST. It is made as the anonymous user whatever cookie the browser
/// still holds (a revoked or expired token's cookie must not stand in the way of a new
/// login), and only with the form's anti-forgery value.
async fn login(
    State(state): State<ApiState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let caller = Caller {
        principal: state.resources.anonymous().await?,
        token_error: None,
    };
    let fail = |status, message: &str| {
        login_form(
            &state,
            &caller,
            &headers,
            status,
            Some(message.to_owned()),
            &form.login_name,
        )
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(&form.csrf, expected) {
        return fail(
            StatusCode::FORBIDDEN,
            "The login form expired or was not sent from this page: try again.",
        )
        .await;
    }
    if form.login_name.is_empty() || form.password.is_empty() {
        return fail(
            StatusCode::BAD_REQUEST,
            "Enter a login name and a password.",
        )
        .await;
    }
    let token = match password_login(
        &state,
        &caller,
        peer,
        &form.auth_method_id,
        &form.login_name,
        &form.password,
    )
    .await
    {
        Ok(token) => token,
        Err(ApiError::Unauthenticated(_)) => {
            return fail(StatusCode::UNAUTHORIZED, "Wrong login name or password.").await
        }
        Err(e @ ApiError::TooManyRequests(_)) => {
            return fail(StatusCode::TOO_MANY_REQUESTS, &e.to_string()).await
        }
        Err(e @ ApiError::NotFound(_)) => return fail(StatusCode::NOT_FOUND, &e.to_string()).await,
        Err(e) => return Err(e),
    };
    let max_age = (token.expiration_time - chrono::Utc::now())
        .num_seconds()
        .max(0);
    let cookies = vec![
        set_cookie(&headers, TOKEN_COOKIE, &token.token, "/", max_age),
        set_cookie(&headers, LOGIN_COOKIE, "", "/ui/login", 0),
    ];
    Ok(redirect(HOME, cookies))
}

/// Ends the console session: the auth token is revoked and the cookie cleared. A POST, so
/// the CSRF token is checked (by `Caller`) before anything happens.
async fn logout(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !caller.principal.is_anonymous() {
        state
            .resources
            .logout(&caller.principal.auth_token_id)
            .await?;
        tracing::debug!(user_id = %caller.principal.user_id, "console logout");
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(&headers, TOKEN_COOKIE, "", "/", 0));
    Ok(response)
}

/// Who the console is logged in as, and the CSRF token its script sends back.
async fn whoami(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    if caller.principal.is_anonymous() {
        return Err(caller.denied());
    }
    let user_id = &caller.principal.user_id;
    let user = state.resources.get_as::<User>(user_id).await?;
    let csrf = cookie(&headers, TOKEN_COOKIE).map(csrf_token);
    // Workers live in the global scope only: the page asks for them only when it may.
    let global = state.resources.get(KindId::Scope, GLOBAL_SCOPE_ID).await?;
    let may_list_workers = caller.allows_collection(KindId::Worker, &global, "list");
    Ok(Json(json!({
        "user_id": user_id,
        "name": user.name,
        "login_name": user.login_name,
        "auth_token_id": caller.principal.auth_token_id,
        "csrf_token": csrf,
        "may_list_workers": may_list_workers,
    })))
}

/// The login form, with a fresh anti-forgery value (field and cookie) and the password auth
/// methods the caller may log in with, primary first.
async fn login_form(
    state: &ApiState,
    caller: &Caller,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<String>,
    login_name: &str,
) -> Result<Response, ApiError> {
    let mut methods = state
        .resources
        .list_as::<AuthMethod>(GLOBAL_SCOPE_ID, true)
        .await?;
    methods.retain(|m| m.kind == "password" && caller.check_item(m, "authenticate").is_ok());
    methods.sort_by_key(|m| (!m.is_primary, m.scope_id != GLOBAL_SCOPE_ID, m.id.clone()));
    let options: String = methods
        .iter()
        .map(|m| {
            let label = if m.name.is_empty() { &m.id } else { &m.name };
            format!(
                "<option value=\"{}\">{} ({})</option>",
                escape(&m.id),
                escape(label),
                escape(&m.id)
            )
        })
        .collect();
    let mut nonce = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut nonce);
    let nonce = URL_SAFE_NO_PAD.encode(nonce);
    let error = match error {
        Some(message) => format!("<p class=\"error\" role=\"alert\">{}</p>", escape(&message)),
        None if methods.is_empty() => {
            "<p class=\"error\" role=\"alert\">No password auth method accepts logins here.</p>"
                .to_owned()
        }
        None => String::new(),
    };
    let page = LOGIN_HTML
        .replace("{{error}}", &error)
        .replace("{{methods}}", &options)
        .replace("{{csrf}}", &nonce)
        .replace("{{login_name}}", &escape(login_name));
    let cookie = set_cookie(headers, LOGIN_COOKIE, &nonce, "/ui/login", 3600);
    Ok(html(status, page, vec![cookie]))
}

/// A page with the console's security headers; never cached, since it may show a login.
fn html(status: StatusCode, body: String, cookies: Vec<HeaderValue>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure_headers(headers);
    for cookie in cookies {
        headers.append(SET_COOKIE, cookie);
    }
    response
}

/// A file embedded in the binary, served with an ETag (a hash of its content: a browser
/// revalidates, since a new binary may bring new assets, and gets a 304 while it is the
/// same) and gzip-compressed when the browser accepts it.
struct Asset {
    content_type: &'static str,
    body: &'static str,
    prepared: OnceLock<Prepared>,
}

struct Prepared {
    etag: HeaderValue,
    gzip: Vec<u8>,
}

impl Asset {
    const fn new(content_type: &'static str, body: &'static str) -> Self {
        Self {
            content_type,
            body,
            prepared: OnceLock::new(),
        }
    }

    /// The hash and the compressed copy, made at first use.
    fn prepared(&self) -> &Prepared {
        self.prepared.get_or_init(|| {
            let hash = Sha256::digest(self.body.as_bytes());
            let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&hash[..12]));
            let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
            // Writing to a Vec cannot fail.
            let gzip = encoder
                .write_all(self.body.as_bytes())
                .and_then(|()| encoder.finish())
                .unwrap_or_default();
            Prepared {
                etag: HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
                gzip,
            }
        })
    }

    fn serve(&'static self, request: &HeaderMap) -> Response {
        let prepared = self.prepared();
        let fresh = request
            .get(IF_NONE_MATCH)
            .is_some_and(|tags| tags.as_bytes() == prepared.etag.as_bytes());
        let gzip = accepts_gzip(request) && !prepared.gzip.is_empty();
        let mut response = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else if gzip {
            prepared.gzip.as_slice().into_response()
        } else {
            self.body.into_response()
        };
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(ETAG, prepared.etag.clone());
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        if gzip && !fresh {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        secure_headers(headers);
        response
    }
}

/// Whether `Accept-Encoding` takes gzip (and not with `q=0`).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
}

fn redirect(to: &'static str, cookies: Vec<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static(to));
    for cookie in cookies {
        headers.append(SET_COOKIE, cookie);
    }
    response
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Strict always, Secure when the request came
/// over TLS (the API listener has none of its own: a TLS proxy in front says so with
/// `X-Forwarded-Proto: https`). Max-Age 0 deletes it.
fn set_cookie(
    request: &HeaderMap,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) -> HeaderValue {
    let tls = request
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = if tls { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    // Tokens and nonces are base62/base64url: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Text made safe to place in HTML content or a quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn cookies_are_httponly_strict_and_secure_behind_tls() {
        let mut request = HeaderMap::new();
        let plain = set_cookie(&request, TOKEN_COOKIE, "at_1_x", "/", 60);
        assert_eq!(
            plain.to_str().unwrap(),
            "postern_token=at_1_x; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        request.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let secure = set_cookie(&request, TOKEN_COOKIE, "at_1_x", "/", 60);
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn assets_go_gzipped_to_who_takes_it_and_not_again_while_unchanged() {
        let mut request = HeaderMap::new();
        let plain = SCRIPT.serve(&request);
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(plain.headers().get(CONTENT_ENCODING).is_none());
        let etag = plain.headers().get(ETAG).unwrap().clone();
        request.insert(ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.8"));
        let gzip = SCRIPT.serve(&request);
        assert_eq!(gzip.headers().get(CONTENT_ENCODING).unwrap(), "gzip");
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(SCRIPT.prepared().gzip.as_slice()),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(unzipped, SCRIPT.body);
        assert!(SCRIPT.prepared().gzip.len() < SCRIPT.body.len() / 2);
        request.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, identity"),
        );
        assert!(!accepts_gzip(&request));
        request.insert(IF_NONE_MATCH, etag);
        assert_eq!(SCRIPT.serve(&request).status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn the_shell_loads_no_inline_script() {
        for page in [APP_HTML, LOGIN_HTML] {
            for tag in page.split("<script").skip(1) {
                assert!(tag.trim_start().starts_with("src="), "inline script: {tag}");
            }
            assert!(!page.contains(" style="), "inline style");
            let handler = page.split(" on").skip(1).find(|rest| {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                !name.is_empty() && rest[name.len()..].starts_with('=')
            });
            assert!(handler.is_none(), "inline event handler: {handler:?}");
        }
    }
}
