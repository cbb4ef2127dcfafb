//! `palmdb health` and `palmdb maintain` against a real PostgreSQL: every check is provoked
//! for real (a duplicate index, a session idle in a transaction, a long pg_sleep, a query
//! blocked behind a lock, dead rows, a sequence near its maximum, an index marked INVALID, a
//! forgotten replication slot), and the whole suite runs as a pg_monitor-only role too.
//!
//! Activity checks only look at the test's own database, so the other tests running in
//! parallel on the same server do not flip them. The two server-wide figures that other
//! suites could move (connections, replication slots) are kept out of "everything is ok"
//! assertions, or serialised with [`SERVER_WIDE`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{assert_exit, stderr, stdout, TestDb};
use serde_json::Value;

/// Taken by tests that change or assert server-wide state (replication slots).
static SERVER_WIDE: Mutex<()> = Mutex::new(());

/// Runs `palmdb health --format json ARGS` and returns the exit code and the parsed report.
fn health_json(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["health", "--format", "json"];
    all.extend_from_slice(args);
    let out = db.palmdb(&all);
    let code = out.status.code().expect("exit code");
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "health JSON did not parse: {e}\nstdout:\n{}\nstderr:\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    (code, report)
}

/// The check called `name` in a report.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks array")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {value:#}"))
}

/// Polls a boolean SQL expression until it is true (statistics and sessions arrive a little
/// after the statement that causes them).
fn wait_until(db: &TestDb, condition: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while db.scalar(condition).as_deref() != Some("true") {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {condition}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The checks of the database's palmdb schema, through the library (`palmdb.health_checks`).
fn known_checks(db: &TestDb) -> Vec<String> {
    let url = db.url.clone();
    common::block_on(async move {
        let client = common::connect(&url).await;
        palmdb::health::catalog::list(&client)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect()
    })
}

fn docs() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/health-checks.md"
    ))
    .unwrap()
}

/// The check names of the `### \`name\`` headings of docs/health-checks.md, in order.
fn documented_checks() -> Vec<String> {
    let docs = docs();
    let section = &docs[docs.find("## The checks").expect("a section on the checks")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("### `")?.strip_suffix('`'))
        .map(String::from)
        .collect()
}

#[test]
fn a_fresh_database_is_healthy_and_every_documented_check_runs() {
    let _server = SERVER_WIDE.lock().unwrap_or_else(|e| e.into_inner());
    let db = TestDb::migrated("health_fresh");
    // connections is a server-wide share that other suites move; judged in its own test.
    let (code, report) = health_json(
        &db,
        &[
            "--threshold",
            "connections_warning=1",
            "--threshold",
            "connections_critical=1",
        ],
    );
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // docs/health-checks.md describes the checks in the order palmdb.checks() reports them.
    let documented = documented_checks();
    assert_eq!(names, documented);
    // ... and they are all the checks the database knows (palmdb.health_checks).
    let mut known = known_checks(&db);
    known.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, known);
    assert_eq!(report["status"], "ok", "{report:#}");
    assert_eq!(code, 0);
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{c:#}");
        assert!(
            c["remedy"].is_null() || c["name"] == "slow_queries",
            "{c:#}"
        );
        assert!(
            !text(c, "threshold").is_empty() && !text(c, "detail").is_empty(),
            "{c:#}"
        );
    }
    // A brand-new database has too few block reads to judge a cache: ok, and it says why.
    assert!(text(check(&report, "cache_hit_tables"), "detail").starts_with("not enough data"));
    // pg_stat_statements is absent on this server: a note, not a failure.
    let slow = check(&report, "slow_queries");
    assert!(
        text(slow, "detail").contains("pg_stat_statements"),
        "{slow:#}"
    );
    assert!(slow["value"].is_null());
    // Every doc'd name has a section in docs/health-checks.md.
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/health-checks.md"
    ))
    .unwrap();
    for name in &known {
        assert!(
            docs.contains(&format!("### `{name}`")),
            "docs/health-checks.md lacks {name}"
        );
    }
}

#[test]
fn the_library_api_returns_what_the_cli_prints() {
    let db = TestDb::migrated("health_library");
    db.execute(
        "CREATE TABLE t (a int, b int); CREATE INDEX t_a ON t (a); CREATE INDEX t_a_b ON t (a, b);",
    );
    let url = db.url.clone();
    let report = common::block_on(async move {
        let client = common::connect(&url).await;
        let options = palmdb::health::HealthOptions {
            checks: vec!["duplicate_indexes".into(), "invalid_indexes".into()],
            thresholds: vec![],
        };
        palmdb::health::collect(&client, &options).await.unwrap()
    });
    assert_eq!(report.exit_code(), palmdb::error::ExitCode::Warning);
    let (code, cli) = health_json(
        &db,
        &["--check", "duplicate_indexes", "--check", "invalid_indexes"],
    );
    assert_eq!(code, 1);
    assert_eq!(serde_json::to_value(&report).unwrap(), cli);
    assert!(report
        .to_prometheus()
        .contains("palmdb_health_check_status{check=\"duplicate_indexes\"} 1\n"));
}

#[test]
fn duplicate_index_is_a_warning_with_a_drop_remedy() {
    let db = TestDb::migrated("health_duplicate");
    db.execute(
        "CREATE TABLE t (a int, b int, c text);
         CREATE INDEX t_a ON t (a);                       -- prefix of t_a_b: redundant
         CREATE INDEX t_a_b ON t (a, b);
         CREATE INDEX t_b ON t (b);
         CREATE INDEX t_b_again ON t (b);                 -- identical to t_b: the younger goes
         CREATE INDEX t_b_desc ON t (b DESC);             -- other sort order: not redundant
         CREATE INDEX t_c_hash ON t USING hash (c);       -- other method than t_c_b
         CREATE INDEX t_c_b ON t (c, b);
         CREATE INDEX t_a_partial ON t (a) WHERE b > 0;   -- other predicate
         CREATE INDEX t_lower_c ON t (lower(c));          -- expression, nothing covers it
         CREATE UNIQUE INDEX t_a_unique ON t (a);         -- unique: never the redundant one",
    );
    let (code, report) = health_json(&db, &["--check", "duplicate_indexes"]);
    assert_eq!(code, 1, "{report:#}");
    let dup = check(&report, "duplicate_indexes");
    assert_eq!(dup["status"], "warning");
    assert_eq!(dup["value"], 2.0);
    let detail = text(dup, "detail");
    assert!(
        detail.contains("public.t_a (covered by t_a_b)")
            || detail.contains("public.t_a (covered by t_a_unique)"),
        "{detail}"
    );
    assert!(
        detail.contains("public.t_b_again (covered by t_b)"),
        "{detail}"
    );
    let remedy = text(dup, "remedy");
    assert!(
        remedy.contains("DROP INDEX CONCURRENTLY public.t_a;"),
        "{remedy}"
    );
    assert!(
        remedy.contains("DROP INDEX CONCURRENTLY public.t_b_again;"),
        "{remedy}"
    );
    // psql sees the same thing through the view.
    assert_eq!(
        db.scalar("SELECT string_agg(DISTINCT index_name, ',' ORDER BY index_name) FROM palmdb.duplicate_indexes").as_deref(),
        Some("t_a,t_b_again")
    );
    // Following the advice makes the check pass (psql sends the statements one by one; so
    // do we, as CONCURRENTLY refuses a transaction block).
    for statement in remedy.split_inclusive(';') {
        db.execute(statement);
    }
    let (code, report) = health_json(&db, &["--check", "duplicate_indexes"]);
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn idle_in_transaction_session_is_warning_then_critical() {
    let db = TestDb::migrated("health_idle");
    let url = db.url.clone();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        common::block_on(async move {
            let client = common::connect(&url).await;
            client
                .batch_execute("BEGIN; SELECT 'held open'")
                .await
                .unwrap();
            let _ = tokio::task::spawn_blocking(move || held.recv()).await;
            drop(client);
        })
    });
    wait_until(&db, "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction')");
    std::thread::sleep(Duration::from_millis(1100));

    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "idle_in_transaction",
            "--threshold",
            "idle_in_transaction_warning=1s",
        ],
    );
    let idle = check(&report, "idle_in_transaction");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(idle["status"], "warning");
    assert!(idle["value"].as_f64().unwrap() >= 1.0);
    assert!(
        text(idle, "detail").contains("SELECT 'held open'"),
        "{idle:#}"
    );
    assert!(
        text(idle, "remedy").starts_with("SELECT pg_terminate_backend("),
        "{idle:#}"
    );

    let (code, _) = health_json(
        &db,
        &[
            "--check",
            "idle_in_transaction",
            "--threshold",
            "idle_in_transaction_warning=500ms",
            "--threshold",
            "idle_in_transaction_critical=1s",
        ],
    );
    assert_eq!(code, 2);
    // With the defaults (1 minute), a second of idling is fine.
    let (code, _) = health_json(&db, &["--check", "idle_in_transaction"]);
    assert_eq!(code, 0);

    release.send(()).unwrap();
    holder.join().unwrap();
}

#[test]
fn long_running_query_is_warning_then_critical() {
    let db = TestDb::migrated("health_long_query");
    let url = db.url.clone();
    let sleeper = std::thread::spawn(move || {
        common::block_on(async move {
            let client = common::connect(&url).await;
            // Cancelled by the test below; the error is the expected outcome.
            client
                .batch_execute("SELECT pg_sleep(60) /* palmdb long query test */")
                .await
                .err()
        })
    });
    wait_until(&db, "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep(60)%' AND state = 'active')");
    std::thread::sleep(Duration::from_millis(1100));

    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "long_running_queries",
            "--threshold",
            "long_query_warning=1s",
            "--threshold",
            "long_query_critical=1h",
        ],
    );
    let long = check(&report, "long_running_queries");
    assert_eq!(code, 1, "{report:#}");
    assert!(text(long, "detail").contains("pg_sleep(60)"), "{long:#}");
    let remedy = text(long, "remedy").to_string();
    assert!(remedy.starts_with("SELECT pg_cancel_backend("), "{remedy}");

    let (code, _) = health_json(
        &db,
        &[
            "--check",
            "long_running_queries",
            "--threshold",
            "long_query_warning=500ms",
            "--threshold",
            "long_query_critical=1s",
        ],
    );
    assert_eq!(code, 2);

    // The remedy is runnable and does what it says.
    let cancel = remedy.split(';').next().unwrap().to_string();
    db.execute(&cancel);
    let error = sleeper.join().unwrap().expect("the sleep was cancelled");
    assert!(
        format!("{error:?}").contains("canceling statement"),
        "{error:?}"
    );
    let (code, _) = health_json(
        &db,
        &[
            "--check",
            "long_running_queries",
            "--threshold",
            "long_query_warning=1s",
        ],
    );
    assert_eq!(code, 0);
}

#[test]
fn blocked_query_names_its_blocker_and_health_does_not_queue_behind_the_lock() {
    let db = TestDb::migrated("health_blocked");
    db.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);");
    let url = db.url.clone();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (pid_tx, pid_rx) = std::sync::mpsc::channel::<i32>();
    let locker = std::thread::spawn(move || {
        common::block_on(async move {
            let client = common::connect(&url).await;
            let pid: i32 = client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0);
            client
                .batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
                .await
                .unwrap();
            pid_tx.send(pid).unwrap();
            let _ = tokio::task::spawn_blocking(move || held.recv()).await;
            client.batch_execute("COMMIT").await.unwrap();
        })
    });
    let locker_pid = pid_rx.recv().unwrap();
    let url = db.url.clone();
    let waiter = std::thread::spawn(move || {
        common::block_on(async move {
            let client = common::connect(&url).await;
            client
                .query_one("SELECT count(*) FROM t", &[])
                .await
                .map(|r| r.get::<_, i64>(0))
        })
    });
    wait_until(&db, "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')");
    std::thread::sleep(Duration::from_millis(600));

    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "blocked_queries",
            "--threshold",
            "blocked_warning=0s",
            "--threshold",
            "blocked_critical=1h",
        ],
    );
    let blocked = check(&report, "blocked_queries");
    assert_eq!(code, 1, "{report:#}");
    let detail = text(blocked, "detail");
    assert!(
        detail.contains(&format!("blocked by pid {locker_pid}")),
        "{detail}"
    );
    assert!(detail.contains("SELECT count(*) FROM t"), "{detail}");
    assert_eq!(text(blocked, "remedy"), format!("SELECT pg_terminate_backend({locker_pid});  -- the blocker; see palmdb.blocked_queries"));
    let (code, _) = health_json(
        &db,
        &[
            "--check",
            "blocked_queries",
            "--threshold",
            "blocked_warning=0s",
            "--threshold",
            "blocked_critical=100ms",
        ],
    );
    assert_eq!(code, 2);

    // The full run must not wait behind the ACCESS EXCLUSIVE lock (it would exit 3 after
    // its 5 s lock_timeout): every check reads catalogs and statistics only.
    let started = Instant::now();
    let (code, report) = health_json(
        &db,
        &[
            "--threshold",
            "connections_warning=1",
            "--threshold",
            "connections_critical=1",
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "health took {:?}",
        started.elapsed()
    );
    // With the defaults (10 s blocked, 1 min idle) a second of waiting is still fine.
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(check(&report, "blocked_queries")["status"], "ok");

    release.send(()).unwrap();
    locker.join().unwrap();
    assert_eq!(waiter.join().unwrap().unwrap(), 1);
}

#[test]
fn dead_tuples_are_critical_and_maintain_vacuums_them_one_table_at_a_time() {
    let db = TestDb::migrated("health_dead");
    // autovacuum is off on the CI server, so nothing cleans up behind the test's back.
    db.execute(
        "CREATE TABLE churn (id int PRIMARY KEY, note text);
         INSERT INTO churn SELECT g, 'x' FROM generate_series(1, 4000) AS g;
         DELETE FROM churn WHERE id > 1000;
         CREATE TABLE loaded (id int PRIMARY KEY);
         INSERT INTO loaded SELECT g FROM generate_series(1, 2000) AS g;",
    );
    wait_until(
        &db,
        "(SELECT n_dead_tup >= 3000 FROM pg_stat_user_tables WHERE relname = 'churn')",
    );
    wait_until(
        &db,
        "(SELECT n_mod_since_analyze >= 2000 FROM pg_stat_user_tables WHERE relname = 'loaded')",
    );

    let (code, report) = health_json(
        &db,
        &["--check", "dead_tuples", "--check", "stale_statistics"],
    );
    assert_eq!(code, 2, "{report:#}");
    let dead = check(&report, "dead_tuples");
    assert_eq!(dead["status"], "critical");
    assert_eq!(dead["value"], 0.75);
    assert!(
        text(dead, "detail").contains("public.churn: 3000 dead of 4000 rows"),
        "{dead:#}"
    );
    assert!(text(dead, "remedy").starts_with("VACUUM (ANALYZE, VERBOSE) public.churn;"));
    assert_eq!(check(&report, "stale_statistics")["status"], "warning");

    let out = db.palmdb(&["maintain", "--dry-run"]);
    let printed = assert_exit(&out, 0);
    assert!(
        printed.contains("would run: VACUUM (ANALYZE) public.churn;"),
        "{printed}"
    );
    assert!(
        printed.contains("would run: ANALYZE public.loaded;"),
        "{printed}"
    );
    assert_eq!(
        db.scalar("SELECT last_vacuum IS NULL FROM pg_stat_user_tables WHERE relname = 'churn'")
            .as_deref(),
        Some("true")
    );

    let out = db.palmdb(&["maintain"]);
    let printed = assert_exit(&out, 0);
    let vacuum_line = printed
        .lines()
        .position(|l| l.starts_with("VACUUM (ANALYZE) public.churn: done in"));
    let analyze_line = printed
        .lines()
        .position(|l| l.starts_with("ANALYZE public.loaded: done in"));
    assert!(vacuum_line.is_some() && analyze_line.is_some(), "{printed}");
    assert!(printed.contains("maintained 2 of 2 table(s)"), "{printed}");
    wait_until(&db, "(SELECT last_vacuum IS NOT NULL AND n_dead_tup = 0 FROM pg_stat_user_tables WHERE relname = 'churn')");
    wait_until(
        &db,
        "(SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'loaded')",
    );

    let (code, report) = health_json(
        &db,
        &["--check", "dead_tuples", "--check", "stale_statistics"],
    );
    assert_eq!(code, 0, "{report:#}");
    let out = db.palmdb(&["maintain"]);
    assert!(assert_exit(&out, 0).contains("nothing to do"));
}

#[test]
fn sequence_and_integer_column_near_their_maximum() {
    let db = TestDb::migrated("health_sequences");
    // A bigint sequence feeding an integer column: the column runs out first.
    db.execute(
        "CREATE SEQUENCE wide_seq AS bigint;
         CREATE TABLE narrow (id integer PRIMARY KEY DEFAULT nextval('wide_seq'));
         ALTER SEQUENCE wide_seq OWNED BY narrow.id;
         SELECT setval('wide_seq', 1900000000);",
    );
    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "sequence_exhaustion",
            "--check",
            "serial_column_exhaustion",
        ],
    );
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(check(&report, "sequence_exhaustion")["status"], "ok");
    let column = check(&report, "serial_column_exhaustion");
    assert_eq!(column["status"], "warning");
    assert!(
        text(column, "detail").contains("public.narrow.id (integer): 1900000000 of 2147483647"),
        "{column:#}"
    );
    assert_eq!(text(column, "remedy"), "ALTER TABLE public.narrow ALTER COLUMN id TYPE bigint;  -- rewrites the table: plan a window");

    // A serial (integer sequence) at 93%: both critical.
    db.execute("CREATE TABLE counter (id serial PRIMARY KEY); SELECT setval('counter_id_seq', 2000000000);");
    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "sequence_exhaustion",
            "--check",
            "serial_column_exhaustion",
        ],
    );
    assert_eq!(code, 2, "{report:#}");
    let sequence = check(&report, "sequence_exhaustion");
    assert_eq!(sequence["status"], "critical");
    assert!(
        text(sequence, "detail").contains("public.counter_id_seq (integer)"),
        "{sequence:#}"
    );
    assert_eq!(
        check(&report, "serial_column_exhaustion")["status"],
        "critical"
    );
}

#[test]
fn invalid_index_is_a_warning_with_a_reindex_remedy() {
    let db = TestDb::migrated("health_invalid");
    db.execute(
        "CREATE TABLE t (a int);
         CREATE INDEX t_a ON t (a);
         UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_a'::regclass;",
    );
    let (code, report) = health_json(
        &db,
        &["--check", "invalid_indexes", "--check", "duplicate_indexes"],
    );
    assert_eq!(code, 1, "{report:#}");
    let invalid = check(&report, "invalid_indexes");
    assert_eq!(invalid["status"], "warning");
    assert!(
        text(invalid, "detail").contains("public.t_a"),
        "{invalid:#}"
    );
    assert_eq!(
        text(invalid, "remedy"),
        "REINDEX INDEX CONCURRENTLY public.t_a;"
    );
    assert_eq!(check(&report, "duplicate_indexes")["status"], "ok");

    let out = db.palmdb(&["health", "--format", "nagios", "--check", "invalid_indexes"]);
    let line = assert_exit(&out, 1);
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with(
            "PALMDB HEALTH WARNING - 1 warning: invalid_indexes | 'invalid_indexes'=1;0;"
        ),
        "{line}"
    );

    // The advice works: REINDEX CONCURRENTLY cannot run in a transaction, so run it on its own.
    db.execute(text(invalid, "remedy"));
    let (code, _) = health_json(&db, &["--check", "invalid_indexes"]);
    assert_eq!(code, 0);
}

#[test]
fn foreign_key_without_index_table_without_primary_key_and_unused_index() {
    let db = TestDb::migrated("health_schema_checks");
    db.execute(
        "CREATE TABLE parent (id int PRIMARY KEY, code int, UNIQUE (id, code));
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id));
         CREATE TABLE pair (id int PRIMARY KEY, p int, c int, FOREIGN KEY (p, c) REFERENCES parent (id, code));
         CREATE INDEX pair_c_p ON pair (c, p);            -- covers the FK in another order
         CREATE TABLE event_log (at timestamptz, message text);",
    );
    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "foreign_keys_without_index",
            "--check",
            "tables_without_primary_key",
            "--check",
            "unused_indexes",
            "--threshold",
            "unused_index_min_bytes=0",
        ],
    );
    assert_eq!(code, 1, "{report:#}");
    let fk = check(&report, "foreign_keys_without_index");
    assert_eq!(fk["value"], 1.0, "{fk:#}");
    assert_eq!(
        text(fk, "remedy"),
        "CREATE INDEX CONCURRENTLY ON public.child (parent_id);"
    );
    let pk = check(&report, "tables_without_primary_key");
    assert_eq!(pk["value"], 1.0, "{pk:#}");
    assert!(text(pk, "detail").contains("public.event_log"));
    // One remedy line for several tables: a `--` comment would swallow the next statements.
    assert!(!text(pk, "remedy").contains("--"), "{pk:#}");
    let unused = check(&report, "unused_indexes");
    assert_eq!(unused["status"], "warning");
    assert!(
        text(unused, "detail").contains("public.pair_c_p"),
        "{unused:#}"
    );
    // The default size floor (10 MB) keeps small unused indexes quiet.
    let (_, report) = health_json(&db, &["--check", "unused_indexes"]);
    assert_eq!(check(&report, "unused_indexes")["status"], "ok");

    db.execute(text(fk, "remedy"));
    db.execute(
        "ALTER TABLE event_log ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;",
    );
    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "foreign_keys_without_index",
            "--check",
            "tables_without_primary_key",
        ],
    );
    assert_eq!(code, 0, "{report:#}");
}

#[test]
fn thresholds_reach_connections_and_wraparound_checks() {
    let db = TestDb::migrated("health_thresholds");
    // The health session itself is a connection, and every database has some XID age.
    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "connections",
            "--check",
            "xid_wraparound_database",
            "--check",
            "xid_wraparound_tables",
            "--threshold",
            "connections_warning=0",
            "--threshold",
            "xid_age_warning=0",
        ],
    );
    assert_eq!(code, 1, "{report:#}");
    for name in [
        "connections",
        "xid_wraparound_database",
        "xid_wraparound_tables",
    ] {
        assert_eq!(check(&report, name)["status"], "warning", "{report:#}");
    }
    assert!(text(check(&report, "xid_wraparound_tables"), "remedy")
        .starts_with("VACUUM (FREEZE, VERBOSE) "));
    let (code, _) = health_json(
        &db,
        &[
            "--check",
            "xid_wraparound_database",
            "--threshold",
            "xid_age_critical=0",
        ],
    );
    assert_eq!(code, 2);

    // Cache ratios: lower is worse, and a low read floor turns "not enough data" into a verdict.
    db.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) AS g; SELECT count(*) FROM t;");
    wait_until(
        &db,
        "(SELECT sum(heap_blks_hit + heap_blks_read) > 0 FROM pg_statio_user_tables)",
    );
    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "cache_hit_tables",
            "--threshold",
            "cache_min_blocks=1",
            "--threshold",
            "cache_hit_warning=1.01",
            "--threshold",
            "cache_hit_critical=0",
        ],
    );
    let cache = check(&report, "cache_hit_tables");
    assert_eq!(code, 1, "{report:#}");
    assert!(
        text(cache, "detail").contains("block reads served from shared buffers"),
        "{cache:#}"
    );
    assert!(
        text(cache, "remedy").starts_with("SHOW shared_buffers;"),
        "{cache:#}"
    );
    // The index side, judged the same way: below the read floor it is "not enough data".
    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "cache_hit_indexes",
            "--threshold",
            "cache_min_blocks=1000000000",
        ],
    );
    let cache = check(&report, "cache_hit_indexes");
    assert_eq!(code, 0, "{report:#}");
    assert!(
        text(cache, "detail").starts_with("not enough data: "),
        "{cache:#}"
    );
    assert!(
        text(cache, "detail").ends_with(", 1000000000 needed to judge"),
        "{cache:#}"
    );
    assert!(cache["remedy"].is_null(), "{cache:#}");
}

#[test]
fn inactive_replication_slot_is_a_warning() {
    let _server = SERVER_WIDE.lock().unwrap_or_else(|e| e.into_inner());
    let db = TestDb::migrated("health_slot");
    let slot = format!("palmdb_test_slot_{}", std::process::id());
    /// Slots are cluster-wide: drop it even when an assertion fails.
    struct Slot(String);
    impl Drop for Slot {
        fn drop(&mut self) {
            let sql = format!("SELECT pg_drop_replication_slot('{}')", self.0);
            common::block_on(async move {
                let admin = common::connect(&common::admin_url()).await;
                if let Err(e) = admin.batch_execute(&sql).await {
                    eprintln!("could not drop the test slot: {e}");
                }
            });
        }
    }
    db.execute(&format!(
        "SELECT pg_create_physical_replication_slot('{slot}')"
    ));
    let _slot = Slot(slot.clone());
    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "inactive_replication_slots",
            "--check",
            "replication_lag",
        ],
    );
    assert_eq!(code, 1, "{report:#}");
    let slots = check(&report, "inactive_replication_slots");
    assert!(text(slots, "detail").contains(&slot), "{slots:#}");
    assert!(text(slots, "remedy").contains(&format!("SELECT pg_drop_replication_slot('{slot}');")));
    assert_eq!(check(&report, "replication_lag")["status"], "ok");
}

#[test]
fn a_pg_monitor_only_role_runs_every_check() {
    let db = TestDb::migrated("health_monitor_role");
    let role = format!("palmdb_monitor_{}_{}", std::process::id(), db.name.len());
    /// Roles are cluster-wide: drop it at the end, even when an assertion fails.
    struct Role(String, String);
    impl Drop for Role {
        fn drop(&mut self) {
            let sql = format!(
                "REVOKE CONNECT ON DATABASE \"{db}\" FROM {role}; DROP ROLE IF EXISTS {role}",
                db = self.1,
                role = self.0
            );
            common::block_on(async move {
                let admin = common::connect(&common::admin_url()).await;
                if let Err(e) = admin.batch_execute(&sql).await {
                    eprintln!("could not drop the test role: {e}");
                }
            });
        }
    }
    db.execute(&format!(
        "CREATE ROLE {role} LOGIN;
         GRANT pg_monitor TO {role};
         REVOKE CONNECT ON DATABASE \"{db}\" FROM PUBLIC;
         GRANT CONNECT ON DATABASE \"{db}\" TO {role};
         CREATE TABLE t (id serial PRIMARY KEY, a int);
         CREATE INDEX t_a ON t (a);
         CREATE INDEX t_a_id ON t (a, id);
         SELECT setval('t_id_seq', 2100000000);
         INSERT INTO t (a) SELECT g FROM generate_series(1, 1500) AS g;
         DELETE FROM t;",
        db = db.name
    ));
    let _role = Role(role.clone(), db.name.clone());
    // A superuser's session idle in a transaction: pg_monitor may see its query.
    let url = db.url.clone();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        common::block_on(async move {
            let client = common::connect(&url).await;
            client
                .batch_execute("BEGIN; SELECT 'superuser work'")
                .await
                .unwrap();
            let _ = tokio::task::spawn_blocking(move || held.recv()).await;
        })
    });
    wait_until(&db, "EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction')");
    wait_until(
        &db,
        "(SELECT n_dead_tup >= 1500 FROM pg_stat_user_tables WHERE relname = 't')",
    );

    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_username(&role).unwrap();
    url.set_password(None).unwrap();
    let as_monitor = |args: &[&str]| {
        let mut cmd = common::palmdb_command(args);
        cmd.env("DATABASE_URL", url.as_str());
        cmd.output().expect("run palmdb")
    };
    assert_eq!(
        db.scalar(&format!(
            "SELECT rolsuper FROM pg_roles WHERE rolname = '{role}'"
        ))
        .as_deref(),
        Some("false")
    );

    let out = as_monitor(&[
        "health",
        "--format",
        "json",
        "--record",
        "--threshold",
        "idle_in_transaction_warning=0s",
        "--threshold",
        "connections_warning=1",
        "--threshold",
        "connections_critical=1",
    ]);
    let printed = assert_exit(&out, 2);
    let report: Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {printed}"));
    assert_eq!(
        report["checks"].as_array().unwrap().len(),
        known_checks(&db).len()
    );
    // The sequence values come through the SECURITY DEFINER function.
    let sequence = check(&report, "sequence_exhaustion");
    assert_eq!(sequence["status"], "critical", "{sequence:#}");
    assert!(text(sequence, "detail").contains("public.t_id_seq"));
    assert_eq!(
        check(&report, "serial_column_exhaustion")["status"],
        "critical"
    );
    assert_eq!(check(&report, "duplicate_indexes")["status"], "warning");
    assert_eq!(check(&report, "dead_tuples")["status"], "critical");
    let idle = check(&report, "idle_in_transaction");
    assert_eq!(idle["status"], "warning");
    assert!(
        text(idle, "detail").contains("SELECT 'superuser work'"),
        "{idle:#}"
    );
    assert!(text(check(&report, "slow_queries"), "detail").contains("not installed"));
    // --record worked for the monitoring role too.
    assert_eq!(
        db.scalar("SELECT count(*) FROM palmdb.health_snapshots WHERE table_name = 't'")
            .as_deref(),
        Some("1")
    );
    // The views read the same as for a superuser.
    let out = as_monitor(&["health", "--format", "prometheus", "--check", "dead_tuples"]);
    assert!(assert_exit(&out, 2).contains("palmdb_health_check_status{check=\"dead_tuples\"} 2"));

    // Any psql session of the role reads every palmdb view and function directly.
    let views: Vec<String> = db
        .scalar("SELECT string_agg(format('%I.%I', schemaname, viewname), ',') FROM pg_views WHERE schemaname = 'palmdb'")
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    assert!(views.len() >= 18, "{views:?}");
    let monitor_url = url.to_string();
    let unreadable = common::block_on(async move {
        let client = common::connect(&monitor_url).await;
        let mut failed = Vec::new();
        for view in views {
            if let Err(e) = client.query(&format!("SELECT * FROM {view}"), &[]).await {
                failed.push(format!("{view}: {e:?}"));
            }
        }
        for function in [
            "palmdb.checks()",
            "palmdb.maintenance_candidates()",
            "palmdb.slow_queries()",
        ] {
            if let Err(e) = client
                .query(&format!("SELECT * FROM {function}"), &[])
                .await
            {
                failed.push(format!("{function}: {e:?}"));
            }
        }
        failed
    });
    assert!(unreadable.is_empty(), "{unreadable:#?}");

    // maintain cannot VACUUM tables the role does not own, and says so instead of pretending.
    let out = as_monitor(&["maintain"]);
    let printed = assert_exit(&out, 0);
    assert!(
        printed.contains("skipped public.t: only its owner or a superuser can maintain it"),
        "{printed}"
    );
    assert!(printed.contains("maintained 0 of 1 table(s)"), "{printed}");

    release.send(()).unwrap();
    holder.join().unwrap();
}

#[test]
fn record_keeps_bounded_history_and_shows_growth_per_day() {
    let db = TestDb::migrated("health_record");
    db.execute(
        "CREATE TABLE orders (id int PRIMARY KEY);
         INSERT INTO orders SELECT g FROM generate_series(1, 300) AS g;
         ANALYZE orders;
         INSERT INTO palmdb.health_snapshots VALUES
             (now() - interval '1 day', 'public', 'orders', 100, 0, 8192, 8192, 0, 16384, 0, 0),
             (now() - interval '200 days', 'public', 'orders', 1, 0, 8192, 8192, 0, 16384, 0, 0);",
    );
    wait_until(
        &db,
        "(SELECT n_live_tup = 300 FROM pg_stat_user_tables WHERE relname = 'orders')",
    );
    let out = db.palmdb(&[
        "health",
        "--format",
        "table",
        "--record",
        "--keep",
        "30d",
        "--check",
        "dead_tuples",
    ]);
    let printed = assert_exit(&out, 0);
    assert!(printed.contains("recorded a snapshot of"), "{printed}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM palmdb.health_snapshots WHERE table_name = 'orders'")
            .as_deref(),
        Some("2"),
        "the 200-day-old snapshot is gone, yesterday's and today's remain"
    );
    assert_eq!(
        db.scalar("SELECT rows_added FROM palmdb.table_growth_per_day WHERE table_name = 'orders' AND day = (now() AT TIME ZONE 'UTC')::date").as_deref(),
        Some("200")
    );
    assert_eq!(
        db.scalar("SELECT rows_per_day FROM palmdb.table_growth_per_day WHERE table_name = 'orders' AND day = (now() AT TIME ZONE 'UTC')::date").as_deref(),
        Some("200")
    );
}

#[test]
fn table_format_shows_problems_and_what_to_do() {
    let db = TestDb::migrated("health_table_format");
    db.execute("CREATE TABLE t (a int PRIMARY KEY, b int); CREATE INDEX t_b ON t (b); CREATE INDEX t_b_a ON t (b, a);");
    let out = db.palmdb(&[
        "health",
        "--format",
        "table",
        "--check",
        "duplicate_indexes",
        "--check",
        "invalid_indexes",
    ]);
    let printed = assert_exit(&out, 1);
    assert!(printed.contains("WARNING  duplicate_indexes"), "{printed}");
    assert!(printed.contains("ok       invalid_indexes"), "{printed}");
    assert!(printed.contains("overall: WARNING"), "{printed}");
    assert!(printed.contains("what to do:\n  duplicate_indexes (warning > 0)\n    DROP INDEX CONCURRENTLY public.t_b;"), "{printed}");
    // Not a terminal: JSON by default, for scripts.
    let out = db.palmdb(&["health", "--check", "invalid_indexes"]);
    let json: Value =
        serde_json::from_str(&stdout(&out)).expect("JSON when stdout is not a terminal");
    assert_eq!(json["status"], "ok");
}

#[test]
fn bad_input_and_unreachable_or_unmigrated_databases_exit_3() {
    let db = TestDb::new("health_errors");
    let out = db.palmdb(&["health"]);
    let printed = assert_exit(&out, 3);
    assert!(
        printed.contains("palmdb: this database has no palmdb health checks"),
        "{printed}"
    );
    assert!(
        printed.contains("HINT: run palmdb migrate --monitoring-only to install"),
        "{printed}"
    );

    let out = db.palmdb(&["health", "--check", "no_such_check"]);
    let printed = assert_exit(&out, 3);
    assert!(
        printed.contains("unknown check \"no_such_check\""),
        "{printed}"
    );

    let out = db.palmdb(&["health", "--threshold", "long_query_warning=soon"]);
    assert!(assert_exit(&out, 3).contains("is not a duration"));

    let mut cmd = common::palmdb_command(&["health"]);
    cmd.env(
        "DATABASE_URL",
        "postgres://postgres:s3cret@127.0.0.1:1/nowhere",
    );
    let out = cmd.output().unwrap();
    let printed = assert_exit(&out, 3);
    assert!(printed.contains("cannot connect"), "{printed}");
    assert!(!printed.contains("s3cret"), "{printed}");

    // Nagios shows only stdout: a failed check still prints its one UNKNOWN line there.
    let mut cmd = common::palmdb_command(&["health", "--format", "nagios"]);
    cmd.env(
        "DATABASE_URL",
        "postgres://postgres:s3cret@127.0.0.1:1/nowhere",
    );
    let out = cmd.output().unwrap();
    assert_exit(&out, 3);
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with("PALMDB HEALTH UNKNOWN - cannot connect"),
        "{line}"
    );
    assert!(!line.contains("s3cret"), "{line}");
}

#[test]
fn maintain_reports_a_table_it_cannot_lock_and_still_maintains_the_others() {
    let db = TestDb::migrated("health_maintain_busy");
    db.execute(
        "CREATE TABLE busy (id int PRIMARY KEY);
         CREATE TABLE idle (id int PRIMARY KEY);
         INSERT INTO busy SELECT g FROM generate_series(1, 2000) AS g;
         INSERT INTO idle SELECT g FROM generate_series(1, 2000) AS g;",
    );
    wait_until(&db, "(SELECT bool_and(n_mod_since_analyze >= 2000) FROM pg_stat_user_tables WHERE relname IN ('busy', 'idle'))");
    let url = db.url.clone();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let locker = std::thread::spawn(move || {
        common::block_on(async move {
            let client = common::connect(&url).await;
            client
                .batch_execute("BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
                .await
                .unwrap();
            locked_tx.send(()).unwrap();
            let _ = tokio::task::spawn_blocking(move || held.recv()).await;
            client.batch_execute("ROLLBACK").await.unwrap();
        })
    });
    locked_rx.recv().unwrap();

    let started = Instant::now();
    let out = db.palmdb(&["maintain", "--lock-timeout", "300ms"]);
    let printed = assert_exit(&out, 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "maintain queued: {:?}",
        started.elapsed()
    );
    assert!(
        printed.contains("ANALYZE public.busy: FAILED: canceling statement due to lock timeout"),
        "{printed}"
    );
    assert!(
        printed.contains("ANALYZE public.idle: done in"),
        "{printed}"
    );
    assert!(printed.contains("maintained 1 of 2 table(s)"), "{printed}");
    assert!(
        printed.contains("palmdb: 1 of 2 table(s) could not be maintained"),
        "{printed}"
    );
    assert!(
        printed.contains("HINT: a lock timeout means the table was busy"),
        "{printed}"
    );

    release.send(()).unwrap();
    locker.join().unwrap();
    let out = db.palmdb(&["maintain"]);
    assert!(assert_exit(&out, 0).contains("ANALYZE public.busy: done in"));
}

#[test]
fn slow_queries_reads_pg_stat_statements_once_it_is_installed() {
    let db = TestDb::migrated("health_slow_queries");
    // scripts/ensure-postgres.sh preloads the library; the extension is per database.
    db.execute("CREATE EXTENSION pg_stat_statements");
    for _ in 0..3 {
        db.execute("SELECT pg_sleep(0.05) /* palmdb slow query test */");
    }
    let (code, report) = health_json(
        &db,
        &[
            "--check",
            "slow_queries",
            "--threshold",
            "slow_query_mean=20ms",
            "--threshold",
            "slow_query_calls=2",
        ],
    );
    let slow = check(&report, "slow_queries");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(slow["status"], "warning", "{slow:#}");
    assert!(slow["value"].as_f64().unwrap() >= 1.0, "{slow:#}");
    assert!(text(slow, "detail").contains("pg_sleep"), "{slow:#}");
    assert_eq!(
        text(slow, "threshold"),
        "warning > 0 statements with mean time over 00:00:00.02 and at least 2 calls"
    );
    assert_eq!(
        text(slow, "remedy"),
        "SELECT * FROM palmdb.slow_queries();  -- then EXPLAIN (ANALYZE, BUFFERS) the worst one"
    );
    // With the defaults (100 ms over 100 calls) three 50 ms sleeps are not slow.
    let (code, report) = health_json(&db, &["--check", "slow_queries"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(check(&report, "slow_queries")["value"], 0.0);
}

/// The rows of `palmdb.checks(thresholds, only_checks)` as psql would print them, as the
/// JSON contract's fields.
fn psql_checks(db: &TestDb, thresholds: &str, only: &[&str]) -> Vec<Value> {
    let url = db.url.clone();
    let thresholds: Value = serde_json::from_str(thresholds).unwrap();
    let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
    common::block_on(async move {
        let client = common::connect(&url).await;
        client
            .query(
                "SELECT name, status, value, threshold, detail, remedy
                 FROM palmdb.checks($1, $2)",
                &[&thresholds, &only],
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.get::<_, String>(0),
                    "status": r.get::<_, String>(1),
                    "value": r.get::<_, Option<f64>>(2),
                    "threshold": r.get::<_, String>(3),
                    "detail": r.get::<_, String>(4),
                    "remedy": r.get::<_, Option<String>>(5),
                })
            })
            .collect()
    })
}

#[test]
fn psql_sees_exactly_what_the_cli_prints() {
    let db = TestDb::migrated("health_psql_same");
    db.execute(
        "CREATE TABLE t (a int, b int);
         CREATE INDEX t_a ON t (a);
         CREATE INDEX t_a_b ON t (a, b);
         CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id));
         CREATE TABLE counter (id serial PRIMARY KEY);
         SELECT setval('counter_id_seq', 2000000000);",
    );
    // Checks whose figures do not move between two calls (activity and block reads do).
    let stable = [
        "dead_tuples",
        "stale_statistics",
        "unused_indexes",
        "duplicate_indexes",
        "invalid_indexes",
        "foreign_keys_without_index",
        "tables_without_primary_key",
        "sequence_exhaustion",
        "serial_column_exhaustion",
        "slow_queries",
    ];
    for (cli_thresholds, json_thresholds) in [
        (vec![], "{}"),
        (
            vec![
                "--threshold",
                "sequence_warning=0.95",
                "--threshold",
                "sequence_critical=0.99",
                "--threshold",
                "unused_index_min_bytes=0",
                "--threshold",
                "slow_query_mean=250ms",
            ],
            r#"{"sequence_warning": 0.95, "sequence_critical": 0.99, "unused_index_min_bytes": "0 bytes", "slow_query_mean": "250ms"}"#,
        ),
    ] {
        let mut args: Vec<&str> = stable.iter().flat_map(|c| ["--check", c]).collect();
        args.extend(cli_thresholds);
        let (_, cli) = health_json(&db, &args);
        let psql = psql_checks(&db, json_thresholds, &stable);
        assert_eq!(
            cli["checks"].as_array().unwrap(),
            &psql,
            "{json_thresholds}"
        );
    }
    // Default threshold texts read as before the thresholds moved to a table.
    let psql = psql_checks(&db, "{}", &["sequence_exhaustion", "unused_indexes"]);
    assert_eq!(
        psql[0]["threshold"],
        "warning > 0 (indexes of at least 10 MB)"
    );
    assert_eq!(
        psql[1]["threshold"],
        "warning > 0.8, critical > 0.9 of the sequence's range"
    );
}

/// The rows of the "## Thresholds" table of docs/health-checks.md, as cells.
fn documented_thresholds() -> Vec<Vec<String>> {
    let docs = docs();
    let section = &docs[docs.find("## Thresholds").unwrap()..];
    section
        .lines()
        .skip_while(|l| !l.starts_with("| threshold |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

#[test]
fn thresholds_live_in_one_table_that_the_docs_the_cli_and_maintain_read() {
    let db = TestDb::migrated("health_threshold_table");
    // The docs' table is the database's table, row for row.
    let rows: Vec<Vec<String>> = db
        .scalar(
            "SELECT string_agg(concat_ws(' | ', name, coalesce(warning::text, ''),
                                         coalesce(critical::text, ''), coalesce(value::text, ''),
                                         unit, description), E'\\n' ORDER BY name)
             FROM palmdb.health_thresholds",
        )
        .unwrap()
        .lines()
        .map(|l| l.split(" | ").map(String::from).collect())
        .collect();
    let mut documented = documented_thresholds();
    documented.sort();
    assert_eq!(documented, rows);

    // The library reads the parameters from the same table.
    let url = db.url.clone();
    let parameters = common::block_on(async move {
        let client = common::connect(&url).await;
        palmdb::health::thresholds::list(&client).await.unwrap()
    });
    assert_eq!(parameters.len(), 26, "{parameters:#?}");
    let long = parameters
        .iter()
        .find(|p| p.name == "long_query_warning")
        .unwrap();
    assert_eq!((long.default, long.unit.as_str()), (60.0, "seconds"));
    assert!(parameters
        .iter()
        .any(|p| p.name == "cache_min_blocks" && p.level == "value"));
    // `--threshold` reads a size for the names ending in _bytes: exactly the byte thresholds.
    for p in &parameters {
        assert_eq!(
            p.unit == "bytes",
            p.name.ends_with(palmdb::health::thresholds::BYTES_SUFFIX),
            "{p:?}"
        );
    }

    // Unknown names and values of the wrong kind are refused by SQL, for the CLI as for psql.
    let out = db.palmdb(&["health", "--threshold", "long_query_warnign=1s"]);
    let printed = assert_exit(&out, 3);
    assert!(
        printed.contains("palmdb: unknown threshold \"long_query_warnign\""),
        "{printed}"
    );
    assert!(
        printed.contains("HINT: known thresholds: ") && printed.contains("long_query_warning"),
        "{printed}"
    );
    let out = db.palmdb(&["health", "--threshold", "dead_rows_min=2s"]);
    assert!(assert_exit(&out, 3)
        .contains("threshold dead_rows_min: \"2 seconds\" is not a whole number of rows"),);
    let out = db.palmdb(&["health", "--threshold", "dead_rows_min=1.5"]);
    assert!(assert_exit(&out, 3).contains("is not a whole number of rows"));
    let out = db.palmdb(&["health", "--threshold", "xid_age_warning=1e20"]);
    assert!(assert_exit(&out, 3).contains(
        "threshold xid_age_warning: 100000000000000000000 is more than 9223372036854775807 transactions"
    ));
    let out = db.palmdb(&["health", "--threshold", "long_query_warning=1e12"]);
    assert!(assert_exit(&out, 3).contains("is longer than 100 years"));
    let out = db.palmdb(&["maintain", "--dead-rows-min=-5"]);
    assert!(assert_exit(&out, 1).contains("is negative"));

    // A changed row changes the default for every reader: the checks and maintain.
    // (Autovacuum off on t: on a busy machine it could vacuum t between the check and maintain.)
    db.execute(
        "CREATE TABLE t (id int PRIMARY KEY, a int) WITH (autovacuum_enabled = off);
         CREATE INDEX t_a ON t (a);
         INSERT INTO t SELECT g, g FROM generate_series(1, 3000) AS g;
         ANALYZE t;
         DELETE FROM t WHERE id > 1000;",
    );
    wait_until(
        &db,
        "(SELECT n_dead_tup >= 2000 FROM pg_stat_user_tables WHERE relname = 't')",
    );
    let (code, report) = health_json(
        &db,
        &["--check", "unused_indexes", "--check", "dead_tuples"],
    );
    assert_eq!(check(&report, "unused_indexes")["status"], "ok");
    assert_eq!(check(&report, "dead_tuples")["status"], "critical");
    assert_eq!(code, 2);
    assert!(assert_exit(&db.palmdb(&["maintain", "--dry-run"]), 0)
        .contains("would run: VACUUM (ANALYZE) public.t;"));
    db.execute(
        "UPDATE palmdb.health_thresholds SET value = 0 WHERE name = 'unused_index_min_bytes';
         UPDATE palmdb.health_thresholds SET value = 100000 WHERE name = 'dead_rows_min';",
    );
    let (code, report) = health_json(
        &db,
        &["--check", "unused_indexes", "--check", "dead_tuples"],
    );
    let unused = check(&report, "unused_indexes");
    assert_eq!(unused["status"], "warning", "{unused:#}");
    assert_eq!(
        text(unused, "threshold"),
        "warning > 0 (indexes of at least 0 bytes)"
    );
    assert_eq!(check(&report, "dead_tuples")["status"], "ok", "{report:#}");
    assert_eq!(code, 1);
    let printed = assert_exit(&db.palmdb(&["maintain", "--dry-run"]), 0);
    assert!(!printed.contains("VACUUM"), "{printed}");
    // ... and a flag still overrides it for one run.
    let printed = assert_exit(
        &db.palmdb(&["maintain", "--dry-run", "--dead-rows-min", "1000"]),
        0,
    );
    assert!(
        printed.contains("would run: VACUUM (ANALYZE) public.t;"),
        "{printed}"
    );
}

#[test]
fn the_dead_row_rule_is_one_for_the_check_and_for_maintain() {
    let db = TestDb::migrated("health_dead_rule");
    // 1000 dead of 5000 rows: exactly the 0.2 warning level, which is not beyond it.
    db.execute(
        "CREATE TABLE edge (id int PRIMARY KEY);
         INSERT INTO edge SELECT g FROM generate_series(1, 5000) AS g;
         DELETE FROM edge WHERE id <= 1000;",
    );
    wait_until(
        &db,
        "(SELECT n_dead_tup = 1000 FROM pg_stat_user_tables WHERE relname = 'edge')",
    );
    let (code, report) = health_json(&db, &["--check", "dead_tuples"]);
    let dead = check(&report, "dead_tuples");
    assert_eq!((code, dead["value"].as_f64()), (0, Some(0.2)), "{dead:#}");
    assert_eq!(
        text(dead, "detail"),
        "no table with more than 20% dead rows"
    );
    let printed = assert_exit(&db.palmdb(&["maintain", "--dry-run"]), 0);
    assert!(
        !printed.contains("VACUUM (ANALYZE) public.edge"),
        "{printed}"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM palmdb.maintenance_candidates() WHERE action = 'VACUUM (ANALYZE)'")
            .as_deref(),
        Some("0")
    );

    // One more dead row: 0.2002, beyond the level for both.
    db.execute("DELETE FROM edge WHERE id = 1001");
    wait_until(
        &db,
        "(SELECT n_dead_tup = 1001 FROM pg_stat_user_tables WHERE relname = 'edge')",
    );
    let (code, report) = health_json(&db, &["--check", "dead_tuples"]);
    let dead = check(&report, "dead_tuples");
    assert_eq!(
        (code, dead["status"].as_str()),
        (1, Some("warning")),
        "{dead:#}"
    );
    assert!(text(dead, "detail").contains("public.edge: 1001 dead of 5000 rows"));
    let printed = assert_exit(&db.palmdb(&["maintain", "--dry-run"]), 0);
    assert!(
        printed.contains(
            "would run: VACUUM (ANALYZE) public.edge;  -- 1001 dead rows (20.0% of 5000)"
        ),
        "{printed}"
    );
}

#[test]
fn the_library_sets_the_session_guards_itself_and_restores_the_callers_settings() {
    let db = TestDb::migrated("health_guards");
    let url = db.url.clone();
    let (inside, after, tighter) = common::block_on(async move {
        let client = common::connect(&url).await;
        let show = async |client: &tokio_postgres::Client| -> anyhow::Result<(String, String)> {
            let row = client
                .query_one(
                    "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
                    &[],
                )
                .await?;
            Ok((row.get(0), row.get(1)))
        };
        client
            .batch_execute("SET lock_timeout = 0; SET statement_timeout = 0")
            .await
            .unwrap();
        let inside = palmdb::health::guard::guarded(&client, show).await.unwrap();
        let after = show(&client).await.unwrap();
        // A caller with tighter limits (serve's request deadline) keeps them.
        client
            .batch_execute("SET lock_timeout = '1s'; SET statement_timeout = '2s'")
            .await
            .unwrap();
        let tighter = palmdb::health::guard::guarded(&client, show).await.unwrap();
        // collect() runs under them too, and leaves the session as it found it.
        palmdb::health::collect(&client, &Default::default())
            .await
            .unwrap();
        assert_eq!(show(&client).await.unwrap(), ("1s".into(), "2s".into()));
        (inside, after, tighter)
    });
    assert_eq!(inside, ("5s".to_string(), "1min".to_string()));
    assert_eq!(after, ("0".to_string(), "0".to_string()));
    assert_eq!(tighter, ("1s".to_string(), "2s".to_string()));
}

#[test]
fn invalid_indexes_get_the_remedy_of_their_case_in_health_and_in_migrate() {
    let db = TestDb::migrated("health_invalid_cases");
    db.execute(
        "CREATE TABLE t (a int, b int);
         INSERT INTO t SELECT g, g FROM generate_series(1, 1000) AS g;
         CREATE INDEX t_a ON t (a);
         CREATE INDEX t_a_ccnew ON t (a);
         UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_a_ccnew'::regclass;",
    );
    // A failed REINDEX CONCURRENTLY's copy is dropped, not rebuilt.
    let (code, report) = health_json(&db, &["--check", "invalid_indexes"]);
    let invalid = check(&report, "invalid_indexes");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(
        text(invalid, "remedy"),
        "DROP INDEX CONCURRENTLY public.t_a_ccnew;"
    );
    let status = db.palmdb(&["migrate", "status", "--json"]);
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        json["invalid_indexes"][0]["repair"],
        "DROP INDEX CONCURRENTLY public.t_a_ccnew"
    );

    // A build in progress is left alone: a snapshot held open keeps CREATE INDEX
    // CONCURRENTLY waiting, with its index INVALID meanwhile.
    let url = db.url.clone();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
    let snapshot = std::thread::spawn(move || {
        common::block_on(async move {
            let client = common::connect(&url).await;
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1")
                .await
                .unwrap();
            ready_tx.send(()).unwrap();
            let _ = tokio::task::spawn_blocking(move || held.recv()).await;
            client.batch_execute("COMMIT").await.unwrap();
        })
    });
    ready.recv().unwrap();
    let url = db.url.clone();
    let builder = std::thread::spawn(move || {
        common::block_on(async move {
            let client = common::connect(&url).await;
            client
                .batch_execute("CREATE INDEX CONCURRENTLY t_b ON t (b)")
                .await
        })
    });
    wait_until(&db, "EXISTS (SELECT 1 FROM pg_stat_progress_create_index WHERE datname = current_database()) AND to_regclass('t_b') IS NOT NULL");
    assert_eq!(
        db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_b'::regclass")
            .as_deref(),
        Some("false")
    );
    let (_, report) = health_json(&db, &["--check", "invalid_indexes"]);
    let invalid = check(&report, "invalid_indexes");
    // Another concurrent build on the table makes every INVALID index of it "being built":
    // nothing on t is counted while it runs.
    assert_eq!(invalid["status"], "ok", "{invalid:#}");
    assert!(
        text(invalid, "detail")
            .contains("being built concurrently (not counted): public.t_a_ccnew, public.t_b"),
        "{invalid:#}"
    );
    assert_eq!(
        db.scalar(
            "SELECT string_agg(problem, ',' ORDER BY index_name) FROM palmdb.invalid_indexes"
        )
        .as_deref(),
        Some("being built,being built")
    );
    let printed = assert_exit(&db.palmdb(&["migrate"]), 0);
    assert!(!printed.contains("repaired"), "{printed}");

    release.send(()).unwrap();
    snapshot.join().unwrap();
    builder
        .join()
        .unwrap()
        .expect("the concurrent build finishes");
    // Once the build is done, the leftover is a leftover again, and migrate drops it.
    let printed = assert_exit(&db.palmdb(&["migrate"]), 0);
    assert!(
        printed.contains(
            "repaired INVALID index public.t_a_ccnew: DROP INDEX CONCURRENTLY public.t_a_ccnew"
        ),
        "{printed}"
    );
    assert_eq!(
        db.scalar("to_regclass('t_a_ccnew') IS NULL").as_deref(),
        Some("true")
    );
    let (code, _) = health_json(&db, &["--check", "invalid_indexes"]);
    assert_eq!(code, 0);
}

/// Every check is one SQL file, named after it, with a test that runs it on its own and a
/// section in docs/health-checks.md; and palmdb.checks() runs every check there is.
#[test]
fn every_check_is_one_sql_file_with_its_test_and_its_docs_section() {
    let db = TestDb::migrated("health_shape");
    let known = known_checks(&db);
    let (_, report) = health_json(&db, &[]);
    let mut run: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    run.sort();
    assert_eq!(
        run, known,
        "a palmdb.check_*() function is missing from sql/health/90_checks.sql"
    );
    assert_eq!(
        palmdb::health::catalog::bundled(),
        known,
        "the binary's sql/health files and the database disagree"
    );

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<(String, String)> = std::fs::read_dir(root.join("sql/health"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_str().unwrap().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    let tests: String = std::fs::read_to_string(root.join("tests/suite/health.rs"))
        .unwrap()
        .split_whitespace()
        .collect();
    let docs = docs();
    let mut problems = Vec::new();
    for name in &known {
        let defining: Vec<&String> = files
            .iter()
            .filter(|(_, sql)| sql.contains(&format!("FUNCTION palmdb.check_{name}(")))
            .map(|(file, _)| file)
            .collect();
        match defining.as_slice() {
            [file] => {
                // NN_<name>.sql, or NN_<prefix>.sql for a family (cache_hit_tables/_indexes).
                let stem = file.trim_end_matches(".sql");
                let prefix = stem.split_once('_').map(|(_, p)| p).unwrap_or("");
                if prefix.is_empty() || !name.starts_with(prefix) {
                    problems.push(format!("{name}: defined in {file}, not in NN_{name}.sql"));
                }
            }
            _ => problems.push(format!(
                "{name}: defined in {defining:?}, not in one sql/health file"
            )),
        }
        if !tests.contains(&format!("\"--check\",\"{name}\"")) {
            problems.push(format!(
                "{name}: no test in tests/suite/health.rs runs --check {name}"
            ));
        }
        if !docs.contains(&format!("### `{name}`")) {
            problems.push(format!(
                "{name}: no ### `{name}` section in docs/health-checks.md"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
