//! `palmdb backup list | status | prune` on real backup folders: newest first, Nagios exit
//! codes from the manifest's completed_at, and prune's rules (expired, keep-last, newest kept,
//! partial folders, symlinks never followed, foreign folders left alone).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{assert_exit, copy_backup_to, stdout, take_backup, TestDb};
use chrono::Utc;
use palmdb::archive::repository::Repository;
use palmdb::archive::Manifest;
use palmdb::backup::prune::{prune, PruneOptions};
use palmdb::backup::status::check_status;
use palmdb::ui::Verdict;
use serde_json::Value;

/// A copy of `source` under `id`, completed `days_ago` days ago.
fn aged_copy(source: &Path, id: &str, days_ago: i64) -> PathBuf {
    let target = copy_backup_to(source, source.parent().unwrap(), id);
    let mut manifest = Manifest::read(source).unwrap();
    manifest.id = id.to_string();
    manifest.completed_at = Utc::now() - chrono::Duration::days(days_ago);
    manifest.created_at = manifest.completed_at - chrono::Duration::seconds(5);
    std::fs::remove_file(target.join("manifest.json")).unwrap();
    manifest.write(&target).unwrap();
    target
}

fn small_db(tag: &str) -> TestDb {
    let db = TestDb::new(tag);
    db.execute("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2), (3);");
    db
}

fn ids(dir: &Path) -> Vec<String> {
    palmdb::backup::list::list_backups(&Repository::folder(dir))
        .unwrap()
        .into_iter()
        .map(|b| b.id)
        .collect()
}

#[test]
fn status_exit_codes_follow_nagios() {
    let db = small_db("backup_status");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();

    let out = db.palmdb(&["backup", "status", "--dir", d]);
    let text = assert_exit(&out, 2);
    assert!(
        text.starts_with("BACKUP CRITICAL: no valid backup"),
        "{text}"
    );

    let fresh = take_backup(&db, dir.path(), &[]);
    let out = db.palmdb(&["backup", "status", "--dir", d, "--json"]);
    assert_exit(&out, 0);
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["backups"], 1);
    let report = check_status(
        &[Repository::folder(dir.path())],
        Duration::from_secs(86400),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&report).unwrap()["status"],
        body["status"],
        "library = CLI"
    );

    // Age is the manifest's completed_at, not the folder's name or mtime.
    std::fs::remove_dir_all(&fresh).unwrap();
    let source = take_backup(&db, dir.path(), &[]);
    aged_copy(&source, "20000101T000000Z", 2);
    std::fs::remove_dir_all(&source).unwrap();
    let out = db.palmdb(&["backup", "status", "--dir", d, "--max-age", "24h"]);
    let text = assert_exit(&out, 1);
    assert!(
        text.starts_with("BACKUP WARNING: newest backup 20000101T000000Z is 2days"),
        "{text}"
    );
    let out = db.palmdb(&["backup", "status", "--dir", d, "--max-age", "3d"]);
    assert_exit(&out, 0);

    // A killed backup or an id-shaped folder without a manifest is not a backup.
    std::fs::create_dir(dir.path().join(".partial-20990101T000000Z-1")).unwrap();
    std::fs::create_dir(dir.path().join("20990101T000000Z")).unwrap();
    assert_eq!(
        check_status(
            &[Repository::folder(dir.path())],
            Duration::from_secs(86400)
        )
        .unwrap()
        .status,
        Verdict::Warning
    );

    // A folder that cannot be read is UNKNOWN.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = db.palmdb(&["backup", "status", "--dir", file.to_str().unwrap()]);
    assert_exit(&out, 3);
    // ... and says so on stdout, the one stream Nagios shows.
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("BACKUP UNKNOWN: "), "{line}");
    let out = db.palmdb(&[
        "backup",
        "status",
        "--json",
        "--dir",
        file.to_str().unwrap(),
    ]);
    assert_exit(&out, 3);
    assert!(out.stdout.is_empty(), "JSON output stays empty on failure");
}

#[test]
fn list_shows_valid_backups_newest_first() {
    let db = small_db("backup_list");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = db.palmdb(&["backup", "list", "--dir", d]);
    assert!(assert_exit(&out, 0).contains("no backups"));

    let first = take_backup(&db, dir.path(), &[]);
    let second = take_backup(&db, dir.path(), &[]);
    assert_ne!(first, second, "two backups in one second get distinct ids");
    aged_copy(&first, "20200101T000000Z", 400);
    std::fs::create_dir(dir.path().join(".partial-20990101T000000Z-1")).unwrap();
    std::fs::create_dir(dir.path().join("notes")).unwrap();

    let out = db.palmdb(&["backup", "list", "--dir", d, "--json"]);
    assert_exit(&out, 0);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    let second_id = second.file_name().unwrap().to_str().unwrap();
    assert_eq!(listed[0], second_id, "newest first");
    assert_eq!(listed[2], "20200101T000000Z");
    assert_eq!(listed.len(), 3);
    for key in ["id", "completed_at", "tables", "rows", "bytes", "masked"] {
        assert!(list[0].get(key).is_some(), "list --json has {key}");
    }
    assert_eq!(list[0]["rows"], 3);
    let out = db.palmdb(&["backup", "list", "--dir", d]);
    let text = assert_exit(&out, 0);
    assert!(
        text.lines().nth(1).unwrap().starts_with(second_id),
        "{text}"
    );
}

#[test]
fn prune_deletes_expired_backups_and_never_the_newest() {
    let db = small_db("backup_prune");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let source = take_backup(&db, dir.path(), &[]);
    aged_copy(&source, "20260101T000000Z", 30);
    aged_copy(&source, "20260201T000000Z", 20);
    aged_copy(&source, "20260301T000000Z", 10);
    aged_copy(&source, "20260401T000000Z", 3);
    std::fs::remove_dir_all(&source).unwrap();

    // Things prune must not touch: a foreign folder, and a symlink (named like a backup) to a
    // valid backup outside the folder.
    let outside = tempfile::tempdir().unwrap();
    let outside_backup = copy_backup_to(
        &dir.path().join("20260101T000000Z"),
        outside.path(),
        "20250101T000000Z",
    );
    std::os::unix::fs::symlink(&outside_backup, dir.path().join("20250101T000000Z")).unwrap();
    std::fs::create_dir(dir.path().join("keep-me")).unwrap();

    let out = db.palmdb(&[
        "backup",
        "prune",
        "--dir",
        d,
        "--keep-days",
        "7",
        "--dry-run",
    ]);
    let text = assert_exit(&out, 0);
    assert!(
        text.contains("would delete backup 20260101T000000Z"),
        "{text}"
    );
    assert_eq!(ids(dir.path()).len(), 4, "a dry run deletes nothing");

    let out = db.palmdb(&["backup", "prune", "--dir", d, "--keep-days", "7", "--json"]);
    assert_exit(&out, 0);
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let deleted: Vec<&str> = report["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        deleted,
        ["20260301T000000Z", "20260201T000000Z", "20260101T000000Z"]
    );
    assert_eq!(ids(dir.path()), ["20260401T000000Z"]);
    assert!(
        outside_backup.join("manifest.json").exists(),
        "the symlink's target is untouched"
    );
    assert!(
        dir.path()
            .join("20250101T000000Z")
            .symlink_metadata()
            .is_ok(),
        "the symlink is left"
    );
    assert!(dir.path().join("keep-me").exists());

    // Everything expired: the newest valid backup stays, and keep-last keeps more.
    aged_copy(&dir.path().join("20260401T000000Z"), "20260402T000000Z", 9);
    aged_copy(&dir.path().join("20260401T000000Z"), "20260403T000000Z", 8);
    let report = prune(
        &Repository::folder(dir.path()),
        &PruneOptions {
            keep_days: 1,
            keep_last: 2,
            dry_run: false,
            unfinished_grace: Duration::from_secs(900),
        },
    )
    .unwrap();
    assert_eq!(report.deleted.len(), 1);
    // Newest by completed_at (3 and 8 days ago), whatever the names say.
    assert_eq!(ids(dir.path()), ["20260401T000000Z", "20260403T000000Z"]);
    let report = prune(
        &Repository::folder(dir.path()),
        &PruneOptions {
            keep_days: 0,
            keep_last: 0,
            dry_run: false,
            unfinished_grace: Duration::from_secs(900),
        },
    )
    .unwrap();
    assert_eq!(report.deleted.len(), 1);
    assert_eq!(
        ids(dir.path()),
        ["20260401T000000Z"],
        "the newest is never deleted"
    );

    // A partial folder still locked by a live backup is left alone, an abandoned one goes.
    let live = dir.path().join(".partial-20260501T000000Z-1");
    let abandoned = dir.path().join(".partial-20260502T000000Z-2");
    for p in [&live, &abandoned] {
        std::fs::create_dir(p).unwrap();
        std::fs::write(p.join("t.jsonl.zst"), b"x").unwrap();
        let touched = std::process::Command::new("touch")
            .args(["-d", "2 hours ago"])
            .arg(p)
            .status()
            .unwrap();
        assert!(touched.success());
    }
    let lock = std::fs::File::open(&live).unwrap();
    lock.try_lock().unwrap();
    let out = db.palmdb(&["backup", "prune", "--dir", d]);
    let text = assert_exit(&out, 0);
    assert!(
        text.contains("deleted unfinished backup .partial-20260502T000000Z-2"),
        "{text}"
    );
    assert!(live.exists() && !abandoned.exists());
    drop(lock);
}
