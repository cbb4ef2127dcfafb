//! `GET /metrics`: Prometheus text format.
//!
//! The health figures come from the health module's own `to_prometheus()` (the same text as
//! `palmdb health --format prometheus`); this module adds what only the server knows:
//! `palmdb_up`, the newest backup's age, size and rows, the pool's occupancy and how long
//! the scrape and the health collection took. When the database is down the scrape still
//! answers 200 with `palmdb_up 0`, as exporters do, so Prometheus can tell "database down"
//! from "exporter down".

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::backups::{self, BackupsSnapshot};
use super::health;
use super::state::AppState;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn get_metrics(State(state): State<Arc<AppState>>) -> Response {
    let started = Instant::now();
    let (health, backups) = tokio::join!(health::current(&state), backups::current(&state));
    let mut text = String::with_capacity(4096);
    gauge(
        &mut text,
        "palmdb_up",
        "1 when the last health collection could read the database, else 0.",
        if health.prometheus.is_some() {
            1.0
        } else {
            0.0
        },
    );
    if let Some(figures) = &health.prometheus {
        text.push_str(figures);
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    if let Some(up) = health.pgbouncer_up {
        gauge(
            &mut text,
            "palmdb_pgbouncer_up",
            "1 when PgBouncer's admin console (--pgbouncer-url) answered the last health collection.",
            if up { 1.0 } else { 0.0 },
        );
    }
    gauge(
        &mut text,
        "palmdb_health_collect_duration_seconds",
        "How long the last health collection took (results are cached for --cache-ttl).",
        health.collect_seconds,
    );
    counter(
        &mut text,
        "palmdb_health_collections_total",
        "Health queries run since palmdb serve started (the cache answers the other requests).",
        state.health_collections.load(Ordering::Relaxed) as f64,
    );
    backup_figures(&mut text, &backups);
    pool_figures(&mut text, &state);
    gauge(
        &mut text,
        "palmdb_serve_uptime_seconds",
        "Seconds since palmdb serve started.",
        state.started.elapsed().as_secs_f64(),
    );
    gauge(
        &mut text,
        "palmdb_scrape_duration_seconds",
        "How long this scrape took to answer.",
        started.elapsed().as_secs_f64(),
    );
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

fn backup_figures(text: &mut String, snapshot: &BackupsSnapshot) {
    let status_code = match &snapshot.status {
        Ok(status) => status.exit_code().code(),
        Err(_) => crate::error::ExitCode::Unknown.code(),
    };
    gauge(
        text,
        "palmdb_backup_status",
        "Backup status as `palmdb backup status` exits: 0 ok, 1 too old, 2 none, 3 unreadable.",
        f64::from(status_code),
    );
    if let Ok(status) = &snapshot.status {
        repository_figures(text, status);
    }
    let Ok(list) = &snapshot.list else {
        return;
    };
    gauge(
        text,
        "palmdb_backups",
        "Valid backups in the backup repositories.",
        list.len() as f64,
    );
    // The list is newest first.
    let Some(newest) = list.first() else {
        return;
    };
    let age = (chrono::Utc::now() - newest.completed_at).num_milliseconds() as f64 / 1000.0;
    gauge(
        text,
        "palmdb_backup_last_age_seconds",
        "Age of the newest valid backup (from its manifest's completed_at).",
        age.max(0.0),
    );
    gauge(
        text,
        "palmdb_backup_last_completed_timestamp_seconds",
        "When the newest valid backup completed, as a Unix time.",
        newest.completed_at.timestamp_millis() as f64 / 1000.0,
    );
    gauge(
        text,
        "palmdb_backup_last_size_bytes",
        "Size on disk of the newest valid backup.",
        newest.bytes as f64,
    );
    gauge(
        text,
        "palmdb_backup_last_rows",
        "Rows in the newest valid backup.",
        newest.rows as f64,
    );
}

/// One series per repository: the newest valid backup's age, and the repository's verdict.
fn repository_figures(text: &mut String, status: &crate::backup::status::BackupStatus) {
    let _ = writeln!(
        text,
        "# HELP palmdb_backup_age_seconds Age of the newest valid backup in each repository \
         (from its manifest's completed_at)."
    );
    let _ = writeln!(text, "# TYPE palmdb_backup_age_seconds gauge");
    for repo in &status.repositories {
        if let Some(age) = repo.age_seconds {
            let _ = writeln!(
                text,
                "palmdb_backup_age_seconds{{repo=\"{}\"}} {age}",
                label_value(&repo.repo)
            );
        }
    }
    let _ = writeln!(
        text,
        "# HELP palmdb_backup_repository_status Each repository's verdict as `palmdb backup \
         status` exits: 0 ok, 1 too old, 2 none, 3 unreadable."
    );
    let _ = writeln!(text, "# TYPE palmdb_backup_repository_status gauge");
    for repo in &status.repositories {
        let code = repo.status.number();
        let _ = writeln!(
            text,
            "palmdb_backup_repository_status{{repo=\"{}\"}} {code}",
            label_value(&repo.repo)
        );
    }
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn pool_figures(text: &mut String, state: &AppState) {
    let figures = state.pool.figures();
    gauge(
        text,
        "palmdb_serve_pool_max_connections",
        "Most database connections palmdb serve opens (--pool-size).",
        figures.max as f64,
    );
    gauge(
        text,
        "palmdb_serve_pool_connections",
        "Database connections palmdb serve has open.",
        figures.open as f64,
    );
    gauge(
        text,
        "palmdb_serve_pool_waiting",
        "Requests waiting for a database connection.",
        figures.waiting as f64,
    );
}

/// One gauge with its HELP and TYPE lines.
fn gauge(text: &mut String, name: &str, help: &str, value: f64) {
    sample(text, name, "gauge", help, value);
}

/// One counter with its HELP and TYPE lines.
fn counter(text: &mut String, name: &str, help: &str, value: f64) {
    sample(text, name, "counter", help, value);
}

fn sample(text: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} {kind}");
    let _ = writeln!(text, "{name} {value}");
}
