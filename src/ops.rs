//! The ops listener (`ops_listen_address`): `GET /health` for load balancers and
//! orchestrators, and `GET /metrics` in the Prometheus (OpenMetrics) text format. 200 with `{"state": "serving", ...}` while the process serves; 503 with
//! `"draining"` once a worker drains (SIGTERM): it takes no new connections and finishes its
//! live ones. The other fields say what the role knows: a worker whether it is linked and
//! how many connections it carries, a controller how many workers are linked to it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
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
    /// `facts` adds the role's own fields to every answer.
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
