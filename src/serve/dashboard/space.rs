//! `/space`: table and index sizes now (`palmdb.table_stats`), and how they grew, day by day,
//! from the snapshots `palmdb health --record` keeps (`palmdb.table_growth_per_day`), drawn as
//! inline SVG: the database's total, the largest tables, and each table's growth per day.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::chart::{self, Series};
use super::{layout, require_session};
use crate::error::one_line;
use crate::serve::state::AppState;

/// How many tables get their own chart.
const CHARTED_TABLES: usize = 6;

struct TableSize {
    name: String,
    rows: i64,
    table_bytes: i64,
    index_bytes: i64,
    toast_bytes: i64,
    total_bytes: i64,
}

struct IndexSize {
    table: String,
    name: String,
    bytes: i64,
    scans: i64,
}

struct Day {
    table: String,
    day: String,
    total_bytes: i64,
    bytes_per_day: Option<f64>,
}

pub async fn page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let session = match require_session(&state, &headers) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let outcome = state
        .pool
        .with_client(async |client| {
            let tables = client
                .query(
                    "SELECT format('%I.%I', t.schema_name, t.table_name) AS name, t.live_rows,
                            t.table_bytes, t.index_bytes, t.toast_bytes, t.total_bytes
                     FROM palmdb.table_stats AS t
                     ORDER BY t.total_bytes DESC, 1
                     LIMIT 50",
                    &[],
                )
                .await?
                .iter()
                .map(|r| TableSize {
                    name: r.get("name"),
                    rows: r.get("live_rows"),
                    table_bytes: r.get("table_bytes"),
                    index_bytes: r.get("index_bytes"),
                    toast_bytes: r.get("toast_bytes"),
                    total_bytes: r.get("total_bytes"),
                })
                .collect::<Vec<_>>();
            let indexes = client
                .query(
                    "SELECT format('%I.%I', s.schemaname, s.relname) AS table_name,
                            s.indexrelname::text AS name,
                            pg_relation_size(s.indexrelid) AS bytes, s.idx_scan AS scans
                     FROM pg_stat_user_indexes AS s
                     ORDER BY 3 DESC, 1, 2
                     LIMIT 30",
                    &[],
                )
                .await?
                .iter()
                .map(|r| IndexSize {
                    table: r.get("table_name"),
                    name: r.get("name"),
                    bytes: r.get("bytes"),
                    scans: r.get("scans"),
                })
                .collect::<Vec<_>>();
            let days = client
                .query(
                    "SELECT format('%I.%I', g.schema_name, g.table_name) AS table_name,
                            g.day::text AS day, g.total_bytes, g.bytes_per_day::float8 AS bytes_per_day
                     FROM palmdb.table_growth_per_day AS g
                     WHERE g.day > current_date - 90
                     ORDER BY g.day, 1",
                    &[],
                )
                .await?
                .iter()
                .map(|r| Day {
                    table: r.get("table_name"),
                    day: r.get("day"),
                    total_bytes: r.get("total_bytes"),
                    bytes_per_day: r.get("bytes_per_day"),
                })
                .collect::<Vec<_>>();
            Ok((tables, indexes, days))
        })
        .await;
    let content = match outcome {
        Ok((tables, indexes, days)) => render(&tables, &indexes, &days),
        Err(err) => layout::problem(&one_line(&err)),
    };
    layout::page("/space", "Space", &session, content).into_response()
}

fn render(tables: &[TableSize], indexes: &[IndexSize], days: &[Day]) -> maud::Markup {
    // The database per day: the sum of each table's size that day.
    let mut per_day: BTreeMap<&str, f64> = BTreeMap::new();
    for d in days {
        *per_day.entry(&d.day).or_default() += d.total_bytes as f64;
    }
    let total = Series {
        label: "all tables",
        points: per_day.iter().map(|(d, b)| (d.to_string(), *b)).collect(),
    };
    // The largest tables today that have a history.
    let charted: Vec<&TableSize> = tables
        .iter()
        .filter(|t| days.iter().any(|d| d.table == t.name))
        .take(CHARTED_TABLES)
        .collect();
    // Each table's latest growth per day.
    let mut growth: BTreeMap<&str, f64> = BTreeMap::new();
    for d in days {
        if let Some(g) = d.bytes_per_day {
            growth.insert(&d.table, g);
        }
    }
    let mut growth: Vec<(String, f64)> = growth
        .into_iter()
        .map(|(t, g)| (t.to_string(), g))
        .collect();
    growth.sort_by(|a, b| b.1.total_cmp(&a.1));
    html! {
        h2 { "Growth" }
        @if days.is_empty() {
            p #no-history {
                "No snapshots recorded yet: run " code { "palmdb health --record" }
                " daily (contrib/ has a timer) to see growth here."
            }
        } @else {
            section.growth #growth-total data-days=(per_day.len()) {
                h3 { "All tables, per day" }
                (chart::line(&total, chart::bytes))
            }
            @if !growth.is_empty() {
                section.growth #growth-per-day {
                    h3 { "Growth per day, latest recorded" }
                    (chart::bars(&growth, |v| format!("{}/day", chart::bytes(v))))
                }
            }
            @for t in &charted {
                @let series = Series {
                    label: &t.name,
                    points: days.iter().filter(|d| d.table == t.name)
                        .map(|d| (d.day.clone(), d.total_bytes as f64)).collect(),
                };
                section.growth.table-growth data-table=(t.name) {
                    h3 { (t.name) }
                    (chart::line(&series, chart::bytes))
                }
            }
        }
        h2 { "Tables" }
        table.tables {
            thead { tr {
                th { "table" } th { "rows" } th { "table" } th { "indexes" } th { "TOAST" } th { "total" }
            } }
            tbody {
                @for t in tables {
                    tr data-table=(t.name) data-total-bytes=(t.total_bytes) {
                        td { (t.name) }
                        td.number { (t.rows) }
                        td.number { (chart::bytes(t.table_bytes as f64)) }
                        td.number { (chart::bytes(t.index_bytes as f64)) }
                        td.number { (chart::bytes(t.toast_bytes as f64)) }
                        td.number { (chart::bytes(t.total_bytes as f64)) }
                    }
                }
            }
        }
        h2 { "Indexes" }
        table.indexes {
            thead { tr { th { "index" } th { "table" } th { "size" } th { "scans" } } }
            tbody {
                @for i in indexes {
                    tr data-index=(i.name) data-bytes=(i.bytes) {
                        td { (i.name) } td { (i.table) }
                        td.number { (chart::bytes(i.bytes as f64)) }
                        td.number { (i.scans) }
                    }
                }
            }
        }
    }
}
