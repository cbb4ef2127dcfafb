//! Benchmark: a full `palmdb health` on a database with 2,000 tables answers in under 500 ms.
//!
//! Run with `flock /tmp/palmdb-bench.lock cargo bench --bench health` (the lock keeps
//! benchmarks of the team from overlapping on the shared 2-core machine). It creates a scratch
//! database `palmdb_bench_health_<pid>` with 2,000 tables (primary key, foreign key to the
//! previous table, a secondary index, rows, dead rows, statistics), runs the real release
//! binary end to end (process start, TLS connection, every check, JSON output) and psql's
//! `SELECT * FROM palmdb.checks()` for comparison, then prints a markdown table and writes it
//! to docs/benchmarks/health.md. The scratch database is dropped at the end.

use std::process::Command;
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

const TABLES: usize = 2000;
const RUNS: usize = 15;
const BATCH: usize = 100;

fn admin_url() -> String {
    std::env::var("PALMDB_BENCH_ADMIN_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn url_for(database: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("a postgres:// URL");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// The statements that create tables `from..to`: each references the previous one; every
/// tenth foreign key has no index and every fiftieth table a redundant index, so the checks
/// find something to report.
fn schema_batch(from: usize, to: usize) -> String {
    let mut sql = String::new();
    for i in from..to {
        let parent = if i == 0 {
            String::new()
        } else {
            format!(" REFERENCES bench_{:04} (id)", i - 1)
        };
        sql.push_str(&format!(
            "CREATE TABLE bench_{i:04} (
                 id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 parent_id bigint{parent},
                 payload text NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now()
             );
             INSERT INTO bench_{i:04} (payload) SELECT md5(g::text) FROM generate_series(1, 20) AS g;
             DELETE FROM bench_{i:04} WHERE id <= 5;\n"
        ));
        if i % 10 != 0 {
            sql.push_str(&format!("CREATE INDEX ON bench_{i:04} (parent_id);\n"));
        }
        if i % 50 == 0 {
            sql.push_str(&format!(
                "CREATE INDEX ON bench_{i:04} (created_at); CREATE INDEX ON bench_{i:04} (created_at, payload);\n"
            ));
        }
    }
    sql
}

/// `uptime`'s load average, from /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Runs `command` RUNS times after one warm-up; returns the sorted wall times.
fn time_runs(mut make: impl FnMut() -> Command) -> Vec<Duration> {
    let warm = make().output().expect("run");
    assert!(
        warm.status.code().is_some_and(|c| c <= 2),
        "{}",
        String::from_utf8_lossy(&warm.stderr)
    );
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let out = make().output().expect("run");
        times.push(started.elapsed());
        assert!(
            out.status.code().is_some_and(|c| c <= 2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    times.sort();
    times
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let database = format!("palmdb_bench_health_{}", std::process::id());
    let url = url_for(&database);
    let binary = env!("CARGO_BIN_EXE_palmdb");

    eprintln!("creating {database} with {TABLES} tables ...");
    let setup_started = Instant::now();
    runtime.block_on(async {
        let admin = connect(&admin_url()).await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{database}\""))
            .await
            .unwrap();
    });
    let migrate = Command::new(binary)
        .args(["migrate"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    runtime.block_on(async {
        let client = connect(&url).await;
        // One transaction per batch: a single one would run out of lock slots.
        for from in (0..TABLES).step_by(BATCH) {
            client
                .batch_execute(&schema_batch(from, (from + BATCH).min(TABLES)))
                .await
                .unwrap();
        }
        // Some reads, so the statistics and cache figures are not empty.
        client
            .batch_execute(
                "ANALYZE; SELECT count(*) FROM bench_0001; SELECT count(*) FROM bench_1999;",
            )
            .await
            .unwrap();
    });
    let setup = setup_started.elapsed();
    let (tables, indexes, version): (i64, i64, String) = runtime.block_on(async {
        let client = connect(&url).await;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM pg_stat_user_tables),
                        (SELECT count(*) FROM pg_stat_user_indexes),
                        current_setting('server_version')",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    });

    // The machine is shared: say how busy it was while the timings were taken.
    let load_before = load_average();
    eprintln!("timing ...");
    let full = time_runs(|| {
        let mut cmd = Command::new(binary);
        cmd.args(["health", "--format", "json"])
            .env("DATABASE_URL", &url);
        cmd
    });
    let nagios = time_runs(|| {
        let mut cmd = Command::new(binary);
        cmd.args(["health", "--format", "nagios"])
            .env("DATABASE_URL", &url);
        cmd
    });
    let psql = time_runs(|| {
        let mut cmd = Command::new("psql");
        cmd.args([url.as_str(), "-qAtc", "SELECT * FROM palmdb.checks()"]);
        cmd
    });
    // Per check, inside one session: where the time goes.
    let per_check: Vec<(String, Duration)> = runtime.block_on(async {
        let client = connect(&url).await;
        let mut out = Vec::new();
        // In the order palmdb.checks() reports them.
        let names: Vec<String> = client
            .query("SELECT name FROM palmdb.checks()", &[])
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        for name in names {
            let mut best = Duration::MAX;
            for _ in 0..5 {
                let started = Instant::now();
                client
                    .query(
                        "SELECT * FROM palmdb.checks(only_checks => ARRAY[$1])",
                        &[&name],
                    )
                    .await
                    .unwrap();
                best = best.min(started.elapsed());
            }
            out.push((name, best));
        }
        out
    });
    let load_after = load_average();
    let report = Command::new(binary)
        .args(["health", "--format", "json"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();

    runtime.block_on(async {
        let admin = connect(&admin_url()).await;
        admin
            .batch_execute(&format!("DROP DATABASE \"{database}\" WITH (FORCE)"))
            .await
            .unwrap();
    });

    let all_checks = format!(
        "`palmdb health --format json` (all {} checks)",
        per_check.len()
    );
    let mut md = String::new();
    md.push_str("# Benchmark: `palmdb health` on 2,000 tables\n\n");
    md.push_str("Command: `flock /tmp/palmdb-bench.lock cargo bench --bench health`\n\n");
    md.push_str(&format!(
        "Database: {tables} tables, {indexes} indexes (PostgreSQL {version}, local, TLS `prefer`), built in {:.1} s. \
         Each row: {RUNS} runs after one warm-up, wall time of the whole process (start, connect, all \
         checks, output). Overall status of the run: `{}`. Load average (1, 5, 15 min) when the \
         timings started: {load_before}; when they ended: {load_after} (2 cores, shared).\n\n",
        setup.as_secs_f64(),
        status["status"].as_str().unwrap_or("?")
    ));
    md.push_str("| what | median ms | p95 ms | max ms | target |\n|---|---:|---:|---:|---|\n");
    for (what, times) in [
        (all_checks.as_str(), &full),
        ("`palmdb health --format nagios`", &nagios),
        (
            "`psql -c 'SELECT * FROM palmdb.checks()'` (for comparison)",
            &psql,
        ),
    ] {
        md.push_str(&format!(
            "| {what} | {} | {} | {} | {} |\n",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.95)),
            ms(*times.last().unwrap()),
            if what.starts_with("`palmdb") {
                if percentile(times, 0.95) < Duration::from_millis(500) {
                    "< 500 ms: met"
                } else {
                    "< 500 ms: MISSED"
                }
            } else {
                ""
            }
        ));
    }
    md.push_str("\nPer check, in one open session (best of 5, server time plus one round trip):\n\n| check | ms |\n|---|---:|\n");
    for (name, best) in &per_check {
        md.push_str(&format!("| `{name}` | {} |\n", ms(*best)));
    }
    println!("{md}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/benchmarks/health.md");
    std::fs::write(path, md).expect("write docs/benchmarks/health.md");
    eprintln!("written to {path}");
}
