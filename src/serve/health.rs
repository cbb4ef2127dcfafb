//! `GET /health`: the health checks, the same JSON as `palmdb health --format json`.
//!
//! 200 when the status is ok or warning (the database works; someone should look), 503 when
//! it is critical, and 503 with `"status": "unknown"` when the database cannot be reached or
//! read within `--db-timeout`, so a load balancer or uptime check sees a failure instead of
//! a hanging request. Results are shared through the single-flight cache.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::json::{error_body, json_body, json_response};
use super::pool::Unavailable;
use super::state::AppState;
use crate::error::{failure_of, one_line, ExitCode, FailureKind};
use crate::health::{self, HealthOptions};

/// One health collection, ready to be served many times.
pub struct HealthSnapshot {
    pub http_status: StatusCode,
    /// The JSON body, serialized once.
    pub body: Bytes,
    /// The report in Prometheus text format; `None` when the database could not be read.
    pub prometheus: Option<String>,
    pub collect_seconds: f64,
    /// With `--pgbouncer-url`: whether PgBouncer's admin console answered.
    pub pgbouncer_up: Option<bool>,
}

pub async fn get_health(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = current(&state).await;
    json_response(snapshot.http_status, snapshot.body.clone())
}

/// The cached snapshot, collected again when older than the TTL.
pub async fn current(state: &AppState) -> Arc<HealthSnapshot> {
    state.health.get(|| collect(state)).await
}

async fn collect(state: &AppState) -> HealthSnapshot {
    state.health_collections.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let options = HealthOptions::default();
    let outcome = state
        .pool
        .with_client(async |client| health::collect(client, &options).await)
        .await;
    let (outcome, pgbouncer_up) = match (outcome, &state.pgbouncer) {
        (Ok(report), Some((console, database))) => {
            let pools = tokio::time::timeout(
                state.pool.timeout(),
                health::pgbouncer::checks(console, database, &Default::default(), &[]),
            )
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer from PgBouncer in time")));
            match pools {
                Ok(mut pools) => {
                    let mut checks = report.checks;
                    checks.append(&mut pools);
                    (Ok(health::HealthReport::new(checks)), Some(true))
                }
                Err(err) => {
                    let detail = one_line(&err);
                    state
                        .warnings
                        .warn("pgbouncer", || format!("pgbouncer: {detail}"));
                    (Ok(report), Some(false))
                }
            }
        }
        (outcome, console) => (outcome, console.as_ref().map(|_| false)),
    };
    let collect_seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(report) => HealthSnapshot {
            http_status: match report.exit_code() {
                ExitCode::Ok | ExitCode::Warning => StatusCode::OK,
                ExitCode::Critical | ExitCode::Unknown => StatusCode::SERVICE_UNAVAILABLE,
            },
            body: json_body(&report),
            prometheus: Some(report.to_prometheus()),
            collect_seconds,
            pgbouncer_up,
        },
        Err(err) => {
            let detail = one_line(&err);
            state
                .warnings
                .warn("health", || format!("health: {detail}"));
            let mut body = public_error(&err);
            body["status"] = "unknown".into();
            body["checks"] = serde_json::json!([]);
            HealthSnapshot {
                http_status: StatusCode::SERVICE_UNAVAILABLE,
                body: json_body(&body),
                prometheus: None,
                collect_seconds,
                pgbouncer_up,
            }
        }
    }
}

/// What an HTTP client is told about a failed collection: a code and palmdb's own short words,
/// never the connection target (`user@host:port/database`) or the server's raw message.
fn public_error(err: &anyhow::Error) -> serde_json::Value {
    if let Some(unavailable) = err.chain().find_map(|e| e.downcast_ref::<Unavailable>()) {
        return error_body("database_unavailable", &unavailable.public);
    }
    match failure_of(err) {
        // palmdb's own messages about the checks (never migrated, not allowed), with a hint.
        Some(failure) if failure.kind != FailureKind::Connect => {
            let mut body = error_body("health_failed", &failure.message);
            if let Some(hint) = &failure.hint {
                body["hint"] = hint.as_str().into();
            }
            body
        }
        Some(_) => error_body("database_unavailable", "cannot connect to the database"),
        None => error_body(
            "health_failed",
            "the health checks failed (see the server log)",
        ),
    }
}
