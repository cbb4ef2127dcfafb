//! `palmdb migrate --monitoring-only` on databases that are not Palm's
//! (`tests/fixtures/foreign_schema.sql`): palmdb's monitoring objects and nothing else, in
//! schema `palmdb` alone; idempotent, upgradeable, refused where it does not fit; and what
//! the other commands say on such a database.

use std::path::Path;

use crate::common;
use crate::common::{assert_exit, assert_success, stdout, TestDb};
use serde_json::Value;

/// `pg_dump --schema-only ARGS` of `db`, by the pg_dump of the server's major (or newer).
fn schema_dump(db: &TestDb, args: &[&str]) -> String {
    let major = db.server_major();
    let pg_dump = palmdb::pg_tools::find(&palmdb::pg_tools::Need {
        tool: palmdb::pg_tools::Tool::PgDump,
        explicit: None,
        min_major: major,
        preferred_major: major,
        purpose: "compare schemas".to_string(),
        alternative: None,
    })
    .expect("a pg_dump for the test server");
    let out = std::process::Command::new(&pg_dump.path)
        .args(["--schema-only", "--dbname", &db.url])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // pg_dump 13.22/14.19/15.14/16.10/17.6 and later fence the script with a random key.
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Fails naming the first line where two dumps differ.
fn assert_same_dump(after: &str, before: &str, what: &str) {
    if after == before {
        return;
    }
    let first = after
        .lines()
        .zip(before.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| after.lines().count().min(before.lines().count()));
    panic!(
        "{what}: the dumps differ from line {}: now {:?}, before {:?}",
        first + 1,
        after.lines().nth(first),
        before.lines().nth(first)
    );
}

/// Everything outside schema palmdb.
fn dump_outside_palmdb(db: &TestDb) -> String {
    schema_dump(db, &["--exclude-schema", "palmdb"])
}

fn install(db: &TestDb) -> String {
    let out = db.palmdb(&["migrate", "--monitoring-only"]);
    assert_success(&out);
    stdout(&out)
}

fn health_json(db: &TestDb, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["health", "--format", "json"];
    all.extend_from_slice(args);
    let out = db.palmdb(&all);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), common::stderr(&out)));
    (out.status.code().unwrap(), report)
}

/// A copy of the built-in sql/ folder, to play an older or newer palmdb.
fn sql_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    for folder in ["health", "insights", "stats"] {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(
                &path,
                dir.path().join(folder).join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    dir
}

#[test]
fn the_install_creates_nothing_outside_schema_palmdb_and_health_runs_every_check() {
    let db = TestDb::foreign("mon_install");
    let before = dump_outside_palmdb(&db);

    let printed = install(&db);
    assert!(
        printed.contains("applied V10__health_snapshots.sql"),
        "{printed}"
    );
    assert!(
        printed.contains("applied V12__health_thresholds.sql"),
        "{printed}"
    );
    assert!(
        printed.contains("applied sql/health/90_checks.sql"),
        "{printed}"
    );
    assert!(
        printed.contains("applied sql/insights/10_top_queries.sql"),
        "{printed}"
    );
    assert!(!printed.contains("stats/"), "{printed}");
    assert!(!printed.contains("V1__palm_schema"), "{printed}");

    assert_same_dump(
        &dump_outside_palmdb(&db),
        &before,
        "the database's own schema changed",
    );
    assert_eq!(
        db.scalar("to_regclass('refinery_schema_history') IS NULL")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        db.scalar("SELECT string_agg(version || ' ' || name, ', ' ORDER BY version) FROM palmdb.monitoring_history")
            .as_deref(),
        Some("10 health_snapshots, 12 health_thresholds")
    );
    // The same checksums as refinery records for Palm's database.
    let source = palmdb::migrate::source::Source::default();
    for file in source
        .versioned()
        .unwrap()
        .iter()
        .filter(|f| f.version == 10)
    {
        assert_eq!(
            db.scalar("SELECT checksum FROM palmdb.monitoring_history WHERE version = 10"),
            Some(file.checksum().unwrap().to_string())
        );
    }

    let (code, report) = health_json(&db, &[]);
    assert!(code <= 2, "{report:#}");
    let names: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let mut bundled = palmdb::health::catalog::bundled();
    bundled.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, bundled);
    let by_name = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    // The checks see the database's own tables, odd names included.
    let no_pk = by_name("tables_without_primary_key");
    assert_eq!(no_pk["status"], "warning", "{no_pk:#}");
    assert!(
        no_pk["detail"]
            .as_str()
            .unwrap()
            .contains(r#""Odd ""Schema"" ✋"."Ünïcode Tàble ""q""""#),
        "{no_pk:#}"
    );
    let fks = by_name("foreign_keys_without_index");
    assert!(
        fks["detail"]
            .as_str()
            .unwrap()
            .contains("shop.orders (parent_no)"),
        "{fks:#}"
    );
    assert_same_dump(
        &dump_outside_palmdb(&db),
        &before,
        "health changed the schema",
    );
}

#[test]
fn health_record_stores_every_table_of_a_foreign_database() {
    let db = TestDb::foreign("mon_record");
    install(&db);
    let (code, _) = health_json(&db, &["--record", "--keep", "7d"]);
    assert!(code <= 2);
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM palmdb.health_snapshots
             WHERE schema_name = 'shop' AND table_name IN ('customers', 'orders', 'secrets', 'vault', 'nothing')"
        )
        .as_deref(),
        Some("5")
    );
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM palmdb.health_snapshots
             WHERE schema_name = 'Odd \"Schema\" ✋' AND table_name = 'Ünïcode Tàble \"q\"'"
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        db.scalar("SELECT count(*) > 0 FROM palmdb.health_snapshots WHERE schema_name = 'archive'")
            .as_deref(),
        Some("true")
    );
    // Growth per day reads them back.
    db.scalar("SELECT count(*) FROM palmdb.table_growth_per_day")
        .unwrap();
}

#[test]
fn a_second_install_is_a_no_op() {
    let db = TestDb::foreign("mon_twice");
    install(&db);
    let ledgers = "SELECT (SELECT string_agg(version || applied_on, ',' ORDER BY version) FROM palmdb.monitoring_history)
                   || (SELECT string_agg(path || applied_at, ',' ORDER BY path) FROM palmdb.schema_objects)";
    let before = (schema_dump(&db, &[]), db.scalar(ledgers));

    let printed = install(&db);
    assert!(
        printed.starts_with("nothing to do: palmdb's monitoring objects in database"),
        "{printed}"
    );
    assert!(!printed.contains("applied"), "{printed}");
    assert_same_dump(&schema_dump(&db, &[]), &before.0, "a second install");
    assert_eq!(db.scalar(ledgers), before.1);
}

#[test]
fn concurrent_installs_apply_each_file_once() {
    let db = TestDb::foreign("mon_concurrent");
    let runs: Vec<_> = (0..3)
        .map(|_| {
            db.command(&["migrate", "--monitoring-only"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = 0;
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert_success(&out);
        applied += stdout(&out).matches("applied V10__").count();
    }
    assert_eq!(applied, 1);
    assert_eq!(
        db.scalar("SELECT count(*) FROM palmdb.monitoring_history")
            .as_deref(),
        Some("2")
    );
}

#[test]
fn a_newer_palmdb_reapplies_the_changed_sql_objects() {
    let db = TestDb::foreign("mon_upgrade");
    // An older palmdb: one health file differs.
    let older = sql_copy();
    let file = older.path().join("health/03_connections.sql");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("-- an older palmdb\n{text}")).unwrap();
    let sql_dir = older.path().to_str().unwrap();
    assert_success(&db.palmdb(&["migrate", "--monitoring-only", "--sql-dir", sql_dir]));

    let status = db.palmdb(&["migrate", "status", "--json"]);
    assert_exit(&status, 1);
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["profile"], "monitoring");
    assert_eq!(json["status"], "pending");
    assert_eq!(
        json["changed_objects"],
        serde_json::json!(["health/03_connections.sql"])
    );
    assert_eq!(json["pending"], serde_json::json!([]));
    let text = stdout(&db.palmdb(&["migrate", "status"]));
    assert!(
        text.contains("PENDING: run palmdb migrate --monitoring-only"),
        "{text}"
    );

    let before = dump_outside_palmdb(&db);
    let printed = install(&db);
    assert_eq!(
        printed
            .lines()
            .filter(|l| l.starts_with("applied"))
            .collect::<Vec<_>>(),
        ["applied sql/health/03_connections.sql"],
        "{printed}"
    );
    assert_same_dump(&dump_outside_palmdb(&db), &before, "an upgrade");
    let status = db.palmdb(&["migrate", "status", "--json"]);
    assert_exit(&status, 0);
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["status"], "up_to_date");
    assert_eq!(json["current_version"], 12);
}

#[test]
fn dry_run_prints_the_monitoring_sql_and_changes_nothing() {
    let db = TestDb::foreign("mon_dry_run");
    let before = schema_dump(&db, &[]);
    let out = db.palmdb(&["migrate", "--monitoring-only", "--dry-run"]);
    assert_success(&out);
    let printed = stdout(&out);
    assert!(
        printed.contains("-- V12__health_thresholds.sql (one transaction)"),
        "{printed}"
    );
    assert!(printed.contains("-- sql/health/90_checks.sql"), "{printed}");
    assert!(
        !printed.contains("stats/") && !printed.contains("V1__"),
        "{printed}"
    );
    assert_same_dump(&schema_dump(&db, &[]), &before, "a dry run");
}

#[test]
fn on_a_foreign_database_each_command_says_what_to_do_in_one_line() {
    let db = TestDb::foreign("mon_messages");
    let before = schema_dump(&db, &[]);

    // Plain migrate would create Palm's tables here: refused, nothing created.
    let text = assert_exit(&db.palmdb(&["migrate"]), 1);
    assert!(
        text.contains(&format!(
            "palmdb: database {} is not Palm's: it has no palmdb migration history and holds",
            db.name
        )),
        "{text}"
    );
    assert!(
        text.contains("holds 12 table(s) or view(s) of its own (\"Odd \"\"Schema\"\" ✋\".\"Ünïcode Tàble \"\"q\"\"\", archive.events, shop.audit, shop.cars, shop.customers, ...)"),
        "{text}"
    );
    assert!(
        text.contains("HINT: to monitor it, install palmdb's monitoring objects alone (schema palmdb): palmdb migrate --monitoring-only"),
        "{text}"
    );
    assert_exit(&db.palmdb(&["migrate", "--dry-run"]), 1);
    assert_same_dump(&schema_dump(&db, &[]), &before, "a refused migrate");

    let text = assert_exit(&db.palmdb(&["health"]), 3);
    assert!(
        text.contains("HINT: run palmdb migrate --monitoring-only"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "{text}");
    let text = assert_exit(&db.palmdb(&["queries"]), 1);
    assert!(
        text.contains("HINT: run palmdb migrate --monitoring-only"),
        "{text}"
    );
    let text = assert_exit(&db.palmdb(&["stats", "orders", "--status", "completed"]), 1);
    assert!(
        text.contains(&format!(
            "palmdb: database {} does not have Palm's tables (public.users, ",
            db.name
        )),
        "{text}"
    );

    // migrate status: what --monitoring-only would do.
    let status = db.palmdb(&["migrate", "status", "--json"]);
    assert_exit(&status, 1);
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["profile"], "monitoring");
    assert_eq!(json["pending"][0]["file"], "V10__health_snapshots.sql");
    assert_eq!(json["pending"].as_array().unwrap().len(), 2);
    assert_same_dump(&schema_dump(&db, &[]), &before, "status");

    install(&db);
    // Installed: plain migrate still refuses, stats still says Palm's tables are missing.
    let text = assert_exit(&db.palmdb(&["migrate"]), 1);
    assert!(
        text.contains("has palmdb's monitoring objects only (installed by palmdb migrate --monitoring-only): palmdb migrate would add Palm's application tables to it"),
        "{text}"
    );
    assert!(
        text.contains("HINT: run palmdb migrate --monitoring-only"),
        "{text}"
    );
    let text = assert_exit(&db.palmdb(&["stats", "user", "ann@example.com"]), 1);
    assert!(
        text.contains("has palmdb's monitoring objects only, not Palm's tables (public.users, "),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "{text}");
    let text = stdout(&db.palmdb(&["migrate", "status"]));
    assert!(
        text.contains("profile    monitoring only (schema palmdb)"),
        "{text}"
    );
    assert!(text.contains("status     UP TO DATE"), "{text}");
    // maintain reads the same thresholds and runs.
    assert_success(&db.palmdb(&["maintain", "--dry-run"]));
}

#[test]
fn a_monitoring_role_runs_health_on_a_monitoring_only_database() {
    let role = common::role::TestRole::create("mon_monitor", "NOSUPERUSER IN ROLE pg_monitor");
    let db = TestDb::foreign("mon_role");
    install(&db);
    let out = common::palmdb_command(&["health", "--format", "json", "--record"])
        .env("DATABASE_URL", role.url(&db))
        .output()
        .unwrap();
    assert!(out.status.code().unwrap() <= 2, "{}", common::stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["checks"].as_array().unwrap().len(),
        palmdb::health::catalog::bundled().len()
    );
}

#[test]
fn palms_database_is_left_to_palmdb_migrate() {
    let db = TestDb::migrated("mon_palm");
    let out = db.palmdb(&["migrate", "--monitoring-only"]);
    assert_success(&out);
    assert!(
        stdout(&out).starts_with(&format!("nothing to do: database {} is Palm's", db.name)),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        db.scalar("to_regclass('palmdb.monitoring_history') IS NULL")
            .as_deref(),
        Some("true")
    );

    let behind = TestDb::new("mon_palm_behind");
    assert_success(&behind.palmdb(&["migrate", "--target-version", "12"]));
    let text = assert_exit(&behind.palmdb(&["migrate", "--monitoring-only"]), 1);
    assert!(
        text.contains("is Palm's (its migration history is at V12) and is not up to date"),
        "{text}"
    );
    assert!(text.contains("HINT: run palmdb migrate"), "{text}");
    assert_eq!(
        behind
            .scalar("SELECT max(version) FROM refinery_schema_history")
            .as_deref(),
        Some("12")
    );
}

#[test]
fn both_histories_or_a_palmdb_schema_of_someone_elses_are_refused() {
    // Palm's history beside a monitoring-only install: neither command guesses.
    let db = TestDb::foreign("mon_both");
    install(&db);
    db.execute(
        "CREATE TABLE refinery_schema_history (version int4 PRIMARY KEY, name varchar(255),
             applied_on varchar(255), checksum varchar(255));
         INSERT INTO refinery_schema_history VALUES (1, 'palm_schema', '2026-01-01T00:00:00Z', '1')",
    );
    for args in [&["migrate", "--monitoring-only"][..], &["migrate"][..]] {
        let text = assert_exit(&db.palmdb(args), 1);
        assert!(
            text.contains("has both Palm's migration history (refinery_schema_history, 1 migration(s) up to V1) and a monitoring-only install (palmdb.monitoring_history)"),
            "{args:?}: {text}"
        );
    }
    assert_exit(&db.palmdb(&["migrate", "status"]), 3);

    // A schema palmdb that palmdb did not create.
    let theirs = TestDb::foreign("mon_theirs");
    theirs.execute("CREATE SCHEMA palmdb; CREATE TABLE palmdb.settings (k text)");
    let text = assert_exit(&theirs.palmdb(&["migrate", "--monitoring-only"]), 1);
    assert!(
        text.contains(
            "already has a schema palmdb holding 1 object(s) that palmdb did not install"
        ),
        "{text}"
    );
    assert_eq!(
        theirs
            .scalar("SELECT count(*) FROM pg_class WHERE relnamespace = 'palmdb'::regnamespace")
            .as_deref(),
        Some("1")
    );
}

#[test]
fn another_tools_refinery_history_is_left_alone() {
    let db = TestDb::foreign("mon_other_refinery");
    db.execute(
        "CREATE TABLE refinery_schema_history (version int4 PRIMARY KEY, name varchar(255),
             applied_on varchar(255), checksum varchar(255));
         INSERT INTO refinery_schema_history VALUES (1, 'create_widgets', '2026-01-01T00:00:00Z', '42')",
    );
    let before = dump_outside_palmdb(&db);
    install(&db);
    assert_same_dump(&dump_outside_palmdb(&db), &before, "install");
    assert_eq!(
        db.scalar("SELECT name || checksum FROM refinery_schema_history")
            .as_deref(),
        Some("create_widgets42")
    );
    let text = assert_exit(&db.palmdb(&["migrate"]), 1);
    assert!(text.contains("palmdb's monitoring objects only"), "{text}");
}
