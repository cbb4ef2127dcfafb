//! `/connections`: the server's client connections by state and their share of
//! max_connections (`palmdb.connections`, the health check's view), and this database's
//! sessions by application, user and state.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{chart, layout, require_session};
use crate::error::one_line;
use crate::serve::state::AppState;

struct ByState {
    state: String,
    connections: i64,
    share_of_max: f64,
}

struct BySession {
    application: String,
    user: String,
    state: String,
    connections: i64,
    longest_seconds: Option<f64>,
}

pub async fn page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let session = match require_session(&state, &headers) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let outcome = state
        .pool
        .with_client(async |client| {
            let by_state = client
                .query(
                    "SELECT c.state, c.connections, c.share_of_max::float8 AS share_of_max
                     FROM palmdb.connections AS c
                     ORDER BY c.connections DESC, c.state",
                    &[],
                )
                .await?
                .iter()
                .map(|r| ByState {
                    state: r.get("state"),
                    connections: r.get("connections"),
                    share_of_max: r.get("share_of_max"),
                })
                .collect::<Vec<_>>();
            let max: String = client
                .query_one("SELECT current_setting('max_connections')", &[])
                .await?
                .get(0);
            let by_session = client
                .query(
                    "SELECT coalesce(nullif(a.application_name, ''), '(none)') AS application,
                            coalesce(a.usename::text, '') AS user_name,
                            coalesce(a.state, 'unknown') AS state,
                            count(*) AS connections,
                            extract(epoch FROM max(now() - a.state_change))::float8 AS longest
                     FROM pg_stat_activity AS a
                     WHERE a.backend_type = 'client backend'
                         AND a.datname = current_database()
                     GROUP BY 1, 2, 3
                     ORDER BY 4 DESC, 1, 2, 3",
                    &[],
                )
                .await?
                .iter()
                .map(|r| BySession {
                    application: r.get("application"),
                    user: r.get("user_name"),
                    state: r.get("state"),
                    connections: r.get("connections"),
                    longest_seconds: r.get("longest"),
                })
                .collect::<Vec<_>>();
            Ok((by_state, max, by_session))
        })
        .await;
    let content = match outcome {
        Ok((by_state, max, by_session)) => {
            let total: i64 = by_state.iter().map(|s| s.connections).sum();
            let bars: Vec<(String, f64)> = by_state
                .iter()
                .map(|s| (s.state.clone(), s.connections as f64))
                .collect();
            html! {
                p.summary {
                    span #total-connections { (total) } " client connections on the server, of "
                    span #max-connections { (max) } " allowed (max_connections)."
                }
                (chart::bars(&bars, |v| format!("{v:.0}")))
                table.states {
                    thead { tr { th { "state" } th { "connections" } th { "share of max" } } }
                    tbody {
                        @for s in &by_state {
                            tr data-state=(s.state) data-connections=(s.connections) {
                                td { (s.state) } td.number { (s.connections) }
                                td.number { (format!("{:.1}%", s.share_of_max * 100.0)) }
                            }
                        }
                    }
                }
                h2 { "This database's sessions" }
                table.sessions {
                    thead { tr { th { "application" } th { "user" } th { "state" } th { "connections" } th { "longest in state" } } }
                    tbody {
                        @for s in &by_session {
                            tr {
                                td { (s.application) } td { (s.user) } td { (s.state) }
                                td.number { (s.connections) }
                                td.number { @if let Some(secs) = s.longest_seconds { (format!("{secs:.0} s")) } }
                            }
                        }
                    }
                }
            }
        }
        Err(err) => layout::problem(&one_line(&err)),
    };
    layout::page("/connections", "Connections", &session, content).into_response()
}
