//! `palmdb backup create` against a real PostgreSQL: exact values for every type, one snapshot
//! under concurrent writes, faults (SIGKILL, terminated backend, unwritable folder, disk full),
//! permissions, least privilege, masking, table selection.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{
    assert_exit, assert_success, block_on, stderr, stdout, take_backup, take_backup_with, TestDb,
};
use palmdb::archive::row_codec::RowDecoder;
use palmdb::archive::{LineReader, Manifest};
use serde_json::Value;

/// A fresh backup folder for one test.
fn backup_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Runs `backup create --json` and returns the new backup's folder.
fn create(db: &TestDb, dir: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["backup", "create", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let backup = take_backup_with(db.command(&args));
    // Warnings (a foreign key to a table left out) are lines of their own; nothing else.
    assert!(
        backup
            .stderr
            .lines()
            .all(|l| l.starts_with("palmdb: warning: ")),
        "no progress bars without a TTY: {}",
        backup.stderr
    );
    backup.path
}

/// The rows of one table in a backup, checked against the manifest's hash and row count.
fn rows(backup: &Path, table: &str) -> Vec<Value> {
    let manifest = Manifest::read(backup).unwrap();
    let entry = manifest
        .tables
        .iter()
        .find(|t| t.name == table)
        .unwrap_or_else(|| panic!("no table {table} in the backup"));
    let mut reader = LineReader::open(&backup.join(&entry.file), manifest.compression).unwrap();
    let mut rows = Vec::new();
    while let Some(line) = reader.next_line().unwrap() {
        rows.push(serde_json::from_slice(line).expect("each line is one JSON object"));
    }
    let digest = reader.finish().unwrap();
    assert_eq!(digest.sha256, entry.sha256, "manifest hash of {table}");
    assert_eq!(digest.bytes, entry.bytes, "manifest size of {table}");
    assert_eq!(rows.len() as u64, entry.rows, "manifest rows of {table}");
    rows
}

/// Checks every value of every row against PostgreSQL's own text output of it, read with the
/// session settings of the format: strings hold it exactly, numbers are it verbatim.
fn every_value_is_postgres_text(db: &TestDb, backup: &Path, entry: &palmdb::archive::TableEntry) {
    let lines = raw_lines(backup, entry);
    let quoted = format!("\"{}\"", entry.name.replace('"', "\"\""));
    for column in entry.row_columns() {
        let ident = format!("\"{}\"", column.name.replace('"', "\"\""));
        let sql = format!(
            "SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 1;
             SET bytea_output = hex; SET TimeZone = UTC;
             SELECT {ident}::text AS v FROM {quoted} ORDER BY id"
        );
        let url = db.url.clone();
        let texts: Vec<Option<String>> = block_on(async move {
            let client = common::connect(&url).await;
            let messages = client.simple_query(&sql).await.unwrap();
            messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some(row.get(0).map(str::to_string))
                    }
                    _ => None,
                })
                .collect()
        });
        for (line, text) in lines.iter().zip(&texts) {
            let values: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
                serde_json::from_str(line).unwrap();
            let raw = values[&column.name].get();
            let ok = match (text.as_deref(), raw.as_bytes()[0]) {
                (None, _) => raw == "null",
                (Some(t), b'"') => serde_json::from_str::<String>(raw).unwrap() == t,
                (Some("t"), _) => raw == "true",
                (Some("f"), _) => raw == "false",
                (Some(t), _) => raw == t,
            };
            assert!(
                ok,
                "column {} of type {}: JSON {raw} for PostgreSQL text {text:?}",
                column.name, column.type_name
            );
        }
    }
}

/// The raw lines of a table's file.
fn raw_lines(backup: &Path, entry: &palmdb::archive::TableEntry) -> Vec<String> {
    let manifest = Manifest::read(backup).unwrap();
    let mut reader = LineReader::open(&backup.join(&entry.file), manifest.compression).unwrap();
    let mut lines = Vec::new();
    while let Some(line) = reader.next_line().unwrap() {
        lines.push(String::from_utf8(line.to_vec()).unwrap());
    }
    lines
}

/// Loads a backed-up table into `target` through the row decoder and COPY FROM STDIN.
fn load(db: &TestDb, backup: &Path, table: &str, target: &str) {
    let manifest = Manifest::read(backup).unwrap();
    let entry = manifest
        .tables
        .iter()
        .find(|t| t.name == table)
        .unwrap()
        .clone();
    let names: Vec<String> = entry.row_columns().map(|c| c.name.clone()).collect();
    let decoder = RowDecoder::new(names.clone());
    let mut reader = LineReader::open(&backup.join(&entry.file), manifest.compression).unwrap();
    let mut data = Vec::new();
    while let Some(line) = reader.next_line().unwrap() {
        decoder.decode(line, &mut data).unwrap();
    }
    let columns: Vec<String> = names
        .iter()
        .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
        .collect();
    let sql = format!("COPY {target} ({}) FROM STDIN", columns.join(", "));
    let url = db.url.clone();
    block_on(async move {
        use futures_util::SinkExt;
        let client = common::connect(&url).await;
        let sink = client.copy_in::<_, bytes::Bytes>(&sql).await.unwrap();
        futures_util::pin_mut!(sink);
        sink.send(bytes::Bytes::from(data)).await.unwrap();
        sink.finish().await.unwrap();
    });
}

const TYPES_SQL: &str = r#"
CREATE TYPE mood AS ENUM ('happy', 'sad', 'it''s "complicated"');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE DOMAIN small_positive AS positive CHECK (VALUE < 100);
CREATE TABLE "We ird.Table" (
    id int PRIMARY KEY,
    "sel ect" text,
    "quo""te" varchar(20),
    b boolean,
    i2 smallint,
    i8 bigint,
    o oid,
    f4 real,
    f8 double precision,
    n numeric,
    j json,
    jb jsonb,
    by bytea,
    ts timestamp,
    tstz timestamptz,
    d date,
    iv interval,
    ta text[],
    ia int[],
    m mood,
    p pair,
    r int4range,
    u uuid,
    dom small_positive,
    twice int GENERATED ALWAYS AS (i2::int * 2) STORED
);
INSERT INTO "We ird.Table" VALUES
 (1, E'back\\slash "quote" tab\there cr\rlf\nend', '', true, -32768, -9223372036854775808, 4294967295,
  'NaN', '-0', 'NaN', E'{"a": "x\\ny",\n "b": [1, 2]}', '{"k": "v\\\\w", "u": "\u00e9"}',
  E'\\x00ff5c0a', 'infinity', '-infinity', 'infinity', '1 year 2 mons -3 days 04:05:06.789',
  ARRAY[E'a"b', E'c\\d', NULL, '', 'e,f'], ARRAY[1, NULL, 3], 'it''s "complicated"',
  ROW(1, E'x"\\y'), '[1,5)', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 42, DEFAULT),
 (2, NULL, NULL, false, 0, 0, 0, 'Infinity', '-Infinity', '-0.000000000000000000001', 'null', '"str"',
  '', '2026-11-25 17:05:01.123456', '2026-11-25 17:05:01.123456+05:30', '0001-01-01 BC', '0',
  '{}', '{}', 'happy', ROW(NULL, NULL), 'empty', NULL, NULL, DEFAULT),
 (3, E'unicode ✋ 日本 😀 \u0001 ctrl', 'x', NULL, 32767, 9223372036854775807, NULL,
  '-Infinity', '1e+308', '123456789012345678901234567890.123456789', NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, DEFAULT),
 (4, '', '\N', NULL, NULL, NULL, NULL, 3.14159, 0.1, 'Infinity', '[]', '{}',
  '\x', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, DEFAULT);
"#;

#[test]
fn every_type_comes_out_exact_and_loads_back_identical() {
    let db = TestDb::new("backup_types");
    if db.server_major() >= 14 {
        db.execute(TYPES_SQL);
    } else {
        // Numeric infinity came in PostgreSQL 14, and 13 takes DEFAULT for a generated column
        // in single-row VALUES only: one INSERT per row.
        db.execute(
            &TYPES_SQL
                .replace("0.1, 'Infinity', '[]'", "0.1, 'NaN', '[]'")
                .replace("),\n (", ");\nINSERT INTO \"We ird.Table\" VALUES ("),
        );
    }
    let dir = backup_dir();
    for compress in ["none", "zstd:1"] {
        let backup = create(&db, dir.path(), &["--compress", compress]);
        let manifest = Manifest::read(&backup).unwrap();
        let table = &manifest.tables[0];
        assert_eq!(table.name, "We ird.Table");
        let twice = table.columns.iter().find(|c| c.name == "twice").unwrap();
        assert!(twice.generated, "generated column marked in the manifest");
        let rows = rows(&backup, "We ird.Table");
        assert_eq!(rows.len(), 4);
        let first = &rows[0];
        let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[..3],
            ["id", "sel ect", "quo\"te"],
            "keys in column order"
        );
        assert!(
            first.get("twice").is_none(),
            "generated columns are left out of rows"
        );
        assert_eq!(
            first["sel ect"],
            "back\\slash \"quote\" tab\there cr\rlf\nend"
        );
        assert_eq!(first["quo\"te"], "");
        assert_eq!(
            rows[1]["sel ect"],
            Value::Null,
            "NULL is not the empty string"
        );
        assert_eq!(rows[3]["quo\"te"], "\\N", "the text \\N is not NULL");
        assert_eq!(first["b"], true);
        assert_eq!(first["i8"].to_string(), "-9223372036854775808");
        assert_eq!(first["o"].to_string(), "4294967295");
        assert_eq!(first["f4"], "NaN");
        assert_eq!(first["n"], "NaN");
        assert_eq!(
            first["j"], "{\"a\": \"x\\ny\",\n \"b\": [1, 2]}",
            "json verbatim, newline kept"
        );
        let jb_text = db
            .scalar("SELECT jb FROM \"We ird.Table\" WHERE id = 1")
            .unwrap();
        assert_eq!(
            first["jb"],
            jb_text.as_str(),
            "jsonb as PostgreSQL prints it"
        );
        assert!(
            jb_text.contains("v\\\\\\\\w") && jb_text.contains('é'),
            "{jb_text}"
        );
        assert_eq!(first["by"], "\\x00ff5c0a");
        assert_eq!(first["ts"], "infinity");
        assert_eq!(first["tstz"], "-infinity");
        assert_eq!(first["ta"], "{\"a\\\"b\",\"c\\\\d\",NULL,\"\",\"e,f\"}");
        assert_eq!(first["m"], "it's \"complicated\"");
        assert_eq!(first["p"], "(1,\"x\"\"\\\\y\")");
        every_value_is_postgres_text(&db, &backup, table);
        assert_eq!(first["dom"], 42, "a domain over int is a number");
        assert_eq!(rows[1]["f4"], "Infinity");
        assert_eq!(rows[1]["f8"], "-Infinity");
        assert_eq!(rows[1]["n"], "-0.000000000000000000001");
        assert_eq!(
            rows[1]["tstz"], "2026-11-25 11:35:01.123456+00",
            "timestamptz in UTC"
        );
        assert_eq!(rows[1]["d"], "0001-01-01 BC");
        assert_eq!(rows[2]["sel ect"], "unicode ✋ 日本 😀 \u{1} ctrl");
        assert_eq!(rows[2]["n"], "123456789012345678901234567890.123456789");
        // Numbers are PostgreSQL's text verbatim: look at the raw lines.
        let raw = raw_lines(&backup, table);
        assert!(raw[0].contains("\"f8\":-0,"), "{}", raw[0]);
        assert!(raw[2].contains("\"f8\":1e+308,"), "{}", raw[2]);
        assert!(raw[3].contains("\"f4\":3.14159,\"f8\":0.1,"), "{}", raw[3]);

        // Round trip: decoded rows loaded into a copy of the table equal the originals.
        let copy = format!("\"copy_{}\"", compress.replace(':', "_"));
        db.execute(&format!(
            "CREATE TABLE {copy} (LIKE \"We ird.Table\" INCLUDING GENERATED)"
        ));
        load(&db, &backup, "We ird.Table", &copy);
        let differing = db.scalar(&format!(
            "SELECT count(*) FROM \"We ird.Table\" AS x FULL JOIN {copy} AS y ON x.id = y.id \
             WHERE x::text IS DISTINCT FROM y::text"
        ));
        assert_eq!(
            differing.as_deref(),
            Some("0"),
            "every value identical after a round trip"
        );
    }
}

/// Palm-like writes during backups: new users with their orders, and transfers between
/// accounts that keep the total constant.
#[test]
fn one_snapshot_under_concurrent_writes() {
    let db = TestDb::migrated("backup_snapshot");
    db.execute(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL);
         INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 100) AS g;
         INSERT INTO users (email) SELECT 'seed' || g || '@example.com' FROM generate_series(1, 5000) AS g;
         INSERT INTO preorders (user_id, stripe_amount) SELECT id, 100 FROM users;",
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let url = db.url.clone();
        std::thread::spawn(move || {
            block_on(async move {
                let client = common::connect(&url).await;
                let mut n: u64 = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    n += 1;
                    let sql = format!(
                        "BEGIN;
                         WITH u AS (INSERT INTO users (email) VALUES ('w{n}@example.com') RETURNING id)
                         INSERT INTO preorders (user_id, stripe_amount) SELECT id, 4900 FROM u;
                         UPDATE accounts SET balance = balance - 7 WHERE id = {a};
                         UPDATE accounts SET balance = balance + 7 WHERE id = {b};
                         COMMIT;",
                        a = n % 100 + 1,
                        b = (n * 7) % 100 + 1
                    );
                    client.batch_execute(&sql).await.expect("concurrent write");
                }
                n
            })
        })
    };
    let dir = backup_dir();
    for jobs in ["1", "3", "3"] {
        let backup = create(
            &db,
            dir.path(),
            &[
                "--jobs",
                jobs,
                "--table",
                "users",
                "--table",
                "preorders",
                "--table",
                "accounts",
            ],
        );
        let users: std::collections::HashSet<String> = rows(&backup, "users")
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        let preorders = rows(&backup, "preorders");
        let orphans = preorders
            .iter()
            .filter(|p| !users.contains(p["user_id"].as_str().unwrap()))
            .count();
        assert_eq!(orphans, 0, "no order without its user (--jobs {jobs})");
        assert!(preorders.len() >= users.len(), "every user has an order");
        let total: i64 = rows(&backup, "accounts")
            .iter()
            .map(|a| a["balance"].as_i64().unwrap())
            .sum();
        assert_eq!(
            total, 100_000,
            "transfers never seen half done (--jobs {jobs})"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let writes = writer.join().unwrap();
    assert!(writes > 0, "the writer ran during the backups");
}

/// A table big enough that a slow compression level keeps the backup busy for seconds.
fn slow_table(db: &TestDb) {
    db.execute(
        "CREATE TABLE aaa_small (id int PRIMARY KEY);
         INSERT INTO aaa_small VALUES (1), (2);
         CREATE TABLE big (id int PRIMARY KEY, body text);
         INSERT INTO big SELECT g, md5(g::text) || repeat(md5((g * 7)::text), 6)
         FROM generate_series(1, 150000) AS g;",
    );
}

/// Waits until a work-in-progress folder holds a table file; returns the folder.
fn wait_for_partial(dir: &Path, child: &mut std::process::Child) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("backup ended before it could be interrupted: {status}");
        }
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".partial-") {
                let has_file = std::fs::read_dir(entry.path())
                    .map(|files| {
                        files
                            .flatten()
                            .any(|f| f.file_name().to_string_lossy().ends_with(".zst"))
                    })
                    .unwrap_or(false);
                if has_file {
                    return entry.path();
                }
            }
        }
        assert!(Instant::now() < deadline, "no backup in progress appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn list_ids(db: &TestDb, dir: &Path) -> Vec<String> {
    let out = db.palmdb(&["backup", "list", "--dir", dir.to_str().unwrap(), "--json"]);
    assert_success(&out);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sigkill_mid_backup_never_looks_valid_and_the_next_backup_works() {
    let db = TestDb::new("backup_sigkill");
    slow_table(&db);
    let dir = backup_dir();
    let mut child = db
        .command(&[
            "backup",
            "create",
            "--dir",
            dir.path().to_str().unwrap(),
            "--jobs",
            "1",
            "--compress",
            "zstd:19",
        ])
        .spawn()
        .unwrap();
    let partial = wait_for_partial(dir.path(), &mut child);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    assert!(
        partial.exists(),
        "a killed backup leaves its work-in-progress folder"
    );
    assert!(list_ids(&db, dir.path()).is_empty(), "list shows no backup");
    let status = db.palmdb(&["backup", "status", "--dir", dir.path().to_str().unwrap()]);
    assert_exit(&status, 2);
    assert!(
        palmdb::backup::list::list_backups(&palmdb::archive::repository::Repository::folder(
            dir.path()
        ))
        .unwrap()
        .is_empty()
    );

    let backup = create(&db, dir.path(), &["--compress", "zstd:1"]);
    assert_eq!(rows(&backup, "big").len(), 150000);
    assert_eq!(list_ids(&db, dir.path()).len(), 1);

    // Prune removes the abandoned folder once it is old enough and nobody holds its lock.
    let touched = Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&partial)
        .status()
        .unwrap();
    assert!(touched.success());
    let out = db.palmdb(&["backup", "prune", "--dir", dir.path().to_str().unwrap()]);
    let text = assert_exit(&out, 0);
    assert!(
        text.contains("deleted unfinished backup .partial-"),
        "{text}"
    );
    assert!(!partial.exists());
    assert!(backup.exists(), "the backup itself is kept");
}

#[test]
fn a_terminated_backend_fails_cleanly() {
    let db = TestDb::new("backup_terminate");
    slow_table(&db);
    let dir = backup_dir();
    let child = db
        .command(&[
            "backup",
            "create",
            "--dir",
            dir.path().to_str().unwrap(),
            "--jobs",
            "1",
            "--compress",
            "zstd:19",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    wait_for_partial(dir.path(), &mut child);
    let terminated = db.scalar(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{}' AND application_name = 'palmdb backup'",
        db.name
    ));
    assert_eq!(terminated.as_deref(), Some("1"));
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("palmdb: "), "{err}");
    assert!(err.lines().count() <= 2, "one line (and a hint): {err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert!(
        leftovers.is_empty(),
        "a failed backup removes its folder: {leftovers:?}"
    );
    create(&db, dir.path(), &["--table", "aaa_small"]);
    assert_eq!(list_ids(&db, dir.path()).len(), 1);
}

#[test]
fn sigterm_stops_the_backup_and_removes_its_folder() {
    let db = TestDb::new("backup_sigterm");
    slow_table(&db);
    let dir = backup_dir();
    let mut child = db
        .command(&[
            "backup",
            "create",
            "--dir",
            dir.path().to_str().unwrap(),
            "--jobs",
            "2",
            "--compress",
            "zstd:19",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_partial(dir.path(), &mut child);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert!(
        leftovers.is_empty(),
        "an interrupted backup removes its folder: {leftovers:?}"
    );
}

#[test]
fn unwritable_folder_and_full_disk_are_clear_errors() {
    let db = TestDb::new("backup_unwritable");
    slow_table(&db);
    let dir = backup_dir();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let target = file.join("backups");
    let out = db.palmdb(&["backup", "create", "--dir", target.to_str().unwrap()]);
    let text = assert_exit(&out, 1);
    assert!(text.contains("cannot write backups to"), "{text}");
    assert!(text.contains("HINT: "), "{text}");

    // A read-only folder (when not running as root, which ignores permissions).
    let readonly = dir.path().join("readonly");
    std::fs::create_dir(&readonly).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&readonly, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(readonly.join("probe"), b"x").is_err() {
        let out = db.palmdb(&["backup", "create", "--dir", readonly.to_str().unwrap()]);
        let text = assert_exit(&out, 1);
        assert!(text.contains("cannot write backups to"), "{text}");
    }
    let _ = std::fs::remove_file(readonly.join("probe"));

    // A full disk: the file size limit makes writes fail with EFBIG part way through.
    let full = dir.path().join("full");
    let binary = env!("CARGO_BIN_EXE_palmdb");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 64; exec '{binary}' backup create --dir '{}' --compress none",
            full.display()
        ))
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.starts_with("palmdb: ") && err.contains("too large"),
        "{err}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&full).unwrap().flatten().collect();
    assert!(leftovers.is_empty(), "no half backup left: {leftovers:?}");
}

/// A small tmpfs mounted for one test, unmounted (and removed) when dropped.
struct TinyFilesystem {
    path: PathBuf,
}

impl TinyFilesystem {
    fn mount(path: PathBuf, size: &str) -> TinyFilesystem {
        std::fs::create_dir_all(&path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TinyFilesystem { path }
    }
}

impl Drop for TinyFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[test]
fn a_really_full_filesystem_is_a_clear_error_and_leaves_nothing_behind() {
    // Mounting needs root, which the test machines and CI run as.
    if effective_uid() != 0 {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let db = TestDb::new("backup_full_fs");
    slow_table(&db);
    let dir = backup_dir();
    let disk = TinyFilesystem::mount(dir.path().join("disk"), "256k");
    let target = disk.path.join("backups");
    let out = db.palmdb(&[
        "backup",
        "create",
        "--dir",
        target.to_str().unwrap(),
        "--compress",
        "none",
    ]);
    let text = assert_exit(&out, 1);
    let err = stderr(&out);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("palmdb: ")).count(),
        1,
        "{err}"
    );
    assert!(text.contains("No space left on device"), "{text}");
    let leftovers: Vec<_> = std::fs::read_dir(&target)
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "no half backup left: {leftovers:?}");
    // Space freed by the failed attempt: a small backup fits afterwards.
    db.execute("TRUNCATE big");
    assert_success(&db.palmdb(&[
        "backup",
        "create",
        "--dir",
        target.to_str().unwrap(),
        "--compress",
        "none",
    ]));
}

fn effective_uid() -> u32 {
    // The owner of /proc/self is this process's effective user.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

#[test]
fn folders_and_files_are_private() {
    use std::os::unix::fs::MetadataExt;
    let db = TestDb::migrated("backup_permissions");
    db.execute("INSERT INTO users (email) VALUES ('a@example.com')");
    let dir = backup_dir();
    let root = dir.path().join("new-root");
    let backup = create(&db, &root, &[]);
    assert_eq!(std::fs::metadata(&root).unwrap().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(&backup).unwrap().mode() & 0o777, 0o700);
    for file in std::fs::read_dir(&backup).unwrap().flatten() {
        assert_eq!(
            file.metadata().unwrap().mode() & 0o777,
            0o600,
            "{:?}",
            file.path()
        );
    }
    let manifest = Manifest::read(&backup).unwrap();
    let newest = palmdb::migrate::source::Source::default()
        .versioned()
        .unwrap()
        .last()
        .map(|m| i64::from(m.version));
    assert_eq!(manifest.schema_version, newest);
    assert!(!manifest.masked);
    assert!(manifest
        .sequences
        .iter()
        .any(|s| s.name == "preorders_id_seq"));
    // The whole database, as pg_dump: Palm's tables, palmdb's schema, refinery's history.
    let names: Vec<String> = manifest
        .tables
        .iter()
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect();
    let in_catalog = db
        .scalar(
            "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname, tablename)
             FROM pg_tables WHERE schemaname IN ('public', 'palmdb')",
        )
        .unwrap();
    assert_eq!(names.join(","), in_catalog);
    for palm in [
        "public.palm_analysis_sessions",
        "public.preorders",
        "public.user_images",
        "public.users",
        "public.webhook_logs",
        "public.refinery_schema_history",
        "palmdb.daily_revenue",
    ] {
        assert!(names.contains(&palm.to_string()), "{names:?}");
    }
    let schema = manifest.schema.expect("the schema is stored");
    assert_eq!(schema.file, "schema.dump");
    assert_eq!(
        std::fs::metadata(backup.join("schema.dump")).unwrap().len(),
        schema.bytes
    );
}

#[test]
fn a_role_with_only_select_can_back_up() {
    let db = TestDb::migrated("backup_least_privilege");
    db.execute("INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com')");
    let role = format!("palmdb_reader_{}_{}", std::process::id(), db.name.len());
    db.execute(&format!(
        "CREATE ROLE {role} LOGIN NOSUPERUSER;
         GRANT CONNECT ON DATABASE \"{db}\" TO {role};
         GRANT USAGE ON SCHEMA public, palmdb TO {role};
         GRANT SELECT ON ALL TABLES IN SCHEMA public, palmdb TO {role};
         GRANT SELECT ON ALL SEQUENCES IN SCHEMA public, palmdb TO {role};",
        db = db.name
    ));
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_username(&role).unwrap();
    let dir = backup_dir();
    let out = common::palmdb_command(&[
        "backup",
        "create",
        "--dir",
        dir.path().to_str().unwrap(),
        "--json",
    ])
    .env("DATABASE_URL", url.as_str())
    .output()
    .unwrap();
    db.execute(&format!("DROP OWNED BY {role}"));
    common::block_on({
        let sql = format!("DROP ROLE {role}");
        async move {
            common::connect(&common::admin_url())
                .await
                .batch_execute(&sql)
                .await
                .unwrap();
        }
    });
    assert_success(&out);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let backup = PathBuf::from(summary["path"].as_str().unwrap());
    assert_eq!(rows(&backup, "users").len(), 2);
}

#[test]
fn masking_hides_personal_data_in_sql() {
    let db = TestDb::migrated("backup_mask");
    db.execute(
        "INSERT INTO users (email, name) VALUES ('jane.doe@palm.example', 'Jane Doe'), ('bob@corp.example', NULL);
         INSERT INTO preorders (user_id, stripe_amount, customer_email, stripe_session_id)
         SELECT id, 4900, email, 'cs_live_' || md5(email) FROM users;
         INSERT INTO user_images (user_id, image_url) SELECT id, 'https://cdn.example/' || id FROM users;
         INSERT INTO webhook_logs (event_id, event_type, payload)
         VALUES ('evt_secret', 'checkout.session.completed', '{\"email\": \"jane.doe@palm.example\"}');",
    );
    let dir = backup_dir();
    let backup = create(&db, dir.path(), &["--mask"]);
    let manifest = Manifest::read(&backup).unwrap();
    assert!(manifest.masked);
    let users_entry = manifest.tables.iter().find(|t| t.name == "users").unwrap();
    let masked: Vec<(&str, &str)> = users_entry
        .masked_columns
        .iter()
        .map(|m| (m.column.as_str(), m.rule.as_str()))
        .collect();
    assert_eq!(masked, [("email", "email_unique"), ("name", "redact")]);

    let users = rows(&backup, "users");
    let jane = users
        .iter()
        .find(|u| u["email"].as_str().unwrap().starts_with("j***"))
        .unwrap();
    assert!(
        jane["email"].as_str().unwrap().ends_with("@palm.example"),
        "{jane}"
    );
    assert_eq!(jane["name"], "REDACTED");
    assert!(users.iter().any(|u| u["name"].is_null()), "NULL stays NULL");
    let preorders = rows(&backup, "preorders");
    let emails: Vec<&str> = preorders
        .iter()
        .map(|p| p["customer_email"].as_str().unwrap())
        .collect();
    assert!(
        emails.contains(&"j***@palm.example") && emails.contains(&"b***@corp.example"),
        "{emails:?}"
    );
    assert_eq!(
        preorders[0]["stripe_session_id"].as_str().unwrap().len(),
        64,
        "hashed"
    );
    assert_eq!(
        rows(&backup, "webhook_logs")[0]["payload"],
        "{\"redacted\": true}"
    );
    assert_eq!(rows(&backup, "user_images")[0]["image_url"], "REDACTED");

    // Nothing personal anywhere in the files.
    for entry in &manifest.tables {
        let text = Command::new("zstdcat")
            .arg(backup.join(&entry.file))
            .output()
            .unwrap()
            .stdout;
        let text = String::from_utf8(text).unwrap();
        for secret in [
            "jane.doe",
            "Jane Doe",
            "cs_live_",
            "cdn.example",
            "evt_secret",
        ] {
            assert!(
                !text.contains(secret),
                "{secret} leaked into {}",
                entry.file
            );
        }
    }

    // A rules file adds to and overrides the defaults.
    let rules = dir.path().join("rules.txt");
    std::fs::write(&rules, "# ours\nusers.name keep\nusers.role hash\n").unwrap();
    let backup = create(
        &db,
        dir.path(),
        &["--mask", "--mask-rules", rules.to_str().unwrap()],
    );
    let users = rows(&backup, "users");
    assert!(users.iter().any(|u| u["name"] == "Jane Doe"));
    assert_eq!(users[0]["role"].as_str().unwrap().len(), 64);

    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "users.email scramble\n").unwrap();
    let out = db.palmdb(&[
        "backup",
        "create",
        "--dir",
        dir.path().to_str().unwrap(),
        "--mask",
        "--mask-rules",
        bad.to_str().unwrap(),
    ]);
    let text = assert_exit(&out, 1);
    assert!(
        text.contains("line 1") && text.contains("scramble"),
        "{text}"
    );

    // Without --mask, the data is the real data.
    let plain = create(&db, dir.path(), &[]);
    assert!(rows(&plain, "users")
        .iter()
        .any(|u| u["email"] == "jane.doe@palm.example"));
}

#[test]
fn tables_are_chosen_from_the_catalog() {
    let db = TestDb::migrated("backup_selection");
    db.execute(
        "CREATE SCHEMA \"Other Schema\";
         CREATE TABLE \"Other Schema\".\"Odd\"\"Name\" (\"Col.1\" int);
         INSERT INTO \"Other Schema\".\"Odd\"\"Name\" VALUES (1);
         CREATE TABLE parted (id int, k text) PARTITION BY LIST (k);
         CREATE TABLE parted_a PARTITION OF parted FOR VALUES IN ('a');
         INSERT INTO parted VALUES (1, 'a');",
    );
    let dir = backup_dir();
    let names = |backup: &Path| -> Vec<String> {
        Manifest::read(backup)
            .unwrap()
            .tables
            .iter()
            .map(|t| format!("{}.{}", t.schema, t.name))
            .collect()
    };
    let all = create(&db, dir.path(), &[]);
    let all_names = names(&all);
    // Every schema by default, as pg_dump: palmdb's bookkeeping included (a restore into an
    // empty database is then at the backup's migration version).
    assert!(
        all_names.contains(&"public.refinery_schema_history".to_string()),
        "{all_names:?}"
    );
    assert!(
        all_names.iter().any(|n| n.starts_with("palmdb.")),
        "{all_names:?}"
    );
    assert!(
        all_names.contains(&"Other Schema.Odd\"Name".to_string()),
        "{all_names:?}"
    );
    assert!(
        all_names.contains(&"public.parted_a".to_string()),
        "partitions hold the rows"
    );
    assert!(!all_names.contains(&"public.parted".to_string()));

    let only = create(
        &db,
        dir.path(),
        &["--table", "users", "--table", "Other Schema.Odd\"Name"],
    );
    assert_eq!(names(&only), ["Other Schema.Odd\"Name", "public.users"]);
    assert_eq!(rows(&only, "Odd\"Name")[0]["Col.1"], 1);

    let schema = create(&db, dir.path(), &["--schema", "Other Schema"]);
    assert_eq!(names(&schema), ["Other Schema.Odd\"Name"]);

    let excluded = create(
        &db,
        dir.path(),
        &[
            "--exclude-table",
            "users",
            "--exclude-table",
            "public.parted_a",
        ],
    );
    assert!(!names(&excluded)
        .iter()
        .any(|n| n == "public.users" || n == "public.parted_a"));

    let history = create(&db, dir.path(), &["--table", "refinery_schema_history"]);
    assert_eq!(names(&history), ["public.refinery_schema_history"]);

    let out = db.palmdb(&[
        "backup",
        "create",
        "--dir",
        dir.path().to_str().unwrap(),
        "--table",
        "nope",
    ]);
    let text = assert_exit(&out, 1);
    assert!(text.contains("no table \"nope\""), "{text}");
}

/// Runs `palmdb args` against `db` with stdout and stderr on a real pseudo-terminal
/// (util-linux `script`, 150 columns) and returns what the terminal received, carriage
/// returns turned into line breaks.
fn on_a_terminal(db: &TestDb, args: &[&str]) -> String {
    on_a_terminal_at(&db.url, args)
}

/// [`on_a_terminal`] with `DATABASE_URL` = `url`.
fn on_a_terminal_at(url: &str, args: &[&str]) -> String {
    let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_palmdb"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let command = format!("stty cols 150 rows 40; {}", quoted.join(" "));
    let out = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .env("DATABASE_URL", url)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("util-linux script runs the command on a pseudo-terminal");
    assert!(out.status.success(), "on a terminal: {}", stdout(&out));
    stdout(&out).replace('\r', "\n")
}

#[test]
fn on_a_terminal_the_bars_show_human_rates_and_create_ends_with_a_summary() {
    let db = TestDb::new("backup_tty");
    db.execute(
        "CREATE TABLE readings (id bigint PRIMARY KEY, note text);
         INSERT INTO readings SELECT g, repeat('x', 100) FROM generate_series(1, 50000) AS g;
         ANALYZE readings;",
    );
    let dir = backup_dir();
    let dir_text = dir.path().to_str().unwrap();
    let seen = on_a_terminal(&db, &["backup", "create", "--dir", dir_text]);
    let bar = seen
        .lines()
        .find(|l| l.contains("public.readings") && l.contains(" rows/s, ") && l.contains("B/s"))
        .unwrap_or_else(|| panic!("a bar with rows/s and MB/s: {seen}"));
    // `48.0k rows/s, 12.3 MB/s`, never a raw float such as `47,944.09718268498546/s`.
    assert_human_rates(bar);
    // The bars fill their lines to the terminal's width, so the summary may share a text line
    // with the last bar (on screen it starts a line of its own).
    let summary = seen
        .lines()
        .filter_map(|l| l.find("backup ").map(|at| l[at..].trim_end()))
        .find(|l| l.contains(": 1 table, "))
        .unwrap_or_else(|| panic!("a one-line summary: {seen}"));
    assert!(
        summary.contains("50.0k rows") && summary.contains(" rows/s, ") && summary.ends_with("/s)"),
        "{summary}"
    );

    // backup verify shows a bar per file while it re-reads, of the manifest's row count.
    let verified = on_a_terminal(&db, &["backup", "verify", "latest", "--dir", dir_text]);
    assert!(
        verified.lines().any(|l| l.contains("public.readings")
            && l.contains("50.0k/50.0k rows")
            && l.contains(" rows/s, ")),
        "a bar while verify re-reads: {verified}"
    );
    assert!(verified.contains("OK: backup "), "{verified}");

    // Piped, the same command prints the id alone, and no bar.
    let out = db.palmdb(&["backup", "create", "--dir", dir_text]);
    assert_success(&out);
    let id = stdout(&out);
    assert!(
        id.lines().count() == 1 && id.trim().len() >= 16 && !id.trim().contains(' '),
        "{id}"
    );
    assert_eq!(stderr(&out), "", "no bars without a terminal");
}

/// The figures of a bar line: `12.3k rows/s, 4.5 MB/s`, human-sized, never raw floats.
fn assert_human_rates(bar: &str) {
    let words: Vec<&str> = bar.split_whitespace().collect();
    let rows_per_second = words
        .windows(2)
        .find(|w| w[1] == "rows/s,")
        .map(|w| w[0])
        .unwrap_or_else(|| panic!("a rows/s figure in {bar}"));
    let bytes_per_second = words
        .windows(3)
        .find(|w| w[0] == "rows/s,")
        .map(|w| format!("{} {}", w[1], w[2]))
        .unwrap_or_else(|| panic!("a bytes/s figure in {bar}"));
    let human = |figure: &str| {
        figure.len() <= 9 && !figure.contains(',') && figure.matches('.').count() <= 1
    };
    assert!(human(rows_per_second), "{rows_per_second} in {bar}");
    assert!(
        human(&bytes_per_second) && bytes_per_second.ends_with("B/s"),
        "{bytes_per_second} in {bar}"
    );
}

#[test]
fn on_a_terminal_restore_and_copy_show_the_same_bars_and_a_summary() {
    let db = TestDb::new("restore_tty");
    db.execute(
        "CREATE TABLE readings (id bigint PRIMARY KEY, note text);
         INSERT INTO readings SELECT g, repeat('x', 100) FROM generate_series(1, 50000) AS g;",
    );
    let dir = backup_dir();
    let dir_text = dir.path().to_str().unwrap();
    take_backup(&db, dir.path(), &[]);

    let target = TestDb::new("restore_tty_target");
    let seen = on_a_terminal_at(&target.url, &["restore", "latest", "--dir", dir_text]);
    // The bar as it was last drawn: the whole table loaded.
    let bar = seen
        .lines()
        .rev()
        .find(|l| l.contains("public.readings") && l.contains(" rows/s, ") && l.contains("B/s"))
        .unwrap_or_else(|| panic!("a restore bar with rows/s and MB/s: {seen}"));
    assert!(bar.contains("50.0k/50.0k rows"), "{bar}");
    assert_human_rates(bar);
    assert!(
        seen.lines().any(
            |l| l.contains("restored into database ") && l.contains("1 table, 50000 rows in ")
        ),
        "a one-line summary: {seen}"
    );
    assert_eq!(
        target.scalar("SELECT count(*) FROM readings").unwrap(),
        "50000"
    );

    let copies = backup_dir();
    let seen = on_a_terminal(
        &db,
        &[
            "backup",
            "copy",
            "latest",
            "--from",
            dir_text,
            "--to",
            copies.path().to_str().unwrap(),
        ],
    );
    let bar = seen
        .lines()
        .find(|l| l.contains("50.0k/50.0k rows") && l.contains(" rows/s, "))
        .unwrap_or_else(|| panic!("a copy bar with rows/s: {seen}"));
    assert_human_rates(bar);
    assert!(
        seen.lines()
            .any(|l| l.contains("1 copied, 0 skipped, 0 failed")),
        "a one-line summary: {seen}"
    );
}

#[test]
fn on_a_terminal_demo_data_names_each_step_and_ends_with_its_summary() {
    let db = TestDb::migrated("demo_data_tty");
    let seen = on_a_terminal(&db, &["demo-data", "--users", "2000"]);
    // Its rows are generated by the server, one statement a table: no row count to show, so
    // a spinner names the step under way.
    assert!(
        seen.lines().any(|l| l.contains("generating users")),
        "a spinner naming the step: {seen}"
    );
    assert!(
        seen.lines()
            .any(|l| l.contains("filled ") && l.contains("2000 users") && l.contains(" s")),
        "a one-line summary: {seen}"
    );
}
