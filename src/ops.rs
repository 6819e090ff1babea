//! The ops listener (`ops_listen_address`): `GET /health` for load balancers and
//! orchestrators, and `GET /metrics` in the Prometheus (OpenMetrics) text format.
//!
//! `/health` answers 200 with `{"state": "serving", ...}` while the process serves, and 503
//! with `"draining"` once a worker drains (SIGTERM): it takes no new connections and finishes
//! its live ones. The other fields say what the role knows: a worker whether it is linked and
//! how many connections it carries, a controller how many workers are linked to it.
//!
//! [`ApiMetrics`] times the controller API's requests for `/metrics`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What `/health` and `/metrics` report. Cheap to clone.
#[derive(Clone)]
pub struct Health {
    draining: Arc<AtomicBool>,
    facts: Arc<dyn Fn() -> Map<String, Value> + Send + Sync>,
    metrics: Arc<Registry>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("draining", &self.draining)
            .finish_non_exhaustive()
    }
}

impl Health {
    /// `facts` adds the role's own fields to every `/health` answer; `metrics` is what
    /// `/metrics` shows.
    pub fn new(
        facts: impl Fn() -> Map<String, Value> + Send + Sync + 'static,
        metrics: Registry,
    ) -> Self {
        Self {
            draining: Arc::default(),
            facts: Arc::new(facts),
            metrics: Arc::new(metrics),
        }
    }

    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    fn report(&self) -> (StatusCode, Value) {
        let draining = self.draining.load(Ordering::Relaxed);
        let mut body = (self.facts)();
        let state = if draining { "draining" } else { "serving" };
        body.insert("state".to_owned(), Value::from(state));
        let status = if draining {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        (status, Value::Object(body))
    }
}

async fn report_health(State(health): State<Health>) -> (StatusCode, Json<Value>) {
    let (status, body) = health.report();
    (status, Json(body))
}

async fn report_metrics(State(health): State<Health>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &health.metrics) {
        Ok(()) => ([(CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/health` and `/metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, health: Health, shutdown: CancellationToken) {
    let app = Router::new()
        .route("/health", get(report_health))
        .route("/metrics", get(report_metrics))
        .with_state(health)
        .into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the ops listener failed");
    }
}

/// The controller's own figures: how long its API takes, by route and status, and how many
/// remote workers are linked to it. Cheap to clone (the metrics are shared).
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: Family<ApiRequest, Histogram>,
    pub linked_workers: Gauge,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiRequest {
    method: String,
    /// The route's pattern (`/v1/targets/{id}`), with the action of a POST to an item
    /// (`/v1/targets/{id}:authorize-session`; `{id}:{action}` when it failed, so made-up
    /// actions add no labels); `unmatched` for a path no route serves.
    route: String,
    status: u16,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self {
            // 0.1 ms to 3.3 s.
            requests: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
            }),
            linked_workers: Gauge::default(),
        }
    }
}

impl ApiMetrics {
    /// Adds these metrics to `registry`, named `postern_controller_*`.
    pub fn register(&self, registry: &mut Registry) {
        let controller = registry.sub_registry_with_prefix("postern_controller");
        controller.register(
            "api_request_duration_seconds",
            "Controller API requests, by method, route and status",
            self.requests.clone(),
        );
        controller.register(
            "linked_workers",
            "Remote workers linked to this controller now",
            self.linked_workers.clone(),
        );
    }
}

/// Middleware (`axum::middleware::from_fn_with_state`) timing each API request.
pub async fn time_api_request(
    State(metrics): State<ApiMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned());
    let action = request
        .uri()
        .path()
        .rsplit('/')
        .next()
        .and_then(|last| last.split_once(':'))
        .map(|(_, action)| action.to_owned());
    let response = next.run(request).await;
    let status = response.status();
    let route = match (route, action) {
        (Some(route), Some(action)) if route.ends_with("{id}") => {
            if status.is_success() {
                format!("{route}:{action}")
            } else {
                format!("{route}:{{action}}")
            }
        }
        (Some(route), _) => route,
        (None, _) => "unmatched".to_owned(),
    };
    let labels = ApiRequest {
        method,
        route,
        status: status.as_u16(),
    };
    metrics
        .requests
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}
