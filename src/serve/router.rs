//! The routes and the layers around them.
//!
//! From the outside in: access log → request deadline → body size limit → authentication →
//! the handler. The deadline is longer than the database timeout, so a database that does not
//! answer shows up as the handler's own 503 `unknown` and the deadline only catches the rest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::routing::{delete, get};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::state::AppState;
use super::{auth, backups, health, metrics};

/// No endpoint takes a body; anything larger than this is refused with 413.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

pub fn build(state: Arc<AppState>, request_timeout: Duration) -> Router {
    let pages = super::dashboard::router(state.clone());
    Router::new()
        .route("/livez", get(livez))
        .route("/health", get(health::get_health))
        .route("/backups", get(backups::get_list))
        .route("/backups/status", get(backups::get_status))
        .route("/backups/expired", delete(backups::delete_expired))
        .route("/metrics", get(metrics::get_metrics))
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), auth::authorize))
        // The dashboard's pages (cookie sessions) are taken before the bearer-token check.
        .layer(from_fn_with_state(pages, super::dashboard::intercept))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(from_fn(access_log))
        .with_state(state)
}

/// The process is up and serving HTTP. Touches nothing else, so an orchestrator's liveness
/// probe never restarts the server because the database is down.
async fn livez() -> &'static str {
    "ok\n"
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// One line per request at `PALMDB_LOG=info`: method, path, status, time. Never headers or the
/// query string, so a token cannot end up in a log.
async fn access_log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        "{method} {path} {} {:.1}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}
