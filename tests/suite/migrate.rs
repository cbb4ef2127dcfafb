//! `palmdb migrate` and `migrate status` against a real server: concurrency, drift, failure
//! atomicity, no-transaction index builds and INVALID index repair, dry run, timeouts.

use std::fs;
use std::path::Path;
use std::process::Stdio;

use crate::common;
use crate::common::{assert_exit, assert_success, stderr, stdout, TestDb};

/// A folder of migration files for one test.
/// A folder holding `migrations/` with these files and an empty `sql/`, so that only the
/// test's own migrations run (palmdb's built-in sql/ objects need Palm's tables).
fn migrations(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("migrations")).unwrap();
    fs::create_dir(dir.path().join("sql")).unwrap();
    for (name, sql) in files {
        fs::write(dir.path().join("migrations").join(name), sql).unwrap();
    }
    dir
}

/// `--migrations-dir` of a folder made by [`migrations`].
fn dir_arg(dir: &Path) -> String {
    dir.join("migrations").to_str().unwrap().to_string()
}

/// `--sql-dir` of a folder made by [`migrations`]: empty.
fn sql_arg(dir: &Path) -> String {
    dir.join("sql").to_str().unwrap().to_string()
}

/// Runs palmdb with `args` and the migrations and (empty) sql/ of a folder from [`migrations`].
fn run_in(db: &TestDb, dir: &Path, args: &[&str]) -> std::process::Output {
    let (migrations, sql) = (dir_arg(dir), sql_arg(dir));
    let mut all = args.to_vec();
    all.extend([
        "--migrations-dir",
        migrations.as_str(),
        "--sql-dir",
        sql.as_str(),
    ]);
    db.palmdb(&all)
}

fn history_versions(db: &TestDb) -> String {
    db.scalar("SELECT string_agg(version::text, ',' ORDER BY version) FROM refinery_schema_history")
        .unwrap_or_default()
}

#[test]
fn migrate_applies_palm_schema_then_a_second_run_is_a_no_op() {
    let db = TestDb::new("migrate_noop");
    let first = db.palmdb(&["migrate"]);
    assert_success(&first);
    assert!(
        stdout(&first).contains("applied V1__palm_schema.sql"),
        "{}",
        stdout(&first)
    );
    for table in [
        "users",
        "preorders",
        "palm_analysis_sessions",
        "user_images",
        "webhook_logs",
    ] {
        assert_eq!(
            db.scalar(&format!("to_regclass('public.{table}') IS NOT NULL"))
                .as_deref(),
            Some("true")
        );
    }
    assert_eq!(
        db.scalar("to_regnamespace('palmdb') IS NOT NULL")
            .as_deref(),
        Some("true")
    );

    let second = db.palmdb(&["migrate"]);
    assert_success(&second);
    assert!(
        stdout(&second).starts_with("nothing to do"),
        "{}",
        stdout(&second)
    );
    let embedded = palmdb::migrate::source::Source::default()
        .versioned()
        .unwrap()
        .len();
    assert_eq!(
        db.scalar("SELECT count(*) || '/' || count(DISTINCT version) FROM refinery_schema_history"),
        Some(format!("{embedded}/{embedded}")),
        "every embedded migration recorded exactly once"
    );
    assert_exit(&db.palmdb(&["migrate", "status"]), 0);
}

#[test]
fn four_concurrent_migrates_on_an_empty_database_apply_each_migration_once() {
    let db = TestDb::new("migrate_concurrent");
    let dir = migrations(&[
        ("V1__counter.sql", "CREATE TABLE applied_log (migration int NOT NULL);"),
        ("V2__data.sql", "INSERT INTO applied_log VALUES (2); SELECT pg_sleep(0.3);"),
        (
            "V3__index.sql",
            "-- palmdb:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS applied_log_idx ON applied_log (migration);\nINSERT INTO applied_log VALUES (3);",
        ),
        ("V4__more.sql", "INSERT INTO applied_log VALUES (4);"),
    ]);
    let dir_text = dir_arg(dir.path());
    let sql_text = sql_arg(dir.path());
    let children: Vec<_> = (0..4)
        .map(|_| {
            db.command(&[
                "migrate",
                "--migrations-dir",
                &dir_text,
                "--sql-dir",
                &sql_text,
                "--lock-wait",
                "60s",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_success(&out);
    }
    assert_eq!(history_versions(&db), "1,2,3,4");
    assert_eq!(
        db.scalar("SELECT string_agg(migration::text, ',' ORDER BY migration) FROM applied_log")
            .as_deref(),
        Some("2,3,4"),
        "each data migration must run exactly once"
    );
}

#[test]
fn an_edited_applied_migration_is_refused_naming_the_file() {
    let db = TestDb::new("migrate_edited");
    let dir = migrations(&[
        ("V1__a.sql", "CREATE TABLE a (id int);"),
        ("V2__b.sql", "CREATE TABLE b (id int);"),
    ]);
    assert_success(&run_in(&db, dir.path(), &["migrate"]));

    fs::write(
        dir.path().join("migrations").join("V2__b.sql"),
        "CREATE TABLE b (id bigint);",
    )
    .unwrap();
    fs::write(
        dir.path().join("migrations").join("V3__c.sql"),
        "CREATE TABLE c (id int);",
    )
    .unwrap();
    let out = run_in(&db, dir.path(), &["migrate"]);
    let text = assert_exit(&out, 1);
    assert!(
        text.contains("V2__b.sql") && text.contains("edited"),
        "{text}"
    );
    assert!(text.contains("HINT:"), "{text}");
    assert_eq!(
        db.scalar("to_regclass('c') IS NULL").as_deref(),
        Some("true"),
        "nothing else ran"
    );

    let status = run_in(&db, dir.path(), &["migrate", "status"]);
    assert!(assert_exit(&status, 2).contains("DRIFT"));
}

#[test]
fn a_removed_applied_migration_is_refused_naming_the_file() {
    let db = TestDb::new("migrate_removed");
    let dir = migrations(&[
        ("V1__a.sql", "CREATE TABLE a (id int);"),
        ("V2__b.sql", "CREATE TABLE b (id int);"),
    ]);
    assert_success(&run_in(&db, dir.path(), &["migrate"]));
    fs::remove_file(dir.path().join("migrations").join("V2__b.sql")).unwrap();
    let text = assert_exit(&run_in(&db, dir.path(), &["migrate"]), 1);
    assert!(
        text.contains("V2__b.sql") && text.contains("gone"),
        "{text}"
    );
}

#[test]
fn a_crlf_checkout_of_an_applied_migration_is_not_an_edit() {
    let db = TestDb::new("migrate_crlf");
    let dir = migrations(&[(
        "V1__a.sql",
        "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n",
    )]);
    assert_success(&run_in(&db, dir.path(), &["migrate"]));
    fs::write(
        dir.path().join("migrations").join("V1__a.sql"),
        "CREATE TABLE a (id int);\r\nCREATE TABLE b (id int);\r\n",
    )
    .unwrap();
    let out = run_in(&db, dir.path(), &["migrate"]);
    assert_success(&out);
    assert!(stdout(&out).starts_with("nothing to do"));
}

#[test]
fn a_migration_that_fails_midway_leaves_no_partial_change_and_no_history_row() {
    let db = TestDb::new("migrate_fails");
    let dir = migrations(&[
        ("V1__a.sql", "CREATE TABLE a (id int);"),
        (
            "V2__broken.sql",
            "CREATE TABLE half_done (id int);\nINSERT INTO a VALUES (1);\n\nSELECT no_such_column\nFROM a;\n",
        ),
    ]);
    let out = run_in(&db, dir.path(), &["migrate"]);
    let text = assert_exit(&out, 1);
    let err = stderr(&out);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("palmdb:")).count(),
        1,
        "{err}"
    );
    for expected in [
        "V2__broken.sql",
        "line 4",
        "SELECT no_such_column FROM a",
        "no_such_column",
        "SQLSTATE 42703",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in {text}");
    }
    assert_eq!(
        db.scalar("to_regclass('half_done') IS NULL").as_deref(),
        Some("true")
    );
    assert_eq!(db.scalar("SELECT count(*) FROM a").as_deref(), Some("0"));
    assert_eq!(history_versions(&db), "1");
}

#[test]
fn concurrent_index_builds_run_outside_a_transaction() {
    let db = TestDb::new("migrate_cic");
    let dir = migrations(&[
        ("V1__t.sql", "CREATE TABLE t (id int, v text); INSERT INTO t SELECT g, g::text FROM generate_series(1, 1000) g;"),
        (
            "V2__idx.sql",
            "-- Built concurrently so writes never wait.\n-- palmdb:no-transaction\n\
             CREATE INDEX CONCURRENTLY IF NOT EXISTS t_v_idx ON t (v);\n\
             CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_id_key ON t (id);\n",
        ),
    ]);
    let out = run_in(&db, dir.path(), &["migrate"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("V2__idx.sql (no transaction)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        db.scalar("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 't'::regclass")
            .as_deref(),
        Some("true")
    );
    assert_eq!(history_versions(&db), "1,2");
}

#[test]
fn a_failed_concurrent_build_leaves_no_history_row_and_is_rebuilt_not_kept_by_if_not_exists() {
    let db = TestDb::new("migrate_cic_fail");
    let dir = migrations(&[
        ("V1__t.sql", "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2), (2);"),
        ("V2__idx.sql", "-- palmdb:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_id_key ON t (id);\n"),
    ]);
    let text = assert_exit(&run_in(&db, dir.path(), &["migrate"]), 1);
    assert!(
        text.contains("V2__idx.sql") && text.contains("23505"),
        "{text}"
    );
    assert_eq!(history_versions(&db), "1");
    // The failed build left an INVALID index behind: status must say so.
    assert_eq!(
        db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id_key'::regclass")
            .as_deref(),
        Some("false")
    );
    let status = assert_exit(&run_in(&db, dir.path(), &["migrate", "status"]), 1);
    assert!(status.contains("t_id_key INVALID"), "{status}");

    db.execute("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t WHERE id = 2)");
    let out = run_in(&db, dir.path(), &["migrate"]);
    assert_success(&out);
    assert_eq!(
        db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id_key'::regclass")
            .as_deref(),
        Some("true"),
        "{}",
        stdout(&out)
    );
    assert_eq!(history_versions(&db), "1,2");
}

#[test]
fn an_index_marked_invalid_is_rebuilt_by_the_next_migrate() {
    let db = TestDb::migrated("migrate_invalid");
    db.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'preorders_user_id_idx'::regclass");
    let status = db.palmdb(&["migrate", "status", "--json"]);
    assert_exit(&status, 1);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["invalid_indexes"][0]["index"], "preorders_user_id_idx");

    let out = db.palmdb(&["migrate"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("repaired INVALID index public.preorders_user_id_idx"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        db.scalar(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'preorders_user_id_idx'::regclass"
        )
        .as_deref(),
        Some("true")
    );
    assert_exit(&db.palmdb(&["migrate", "status"]), 0);
}

#[test]
fn dry_run_prints_the_sql_and_changes_nothing() {
    let db = TestDb::new("migrate_dry");
    let out = db.palmdb(&["migrate", "--dry-run"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("CREATE TABLE users") && text.contains("SET LOCAL lock_timeout"),
        "{text}"
    );
    assert_eq!(
        db.scalar("to_regclass('refinery_schema_history') IS NULL")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        db.scalar("to_regclass('users') IS NULL").as_deref(),
        Some("true")
    );
    assert_eq!(
        db.scalar("to_regnamespace('palmdb') IS NULL").as_deref(),
        Some("true")
    );
}

#[test]
fn sql_objects_are_applied_after_migrations_only_when_changed() {
    let db = TestDb::new("migrate_objects");
    let mig = migrations(&[("V1__t.sql", "CREATE TABLE t (id int);")]);
    fs::create_dir(mig.path().join("sql/views")).unwrap();
    let view = mig.path().join("sql/views/10_t_count.sql");
    fs::write(
        &view,
        "CREATE OR REPLACE VIEW palmdb.t_count AS SELECT count(*) AS n FROM t;",
    )
    .unwrap();

    let first = run_in(&db, mig.path(), &["migrate"]);
    assert_success(&first);
    assert!(
        stdout(&first).contains("applied sql/views/10_t_count.sql"),
        "{}",
        stdout(&first)
    );
    let second = run_in(&db, mig.path(), &["migrate"]);
    assert!(
        stdout(&second).starts_with("nothing to do"),
        "{}",
        stdout(&second)
    );

    fs::write(
        &view,
        "CREATE OR REPLACE VIEW palmdb.t_count AS SELECT count(*) AS n, 1 AS version FROM t;",
    )
    .unwrap();
    let status = run_in(&db, mig.path(), &["migrate", "status"]);
    assert!(assert_exit(&status, 1).contains("views/10_t_count.sql"));
    let third = run_in(&db, mig.path(), &["migrate"]);
    assert!(stdout(&third).contains("applied sql/views/10_t_count.sql"));
    assert_eq!(
        db.scalar("SELECT version FROM palmdb.t_count").as_deref(),
        Some("1")
    );
}

#[test]
fn a_broken_sql_object_names_the_file_and_rolls_back() {
    let db = TestDb::new("migrate_bad_object");
    let mig = migrations(&[("V1__t.sql", "CREATE TABLE t (id int);")]);
    fs::write(mig.path().join("sql/bad.sql"), "CREATE OR REPLACE VIEW palmdb.v AS SELECT 1 AS a;\nCREATE VIEW palmdb.w AS SELECT nope FROM t;").unwrap();
    let out = run_in(&db, mig.path(), &["migrate"]);
    let text = assert_exit(&out, 1);
    assert!(
        text.contains("sql/bad.sql") && text.contains("line 2") && text.contains("42703"),
        "{text}"
    );
    assert_eq!(
        db.scalar("to_regclass('palmdb.v') IS NULL").as_deref(),
        Some("true")
    );
}

#[test]
fn migrations_run_with_local_lock_and_statement_timeouts() {
    let db = TestDb::new("migrate_timeouts");
    let dir = migrations(&[(
        "V1__settings.sql",
        "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout, current_setting('statement_timeout') AS statement_timeout;",
    )]);
    assert_success(&run_in(
        &db,
        dir.path(),
        &[
            "migrate",
            "--lock-timeout",
            "1500ms",
            "--statement-timeout",
            "2m",
        ],
    ));
    assert_eq!(
        db.scalar("SELECT lock_timeout FROM seen").as_deref(),
        Some("1500ms")
    );
    assert_eq!(
        db.scalar("SELECT statement_timeout FROM seen").as_deref(),
        Some("2min")
    );
}

#[tokio::test]
async fn a_migration_blocked_by_a_lock_fails_fast_instead_of_queueing() {
    let db = TestDb::new("migrate_lock_timeout");
    db.execute("CREATE TABLE t (id int)");
    let dir = migrations(&[("V1__alter.sql", "ALTER TABLE t ADD COLUMN v text;")]);
    let holder = db.client().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE;")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking({
        let cmd_dir = dir_arg(dir.path());
        let sql_dir = sql_arg(dir.path());
        let url = db.url.clone();
        move || {
            common::palmdb_command(&[
                "migrate",
                "--migrations-dir",
                &cmd_dir,
                "--sql-dir",
                &sql_dir,
                "--lock-timeout",
                "200ms",
            ])
            .env("DATABASE_URL", url)
            .output()
            .unwrap()
        }
    })
    .await
    .unwrap();
    let text = assert_exit(&out, 1);
    assert!(text.contains("55P03"), "{text}");
    assert!(
        started.elapsed().as_secs() < 20,
        "gave up after retries, not after queueing"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        db.scalar("to_regclass('refinery_schema_history') IS NOT NULL")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM refinery_schema_history")
            .as_deref(),
        Some("0")
    );
}

#[tokio::test]
async fn migrate_waits_for_the_lock_then_gives_up_with_a_clear_message() {
    let db = TestDb::new("migrate_lock_wait");
    let holder = db.client().await;
    holder
        .execute(
            "SELECT pg_advisory_lock($1)",
            &[&palmdb::migrate::lock::MIGRATION_LOCK_KEY],
        )
        .await
        .unwrap();
    let url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        common::palmdb_command(&["migrate", "--lock-wait", "1s"])
            .env("DATABASE_URL", url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = assert_exit(&out, 1);
    assert!(
        text.contains("migration lock") && text.contains("--lock-wait"),
        "{text}"
    );
    assert_eq!(
        db.scalar("to_regclass('refinery_schema_history') IS NULL")
            .as_deref(),
        Some("true"),
        "nothing, not even the history table, is created without the lock"
    );
}

#[test]
fn migrate_status_reports_pending_then_up_to_date_as_json() {
    let db = TestDb::new("migrate_status");
    let pending = db.palmdb(&["migrate", "status", "--json"]);
    assert_exit(&pending, 1);
    let json: serde_json::Value = serde_json::from_slice(&pending.stdout).unwrap();
    assert_eq!(json["status"], "pending");
    assert_eq!(json["pending"][0]["file"], "V1__palm_schema.sql");
    assert_success(&db.palmdb(&["migrate"]));
    let done = db.palmdb(&["migrate", "status", "--json"]);
    assert_exit(&done, 0);
    let json: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(json["status"], "up_to_date");
    assert_eq!(json["applied"][0]["name"], "palm_schema");
}
