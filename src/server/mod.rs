//! `serin run`'s HTTP server (README, "The HTTP API"): probes, metrics, the rollouts API and a page.
//!
//! Reads come from a metadata-only cache of the Deployments (`rollouts`), so every replica,
//! leader or follower, answers them. Mutations (`operations`) are annotations written on
//! the candidate with its resourceVersion; the leader acts on them.
//!
//! Files: `rollouts` (the views), `operations` (what each POST writes), `auth` (the
//! bearer token), `page` (`GET /`), `listen` and `slots` (serving with timeouts and a
//! connection limit).

mod auth;
pub mod listen;
pub mod operations;
mod page;
pub mod rollouts;
mod slots;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;

pub use auth::ApiToken;
pub use rollouts::RolloutIndex;

use crate::telemetry::Metrics;
use crate::telemetry::metrics::CONTENT_TYPE;
use operations::{Operation, Refused};

#[derive(Clone)]
pub struct ServerState {
    pub rollouts: RolloutIndex,
    pub metrics: Arc<Metrics>,
    pub token: ApiToken,
    pub client: kube::Client,
    /// Set once the rollout caches have synced.
    pub ready: Arc<AtomicBool>,
}

pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/rollouts", get(list))
        .route("/api/v1/rollouts/{namespace}/{name}", get(detail))
        .route("/api/v1/rollouts/{namespace}/{name}/{operation}", post(operate))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route; see /api/v1/rollouts") })
        .with_state(state)
}

/// Serves `router(state)` on `listener` within [`listen::LIMITS`] until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = listen::LIMITS;
    let router = router(state).layer(RequestBodyLimitLayer::new(limits.max_body_bytes));
    listen::serve(listener, router, limits, shutdown).await
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn readyz(State(state): State<ServerState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet\n").into_response()
    }
}

async fn metrics(State(state): State<ServerState>) -> Response {
    // Only the leader reports the per-rollout gauges (see telemetry::metrics).
    let views = if state.metrics.is_leader() { state.rollouts.all() } else { Arc::default() };
    let body = state.metrics.encode(views.iter().filter_map(|v| v.gauge()));
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

async fn index(State(state): State<ServerState>) -> Html<String> {
    Html(page::render(&state.rollouts.all()))
}

async fn list(State(state): State<ServerState>) -> Response {
    let views = state.rollouts.all();
    let items: Vec<_> = views.iter().map(|v| v.summary()).collect();
    Json(json!({"items": items})).into_response()
}

async fn detail(State(state): State<ServerState>, Path((namespace, name)): Path<(String, String)>) -> Response {
    match state.rollouts.get(&namespace, &name) {
        Some(view) => Json(view.detail()).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no rollout {namespace}/{name}")),
    }
}

async fn operate(
    State(state): State<ServerState>,
    Path((namespace, name, operation)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err((status, why)) = state.token.check(&headers) {
        let mut response = error(status, why);
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, "Bearer realm=\"serin\"".parse().unwrap());
        }
        return response;
    }
    let Some(op) = Operation::parse(&operation) else {
        let known: Vec<_> = Operation::ALL.iter().map(|o| o.as_str()).collect();
        return error(StatusCode::NOT_FOUND, format!("unknown operation {operation:?}; one of {}", known.join(", ")));
    };
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(state.client.clone(), &namespace);
    match operations::perform(&deployments, &name, op).await {
        Ok(written) => {
            tracing::info!(namespace, name, operation, ?written, "API operation accepted");
            let body = json!({
                "rollout": format!("{namespace}/{name}"),
                "operation": op.as_str(),
                "written": written,
                "message": "accepted: serin's leader acts on it at its next reconcile",
            });
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(Refused(status, why)) => {
            tracing::info!(namespace, name, operation, %status, why, "API operation refused");
            error(status, why)
        }
    }
}
