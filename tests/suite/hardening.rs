//! Regressions from issue 12 (hostile files, absurd numbers, leaked secrets), each test named
//! after what broke, run against the real binary and the real PostgreSQL. The `serve` ones are
//! in `tests/serve.rs`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::common;
use crate::common::{
    assert_exit, copy_backup_to, palmdb_command, stderr, stdout, take_backup, TestDb,
};
use crate::restore_support::manifest;
use serde_json::Value;

/// A database with a serial table (so the backup records a sequence) and a second table.
fn small_db(tag: &str) -> TestDb {
    let db = TestDb::new(tag);
    db.execute(
        "CREATE TABLE users (id serial PRIMARY KEY, email text, name text);
         INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann'), ('bob@example.com', 'Bob');
         CREATE TABLE notes (id int PRIMARY KEY, body text);
         INSERT INTO notes VALUES (1, 'kept');",
    );
    db
}

fn dir_arg(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

/// Writes a manifest as given, without recomputing its own hash (a hand edit).
fn write_raw(folder: &Path, value: &Value) {
    std::fs::write(
        folder.join("manifest.json"),
        serde_json::to_vec_pretty(value).unwrap(),
    )
    .unwrap();
}

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

#[test]
fn a_manifest_completed_in_the_future_is_invalid_named_and_never_the_newest() {
    let db = small_db("future_manifest");
    let dir = tempfile::tempdir().unwrap();
    let real = take_backup(&db, dir.path(), &[]);
    let real_id = real.file_name().unwrap().to_str().unwrap().to_string();
    // Sealed as palmdb would seal it: the hash is right, the date is not.
    let planted = copy_backup_to(&real, real.parent().unwrap(), "20991231T000000Z");
    let mut m = manifest(&planted);
    m["id"] = "20991231T000000Z".into();
    m["created_at"] = "2099-12-31T00:00:00Z".into();
    m["completed_at"] = "2099-12-31T00:00:05Z".into();
    palmdb::archive::manifest::seal(&mut m);
    write_raw(&planted, &m);

    let out = db.palmdb(&["backup", "status", "--dir", dir_arg(dir.path()), "--json"]);
    assert_exit(&out, 1);
    let status: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(status["status"], "warning");
    assert_eq!(status["newest"]["id"], real_id.as_str());
    assert!(status["age_seconds"].as_i64().unwrap() >= 0, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("20991231T000000Z is newer but not a valid backup")
            && message.contains("lies in the future"),
        "{message}"
    );

    let out = db.palmdb(&["backup", "list", "--dir", dir_arg(dir.path())]);
    common::assert_success(&out);
    assert!(
        !stdout(&out).contains("20991231T000000Z"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("20991231T000000Z is not a valid backup"));
    // Once: two merges each added the warning, and list printed it before and after the table.
    assert_eq!(
        stderr(&out)
            .matches("20991231T000000Z is not a valid backup")
            .count(),
        1,
        "{}",
        stderr(&out)
    );

    // keep-days 0 would have deleted the real backup when the planted one counted as newest.
    let out = db.palmdb(&[
        "backup",
        "prune",
        "--dir",
        dir_arg(dir.path()),
        "--keep-days",
        "0",
    ]);
    common::assert_success(&out);
    assert!(real.exists(), "the real backup was pruned");
    assert!(
        planted.exists(),
        "prune leaves what is not a valid backup alone"
    );

    let out = db.palmdb(&["backup", "verify", "latest", "--dir", dir_arg(dir.path())]);
    let text = assert_exit(&out, 2);
    assert!(
        text.contains("20991231T000000Z") && text.contains("lies in the future"),
        "{text}"
    );
}

#[test]
fn a_manifest_edited_after_the_backup_is_reported_by_verify_and_refused_by_restore() {
    let db = small_db("edited_manifest");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&db, dir.path(), &[]);
    let out = db.palmdb(&["backup", "verify", dir_arg(&folder)]);
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains("note:"), "{}", stdout(&out));

    // The probe: a sequence's last_value set to i64::MAX by hand.
    let mut m = manifest(&folder);
    assert_eq!(m["sequences"][0]["name"], "users_id_seq");
    m["sequences"][0]["last_value"] = i64::MAX.into();
    write_raw(&folder, &m);
    let out = db.palmdb(&["backup", "verify", dir_arg(&folder)]);
    let text = assert_exit(&out, 2);
    assert!(
        text.contains("manifest.json was changed after the backup was written"),
        "{text}"
    );

    let target = TestDb::new("edited_manifest_target");
    target.execute(
        "CREATE TABLE users (id serial PRIMARY KEY, email text, name text);
                    CREATE TABLE notes (id int PRIMARY KEY, body text);",
    );
    let out = target.palmdb(&["restore", dir_arg(&folder)]);
    let text = assert_exit(&out, 1);
    assert!(
        text.contains("changed after the backup was written"),
        "{text}"
    );
    assert_eq!(target.scalar("SELECT count(*) FROM users").unwrap(), "0");
    assert_eq!(
        target
            .scalar("SELECT last_value FROM users_id_seq")
            .unwrap(),
        "1"
    );
}

#[test]
fn a_table_file_that_is_a_symlink_outside_the_backup_is_never_read() {
    let db = small_db("symlinked_table");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&db, dir.path(), &[]);
    // The same bytes elsewhere, so the SHA-256 matches: only the link itself is wrong.
    let outside = tempfile::tempdir().unwrap();
    let file = folder.join("public.users.jsonl.zst");
    let elsewhere = outside.path().join("users.jsonl.zst");
    std::fs::rename(&file, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();

    let out = db.palmdb(&["backup", "verify", dir_arg(&folder)]);
    let text = assert_exit(&out, 2);
    assert!(
        text.contains("public.users.jsonl.zst") && text.contains("symbolic link"),
        "{text}"
    );

    let target = TestDb::new("symlinked_table_target");
    target.execute(
        "CREATE TABLE users (id serial PRIMARY KEY, email text, name text);
                    CREATE TABLE notes (id int PRIMARY KEY, body text);",
    );
    let out = target.palmdb(&["restore", dir_arg(&folder)]);
    let text = assert_exit(&out, 1);
    assert!(text.contains("symbolic link"), "{text}");
    assert_eq!(target.scalar("SELECT count(*) FROM users").unwrap(), "0");
    assert_eq!(target.scalar("SELECT count(*) FROM notes").unwrap(), "0");
}

#[test]
fn backup_create_under_umask_000_makes_every_folder_0700() {
    let db = small_db("umask_000");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/c");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec '{}' backup create --dir '{}'",
            env!("CARGO_BIN_EXE_palmdb"),
            root.display()
        ))
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    common::assert_success(&out);
    let id = stdout(&out).trim().to_string();
    for folder in ["a", "a/b", "a/b/c", &format!("a/b/c/{id}")] {
        let mode = std::fs::metadata(dir.path().join(folder)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "{folder} is {mode:o}");
    }
    for entry in std::fs::read_dir(root.join(&id)).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?} is {mode:o}", entry.file_name());
    }
}

#[test]
fn a_backup_folder_writable_by_others_is_refused_with_the_chmod_to_run() {
    let db = small_db("shared_folder");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("backups");
    let folder = take_backup(&db, &root, &[]);
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let hint = format!("HINT: chmod go-w {}", root.display());

    let out = db.palmdb(&["backup", "create", "--dir", dir_arg(&root)]);
    let text = assert_exit(&out, 1);
    assert!(text.contains("is writable by every user"), "{text}");
    assert!(text.contains(&hint), "{text}");
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        1,
        "nothing written"
    );

    for (args, code) in [
        (vec!["backup", "status"], 3),
        (vec!["backup", "list"], 1),
        (vec!["backup", "prune"], 1),
        (vec!["backup", "verify", "latest"], 3),
        (vec!["restore", "latest", "--dry-run"], 1),
    ] {
        let mut args = args.clone();
        args.extend_from_slice(&["--dir", dir_arg(&root)]);
        let out = db.palmdb(&args);
        let text = assert_exit(&out, code);
        assert!(text.contains(&hint), "{args:?}: {text}");
    }
    // The same for a group-writable backup folder itself, named by its path.
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o770)).unwrap();
    let out = db.palmdb(&["backup", "verify", dir_arg(&folder)]);
    let text = assert_exit(&out, 2);
    assert!(text.contains("writable by its group"), "{text}");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn the_manifest_hash_can_be_checked_by_hand_with_python_or_jq() {
    let db = small_db("manifest_by_hand");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&db, dir.path(), &[]);
    let path = folder.join("manifest.json");
    let recorded = manifest(&folder)["manifest_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    // The two commands docs/backup-format.md gives, run as written there.
    let python = "python3 -c 'import json,sys,hashlib; m=json.load(open(sys.argv[1])); \
        m.pop(\"manifest_sha256\"); print(hashlib.sha256(json.dumps(m, sort_keys=True, \
        separators=(\",\",\":\"), ensure_ascii=False).encode()).hexdigest())' \"$0\"";
    let jq = "jq -jcS 'del(.manifest_sha256)' \"$0\" | sha256sum | cut -d' ' -f1";
    for command in [python, jq] {
        let out = std::process::Command::new("sh")
            .args(["-c", command])
            .arg(&path)
            .output()
            .unwrap();
        common::assert_success(&out);
        assert_eq!(stdout(&out).trim(), recorded, "{command}");
    }
}

#[test]
fn serve_db_timeout_of_10000000000s_is_refused_at_parse_time() {
    for (args, why) in [
        (
            vec!["serve", "--db-timeout", "10000000000s"],
            "longer than 100 years",
        ),
        (
            vec!["serve", "--db-timeout", "25d"],
            "longest timeout PostgreSQL takes",
        ),
        (
            vec!["migrate", "--lock-timeout", "500us"],
            "shorter than 1ms",
        ),
        (
            vec!["backup", "status", "--max-age", "18446744073709551615"],
            "longer than 100 years",
        ),
        (
            vec![
                "health",
                "--threshold",
                "slot_wal_critical_bytes=99999999999999999999",
            ],
            "more than 9223372036854775807 bytes",
        ),
    ] {
        let out = palmdb_command(&args)
            .env("PALMDB_ADMIN_TOKEN", "0123456789abcdef".repeat(4))
            .output()
            .unwrap();
        let text = assert_exit(&out, 3);
        assert!(text.contains(why), "{args:?}: {text}");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
}

#[test]
fn health_size_thresholds_take_units() {
    let db = TestDb::migrated("size_threshold");
    let out = db.palmdb(&[
        "health",
        "--format",
        "json",
        "--check",
        "unused_indexes",
        "--threshold",
        "unused_index_min_bytes=10MB",
    ]);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_ne!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(report["checks"][0]["name"], "unused_indexes", "{report}");
}

/// `backup create --mask --mask-rules FILE` with `rules` in FILE.
fn masked_backup(db: &TestDb, dir: &Path, rules: &str, extra: &[&str]) -> std::process::Output {
    let file = dir.join("rules.txt");
    std::fs::write(&file, rules).unwrap();
    let backups = dir.join("backups");
    let mut args = vec![
        "backup",
        "create",
        "--mask",
        "--mask-rules",
        file.to_str().unwrap(),
        "--dir",
        backups.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    db.palmdb(&args)
}

#[test]
fn a_mask_rule_naming_a_column_that_does_not_exist_is_an_error() {
    let db = small_db("mask_typo");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.txt");

    let out = masked_backup(&db, dir.path(), "# mine\nusers.emial hash\n", &[]);
    let text = assert_exit(&out, 1);
    assert!(
        text.contains(&format!(
            "mask rule \"users.emial hash\" ({}, line 2): table public.users has no column \"emial\"",
            file.display()
        )),
        "{text}"
    );
    assert!(text.contains("HINT:"), "{text}");
    let backups = dir.path().join("backups");
    let left = std::fs::read_dir(&backups).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "a refused backup leaves nothing behind");

    let out = masked_backup(&db, dir.path(), "userz.email hash\n", &[]);
    let text = assert_exit(&out, 1);
    assert!(text.contains("there is no table public.userz"), "{text}");

    // A rule for a real table left out of this backup is not a typo.
    let out = masked_backup(&db, dir.path(), "users.email hash\n", &["--table", "notes"]);
    common::assert_success(&out);
    // And a correct rule masks.
    let out = masked_backup(&db, dir.path(), "notes.body redact\n", &["--json"]);
    common::assert_success(&out);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let m = manifest(Path::new(summary["path"].as_str().unwrap()));
    let notes = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "notes")
        .unwrap();
    assert_eq!(notes["masked_columns"][0]["column"], "body");
}

#[test]
fn palm_default_mask_rules_that_match_nothing_here_are_a_warning() {
    let db = TestDb::new("mask_defaults_elsewhere");
    db.execute("CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users VALUES (1, 'a@b.c');");
    let dir = tempfile::tempdir().unwrap();
    let out = db.palmdb(&["backup", "create", "--mask", "--dir", dir_arg(dir.path())]);
    common::assert_success(&out);
    let err = stderr(&out);
    assert!(
        err.contains("warning: mask rule \"users.name redact\" (the default mask rules, line 6): table public.users has no column \"name\""),
        "{err}"
    );
    assert_eq!(err.matches("warning").count(), 1, "{err}");
}

/// `palmdb health | head -1`: the reader goes away before palmdb prints. A Unix tool ends
/// quietly as if killed by SIGPIPE (141); palmdb used to panic with a stack dump.
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let db = TestDb::migrated("epipe");
    let mut child = db
        .command(&["health", "--format", "table"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before palmdb has connected, let alone printed.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(141), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}
