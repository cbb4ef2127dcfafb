//! Exact, or refused — never silently different: each way a backup or a restore could come out
//! different from the source is refused with one clear error naming what is wrong, and leaves
//! the database and the backup folder as they were. On the non-Palm database of
//! `tests/fixtures/foreign_schema.sql`.

use std::path::Path;

use crate::common;
use crate::common::{assert_exit, assert_success, stderr, stdout, take_backup, TestDb};
use crate::restore_support::*;

/// A login role for one test, used in one database; dropped (with what it owns and its
/// privileges there) when the value is dropped.
struct Role {
    role: common::role::TestRole,
    database_url: String,
}

impl Role {
    fn new(tag: &str, attributes: &str, db: &TestDb) -> Role {
        Role {
            role: common::role::TestRole::create(tag, &format!("NOSUPERUSER {attributes}")),
            database_url: db.url.clone(),
        }
    }

    fn name(&self) -> &str {
        &self.role.name
    }

    /// The URL of `db` as this role.
    fn url(&self, db: &TestDb) -> String {
        self.role.url(db)
    }
}

/// What the role owns or was granted in its database goes first; the role itself is dropped
/// by its `TestRole` right after.
impl Drop for Role {
    fn drop(&mut self) {
        let name = self.role.name.clone();
        let url = self.database_url.clone();
        common::block_on(async move {
            common::connect(&url)
                .await
                .batch_execute(&format!(
                    "REASSIGN OWNED BY {name} TO postgres; DROP OWNED BY {name}"
                ))
                .await
                .unwrap();
        });
    }
}

/// `palmdb backup create` into `dir` as the database's URL says (or `url`).
fn backup(db: &TestDb, url: Option<&str>, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["backup", "create", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut command = db.command(&args);
    if let Some(url) = url {
        command.env("DATABASE_URL", url);
    }
    command.output().unwrap()
}

fn restore(target: &TestDb, folder: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["restore", folder.to_str().unwrap()];
    args.extend_from_slice(extra);
    target.palmdb(&args)
}

/// Nothing but what was there before: no backup, no work-in-progress folder.
fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    assert!(left.is_empty(), "a refused backup leaves nothing: {left:?}");
}

#[test]
fn a_policy_that_would_hide_rows_fails_the_backup_naming_the_table() {
    let source = TestDb::foreign("refuse_rls");
    let reader = Role::new("rls_reader", "", &source);
    source.execute(&format!(
        "GRANT CONNECT ON DATABASE \"{db}\" TO {r};
         GRANT USAGE ON SCHEMA shop TO {r};
         GRANT SELECT ON ALL TABLES IN SCHEMA shop TO {r};
         GRANT SELECT ON ALL SEQUENCES IN SCHEMA shop TO {r};",
        db = source.name,
        r = reader.name()
    ));
    let dir = tempfile::tempdir().unwrap();
    // shop.secrets' policy shows this role 1 of its 2 rows: a backup would be short.
    let out = backup(
        &source,
        Some(&reader.url(&source)),
        dir.path(),
        &["--schema", "shop"],
    );
    let text = assert_exit(&out, 1);
    assert!(text.contains("shop.secrets"), "{text}");
    assert!(text.contains("row-level security"), "{text}");
    assert!(text.contains("HINT:"), "{text}");
    assert_empty(dir.path());

    // The owner of a table with FORCE ROW LEVEL SECURITY is subject to its policies too.
    let owner = Role::new("rls_owner", "", &source);
    source.execute(&format!(
        "CREATE SCHEMA forced AUTHORIZATION {o};
         SET ROLE {o};
         CREATE TABLE forced.ledger (id int PRIMARY KEY, visible boolean NOT NULL);
         INSERT INTO forced.ledger VALUES (1, true), (2, false);
         ALTER TABLE forced.ledger ENABLE ROW LEVEL SECURITY;
         CREATE POLICY only_visible ON forced.ledger USING (visible);
         ALTER TABLE forced.ledger FORCE ROW LEVEL SECURITY;
         RESET ROLE;
         GRANT CONNECT ON DATABASE \"{db}\" TO {o};",
        db = source.name,
        o = owner.name()
    ));
    let out = backup(
        &source,
        Some(&owner.url(&source)),
        dir.path(),
        &["--schema", "forced"],
    );
    let text = assert_exit(&out, 1);
    assert!(text.contains("forced.ledger"), "{text}");
    assert!(text.contains("row-level security"), "{text}");
    assert_empty(dir.path());
    // As a role policies do not apply to, the same backup holds both rows.
    let folder = take_backup(&source, dir.path(), &["--schema", "forced"]);
    assert_eq!(manifest(&folder)["total_rows"], 2);
}

#[test]
fn a_sequence_the_role_cannot_read_fails_the_backup() {
    let source = TestDb::foreign("refuse_sequence");
    let reader = Role::new("seq_reader", "BYPASSRLS", &source);
    source.execute(&format!(
        "GRANT CONNECT ON DATABASE \"{db}\" TO {r};
         GRANT USAGE ON SCHEMA shop TO {r};
         GRANT SELECT ON ALL TABLES IN SCHEMA shop TO {r};
         GRANT SELECT ON ALL SEQUENCES IN SCHEMA shop TO {r};
         REVOKE SELECT ON SEQUENCE shop.order_no_seq FROM {r};",
        db = source.name,
        r = reader.name()
    ));
    let dir = tempfile::tempdir().unwrap();
    let out = backup(
        &source,
        Some(&reader.url(&source)),
        dir.path(),
        &["--schema", "shop"],
    );
    let text = assert_exit(&out, 1);
    assert!(text.contains("shop.order_no_seq"), "{text}");
    assert!(text.contains("permission denied"), "{text}");
    assert!(text.contains("GRANT SELECT ON SEQUENCE"), "{text}");
    assert_empty(dir.path());
}

#[test]
fn a_column_generated_on_one_side_only_is_refused_before_any_row_is_loaded() {
    let source = TestDb::foreign("refuse_generated_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);

    // The target's shop.orders.total is a plain column: loading would leave it NULL.
    let target = TestDb::new("refuse_generated_dst");
    target.execute(&schema_of(&source));
    target.execute("ALTER TABLE shop.orders ALTER COLUMN total DROP EXPRESSION");
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("shop.orders"), "{text}");
    assert!(
        text.contains("column total is generated in the backup but not in the target"),
        "{text}"
    );
    for table in user_tables(&target) {
        assert_eq!(table_text(&target, &table), "", "{table} got rows");
    }

    // The other way round: plain in the backup, generated in the target.
    let plain = TestDb::foreign("refuse_generated_plain");
    plain.execute("ALTER TABLE shop.orders ALTER COLUMN total DROP EXPRESSION");
    let folder = take_backup(&plain, dir.path(), &[]);
    let target = TestDb::new("refuse_generated_dst2");
    target.execute(&schema_of(&source));
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("shop.orders"), "{text}");
    assert!(
        text.contains("column total is generated in the target but not in the backup"),
        "{text}"
    );
    for table in user_tables(&target) {
        assert_eq!(table_text(&target, &table), "", "{table} got rows");
    }
}

#[test]
fn names_that_match_nothing_are_errors_and_partitioned_tables_can_be_named() {
    let source = TestDb::foreign("refuse_names");
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            vec!["--schema", "no_such_schema"],
            "there is no schema \"no_such_schema\"",
        ),
        (vec!["--schema", "SHOP"], "did you mean --schema \"shop\""),
        (
            vec!["--table", "shop.Customers"],
            "did you mean \"shop.customers\"",
        ),
        (
            vec!["--exclude-table", "nope"],
            "there is no table \"nope\" to leave out",
        ),
    ] {
        let text = assert_exit(&backup(&source, None, dir.path(), &args), 1);
        assert!(text.contains(expected), "{args:?}: {text}");
        assert_empty(dir.path());
    }

    // A partitioned table by name: all its partitions, at both levels.
    let events = take_backup(&source, dir.path(), &["--table", "archive.events"]);
    let names: Vec<String> = manifest(&events)["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["events_2025_click", "events_2025_other", "events_2026"]
    );
    assert_eq!(manifest(&events)["total_rows"], 3);

    // Leaving out a table others reference: a warning naming both, and the backup is made.
    let out = backup(
        &source,
        None,
        dir.path(),
        &["--exclude-table", "shop.customers"],
    );
    assert_success(&out);
    let warnings = stderr(&out);
    assert!(
        warnings.contains("warning: table shop.orders references shop.customers"),
        "{warnings}"
    );
    assert!(
        warnings.contains("references shop.customers (foreign key"),
        "{warnings}"
    );

    // Restore takes a partitioned table's name for its partitions too.
    let whole = take_backup(&source, dir.path(), &[]);
    let target = TestDb::new("refuse_names_dst");
    target.execute(&schema_of(&source));
    let out = restore(&target, &whole, &["--table", "archive.events", "--json"]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["tables"].as_array().unwrap().len(), 3, "{report:#}");
    assert_eq!(
        table_text(&target, "archive.events"),
        table_text(&source, "archive.events")
    );
    assert_eq!(table_text(&target, "shop.customers"), "");
}

#[test]
fn a_role_this_server_lacks_is_one_error_naming_it() {
    let source = TestDb::foreign("refuse_roles_src");
    let owner = Role::new("gone_owner", "", &source);
    let reader = Role::new("gone_reader", "", &source);
    source.execute(&format!(
        "ALTER TABLE shop.audit OWNER TO {o}; GRANT SELECT ON shop.customers TO {r};",
        o = owner.name(),
        r = reader.name()
    ));
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    // The roles exist no more on this server.
    let (owner_name, reader_name) = (owner.name().to_string(), reader.name().to_string());
    drop(owner);
    drop(reader);

    let target = TestDb::new("refuse_roles_dst");
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(
        text.contains(&format!("needs role \"{owner_name}\"")),
        "{text}"
    );
    assert!(text.contains("--no-owner"), "{text}");
    assert!(user_tables(&target).is_empty(), "nothing was created");

    let text = assert_exit(&restore(&target, &folder, &["--no-owner"]), 1);
    assert!(
        text.contains(&format!("needs role \"{reader_name}\"")),
        "{text}"
    );
    assert!(text.contains("--no-privileges"), "{text}");
    assert!(user_tables(&target).is_empty(), "nothing was created");

    assert_success(&restore(
        &target,
        &folder,
        &["--no-owner", "--no-privileges"],
    ));
    assert_eq!(user_tables(&target), user_tables(&source));
    assert_eq!(
        table_text(&target, "shop.audit"),
        table_text(&source, "shop.audit")
    );
}

#[test]
fn a_failure_anywhere_leaves_the_database_as_it_was() {
    let source = TestDb::foreign("refuse_atomic_src");
    source.execute(
        "INSERT INTO shop.audit (note) SELECT 'row ' || i FROM generate_series(1, 200000) AS i",
    );
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);

    // A schema statement that fails (the target already has a schema the backup creates):
    // nothing of the backup's schema stays.
    let target = TestDb::new("refuse_atomic_dst");
    target.execute("CREATE SCHEMA shop");
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("SCHEMA shop"), "{text}");
    assert!(text.contains("already exists"), "{text}");
    assert!(text.contains("nothing was restored"), "{text}");
    assert_eq!(
        target.scalar(
            "SELECT count(*) FROM pg_namespace WHERE nspname IN ('archive', 'Odd \"Schema\" ✋')"
        ),
        Some("0".to_string())
    );
    target.execute("DROP SCHEMA shop");

    // Killed in the middle of loading a table created from the schema, then while the
    // indexes are built after the rows: the database is empty again, and the next run works.
    // (pg_stat_progress_copy came in PostgreSQL 14: on 13, a COPY under way is the moment.)
    let mid_copy = if target.server_major() >= 14 {
        "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_copy WHERE pid = $1 AND tuples_processed > 0)"
    } else {
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'COPY %')"
    };
    for moment in [
        mid_copy,
        "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_create_index WHERE pid = $1)",
    ] {
        kill_restore_when(&target, &folder, moment);
        assert!(user_tables(&target).is_empty(), "killed at: {moment}");
        assert_eq!(
            target.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'shop'"),
            Some("0".to_string()),
            "killed at: {moment}"
        );
    }
    assert_success(&restore(&target, &folder, &["--quiet"]));
    assert_eq!(sequence_states(&target), sequence_states(&source));
}

#[test]
fn a_missing_or_old_pg_dump_is_one_error_and_no_schema_backs_up_without_it() {
    let source = TestDb::foreign("refuse_pg_dump");
    let dir = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    let old = tools.path().join("pg_dump");
    std::fs::write(&old, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();

    let text = assert_exit(
        &backup(
            &source,
            None,
            dir.path(),
            &["--pg-dump", old.to_str().unwrap()],
        ),
        1,
    );
    let server_major = source.server_major();
    assert!(
        text.contains(&format!("pg_dump {server_major} or newer")),
        "{text}"
    );
    assert!(text.contains("found only pg_dump 9"), "{text}");
    assert!(
        text.contains(&format!("postgresql-client-{server_major}")),
        "{text}"
    );
    assert!(text.contains("--no-schema"), "{text}");
    assert_empty(dir.path());

    let text = assert_exit(
        &backup(
            &source,
            None,
            dir.path(),
            &["--pg-dump", "/nonexistent/pg_dump"],
        ),
        1,
    );
    assert!(text.contains("is not a pg_dump that runs"), "{text}");
    assert_empty(dir.path());

    // Without the schema: no pg_dump needed, and the manifest says there is none.
    let folder = take_backup(&source, dir.path(), &["--no-schema"]);
    assert_eq!(manifest(&folder)["schema"], serde_json::Value::Null);
    assert!(!folder.join("schema.dump").exists());
    // Such a backup cannot create its tables: restoring it into an empty database says so.
    let target = TestDb::new("refuse_pg_dump_dst");
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("holds no schema"), "{text}");
}
