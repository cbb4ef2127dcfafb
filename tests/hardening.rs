//! Regressions from issue 12 (hostile files, absurd numbers, leaked secrets), each test named
//! after what broke, run against the real binary and the real PostgreSQL. The `serve` ones are
//! in `tests/serve.rs`.

mod common;

use common::{assert_exit, palmdb_command, stderr, TestDb};

#[test]
fn backup_prune_keep_days_4294967295_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let out = palmdb_command(&["backup", "prune", "--keep-days", "4294967295", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = assert_exit(&out, 3);
    assert!(text.contains("0..=36500"), "{text}");
    assert!(
        !text.contains("panicked") && !text.contains("overflow"),
        "{text}"
    );
    let out = palmdb_command(&["backup", "prune", "--keep-days", "36500", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_exit(&out, 0);
}

#[test]
fn a_password_in_database_url_on_the_command_line_is_warned_about_once() {
    let db = TestDb::new("password_warning");
    let dir = tempfile::tempdir().unwrap();
    let with_password = db.url.replacen("postgres@", "postgres:hunter2@", 1);
    assert_ne!(with_password, db.url);
    let out = palmdb_command(&[
        "--database-url",
        &with_password,
        "backup",
        "create",
        "--dir",
    ])
    .arg(dir.path())
    .output()
    .unwrap();
    common::assert_success(&out);
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("PGPASSWORD") && warnings[0].contains(".pgpass"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    // In the environment only the user (and root) can read it: no warning.
    let out = palmdb_command(&["backup", "list", "--dir"])
        .arg(dir.path())
        .env("DATABASE_URL", &with_password)
        .output()
        .unwrap();
    common::assert_success(&out);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}
