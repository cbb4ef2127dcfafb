//! `/backups`: every backup of every repository with its age, size, rows and verification,
//! read exactly as `GET /backups` reads them (the same cached snapshot, `serve::backups`), and
//! the admin's two actions, each a POST carrying the session's CSRF token:
//! - prune (`POST /backups/prune`): the same library call as `DELETE /backups/expired` and
//!   `palmdb backup prune`, one at a time, after which the cached list is read again;
//! - verify (`POST /backups/verify`): `palmdb backup verify ID` (manifest, every file's
//!   SHA-256 and every line), whose outcome the page then shows as the backup's verify state.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use maud::html;
use serde::Deserialize;

use super::{chart, layout, require_admin_form, require_session};
use crate::backup::prune::{prune as prune_backups, PruneOptions};
use crate::error::one_line;
use crate::serve::backups as api;
use crate::serve::state::AppState;
use crate::ui::Report;

/// The outcome of the last verification of a backup run from the dashboard.
#[derive(Debug, Clone)]
pub struct Verified {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub summary: String,
}

pub async fn page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let session = match require_session(&state, &headers) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let snapshot = api::current(&state).await;
    let verified = state
        .dashboard
        .verified
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let now = Utc::now();
    let content = html! {
        @match &snapshot.status {
            Ok(status) => p.summary {
                "Status: "
                span.status #backup-status data-status=(status_name(status.exit_code().code())) {
                    (status_name(status.exit_code().code()))
                }
                " — " (status.message)
            },
            Err(error) => (layout::problem(error)),
        }
        @match &snapshot.list {
            Ok(list) if list.is_empty() => p #no-backups { "No valid backup in " code { (repo_names(&state)) } "." },
            Ok(list) => {
                @let sizes: Vec<(String, f64)> = list.iter().take(14).rev()
                    .map(|b| (b.id.clone(), b.bytes as f64)).collect();
                (chart::bars(&sizes, chart::bytes))
                table.backups {
                    thead { tr {
                        th { "backup" }
                        @if state.repos.len() > 1 { th { "repository" } }
                        th { "completed" } th { "age" } th { "tables" } th { "rows" }
                        th { "size" } th { "verified" }
                        @if session.is_admin() { th {} }
                    } }
                    tbody {
                        @for b in list {
                            tr data-backup=(b.id) data-rows=(b.rows) data-bytes=(b.bytes) {
                                td {
                                    (b.id)
                                    @if b.masked { " " span.tag { "masked" } }
                                    @if b.encrypted { " " span.tag { "encrypted" } }
                                }
                                @if state.repos.len() > 1 { td { code { (b.repo) } } }
                                td { (b.completed_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                td.number { (age((now - b.completed_at).num_seconds())) }
                                td.number { (b.tables) }
                                td.number { (b.rows) }
                                td.number { (chart::bytes(b.bytes as f64)) }
                                td.verified {
                                    @match verified.get(&verified_key(&b.repo, &b.id)) {
                                        Some(v) => span.status data-status=(if v.ok { "ok" } else { "critical" }) title=(v.summary) {
                                            (if v.ok { "ok" } else { "FAILED" }) " " (v.at.format("%Y-%m-%d %H:%M UTC"))
                                        },
                                        None => span.muted { "not since serve started" },
                                    }
                                }
                                @if session.is_admin() {
                                    td {
                                        form method="post" action="/backups/verify" {
                                            input type="hidden" name="csrf" value=(session.csrf);
                                            input type="hidden" name="id" value=(b.id);
                                            input type="hidden" name="repo" value=(b.repo);
                                            button type="submit" { "Verify" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            },
            Err(error) => (layout::problem(error)),
        }
        @if session.is_admin() {
            h2 { "Prune " code { (state.repos.first().map(|r| r.url()).unwrap_or_default()) } }
            form.prune method="post" action="/backups/prune" {
                input type="hidden" name="csrf" value=(session.csrf);
                label { "Keep days " input type="number" name="keep_days" value="7" min="0" max="36500" required; }
                label { "Keep at least " input type="number" name="keep_last" value="1" min="1" max="100000" required; }
                label { input type="checkbox" name="dry_run" value="true" checked; " only say what would go" }
                button type="submit" { "Prune" }
            }
        } @else {
            p.muted { "Log in with the admin token to prune or verify backups." }
        }
    };
    layout::page("/backups", "Backups", &session, content).into_response()
}

#[derive(Deserialize)]
pub struct PruneForm {
    csrf: String,
    keep_days: u32,
    keep_last: usize,
    #[serde(default)]
    dry_run: Option<String>,
}

pub async fn prune(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<PruneForm>,
) -> Response {
    let session = match require_admin_form(&state, &headers, &form.csrf) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let options = PruneOptions {
        keep_days: form.keep_days,
        keep_last: form.keep_last.max(1),
        dry_run: form.dry_run.is_some(),
        unfinished_grace: crate::archive::repository::DEFAULT_UNFINISHED_GRACE,
    };
    let Some(repo) = state.repos.first().cloned() else {
        return (StatusCode::NOT_FOUND, "no backup repository").into_response();
    };
    let _one_at_a_time = state.prune_lock.lock().await;
    let outcome = tokio::task::spawn_blocking(move || prune_backups(&repo, &options)).await;
    state.backups.invalidate().await;
    let (status, content) = match outcome {
        Ok(Ok(report)) => (
            StatusCode::OK,
            html! {
                pre #prune-report { (report.render_text()) }
                p { a href="/backups" { "Back to the backups" } }
            },
        ),
        Ok(Err(err)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            layout::problem(&one_line(&err)),
        ),
        Err(join) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            layout::problem(&format!("the prune task failed: {join}")),
        ),
    };
    (status, layout::page("/backups", "Prune", &session, content)).into_response()
}

#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: String,
    id: String,
    /// The repository the backup is in (its URL); the first when absent.
    #[serde(default)]
    repo: Option<String>,
}

pub async fn verify(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<VerifyForm>,
) -> Response {
    if let Err(refused) = require_admin_form(&state, &headers, &form.csrf) {
        return refused.into_response();
    }
    // Only a backup the list shows: the id never becomes a path of its own.
    let snapshot = api::current(&state).await;
    let wanted_repo = form
        .repo
        .clone()
        .or_else(|| state.repos.first().map(|r| r.url()));
    let Some(summary) = snapshot.list.as_ref().ok().and_then(|list| {
        list.iter()
            .find(|b| b.id == form.id && Some(&b.repo) == wanted_repo.as_ref())
            .cloned()
    }) else {
        return (StatusCode::NOT_FOUND, "no such backup").into_response();
    };
    let Some(repo) = state
        .repos
        .iter()
        .find(|r| r.url() == summary.repo)
        .cloned()
    else {
        return (StatusCode::NOT_FOUND, "no such backup").into_response();
    };
    let id = summary.id.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        // Without a key an encrypted backup is checked by its SHA-256 only.
        let backup = repo.locate(&id)?;
        let (report, _) = crate::verify::check_backup(&backup, None)?;
        Ok::<_, anyhow::Error>(report)
    })
    .await
    .map_err(anyhow::Error::from)
    .and_then(|r| r);
    let verified = match outcome {
        Ok(report) => Verified {
            at: Utc::now(),
            ok: report.status == crate::ui::Verdict::Ok,
            summary: report
                .render_text()
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
        },
        Err(err) => Verified {
            at: Utc::now(),
            ok: false,
            summary: format!("the verification failed to run: {}", one_line(&err)),
        },
    };
    state
        .dashboard
        .verified
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(verified_key(&summary.repo, &summary.id), verified);
    Redirect::to("/backups").into_response()
}

/// Verifications are remembered per backup of a repository (a copy has the same id).
fn verified_key(repo: &str, id: &str) -> String {
    format!("{repo}\n{id}")
}

/// The repositories served, for a person.
fn repo_names(state: &AppState) -> String {
    state
        .repos
        .iter()
        .map(|r| r.url())
        .collect::<Vec<_>>()
        .join(", ")
}

fn status_name(code: i32) -> &'static str {
    match code {
        0 => "ok",
        1 => "warning",
        2 => "critical",
        _ => "unknown",
    }
}

/// Seconds as the largest two units: "3d 4h", "5h 12m", "42s".
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, h, m) = (s / 86400, s % 86400 / 3600, s % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {}s", s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_two_units() {
        assert_eq!(age(42), "42s");
        assert_eq!(age(5 * 60 + 3), "5m 3s");
        assert_eq!(age(3 * 3600 + 120), "3h 2m");
        assert_eq!(age(2 * 86400 + 5 * 3600), "2d 5h");
        assert_eq!(age(-5), "0s");
    }
}
