//! `/queries`: the statements that cost the database the most (pg_stat_statements) and the
//! index advice for them — `palmdb queries` and `palmdb advise` on a page. The advice is
//! computed on demand and kept for [`super::ADVICE_TTL`]: it plans every top statement once
//! per candidate index.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::{layout, require_session};
use crate::error::{failure_of, one_line};
use crate::insights::advise::{self, AdviceReport, AdviseOptions};
use crate::insights::queries::{self, one_line as short, OrderBy, TopQueries};
use crate::serve::state::AppState;

const TOP: i32 = 20;

pub async fn page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let session = match require_session(&state, &headers) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let top = state
        .pool
        .with_client(async |client| queries::top_queries(client, OrderBy::Total, TOP).await)
        .await
        .map_err(|e| explain(&e));
    let advice = match &top {
        Ok(_) => Some(current_advice(&state).await),
        Err(_) => None,
    };
    let content = html! {
        h2 { "Top statements by total time" }
        @match &top {
            Ok(top) => (statements(top)),
            Err(problem) => (layout::problem(problem)),
        }
        h2 { "Index advice" }
        @match advice.as_deref() {
            Some(Ok(report)) => (advice_list(report)),
            Some(Err(problem)) => (layout::problem(problem)),
            None => p { "Needs the statements above." },
        }
    };
    layout::page("/queries", "Queries", &session, content).into_response()
}

/// The cached advice, computed again when older than the TTL.
async fn current_advice(state: &AppState) -> Arc<Result<AdviceReport, String>> {
    state
        .dashboard
        .advice
        .get(|| async {
            let options = AdviseOptions {
                min_improvement: 0.5,
                min_cost: 100.0,
                plans: None,
            };
            state
                .pool
                .with_client(async |client| advise::advise(client, &options).await)
                .await
                .map_err(|e| explain(&e))
        })
        .await
}

/// One line, and the hint when there is one (which extension to install).
fn explain(err: &anyhow::Error) -> String {
    match failure_of(err).and_then(|f| f.hint.as_deref()) {
        Some(hint) => format!("{} — HINT: {hint}", one_line(err)),
        None => one_line(err),
    }
}

fn statements(top: &TopQueries) -> Markup {
    html! {
        @if top.statements.is_empty() {
            p { "No statement recorded for this database yet." }
        } @else {
            table.statements {
                thead { tr {
                    th { "total ms" } th { "mean ms" } th { "calls" } th { "rows" }
                    th { "cache hit" } th { "share" } th { "statement" }
                } }
                tbody {
                    @for s in &top.statements {
                        tr data-query-id=(s.query_id) data-calls=(s.calls) {
                            td.number { (format!("{:.1}", s.total_time_ms)) }
                            td.number { (format!("{:.3}", s.mean_time_ms)) }
                            td.number { (s.calls) }
                            td.number { (s.rows) }
                            td.number { (percent(s.cache_hit_ratio)) }
                            td.number { (percent(s.share_of_total)) }
                            td { code title=(s.query) { (short(&s.query, 160)) } }
                        }
                    }
                }
            }
        }
    }
}

fn advice_list(report: &AdviceReport) -> Markup {
    html! {
        p.summary {
            (report.statements.len()) " statements examined ("
            @match report.plans {
                advise::explain::PlanMode::Generic => "generic plans",
                advise::explain::PlanMode::Samples => "plans with sample values from pg_stats",
            }
            "); an index is advised when it lowers a statement's cost by "
            (format!("{:.0}%", report.min_improvement * 100.0)) " or more."
        }
        @if report.advice.is_empty() {
            p #no-advice { "No index to add: no candidate lowers any statement's cost enough." }
        }
        @for a in &report.advice {
            section.advice data-table=(a.table) data-columns=(a.columns.join(",")) {
                pre { code { (a.create_index) } }
                p {
                    "Estimated size " (crate::ui::human::pg_size(a.estimated_bytes))
                    @if !a.makes_redundant.is_empty() {
                        "; makes redundant (drop once built): " (a.makes_redundant.join(", "))
                    }
                }
                ul {
                    @for s in &a.statements {
                        li {
                            "cost " (format!("{:.1} → {:.1} (−{:.0}%)", s.cost_before, s.cost_after, s.improvement * 100.0))
                            ", " (s.calls) " calls: " code { (short(&s.query, 160)) }
                        }
                    }
                }
            }
        }
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_string(), |r| format!("{:.1}%", r * 100.0))
}
