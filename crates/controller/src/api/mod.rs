//! The controller's HTTP API: Boundary's `/v1/...` JSON paths over axum.
//!
//! [`router`] builds the whole API over an [`ApiState`]: the [`ResourceStore`], the
//! [`SessionStore`] and the worker addresses new sessions are sent to. Every resource kind is
//! served by the same generic routes (`resources`: list, create, read, update, delete,
//! membership actions), told apart only by its data and how its bodies are read (the scoped
//! kinds' in `resources`, `iam` for accounts, `:authenticate` and logout, `hosts`, `targets`
//! with `:authorize-session`); `sessions` serves the session store. `auth` turns the
//! bearer token into the request's caller (the anonymous user without one), `authz` decides
//! what the caller may do, `body` reads request input so that every refusal names its field,
//! `items` applies list filters, `paging` cuts session lists into pages, and `error` gives
//! every failure Boundary's `{"kind", "message", "details"}` body.
//!
//! Actions on an item are Boundary's `POST /v1/<kinds>/{id}:<action>`. The router matches the
//! whole last segment as `{id}` and the POST handler splits off the action, so one
//! route serves all of a kind's actions.
//!
//! Who may do what is decided in one place, `authz`, from the grants of the caller's roles
//! (roles and groups are kinds like the others); every route asks it, and it fills
//! `authorized_actions` and `authorized_collection_actions`.

mod auth;
mod authz;
mod body;
mod console;
mod error;
mod hosts;
mod iam;
mod items;
mod paging;
mod resources;
mod sessions;
mod targets;
mod throttle;
mod workers;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::delete;
use axum::Router;
use tracing::Instrument;

pub use error::{ApiError, FieldError};
pub use paging::MAX_PAGE_SIZE;
pub use throttle::{LoginThrottle, ThrottlePolicy};

pub use authz::Caller;

use crate::resources::{
    Account, AuthMethod, Group, Host, HostCatalog, HostSet, ResourceStore, Role, Scope, Target,
    User, Worker,
};
use crate::sessions::SessionStore;
use crate::workers::WorkerPool;
use postern_authority::system_clock;

/// What every handler works on. Cheap to clone: the stores are shared.
#[derive(Clone)]
pub struct ApiState {
    pub resources: Arc<dyn ResourceStore>,
    pub sessions: SessionStore,
    /// The workers new sessions are sent to.
    pub workers: WorkerPool,
    /// Failed-login counts; `:authenticate` waits on them.
    pub login_throttle: Arc<LoginThrottle>,
}

impl ApiState {
    /// The state over these stores, with the default login throttle on the system clock.
    pub fn new(
        resources: Arc<dyn ResourceStore>,
        sessions: SessionStore,
        workers: WorkerPool,
    ) -> Self {
        let throttle = LoginThrottle::new(ThrottlePolicy::default(), system_clock());
        Self {
            resources,
            sessions,
            workers,
            login_throttle: Arc::new(throttle),
        }
    }
}

impl fmt::Debug for ApiState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiState")
            .field("sessions", &self.sessions)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// The whole API. Serve it with `axum::serve(listener,
/// router(state).into_make_service_with_connect_info::<SocketAddr>())` so that login
/// throttling sees the callers' addresses (without, it counts per login name only).
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(resources::routes::<Scope>(&[]))
        .merge(resources::routes::<AuthMethod>(iam::AUTH_METHOD_ACTIONS))
        .merge(resources::routes::<User>(&[]))
        .merge(resources::routes::<Account>(&[]))
        .merge(resources::routes::<HostCatalog>(&[]))
        .merge(resources::routes::<HostSet>(&[]))
        .merge(resources::routes::<Host>(&[]))
        .merge(resources::routes::<Target>(targets::TARGET_ACTIONS))
        .merge(resources::routes::<Group>(&[]))
        .merge(resources::routes::<Role>(&[]))
        .merge(resources::routes::<Worker>(&[]))
        .merge(workers::routes())
        .route("/v1/auth-tokens/{id}", delete(iam::logout))
        .merge(sessions::routes())
        .merge(console::routes())
        .fallback(unknown_path)
        // After every route is in: it applies to the routes present when it is called.
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn unknown_path(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("No API endpoint at {}.", uri.path()))
}

async fn wrong_method(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

/// A span per request (method and path: no query, filters may be long; never headers,
/// which carry the token) around everything the handlers log, closed by one debug line with
/// the status and duration.
async fn log_request(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "api_request",
        method = %request.method(),
        path = request.uri().path(),
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "api request"
        );
    });
    response
}

/// Splits `POST /v1/<kinds>/{id}:<action>`'s last segment into the id and the action.
fn split_action(segment: &str) -> Result<(&str, &str), ApiError> {
    segment
        .split_once(':')
        .filter(|(id, action)| !id.is_empty() && !action.is_empty())
        .ok_or_else(|| ApiError::MethodNotAllowed("POST".into()))
}

/// The 404 for an action this kind does not have.
fn unknown_action(kind: &str, action: &str) -> ApiError {
    ApiError::NotFound(format!("{kind} have no action {action:?}."))
}
