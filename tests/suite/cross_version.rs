//! Across PostgreSQL majors: a backup taken on an older major restores into a newer one
//! (13 → 18, 15 → 17), and migrations on 13 (which lacks `pg_read_all_data`) record the same
//! history as on 18.
//!
//! The servers are the version matrix's (`scripts/matrix-postgres.sh MAJOR`, which fetches
//! and starts one on 127.0.0.1:543MAJOR the first time, and is a no-op afterwards).

use std::process::Command;
use std::sync::Mutex;

use crate::common::*;
use palmdb::demo_data::PALM_TABLES;

static MATRIX: Mutex<()> = Mutex::new(());

/// The admin URL of the matrix server of `major`, started if needed.
fn matrix_server(major: u32) -> String {
    let _one_at_a_time = MATRIX.lock().unwrap_or_else(|e| e.into_inner());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/matrix-postgres.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg(major.to_string())
        .output()
        .expect("cannot run scripts/matrix-postgres.sh");
    assert!(
        out.status.success(),
        "scripts/matrix-postgres.sh {major} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(url.starts_with("postgres://"), "no URL printed: {url:?}");
    url
}

/// Row count and an MD5 of every row's text, per Palm table: equal on both sides means the
/// same rows with the same values.
fn fingerprint(db: &TestDb) -> Vec<(String, String)> {
    PALM_TABLES
        .iter()
        .map(|table| {
            let value = db
                .scalar(&format!(
                    "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') \
                     FROM public.{table} AS t"
                ))
                .unwrap();
            (table.to_string(), value)
        })
        .collect()
}

/// Takes a backup on `from`, restores it into an empty database on `to`, and checks rows,
/// history and that palmdb carries on there.
fn backup_restores_into_newer_major(from: u32, to: u32) {
    let source = TestDb::new_on(&matrix_server(from), &format!("cross_from_{from}"));
    assert_eq!(source.server_major(), from);
    assert_success(&source.palmdb(&["migrate"]));
    assert_success(&source.palmdb(&["demo-data", "--users", "300", "--seed", "7"]));
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let id = &take_backup_with(source.command(&["backup", "create", "--dir", dir_arg])).id;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(id).join("manifest.json")).unwrap())
            .unwrap();
    assert!(
        manifest["server_version"]
            .as_str()
            .is_some_and(|v| v.starts_with(&format!("{from}."))),
        "{manifest}"
    );

    // The schema was captured by the pg_dump of the server's major when there is one, else by
    // the newest installed (13: the cached 18, or Debian's 15). pg_dump 17+ writes
    // `SET transaction_timeout` into its scripts, which 13..16 lack: the restore test on the
    // source's own server must still pass.
    let pg_dump_major = manifest["schema"]["pg_dump_major"].as_u64().unwrap();
    assert!(pg_dump_major >= u64::from(from), "{manifest}");
    let tested = source.palmdb(&[
        "backup",
        "verify",
        "latest",
        "--dir",
        dir_arg,
        "--restore-test",
    ]);
    assert_exit(&tested, 0);

    let target = TestDb::new_on(&matrix_server(to), &format!("cross_into_{to}"));
    assert_eq!(target.server_major(), to);
    let restored = target.palmdb(&["restore", "latest", "--dir", dir_arg]);
    assert_success(&restored);

    let before = fingerprint(&source);
    assert!(
        before.iter().all(|(_, v)| !v.starts_with("0:")),
        "{before:?}"
    );
    assert_eq!(fingerprint(&target), before);
    let history = "SELECT string_agg(version || ':' || checksum, ',' ORDER BY version) \
                   FROM refinery_schema_history";
    assert_eq!(target.scalar(history), source.scalar(history));

    // palmdb goes on on the newer major: migrate finds nothing edited, health and stats run.
    assert_success(&target.palmdb(&["migrate"]));
    assert_exit(&target.palmdb(&["migrate", "status"]), 0);
    let health = target.palmdb(&["health", "--format", "json"]);
    assert!(
        matches!(health.status.code(), Some(0..=2)),
        "{}",
        stderr(&health)
    );
    let report: serde_json::Value = serde_json::from_slice(&health.stdout).unwrap();
    assert_eq!(
        report["checks"].as_array().map(Vec::len),
        Some(20),
        "{report}"
    );
    let user = target
        .scalar("SELECT id FROM public.users ORDER BY created_at, id LIMIT 1")
        .unwrap();
    assert_success(&target.palmdb(&["stats", "user", &user, "--json"]));
    // Restored from 13, the reporting grants missing there are in place once migrate ran.
    assert_eq!(
        target
            .scalar(
                "has_function_privilege('pg_read_all_data', 'palmdb.user_stats(uuid)', 'EXECUTE')"
            )
            .as_deref(),
        Some("true")
    );
}

#[test]
fn a_backup_taken_on_13_restores_into_18() {
    backup_restores_into_newer_major(13, 18);
}

#[test]
fn a_backup_taken_on_15_restores_into_17() {
    backup_restores_into_newer_major(15, 17);
}

#[test]
fn migrate_on_13_skips_the_grants_to_pg_read_all_data_and_records_the_same_history_as_18() {
    let old = TestDb::new_on(&matrix_server(13), "cross_migrate_13");
    let new = TestDb::new_on(&matrix_server(18), "cross_migrate_18");
    let out = old.palmdb(&["migrate"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("PostgreSQL 13 has no role pg_read_all_data"),
        "{}",
        stdout(&out)
    );
    assert_success(&new.palmdb(&["migrate"]));
    let history =
        "SELECT string_agg(version || ':' || name || ':' || checksum, ',' ORDER BY version) \
                   FROM refinery_schema_history";
    assert_eq!(old.scalar(history), new.scalar(history));
    // Up to date on 13 too, and a second run does nothing.
    assert_exit(&old.palmdb(&["migrate", "status"]), 0);
    let again = old.palmdb(&["migrate"]);
    assert_success(&again);
    assert!(
        stdout(&again).contains("nothing to do"),
        "{}",
        stdout(&again)
    );
    // The health checks exist and run on 13 (blocked_queries reads pg_locks without waitstart).
    let health = old.palmdb(&["health", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&health.stdout).unwrap();
    assert_eq!(
        report["checks"].as_array().map(Vec::len),
        Some(20),
        "{report}"
    );
}
