//! `palmdb backup verify`: each kind of damage caught and named (exit 2), a whole backup OK
//! (exit 0), and `--restore-test` into a scratch database that is always dropped.

use std::path::Path;

use crate::common::{assert_exit, stdout, take_backup, TestDb};
use crate::restore_support::*;
use palmdb::demo_data::PALM_TABLES;

fn verify(db: &TestDb, folder: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["backup", "verify", folder.to_str().unwrap()];
    args.extend_from_slice(extra);
    db.palmdb(&args)
}

fn backup_of_palm(tag: &str, users: u32) -> (TestDb, tempfile::TempDir, std::path::PathBuf) {
    let source = TestDb::migrated(tag);
    fill_palm(&source, users);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    (source, dir, folder)
}

#[test]
fn a_whole_backup_is_ok() {
    let (source, _dir, folder) = backup_of_palm("verify_ok", 20);
    let text = assert_exit(&verify(&source, &folder, &[]), 0);
    assert!(text.starts_with("OK: backup"), "{text}");
    let out = verify(&source, &folder, &["--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["status"], "ok");
    // Every table of the database (Palm's 5 with their 100 rows, and palmdb's own), and the
    // stored schema.
    let m = manifest(&folder);
    assert_eq!(
        report["files"].as_array().unwrap().len(),
        m["tables"].as_array().unwrap().len()
    );
    assert_eq!(report["rows"], m["total_rows"]);
    let palm_rows: u64 = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| PALM_TABLES.contains(&t["name"].as_str().unwrap()))
        .map(|t| t["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(palm_rows, 100);
    assert_eq!(report["schema"]["ok"], true, "{report:#}");
}

#[test]
fn a_truncated_file_is_caught() {
    let (source, _dir, folder) = backup_of_palm("verify_truncated", 200);
    let file = table_file(&folder, "users");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let text = assert_exit(&verify(&source, &folder, &[]), 2);
    assert!(text.starts_with("FAILED"), "{text}");
    assert!(text.contains("public.users.jsonl.zst"), "{text}");
    assert!(text.contains("SHA-256 does not match"), "{text}");
}

#[test]
fn one_flipped_byte_is_caught() {
    let (source, _dir, folder) = backup_of_palm("verify_flipped", 50);
    let file = table_file(&folder, "preorders");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();
    let text = assert_exit(&verify(&source, &folder, &[]), 2);
    assert!(text.contains("public.preorders.jsonl.zst"), "{text}");
    assert!(text.contains("SHA-256 does not match"), "{text}");
    // The other files are fine and not named.
    assert!(!text.contains("public.users.jsonl.zst"), "{text}");
}

#[test]
fn a_missing_file_is_caught() {
    let (source, _dir, folder) = backup_of_palm("verify_missing", 5);
    std::fs::remove_file(table_file(&folder, "webhook_logs")).unwrap();
    let text = assert_exit(&verify(&source, &folder, &[]), 2);
    assert!(text.contains("public.webhook_logs.jsonl.zst"), "{text}");
    assert!(text.contains("missing"), "{text}");
}

#[test]
fn a_garbage_manifest_is_caught() {
    let (source, _dir, folder) = backup_of_palm("verify_garbage", 5);
    std::fs::write(
        folder.join("manifest.json"),
        b"{\"format_version\": 1, \"id\": ",
    )
    .unwrap();
    let text = assert_exit(&verify(&source, &folder, &[]), 2);
    assert!(text.contains("manifest.json is not valid JSON"), "{text}");
}

#[test]
fn an_unknown_manifest_version_is_caught() {
    let (source, _dir, folder) = backup_of_palm("verify_version", 5);
    let mut m = manifest(&folder);
    m["format_version"] = 99.into();
    write_manifest(&folder, &m);
    let text = assert_exit(&verify(&source, &folder, &[]), 2);
    assert!(text.contains("format_version 99"), "{text}");
}

#[test]
fn a_manifest_missing_a_required_field_is_caught() {
    let (source, _dir, folder) = backup_of_palm("verify_field", 5);
    let mut m = manifest(&folder);
    m["tables"][0].as_object_mut().unwrap().remove("sha256");
    write_manifest(&folder, &m);
    let text = assert_exit(&verify(&source, &folder, &[]), 2);
    assert!(text.contains("lacks the field sha256"), "{text}");
}

#[test]
fn a_line_that_is_not_a_row_and_a_wrong_count_are_caught() {
    let (source, _dir, folder) = backup_of_palm("verify_lines", 10);
    rewrite_table(&folder, "users", |lines| {
        lines[3] = "{\"id\": \"not closed\"".to_string();
    });
    let text = assert_exit(&verify(&source, &folder, &[]), 2);
    assert!(text.contains("line 4"), "{text}");

    let (source, _dir2, folder) = backup_of_palm("verify_count", 10);
    let mut m = manifest(&folder);
    let users = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .position(|t| t["name"] == "users")
        .unwrap();
    m["tables"][users]["rows"] = 11.into();
    m["total_rows"] = (m["total_rows"].as_u64().unwrap() + 1).into();
    write_manifest(&folder, &m);
    let text = assert_exit(&verify(&source, &folder, &[]), 2);
    assert!(
        text.contains("holds 10 rows, the manifest says 11"),
        "{text}"
    );
}

#[test]
fn verify_latest_names_a_damaged_newest_backup_instead_of_skipping_it() {
    let (source, dir, folder) = backup_of_palm("verify_latest", 5);
    let newer = dir.path().join("29991231T235959Z");
    std::fs::create_dir(&newer).unwrap();
    std::fs::write(newer.join("manifest.json"), b"garbage").unwrap();
    let out = source.palmdb(&[
        "backup",
        "verify",
        "latest",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let text = assert_exit(&out, 2);
    assert!(text.contains("29991231T235959Z"), "{text}");
    std::fs::remove_dir_all(&newer).unwrap();
    let out = source.palmdb(&[
        "backup",
        "verify",
        "latest",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let text = assert_exit(&out, 0);
    assert!(
        text.contains(folder.file_name().unwrap().to_str().unwrap()),
        "{text}"
    );
}

#[test]
fn restore_test_compares_every_table_including_those_palmdb_does_not_create() {
    let source = TestDb::migrated("verify_rt");
    fill_palm(&source, 30);
    // A table palmdb's migrations do not create: the stored schema creates it in the scratch
    // database, so it is tested like the others.
    source.execute("CREATE TABLE app_extra (id int PRIMARY KEY, note text); INSERT INTO app_extra VALUES (1, 'x')");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);

    let out = verify(&source, &folder, &["--restore-test", "--json"]);
    let text = assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let test = &report["restore_test"];
    assert_eq!(test["ok"], true, "{text}");
    let tested: Vec<&str> = test["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    let in_backup = manifest(&folder)["tables"].as_array().unwrap().len();
    assert_eq!(tested.len(), in_backup, "{text}");
    assert!(tested.contains(&"public.app_extra"), "{text}");
    assert!(tested.contains(&"public.refinery_schema_history"), "{text}");
    for table in test["tables"].as_array().unwrap() {
        assert_eq!(table["backup"], table["restored"], "{text}");
    }
    assert_eq!(test["not_restore_tested"], serde_json::json!([]));
    let scratch = test["database"].as_str().unwrap().to_string();
    assert_eq!(
        source
            .scalar(&format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{scratch}'"
            ))
            .as_deref(),
        Some("0"),
        "the scratch database was not dropped"
    );
}

#[test]
fn a_restore_test_that_cannot_test_a_table_fails_and_names_it() {
    let source = TestDb::migrated("verify_rt_untested");
    fill_palm(&source, 5);
    source.execute("CREATE TABLE app_extra (id int PRIMARY KEY, note text); INSERT INTO app_extra VALUES (1, 'x')");
    let dir = tempfile::tempdir().unwrap();
    // Without its schema, the backup's app_extra cannot be created in the scratch database
    // (palmdb's migrations do not create it): the test fails, never OK about less.
    let folder = take_backup(&source, dir.path(), &["--no-schema", "--schema", "public"]);
    let out = verify(&source, &folder, &["--restore-test", "--json"]);
    let text = assert_exit(&out, 2);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["status"], "failed", "{text}");
    assert_eq!(report["restore_test"]["ok"], false, "{text}");
    assert!(
        report["restore_test"]["not_restore_tested"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("public.app_extra")),
        "{text}"
    );
    let text = assert_exit(&verify(&source, &folder, &["--restore-test"]), 2);
    assert!(text.contains("FAILED"), "{text}");
    assert!(text.contains("NOT RESTORE-TESTED"), "{text}");
    assert!(text.contains("public.app_extra"), "{text}");
}

#[test]
fn restore_test_catches_content_that_does_not_restore_as_written() {
    let source = TestDb::migrated("verify_rt_bad");
    fill_palm(&source, 10);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    // Valid JSON, valid hash, but a value PostgreSQL refuses: the restore test fails, and
    // the scratch database is dropped all the same.
    rewrite_table(&folder, "preorders", |lines| {
        lines[2] = lines[2].replace("\"usd\"", "\"US dollars\"");
    });
    let out = verify(&source, &folder, &["--restore-test", "--json"]);
    let text = assert_exit(&out, 2);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["status"], "failed", "{text}");
    assert!(
        report["restore_test"]["error"]
            .as_str()
            .unwrap()
            .contains("preorders"),
        "{text}"
    );
    let scratch = report["restore_test"]["database"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        source
            .scalar(&format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{scratch}'"
            ))
            .as_deref(),
        Some("0")
    );
}

#[test]
fn jobs_1_and_jobs_3_report_the_same_in_the_same_order() {
    let (source, _dir, folder) = backup_of_palm("verify_jobs_same", 40);
    assert!(manifest(&folder)["tables"].as_array().unwrap().len() >= 5);
    let one = assert_exit(&verify(&source, &folder, &["--jobs", "1"]), 0);
    let three = assert_exit(&verify(&source, &folder, &["--jobs", "3"]), 0);
    assert!(one.starts_with("OK: backup"), "{one}");
    assert_eq!(three, one);
    let one = stdout(&verify(&source, &folder, &["--jobs", "1", "--json"]));
    let three = stdout(&verify(&source, &folder, &["--jobs", "3", "--json"]));
    assert_eq!(three, one);
    // Files in the manifest's order, not in the order they were finished.
    let report: serde_json::Value = serde_json::from_str(&three).unwrap();
    let reported: Vec<&serde_json::Value> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["file"])
        .collect();
    let m = manifest(&folder);
    let listed: Vec<&serde_json::Value> = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["file"])
        .collect();
    assert_eq!(reported, listed);
}

#[test]
fn damage_in_several_files_is_reported_alike_at_any_jobs() {
    let (source, _dir, folder) = backup_of_palm("verify_jobs_damage", 50);
    let file = table_file(&folder, "preorders");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&file, bytes).unwrap();
    let two = assert_exit(&verify(&source, &folder, &["--jobs", "2"]), 2);
    assert!(two.starts_with("FAILED"), "{two}");
    assert!(two.contains("public.preorders.jsonl.zst"), "{two}");
    assert!(two.contains("SHA-256 does not match"), "{two}");
    assert!(!two.contains("public.users.jsonl.zst"), "{two}");
    let one = assert_exit(&verify(&source, &folder, &["--jobs", "1"]), 2);
    assert_eq!(two, one);

    // A second damaged file: every problem is still collected, in the manifest's order.
    let users = table_file(&folder, "users");
    let bytes = std::fs::read(&users).unwrap();
    std::fs::write(&users, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let one = assert_exit(&verify(&source, &folder, &["--jobs", "1"]), 2);
    let three = assert_exit(&verify(&source, &folder, &["--jobs", "3"]), 2);
    assert_eq!(three, one);
    let preorders = three.find("public.preorders.jsonl.zst").expect(&three);
    let users = three.find("public.users.jsonl.zst").expect(&three);
    assert!(preorders < users, "{three}");
}

#[test]
fn jobs_0_is_refused_in_one_line() {
    let (source, _dir, folder) = backup_of_palm("verify_jobs_0", 1);
    let out = verify(&source, &folder, &["--jobs", "0"]);
    let text = assert_exit(&out, 3);
    assert!(stdout(&out).is_empty(), "{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        errors[0].contains("--jobs") && errors[0].contains("0"),
        "{text}"
    );
}
