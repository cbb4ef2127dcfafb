//! palmdb through a real PgBouncer (Debian's package, started by scripts/ensure-pgbouncer.sh):
//! 127.0.0.1:6432 pools in transaction mode, 6433 in session mode, both in front of the test
//! server. What needs no session works through transaction pooling (health, stats, backup
//! list/status, serve); what needs one (migrate, backup create) refuses it in one line and
//! works with --direct-url / DIRECT_URL or through session pooling.

use std::sync::Once;
use std::time::Duration;

use crate::common::serve::ServeProcess;
use crate::common::{assert_exit, assert_success, palmdb_command, stderr, stdout, TestDb};

pub const TRANSACTION_PORT: u16 = 6432;
pub const SESSION_PORT: u16 = 6433;

/// Starts the two PgBouncer instances once per test binary (the script is idempotent).
fn ensure_pgbouncer() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/ensure-pgbouncer.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .output()
            .expect("run scripts/ensure-pgbouncer.sh");
        assert!(
            out.status.success(),
            "ensure-pgbouncer.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// The test database's URL through PgBouncer on `port`.
fn via(db: &TestDb, port: u16) -> String {
    ensure_pgbouncer();
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_port(Some(port)).unwrap();
    url.to_string()
}

fn palmdb_at(url: &str, args: &[&str]) -> std::process::Output {
    palmdb_command(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("run palmdb")
}

fn backup_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("manifest.json").exists())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn health_and_stats_work_through_transaction_pooling_even_in_parallel() {
    let db = TestDb::migrated_on_system("pgb_health");
    assert_success(&db.palmdb(&["demo-data", "--users", "200"]));
    let pooled = via(&db, TRANSACTION_PORT);
    // Eight at once on one pool of five servers: a statement prepared on one server and
    // executed on another, or a SET left on a server, would show here.
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let pooled = pooled.clone();
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    palmdb_at(&pooled, &["health", "--format", "json"])
                } else {
                    palmdb_at(
                        &pooled,
                        &["stats", "orders", "--status", "completed", "--json"],
                    )
                }
            })
        })
        .collect();
    for (i, run) in runs.into_iter().enumerate() {
        let out = run.join().unwrap();
        assert_success(&out);
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        if i % 2 == 0 {
            assert_eq!(json["checks"].as_array().unwrap().len(), 20, "{json}");
        } else {
            assert_eq!(json["orders"].as_array().unwrap().len(), 20, "{json}");
        }
    }
    // The health guards were transaction-local: no server session kept them.
    let leaked = db.scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend'
           AND pid <> pg_backend_pid() AND query ILIKE '%set_config%' AND state = 'idle in transaction'",
    );
    assert_eq!(leaked.as_deref(), Some("0"));
    let email = db
        .scalar("SELECT email FROM users ORDER BY created_at LIMIT 1")
        .unwrap();
    let out = palmdb_at(&pooled, &["stats", "user", &email, "--json"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("\"orders_total\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn migrate_refuses_transaction_pooling_and_uses_the_direct_url() {
    let db = TestDb::on_system("pgb_migrate");
    let pooled = via(&db, TRANSACTION_PORT);
    let out = palmdb_at(&pooled, &["migrate"]);
    let text = assert_exit(&out, 1);
    let first = stderr(&out).lines().next().unwrap_or("").to_string();
    assert!(
        first.contains("cannot run migrate")
            && first.contains("transaction mode")
            && first.contains(":6432/"),
        "{text}"
    );
    assert!(
        text.contains("HINT: give a direct or session-mode URL with --direct-url or DIRECT_URL"),
        "{text}"
    );
    // Never half-running: nothing was applied.
    assert_eq!(
        db.scalar("SELECT to_regclass('public.refinery_schema_history') IS NULL"),
        Some("true".into())
    );
    // --direct-url on the command line, then DIRECT_URL in the environment.
    let out = palmdb_at(
        &pooled,
        &["--direct-url", &db.url, "migrate", "--target-version", "2"],
    );
    assert_success(&out);
    let out = palmdb_command(&["migrate"])
        .env("DATABASE_URL", &pooled)
        .env("DIRECT_URL", &db.url)
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        db.scalar("SELECT max(version) > 2 FROM refinery_schema_history"),
        Some("true".into())
    );
    // A DIRECT_URL that is itself a transaction pooler is refused too.
    let out = palmdb_command(&["migrate"])
        .env("DATABASE_URL", &db.url)
        .env("DIRECT_URL", &pooled)
        .output()
        .unwrap();
    assert!(assert_exit(&out, 1).contains("transaction mode"));
    // `migrate status` reads only: it works through the pooler.
    assert_exit(&palmdb_at(&pooled, &["migrate", "status"]), 0);
}

#[test]
fn session_pooling_is_accepted_for_migrate_and_backup_create() {
    let db = TestDb::on_system("pgb_session");
    let session = via(&db, SESSION_PORT);
    assert_success(&palmdb_at(&session, &["migrate"]));
    let dir = tempfile::tempdir().unwrap();
    let out = palmdb_at(
        &session,
        &["backup", "create", "--dir", dir.path().to_str().unwrap()],
    );
    assert_success(&out);
    assert_eq!(backup_count(dir.path()), 1);
}

#[test]
fn backup_create_refuses_transaction_pooling_and_list_and_status_work_through_it() {
    let db = TestDb::migrated_on_system("pgb_backup");
    assert_success(&db.palmdb(&["demo-data", "--users", "50"]));
    let pooled = via(&db, TRANSACTION_PORT);
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let out = palmdb_at(&pooled, &["backup", "create", "--dir", dir_arg]);
    let text = assert_exit(&out, 1);
    assert!(
        text.contains("cannot run backup create") && text.contains("--direct-url"),
        "{text}"
    );
    assert_eq!(backup_count(dir.path()), 0, "nothing may be written");
    let leftovers = std::fs::read_dir(dir.path())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "not even an unfinished folder");
    let out = palmdb_at(
        &pooled,
        &[
            "--direct-url",
            &db.url,
            "backup",
            "create",
            "--dir",
            dir_arg,
        ],
    );
    assert_success(&out);
    assert_eq!(backup_count(dir.path()), 1);
    let out = palmdb_at(&pooled, &["backup", "list", "--dir", dir_arg, "--json"]);
    assert_success(&out);
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let out = palmdb_at(&pooled, &["backup", "status", "--dir", dir_arg]);
    assert!(assert_exit(&out, 0).contains("OK"));
    // The backup restores through the direct URL into a fresh database, checked row for row.
    let target = TestDb::on_system("pgb_backup_target");
    let out = palmdb_command(&["restore", "latest", "--dir", dir_arg])
        .env("DATABASE_URL", via(&target, TRANSACTION_PORT))
        .env("DIRECT_URL", &target.url)
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        target.scalar("SELECT count(*) FROM users"),
        db.scalar("SELECT count(*) FROM users")
    );
}

const ADMIN: &str = "pgbouncer-test-admin-token-5f2c9a41e0";

/// `palmdb serve` on a free port with DATABASE_URL `url` and `extra` arguments.
pub struct Serve(ServeProcess);

impl Serve {
    pub fn start(url: &str, extra: &[&str]) -> Serve {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut cmd = palmdb_command(&args);
        cmd.env("DATABASE_URL", url)
            .env("PALMDB_ADMIN_TOKEN", ADMIN)
            .env("PALMDB_LOG", "info");
        Serve(ServeProcess::spawn(cmd, |line| eprintln!("serve: {line}")))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::blocking::Client::new()
            .get(self.0.url(path))
            .bearer_auth(ADMIN)
            .timeout(Duration::from_secs(30))
            .send()
            .expect("GET");
        (response.status().as_u16(), response.text().unwrap())
    }
}

#[test]
fn serve_answers_health_and_metrics_through_transaction_pooling() {
    let db = TestDb::migrated_on_system("pgb_serve");
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(
        &via(&db, TRANSACTION_PORT),
        &["--dir", dir.path().to_str().unwrap(), "--cache-ttl", "0s"],
    );
    // Several rounds, in parallel: each collection runs on whichever server the pool gives.
    let server = std::sync::Arc::new(server);
    let rounds: Vec<_> = (0..6)
        .map(|i| {
            let server = server.clone();
            std::thread::spawn(move || server.get(if i % 2 == 0 { "/health" } else { "/metrics" }))
        })
        .collect();
    for (i, round) in rounds.into_iter().enumerate() {
        let (status, body) = round.join().unwrap();
        assert_eq!(status, 200, "{body}");
        if i % 2 == 0 {
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["status"], "ok", "{body}");
        } else {
            assert!(body.contains("palmdb_up 1\n"), "{body}");
        }
    }
    let (status, body) = server.get("/backups/status");
    assert_eq!(status, 503, "no backup yet is critical: {body}");
    assert!(body.contains("\"critical\""), "{body}");
}

/// PgBouncer's admin console on the transaction-pooling instance.
fn console() -> String {
    ensure_pgbouncer();
    format!("postgres://postgres@127.0.0.1:{TRANSACTION_PORT}/pgbouncer")
}

#[test]
fn pool_health_sees_waiting_clients_and_a_full_pool_in_every_format_and_in_metrics() {
    let db = TestDb::migrated_on_system("pgb_pools");
    let pooled = via(&db, TRANSACTION_PORT);
    let pool_checks = [
        "--check",
        "pgbouncer_clients_waiting",
        "--check",
        "pgbouncer_max_wait",
        "--check",
        "pgbouncer_server_usage",
    ];
    // At rest, through the pooler, every check (20 SQL + 3 pool) and all ok.
    let out = palmdb_at(
        &pooled,
        &["health", "--format", "json", "--pgbouncer-url", &console()],
    );
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 23, "{report}");
    for name in [
        "pgbouncer_clients_waiting",
        "pgbouncer_max_wait",
        "pgbouncer_server_usage",
    ] {
        let check = checks.iter().find(|c| c["name"] == name).expect(name);
        assert_eq!(check["status"], "ok", "{check}");
    }

    // Fill the pool: five clients each hold a server in an open transaction, a sixth waits.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let holders: Vec<tokio_postgres::Client> = runtime.block_on(async {
        let mut holders = Vec::new();
        for _ in 0..5 {
            let (client, conn) = tokio_postgres::connect(&pooled, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client.batch_execute("BEGIN; SELECT 1").await.unwrap();
            holders.push(client);
        }
        holders
    });
    let waiter = runtime.spawn({
        let pooled = pooled.clone();
        async move {
            let (client, conn) = tokio_postgres::connect(&pooled, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client.simple_query("SELECT 1").await.map(|_| ())
        }
    });
    std::thread::sleep(Duration::from_millis(1500));

    // Checked over a direct connection (the pooled one would wait too), pool checks only.
    let direct_health = |format: &str, extra: &[&str]| {
        let mut args = vec!["health", "--format", format, "--pgbouncer-url"];
        let console = console();
        args.push(&console);
        args.extend_from_slice(&pool_checks);
        // The wait grows while the test runs (minutes on a busy machine): keep it a warning.
        args.extend_from_slice(&["--threshold", "pgbouncer_max_wait_critical=1h"]);
        args.extend_from_slice(extra);
        palmdb_at(&db.url, &args)
    };
    let out = direct_health("json", &[]);
    assert_exit(&out, 2);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let by_name = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
            .clone()
    };
    assert_eq!(report["checks"].as_array().unwrap().len(), 3);
    let waiting = by_name("pgbouncer_clients_waiting");
    assert_eq!(
        (waiting["status"].clone(), waiting["value"].clone()),
        ("warning".into(), 1.0.into()),
        "{waiting}"
    );
    let wait = by_name("pgbouncer_max_wait");
    assert_eq!(wait["status"], "warning", "{wait}");
    assert!(wait["value"].as_f64().unwrap() >= 1.0, "{wait}");
    let usage = by_name("pgbouncer_server_usage");
    assert_eq!(
        (usage["status"].clone(), usage["value"].clone()),
        ("critical".into(), 1.0.into()),
        "{usage}"
    );
    assert!(
        usage["detail"]
            .as_str()
            .unwrap()
            .contains("5 of 5 server connections in use"),
        "{usage}"
    );
    assert!(
        usage["remedy"].as_str().unwrap().contains("SHOW POOLS"),
        "{usage}"
    );

    // A threshold makes one waiting client critical.
    let out = direct_health(
        "json",
        &["--threshold", "pgbouncer_clients_waiting_critical=1"],
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "pgbouncer_clients_waiting" && c["status"] == "critical"),
        "{report}"
    );

    let text = assert_exit(&direct_health("nagios", &[]), 2);
    assert!(text.starts_with("PALMDB HEALTH CRITICAL - 1 critical: pgbouncer_server_usage; 2 warning: pgbouncer_clients_waiting, pgbouncer_max_wait |"), "{text}");
    assert!(text.contains("'pgbouncer_server_usage'=1;0.8;1"), "{text}");
    assert!(
        text.contains("'pgbouncer_clients_waiting'=1;1;10"),
        "{text}"
    );
    let text = assert_exit(&direct_health("prometheus", &[]), 2);
    assert!(
        text.contains("palmdb_health_check_status{check=\"pgbouncer_server_usage\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("palmdb_health_check_value{check=\"pgbouncer_clients_waiting\"} 1\n"),
        "{text}"
    );
    let text = assert_exit(&direct_health("table", &[]), 2);
    assert!(
        text.contains("pgbouncer_server_usage")
            && text.contains("5 of 5 server connections in use"),
        "{text}"
    );

    // serve --pgbouncer-url puts them in /metrics.
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(
        &db.url,
        &[
            "--dir",
            dir.path().to_str().unwrap(),
            "--pgbouncer-url",
            &console(),
        ],
    );
    let (status, body) = server.get("/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("palmdb_pgbouncer_up 1\n"), "{body}");
    assert!(
        body.contains("palmdb_health_check_value{check=\"pgbouncer_server_usage\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("palmdb_health_check_status{check=\"pgbouncer_clients_waiting\"} 1\n"),
        "{body}"
    );
    drop(server);

    // Released: the waiting client gets its server, and the pool is healthy again.
    runtime.block_on(async {
        for holder in &holders {
            holder.batch_execute("COMMIT").await.unwrap();
        }
    });
    runtime.block_on(waiter).unwrap().unwrap();
    let out = direct_health("json", &[]);
    assert_exit(&out, 0);
    drop(holders);
}

#[test]
fn pool_checks_without_a_console_or_with_a_wrong_one_are_one_clear_line() {
    let db = TestDb::migrated_on_system("pgb_console");
    let out = palmdb_at(&db.url, &["health", "--check", "pgbouncer_max_wait"]);
    let text = assert_exit(&out, 3);
    assert!(text.contains("need --pgbouncer-url"), "{text}");
    // Not the console: a normal database through the pooler has no SHOW POOLS.
    let out = palmdb_at(
        &db.url,
        &[
            "health",
            "--pgbouncer-url",
            &via(&db, TRANSACTION_PORT),
            "--check",
            "pgbouncer_max_wait",
        ],
    );
    let text = assert_exit(&out, 3);
    assert!(
        text.contains("cannot read PgBouncer's admin console"),
        "{text}"
    );
    assert!(
        text.contains("HINT: --pgbouncer-url must name the database pgbouncer"),
        "{text}"
    );
}
