//! A managed service's role (Supabase, RDS, Cloud SQL): not superuser, no CREATEDB, owner of
//! the application's tables, member of pg_monitor. Everything but `maintain` on others'
//! tables must work for it: migrate, health, backup, restore into an existing empty database,
//! and the restore test in a named scratch database.

use crate::common;
use crate::common::role::TestRole;
use crate::common::{assert_exit, assert_success, block_on, connect, stderr, stdout, TestDb};

/// A login role like a managed service's application role, dropped at the end (after the
/// test's databases, so declare it first).
fn app_role(tag: &str) -> TestRole {
    TestRole::create(
        tag,
        "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS IN ROLE pg_monitor",
    )
}

/// Lets `role` create schemas in `db` and tables in its `public` (as on Supabase, where the
/// database belongs to the platform's role).
fn may_create_in(role: &TestRole, db: &TestDb) {
    let role = &role.name;
    db.execute(&format!(
        "GRANT CREATE ON DATABASE \"{}\" TO {role}; GRANT CREATE ON SCHEMA public TO {role};",
        db.name
    ));
}

fn run_as(url: &str, args: &[&str]) -> std::process::Output {
    common::palmdb_command(args)
        .env("DATABASE_URL", url)
        .output()
        .expect("run palmdb")
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.scalar(sql).unwrap().parse().unwrap()
}

#[test]
fn a_role_without_superuser_or_createdb_migrates_checks_backs_up_and_restores() {
    let role = app_role("managed_app");
    let db = TestDb::new("managed_app");
    let target = TestDb::new("managed_app_target");
    may_create_in(&role, &db);
    may_create_in(&role, &target);
    let app = role.url(&db);
    assert_eq!(
        db.scalar(&format!(
            "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = '{}'",
            role.name
        )),
        Some("false".into())
    );

    assert_success(&run_as(&app, &["migrate"]));
    assert_eq!(
        db.scalar("SELECT tableowner FROM pg_tables WHERE tablename = 'users'"),
        Some(role.name.clone()),
        "the role owns the application's tables"
    );
    assert_success(&run_as(&app, &["demo-data", "--users", "100"]));
    assert_exit(&run_as(&app, &["migrate", "status"]), 0);

    let out = run_as(&app, &["health", "--format", "json"]);
    let code = out.status.code();
    assert!(code == Some(0) || code == Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["checks"].as_array().unwrap().len(), 20);

    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    assert_success(&run_as(&app, &["backup", "create", "--dir", dir_arg]));

    // Restore into an existing, empty database the role may create tables in.
    let out = run_as(&role.url(&target), &["restore", "latest", "--dir", dir_arg]);
    assert_success(&out);
    for table in [
        "users",
        "preorders",
        "palm_analysis_sessions",
        "user_images",
        "webhook_logs",
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(count(&target, &sql), count(&db, &sql), "{table}");
    }
    assert_exit(&run_as(&role.url(&target), &["migrate", "status"]), 0);

    // The restore test cannot create a database: one clear error naming the way out.
    let out = run_as(
        &app,
        &[
            "backup",
            "verify",
            "latest",
            "--dir",
            dir_arg,
            "--restore-test",
        ],
    );
    let text = assert_exit(&out, 3);
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("palmdb:"))
            .count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("cannot create the scratch database"),
        "{text}"
    );
    assert!(
        text.contains("HINT: ") && text.contains("--scratch-database NAME"),
        "{text}"
    );
}

#[test]
fn the_restore_test_runs_in_a_named_scratch_database_it_empties_and_leaves() {
    let role = app_role("managed_scratch");
    let db = TestDb::new("managed_scratch");
    let scratch = TestDb::new("managed_scratch_db");
    may_create_in(&role, &db);
    may_create_in(&role, &scratch);
    let app = role.url(&db);
    assert_success(&run_as(&app, &["migrate"]));
    assert_success(&run_as(&app, &["demo-data", "--users", "100"]));
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    assert_success(&run_as(&app, &["backup", "create", "--dir", dir_arg]));
    // Something the role left there before: emptied first.
    block_on({
        let url = role.url(&scratch);
        async move {
            connect(&url)
                .await
                .batch_execute("CREATE TABLE leftover (x int); CREATE SCHEMA old_stuff;")
                .await
                .unwrap()
        }
    });
    for run in 0..2 {
        let out = run_as(
            &app,
            &[
                "backup",
                "verify",
                "latest",
                "--dir",
                dir_arg,
                "--restore-test",
                "--scratch-database",
                &scratch.name,
                "--json",
            ],
        );
        assert_exit(&out, 0);
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["restore_test"]["ok"], true, "run {run}: {report}");
        assert_eq!(report["restore_test"]["database"], scratch.name.as_str());
        assert!(
            report["restore_test"]["tables"].as_array().unwrap().len() >= 5,
            "{report}"
        );
        // Left in place, and empty.
        assert_eq!(
            count(
                &scratch,
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
                   AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
            ),
            0,
            "run {run}"
        );
        assert_eq!(
            count(
                &scratch,
                "SELECT count(*) FROM pg_namespace WHERE nspname IN ('palmdb', 'old_stuff')"
            ),
            0
        );
    }
    // Never the database being backed up.
    let out = run_as(
        &app,
        &[
            "backup",
            "verify",
            "latest",
            "--dir",
            dir_arg,
            "--restore-test",
            "--scratch-database",
            &db.name,
        ],
    );
    let text = assert_exit(&out, 3);
    assert!(text.contains("is the database being backed up"), "{text}");
    assert_eq!(count(&db, "SELECT count(*) FROM users"), 100);
    // A scratch database holding others' tables is refused, and they are kept.
    scratch.execute("CREATE TABLE not_yours (x int)");
    let out = run_as(
        &app,
        &[
            "backup",
            "verify",
            "latest",
            "--dir",
            dir_arg,
            "--restore-test",
            "--scratch-database",
            &scratch.name,
        ],
    );
    let text = assert_exit(&out, 3);
    assert!(
        text.contains("is not empty") && text.contains("public.not_yours"),
        "{text}"
    );
    assert_eq!(count(&scratch, "SELECT count(*) FROM not_yours"), 0);
}
