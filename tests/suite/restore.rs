//! `palmdb restore` against a real PostgreSQL: whole restores, refusals, atomicity under a bad
//! row and under SIGKILL, a non-superuser owner, sequences.

use crate::common;
use crate::common::{assert_exit, assert_success, stderr, stdout, take_backup, TestDb};
use crate::restore_support::*;
use palmdb::demo_data::PALM_TABLES;

fn restore(target: &TestDb, folder: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["restore", folder.to_str().unwrap()];
    args.extend_from_slice(extra);
    target.palmdb(&args)
}

#[test]
fn restores_palm_tables_into_an_empty_database_with_sequences_moved_on() {
    let source = TestDb::migrated("restore_src");
    fill_palm(&source, 50);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);

    let target = TestDb::migrated("restore_dst");
    let out = restore(&target, &folder, &["--json"]);
    assert_success(&out);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    // Palm's 250 rows, and (the whole database being backed up now) palmdb's revenue rollup.
    let rollup: u64 = source
        .scalar("SELECT count(*) FROM palmdb.daily_revenue")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(summary["rows"], 250 + rollup);
    let order: Vec<&str> = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    let position = |t: &str| {
        order
            .iter()
            .position(|o| *o == format!("public.{t}"))
            .unwrap()
    };
    assert!(position("users") < position("preorders"));
    assert!(position("palm_analysis_sessions") < position("user_images"));

    assert_eq!(palm_counts(&target), palm_counts(&source));
    assert_same_rows(&source, &target, &PALM_TABLES);
    // The identity sequences moved past the restored ids: new rows get fresh ones.
    target.execute(
        "INSERT INTO preorders (user_id, stripe_amount)
         SELECT id, 100 FROM users LIMIT 1",
    );
    assert_eq!(
        target.scalar("SELECT max(id) FROM preorders").as_deref(),
        Some("51")
    );
}

#[test]
fn refuses_tables_with_rows_unless_clean_which_replaces_them() {
    let source = TestDb::migrated("restore_clean_src");
    fill_palm(&source, 10);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);

    let target = TestDb::migrated("restore_clean_dst");
    fill_palm(&target, 3);
    target.execute("UPDATE users SET name = 'changed'");
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("not empty"), "{text}");
    assert!(text.contains("HINT: pass --clean"), "{text}");
    assert_eq!(
        target.scalar("SELECT count(*) FROM users").as_deref(),
        Some("3")
    );

    let dry = restore(&target, &folder, &["--clean", "--dry-run"]);
    assert_success(&dry);
    assert!(stdout(&dry).contains("dry run"), "{}", stdout(&dry));
    assert_eq!(
        target.scalar("SELECT count(*) FROM users").as_deref(),
        Some("3")
    );

    assert_success(&restore(&target, &folder, &["--clean"]));
    assert_same_rows(&source, &target, &PALM_TABLES);
}

#[test]
fn a_bad_row_midway_rolls_back_every_table_and_sequence() {
    let source = TestDb::migrated("restore_badrow_src");
    fill_palm(&source, 30);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    // A row in the middle of user_images (loaded after users, sessions...) that PostgreSQL
    // rejects: a value the CHECK constraint refuses. The file still verifies.
    rewrite_table(&folder, "user_images", |lines| {
        lines[15] = lines[15].replace("\"left\"", "\"middle\"");
    });

    let target = TestDb::migrated("restore_badrow_dst");
    let sequence_before = target.scalar("SELECT last_value FROM palm_analysis_sessions_id_seq");
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("user_images"), "{text}");
    assert!(text.contains("check constraint"), "{text}");
    assert!(text.contains("line 16"), "{text}");
    assert!(text.contains("nothing was restored"), "{text}");
    assert_eq!(palm_counts(&target), vec![0, 0, 0, 0, 0]);
    assert_eq!(
        target.scalar("SELECT last_value FROM palm_analysis_sessions_id_seq"),
        sequence_before
    );
}

#[test]
fn sigkill_during_the_load_leaves_the_target_as_it_was() {
    let source = TestDb::migrated("restore_kill_src");
    fill_palm(&source, 40_000);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = TestDb::migrated("restore_kill_dst");
    let keys_before = foreign_key_definitions(&target);
    // Mid-COPY of a table after the first: users is loaded (not committed), another table
    // half-loaded, the indexes and foreign keys set aside. (pg_stat_progress_copy came in
    // PostgreSQL 14: on 13, another table's COPY under way is the moment.)
    let mid_copy = if target.server_major() >= 14 {
        "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_copy
                        WHERE pid = $1 AND relid <> 'users'::regclass AND tuples_processed > 0)"
    } else {
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                        WHERE pid = $1 AND query LIKE 'COPY %' AND query NOT LIKE 'COPY \"public\".\"users\"%')"
    };
    let moments = [
        mid_copy,
        // Every table loaded, the indexes being rebuilt.
        "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_create_index WHERE pid = $1)",
        // The foreign keys being validated.
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                        WHERE pid = $1 AND query LIKE '%ADD CONSTRAINT%FOREIGN KEY%')",
    ];
    for moment in moments {
        kill_restore_when(&target, &folder, moment);
        assert_eq!(
            palm_counts(&target),
            vec![0, 0, 0, 0, 0],
            "killed at: {moment}"
        );
        assert_eq!(
            foreign_key_definitions(&target),
            keys_before,
            "killed at: {moment}"
        );
        assert_eq!(
            target
                .scalar("SELECT last_value FROM preorders_id_seq")
                .as_deref(),
            Some("1")
        );
    }
    // Nothing is left half-done: the next restore works.
    assert_success(&restore(&target, &folder, &["--quiet"]));
    assert_eq!(palm_counts(&target), palm_counts(&source));
}

#[test]
fn a_damaged_file_is_refused_before_the_database_is_touched() {
    let source = TestDb::migrated("restore_damaged_src");
    fill_palm(&source, 10);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let file = table_file(&folder, "webhook_logs");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();

    let target = TestDb::migrated("restore_damaged_dst");
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("failed verification"), "{text}");
    assert!(text.contains("webhook_logs"), "{text}");
    assert_eq!(palm_counts(&target), vec![0, 0, 0, 0, 0]);
}

#[test]
fn refuses_a_target_at_another_schema_version_and_says_what_to_run() {
    let source = TestDb::migrated("restore_version_src");
    let dir = tempfile::tempdir().unwrap();
    // Without its schema, a backup cannot create its tables: the empty target must first be
    // migrated to the backup's version (with the schema, see restore_schema.rs).
    let folder = take_backup(&source, dir.path(), &["--no-schema"]);
    let target = TestDb::new("restore_version_dst");
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("schema version"), "{text}");
    assert!(text.contains("palmdb migrate --target-version"), "{text}");
}

#[test]
fn restores_a_subset_of_tables_with_table() {
    let source = TestDb::migrated("restore_subset_src");
    fill_palm(&source, 10);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = TestDb::migrated("restore_subset_dst");
    let out = restore(
        &target,
        &folder,
        &["--table", "users", "--table", "public.webhook_logs"],
    );
    assert_success(&out);
    assert_eq!(palm_counts(&target), vec![10, 0, 0, 0, 10]);
    let text = assert_exit(&restore(&target, &folder, &["--table", "nope"]), 1);
    assert!(text.contains("no table \"nope\""), "{text}");
}

#[test]
fn refuses_a_masked_backup_unless_allowed() {
    let source = TestDb::migrated("restore_masked_src");
    fill_palm(&source, 5);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let mut m = manifest(&folder);
    m["masked"] = true.into();
    write_manifest(&folder, &m);
    let target = TestDb::migrated("restore_masked_dst");
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("masked"), "{text}");
    assert!(text.contains("--allow-masked"), "{text}");
    assert_success(&restore(&target, &folder, &["--allow-masked"]));
    assert_eq!(palm_counts(&target), vec![5, 5, 5, 5, 5]);
}

#[test]
fn restores_latest_by_name_from_the_backup_folder() {
    let source = TestDb::migrated("restore_latest_src");
    fill_palm(&source, 4);
    let dir = tempfile::tempdir().unwrap();
    take_backup(&source, dir.path(), &[]);
    let target = TestDb::migrated("restore_latest_dst");
    let out = target.palmdb(&["restore", "latest", "--dir", dir.path().to_str().unwrap()]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("restored into database"),
        "{}",
        stdout(&out)
    );
    assert_eq!(palm_counts(&target), vec![4, 4, 4, 4, 4]);
    let empty = tempfile::tempdir().unwrap();
    let out = target.palmdb(&["restore", "latest", "--dir", empty.path().to_str().unwrap()]);
    let text = assert_exit(&out, 1);
    assert!(
        stderr(&out).starts_with("palmdb: there is no backup"),
        "{text}"
    );
}

/// A LOGIN role that owns its databases but is no superuser (as on Supabase or RDS), dropped
/// when the test ends (after the databases it owns, declared later, are dropped).
struct OwnerRole {
    role: common::role::TestRole,
}

impl OwnerRole {
    fn create() -> OwnerRole {
        OwnerRole {
            role: common::role::TestRole::create("owner", "NOSUPERUSER NOCREATEDB NOCREATEROLE"),
        }
    }

    /// A database owned by the role, migrated by the role (so it owns the tables).
    fn database(&self, tag: &str) -> (TestDb, String) {
        let db = TestDb::new(tag);
        db.execute(&format!(
            "ALTER DATABASE \"{}\" OWNER TO {}",
            db.name, self.role.name
        ));
        let url = self.role.url(&db);
        assert_success(&self.palmdb(&url, &["migrate"]));
        (db, url)
    }

    fn palmdb(&self, url: &str, args: &[&str]) -> std::process::Output {
        common::palmdb_command(args)
            .env("DATABASE_URL", url)
            .output()
            .unwrap()
    }
}

#[test]
fn works_as_the_tables_owner_without_superuser() {
    let role = OwnerRole::create();
    let (source, source_url) = role.database("restore_owner_src");
    fill_palm(&source, 20);
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    assert_success(&role.palmdb(&source_url, &["backup", "create", "--dir", dir_arg]));

    let (target, target_url) = role.database("restore_owner_dst");
    // What a managed service refuses to a non-superuser, and restore must do without.
    let refused = common::block_on({
        let url = target_url.clone();
        async move {
            common::connect(&url)
                .await
                .batch_execute("SET session_replication_role = replica")
                .await
                .is_err()
        }
    });
    assert!(
        refused,
        "the test role must not be allowed session_replication_role"
    );

    let out = role.palmdb(&target_url, &["restore", "latest", "--dir", dir_arg]);
    assert_success(&out);
    assert_eq!(palm_counts(&target), palm_counts(&source));
    // --clean works as the owner too (TRUNCATE in the transaction).
    let out = role.palmdb(
        &target_url,
        &["restore", "latest", "--dir", dir_arg, "--clean"],
    );
    assert_success(&out);
    assert_eq!(palm_counts(&target), palm_counts(&source));
    drop(target);
    drop(source);
}

/// Every constraint and index of the public schema with its definition and comment, to
/// compare before and after: a restore sets foreign keys and indexes aside and puts them back.
fn foreign_key_definitions(db: &TestDb) -> String {
    db.scalar(
        "SELECT string_agg(d, E'\\n' ORDER BY d) FROM (
             SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
                    || ' ' || coalesce(obj_description(oid, 'pg_constraint'), '') AS d
             FROM pg_constraint WHERE connamespace = 'public'::regnamespace
             UNION ALL
             SELECT indexdef || ' ' || coalesce(obj_description((schemaname || '.' || indexname)::regclass, 'pg_class'), '')
             FROM pg_indexes WHERE schemaname = 'public'
         ) AS all_definitions",
    )
    .unwrap()
}

#[test]
fn an_orphan_row_is_caught_by_its_foreign_key_and_nothing_is_restored() {
    let source = TestDb::migrated("restore_orphan_src");
    fill_palm(&source, 10);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    // An order whose user is not in the backup: the foreign key must refuse it.
    rewrite_table(&folder, "preorders", |lines| {
        let user = lines[4].split("\"user_id\":\"").nth(1).unwrap()[..36].to_string();
        lines[4] = lines[4].replace(&user, "00000000-0000-0000-0000-000000000000");
    });
    let target = TestDb::migrated("restore_orphan_dst");
    target.execute(
        "COMMENT ON CONSTRAINT users_pkey ON users IS 'one row per account';
         COMMENT ON INDEX preorders_user_id_idx IS 'orders of a user';
         COMMENT ON CONSTRAINT preorders_user_id_fkey ON preorders IS 'owner'",
    );
    let keys_before = foreign_key_definitions(&target);
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("preorders_user_id_fkey"), "{text}");
    assert!(text.contains("nothing was restored"), "{text}");
    assert_eq!(palm_counts(&target), vec![0, 0, 0, 0, 0]);
    assert_eq!(foreign_key_definitions(&target), keys_before);

    // A good restore leaves every foreign key exactly as it was.
    let good = take_backup(&source, dir.path(), &[]);
    assert_success(&restore(&target, &good, &[]));
    assert_eq!(foreign_key_definitions(&target), keys_before);
}

#[test]
fn a_duplicate_key_is_caught_when_the_index_is_built_and_nothing_is_restored() {
    let source = TestDb::migrated("restore_dup_src");
    fill_palm(&source, 10);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    rewrite_table(&folder, "webhook_logs", |lines| {
        let copy = lines[3].clone();
        lines.push(copy);
    });
    let target = TestDb::migrated("restore_dup_dst");
    let before = foreign_key_definitions(&target);
    let text = assert_exit(&restore(&target, &folder, &[]), 1);
    assert!(text.contains("webhook_logs"), "{text}");
    assert!(text.contains("duplicate"), "{text}");
    assert!(text.contains("nothing was restored"), "{text}");
    assert_eq!(palm_counts(&target), vec![0, 0, 0, 0, 0]);
    assert_eq!(foreign_key_definitions(&target), before);
}

#[test]
fn migrate_target_version_stops_there_for_a_backup_taken_at_that_version() {
    let dir = tempfile::tempdir().unwrap();
    for (file, sql) in [
        ("V1__one.sql", "CREATE TABLE one (id int);"),
        ("V2__two.sql", "CREATE TABLE two (id int);"),
        ("V3__three.sql", "CREATE TABLE three (id int);"),
    ] {
        std::fs::write(dir.path().join(file), sql).unwrap();
    }
    let sql_dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().to_str().unwrap();
    let objects = sql_dir.path().to_str().unwrap();
    let db = TestDb::new("migrate_target");
    let migrate = |extra: &[&str]| {
        let mut args = vec![
            "migrate",
            "--migrations-dir",
            migrations,
            "--sql-dir",
            objects,
        ];
        args.extend_from_slice(extra);
        db.palmdb(&args)
    };
    let text = assert_exit(&migrate(&["--target-version", "9"]), 1);
    assert!(text.contains("no migration version 9"), "{text}");
    assert_success(&migrate(&["--target-version", "2"]));
    assert_eq!(
        db.scalar("SELECT max(version) FROM refinery_schema_history")
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        db.scalar("SELECT to_regclass('three') IS NULL").as_deref(),
        Some("true")
    );
    assert_success(&migrate(&[]));
    let text = assert_exit(&migrate(&["--target-version", "1"]), 1);
    assert!(text.contains("past the target version 1"), "{text}");
}
