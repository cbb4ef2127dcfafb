//! `/`: every health check with its status, figure, thresholds, what it found and what to
//! do — the same report as `GET /health`, from the same cache.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{layout, require_session};
use crate::health::HealthReport;
use crate::serve::health;
use crate::serve::state::AppState;

pub async fn page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let session = match require_session(&state, &headers) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let snapshot = health::current(&state).await;
    // A failed collection's body (status unknown, no checks, an error) also reads as a report:
    // the HTTP status tells them apart.
    let report = snapshot
        .http_status
        .is_success()
        .then(|| serde_json::from_slice::<HealthReport>(&snapshot.body).ok())
        .flatten();
    let content = match report {
        Some(report) => html! {
            p.summary {
                "Overall: "
                span.status data-status=(report.status.as_str()) #overall { (report.status.as_str()) }
                " — " (report.checks.len()) " checks, "
                (report.checks.iter().filter(|c| c.status != crate::ui::Verdict::Ok).count())
                " need attention."
            }
            table.checks {
                thead { tr { th { "check" } th { "status" } th { "value" } th { "threshold" } th { "found" } th { "what to do" } } }
                tbody {
                    @for check in &report.checks {
                        tr data-check=(check.name) data-status=(check.status.as_str()) {
                            td.name { (check.name) }
                            td { span.status data-status=(check.status.as_str()) { (check.status.as_str()) } }
                            td.value.number { @if let Some(v) = check.value { (format_value(v)) } }
                            td.threshold { (check.threshold) }
                            td.detail { (check.detail) }
                            td.remedy { @if let Some(r) = &check.remedy { code { (r) } } }
                        }
                    }
                }
            }
        },
        None => {
            let body: serde_json::Value =
                serde_json::from_slice(&snapshot.body).unwrap_or_default();
            let error = body["error"]
                .as_str()
                .unwrap_or("the health checks could not run");
            html! {
                p.summary { "Overall: " span.status data-status="unknown" #overall { "unknown" } }
                (layout::problem(error))
                @if let Some(hint) = body["hint"].as_str() { p.hint { "HINT: " (hint) } }
            }
        }
    };
    layout::page("/", "Health", &session, content).into_response()
}

/// A check's figure: integers as integers, ratios with four decimals.
pub fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}
