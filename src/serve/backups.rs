//! `GET /backups`, `GET /backups/status` and `DELETE /backups/expired`: every configured
//! backup repository (a folder or an S3 prefix), through the same library calls as
//! `palmdb backup list | status | prune --json`. `/backups` lists the valid backups of every
//! repository (each names its `repo`); `/backups/status` judges each repository and the worst
//! wins; the prune works on the first repository, or the one `repo=URL` names.
//!
//! Reading the folder is blocking file-system work, so it runs on the blocking pool, and its
//! results are cached like the health report (a scrape every second reads manifests once).
//! `/backups/status` maps its exit code like `/health`: 200 ok or warning, 503 critical (no
//! valid backup) or unknown (the folder cannot be read). A prune empties the cache.
//!
//! Errors answer a stable code and a short message; what went wrong in detail (which path,
//! which errno) goes to the server's log, rate-limited.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::json::{error_body, json_body, json_error, json_response};
use super::state::AppState;
use crate::archive::repository::Repository;
use crate::backup::list::{list_backups, BackupSummary};
use crate::backup::prune::{prune, PruneOptions, MAX_KEEP_DAYS};
use crate::backup::status::{check_status, BackupStatus};
use crate::error::{one_line, ExitCode};

/// One reading of the backup folder, ready to be served many times.
pub struct BackupsSnapshot {
    pub list: Result<Vec<BackupSummary>, String>,
    pub status: Result<BackupStatus, String>,
    list_body: Bytes,
    status_body: Bytes,
}

pub async fn get_list(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = current(&state).await;
    match &snapshot.list {
        Ok(_) => json_response(StatusCode::OK, snapshot.list_body.clone()),
        Err(_) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            FOLDER_UNREADABLE,
            FOLDER_UNREADABLE_MESSAGE,
        ),
    }
}

const FOLDER_UNREADABLE: &str = "backup_folder_unreadable";
const FOLDER_UNREADABLE_MESSAGE: &str = "cannot read the backup folder (see the server log)";

pub async fn get_status(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = current(&state).await;
    let http_status = match &snapshot.status {
        Ok(status) => match status.exit_code() {
            ExitCode::Ok | ExitCode::Warning => StatusCode::OK,
            ExitCode::Critical | ExitCode::Unknown => StatusCode::SERVICE_UNAVAILABLE,
        },
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    json_response(http_status, snapshot.status_body.clone())
}

/// The query string of `DELETE /backups/expired`, named like `palmdb backup prune`'s flags.
/// `keep_days` is required: a destructive call says how much it keeps.
#[derive(Debug, Deserialize)]
pub struct PruneQuery {
    keep_days: u32,
    /// Like the CLI's `--keep-last` (default 1; the newest valid backup is always kept).
    #[serde(default = "default_keep_last")]
    keep_last: usize,
    #[serde(default)]
    dry_run: bool,
    /// Which configured repository to prune (its URL); the first when absent.
    #[serde(default)]
    repo: Option<String>,
}

fn default_keep_last() -> usize {
    1
}

pub async fn delete_expired(
    State(state): State<Arc<AppState>>,
    query: Result<Query<PruneQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => {
            return json_error(StatusCode::BAD_REQUEST, "bad_query", &rejection.body_text())
        }
    };
    if query.keep_days > MAX_KEEP_DAYS {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            &format!("keep_days must be a number of days from 0 to {MAX_KEEP_DAYS}"),
        );
    }
    let options = PruneOptions {
        keep_days: query.keep_days,
        keep_last: query.keep_last,
        dry_run: query.dry_run,
        unfinished_grace: crate::archive::repository::DEFAULT_UNFINISHED_GRACE,
    };
    let chosen: Option<Repository> = match &query.repo {
        None => state.repos.first().cloned(),
        Some(url) => state.repos.iter().find(|r| r.url() == *url).cloned(),
    };
    let Some(repo) = chosen else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "repo must be the URL of a repository this server reports on",
        );
    };
    let _one_at_a_time = state.prune_lock.lock().await;
    let outcome = tokio::task::spawn_blocking(move || prune(&repo, &options)).await;
    state.backups.invalidate().await;
    match outcome {
        Ok(Ok(report)) => json_response(StatusCode::OK, json_body(&report)),
        Ok(Err(err)) => {
            let detail = one_line(&err);
            state
                .warnings
                .warn("prune", || format!("prune failed: {detail}"));
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "prune_failed",
                "the prune failed (see the server log)",
            )
        }
        Err(join) => {
            state
                .warnings
                .warn("prune", || format!("the prune task failed: {join}"));
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error (see the server log)",
            )
        }
    }
}

/// The cached snapshot, read again when older than the TTL.
pub async fn current(state: &AppState) -> Arc<BackupsSnapshot> {
    state.backups.get(|| read(state)).await
}

async fn read(state: &AppState) -> BackupsSnapshot {
    let repos = state.repos.clone();
    let max_age = state.max_age;
    let outcome = tokio::task::spawn_blocking(move || {
        let mut list: Result<Vec<BackupSummary>, String> = Ok(Vec::new());
        for repo in &repos {
            match (&mut list, list_backups(repo)) {
                (Ok(all), Ok(some)) => all.extend(some),
                (Ok(_), Err(e)) if repos.len() == 1 => list = Err(one_line(&e)),
                // One unreadable repository among several: its status says so.
                (Ok(_), Err(e)) => tracing::warn!("backups in {}: {}", repo.url(), one_line(&e)),
                (Err(_), _) => {}
            }
        }
        if let Ok(all) = &mut list {
            all.sort_by_key(|b| std::cmp::Reverse(b.completed_at));
        }
        let status = check_status(&repos, max_age).map_err(|e| one_line(&e));
        (list, status)
    })
    .await;
    let (list, status) = outcome.unwrap_or_else(|join| {
        let error = format!("reading the backup folder failed: {join}");
        (Err(error.clone()), Err(error))
    });
    if let Err(error) = &status {
        state
            .warnings
            .warn("backups", || format!("backups: {error}"));
    }
    let list_body = match &list {
        Ok(list) => json_body(list),
        Err(_) => Bytes::new(),
    };
    let status_body = match &status {
        Ok(status) => json_body(status),
        Err(_) => {
            let mut body = error_body(FOLDER_UNREADABLE, FOLDER_UNREADABLE_MESSAGE);
            body["status"] = "unknown".into();
            json_body(&body)
        }
    };
    BackupsSnapshot {
        list,
        status,
        list_body,
        status_body,
    }
}
