//! `restore --create-database --jobs N`: the database is built under a working name over
//! several connections and renamed only when complete, so it either does not exist or holds
//! everything: after success (the same tables, rows, sequences and schema as the source),
//! after a refusal, after SIGTERM, and after SIGKILL (the next restore drops what the killed
//! one left).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{admin, assert_exit, assert_success, stderr, stdout, take_backup, TestDb};
use crate::restore_support::*;

/// A database name that does not exist (the TestDb's own, dropped), dropped again when the
/// returned TestDb goes: the restore creates it.
fn absent_database(tag: &str) -> TestDb {
    let db = TestDb::new(tag);
    admin::execute(&db.admin, &format!("DROP DATABASE \"{}\"", db.name)).unwrap();
    db
}

fn database_exists(db: &TestDb, name: &str) -> bool {
    let rows = admin::rows(
        &db.admin,
        &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
    )
    .unwrap();
    !rows.is_empty()
}

fn working_name(db: &TestDb) -> String {
    format!("{}_palmdb_restoring", db.name)
}

fn drop_database(db: &TestDb, name: &str) {
    admin::execute(
        &db.admin,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .unwrap();
}

#[test]
fn a_foreign_database_is_created_whole_over_several_connections() {
    let source = TestDb::foreign("newdb_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = absent_database("newdb_dst");

    let out = target.palmdb(&[
        "restore",
        folder.to_str().unwrap(),
        "--create-database",
        "--jobs",
        "3",
        "--json",
    ]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["database_created"], true);
    assert_eq!(report["jobs"], 3);
    assert_eq!(
        report["tables"].as_array().unwrap().len(),
        manifest(&folder)["tables"].as_array().unwrap().len()
    );

    assert_same_foreign_database(&source, &target);
    // Triggers are created after the rows: none fired during the load.
    assert_eq!(
        target.scalar("SELECT count(*) FROM shop.audit").as_deref(),
        Some("3")
    );
    // Nothing of the working name is left, nor its comment.
    assert!(!database_exists(&target, &working_name(&target)));
    assert_eq!(
        target.scalar("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"),
        None
    );
    // Defaults and constraints work in the new database.
    target.execute("INSERT INTO shop.customers (name) VALUES ('dora')");
    assert_eq!(
        target
            .scalar("SELECT name FROM shop.customers WHERE id = 4")
            .as_deref(),
        Some("DORA")
    );
}

#[test]
fn an_existing_database_is_refused_and_left_as_it_was() {
    let source = TestDb::foreign("newdb_exists_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = TestDb::new("newdb_exists_dst");
    target.execute("CREATE TABLE keep (x int); INSERT INTO keep VALUES (1)");

    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["restore", folder.to_str().unwrap(), "--create-database"];
        args.extend_from_slice(extra);
        let out = target.palmdb(&args);
        let text = assert_exit(&out, 1);
        assert!(text.contains("already exists"), "{text}");
        assert!(text.contains("DROP DATABASE"), "{text}");
    }
    assert_eq!(
        target.scalar("SELECT count(*) FROM keep").as_deref(),
        Some("1")
    );
    assert!(!database_exists(&target, &working_name(&target)));

    // --jobs belongs to --create-database: one transaction has one connection.
    // (A command line palmdb cannot read exits with 3, as every such one does.)
    let out = target.palmdb(&["restore", folder.to_str().unwrap(), "--jobs", "2"]);
    let text = assert_exit(&out, 3);
    assert!(text.contains("--create-database"), "{text}");
}

/// A source whose biggest table takes a moment to load.
fn slow_source(tag: &str) -> TestDb {
    let source = TestDb::foreign(tag);
    source.execute(
        "CREATE TABLE shop.bulk AS
           SELECT g AS id, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 400000) g;
         ALTER TABLE shop.bulk ADD PRIMARY KEY (id);",
    );
    source
}

/// Starts the restore and waits until one of its connections is loading rows.
fn restore_until_copying(target: &TestDb, folder: &std::path::Path) -> Child {
    let mut child = target
        .command(&[
            "restore",
            folder.to_str().unwrap(),
            "--create-database",
            "--jobs",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let working = working_name(target);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let copying = admin::rows(
            &target.admin,
            &format!(
                "SELECT 1 FROM pg_stat_activity WHERE datname = '{working}'
                   AND query LIKE 'COPY %bulk%' AND state = 'active'"
            ),
        )
        .unwrap();
        if !copying.is_empty() {
            return child;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the restore ended before it loaded rows"
        );
        assert!(Instant::now() < deadline, "the restore never loaded rows");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_killed_restore_leaves_no_database_and_the_next_one_drops_its_leftover() {
    let source = slow_source("newdb_kill_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = absent_database("newdb_kill_dst");
    let working = working_name(&target);

    let mut child = restore_until_copying(&target, &folder);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The database asked for does not exist; the working one says what it is.
    assert!(!database_exists(&target, &target.name));
    assert!(database_exists(&target, &working));
    let comment = admin::rows(
        &target.admin,
        &format!(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{working}'"
        ),
    )
    .unwrap();
    let comment = comment[0][0].clone().unwrap_or_default();
    assert!(comment.contains("not finished"), "{comment}");

    let out = target.palmdb(&["restore", folder.to_str().unwrap(), "--create-database"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains(&format!("dropping {working}")),
        "{}",
        stderr(&out)
    );
    assert!(!database_exists(&target, &working));
    assert_same_rows(&source, &target, &user_tables(&source));
    drop_database(&target, &working);
}

#[test]
fn sigterm_drops_the_working_database_and_creates_nothing() {
    let source = slow_source("newdb_term_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = absent_database("newdb_term_dst");
    let working = working_name(&target);

    let child = restore_until_copying(&target, &folder);
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let text = assert_exit(&out, 1);
    assert!(text.contains("interrupted by SIGTERM"), "{text}");
    assert!(!database_exists(&target, &target.name));
    assert!(!database_exists(&target, &working));
    drop_database(&target, &working);
}

#[test]
fn a_role_that_may_not_create_databases_is_told_so_and_nothing_is_created() {
    let role = crate::common::role::TestRole::create("newdb_nocreatedb", "NOSUPERUSER NOCREATEDB");
    let source = TestDb::foreign("newdb_role_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = absent_database("newdb_role_dst");

    for extra in [&["--dry-run"][..], &[][..]] {
        let mut args = vec!["restore", folder.to_str().unwrap(), "--create-database"];
        args.extend_from_slice(extra);
        let out = crate::common::palmdb_command(&args)
            .env("DATABASE_URL", role.url(&target))
            .output()
            .unwrap();
        let text = assert_exit(&out, 1);
        assert!(text.contains("may not create databases"), "{text}");
        assert!(text.contains("CREATEDB"), "{text}");
        assert_eq!(
            text.lines().filter(|l| l.starts_with("palmdb:")).count(),
            1,
            "{text}"
        );
    }
    assert!(!database_exists(&target, &target.name));
    assert!(!database_exists(&target, &working_name(&target)));
}

#[test]
fn a_palm_database_created_over_several_connections_is_at_its_version() {
    let source = TestDb::migrated("newdb_palm_src");
    fill_palm(&source, 40);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = absent_database("newdb_palm_dst");

    let out = target.palmdb(&["restore", folder.to_str().unwrap(), "--create-database"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!(
            "created database {} over 2 connections",
            target.name
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(palm_counts(&target), palm_counts(&source));
    assert_same_rows(&source, &target, &user_tables(&source));
    assert_eq!(schema_of(&target), schema_of(&source));
    assert_eq!(sequence_states(&target), sequence_states(&source));
    assert_exit(&target.palmdb(&["migrate", "status"]), 0);
    assert_success(&target.palmdb(&["stats", "orders", "--status", "completed", "--json"]));
}

#[test]
fn a_database_under_the_working_name_that_is_not_palmdbs_is_never_dropped() {
    let source = TestDb::foreign("newdb_clash_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = absent_database("newdb_clash_dst");
    let working = working_name(&target);
    admin::execute(&target.admin, &format!("CREATE DATABASE \"{working}\"")).unwrap();

    let out = target.palmdb(&["restore", folder.to_str().unwrap(), "--create-database"]);
    let text = assert_exit(&out, 1);
    assert!(
        text.contains("is not an unfinished palmdb restore"),
        "{text}"
    );
    assert!(database_exists(&target, &working));
    assert!(!database_exists(&target, &target.name));
    drop_database(&target, &working);
}
