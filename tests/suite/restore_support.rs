//! Helpers shared by the restore and verify tests: filling Palm's tables, tampering with
//! backup files, comparing databases.

use std::path::{Path, PathBuf};

use crate::common::TestDb;
use palmdb::demo_data::PALM_TABLES;

/// Fills Palm's tables with `users` users, each with an order, an analysis session, an image
/// and a webhook log; values chosen to exercise escaping (quotes, backslashes, newlines).
pub fn fill_palm(db: &TestDb, users: u32) {
    db.execute(&format!(
        r#"
        INSERT INTO users (id, email, name, role, created_at)
        SELECT md5('u' || i)::uuid,
               'user' || i || '@example.com',
               CASE WHEN i % 7 = 0 THEN NULL ELSE E'Name "' || i || E'" \\ \t tab\nline' END,
               CASE WHEN i % 10 = 0 THEN 'admin' ELSE 'user' END,
               '2025-01-01 00:00:00+00'::timestamptz + i * interval '1 minute'
        FROM generate_series(1, {users}) AS i;
        INSERT INTO preorders (user_id, status, stripe_amount, stripe_session_id, customer_email)
        SELECT md5('u' || i)::uuid,
               (ARRAY['initiated','processing','completed','failed']::preorder_status[])[1 + i % 4],
               1999 + i, 'cs_' || i, 'user' || i || '@example.com'
        FROM generate_series(1, {users}) AS i;
        INSERT INTO palm_analysis_sessions (user_id, status, analysis_type, result, completed_at)
        SELECT md5('u' || i)::uuid, 'completed', 'basic',
               jsonb_build_object('lines', i, 'text', E'heart\nline "deep"'), now()
        FROM generate_series(1, {users}) AS i;
        INSERT INTO user_images (user_id, session_id, image_url, hand)
        SELECT s.user_id, s.id, 'https://img.example.com/' || s.id || '.jpg', 'left'
        FROM palm_analysis_sessions AS s;
        INSERT INTO webhook_logs (event_id, event_type, payload)
        SELECT 'evt_' || i, 'checkout.session.completed', jsonb_build_object('n', i)
        FROM generate_series(1, {users}) AS i;
        "#
    ));
}

/// Row counts of Palm's tables, in [`PALM_TABLES`] order.
pub fn palm_counts(db: &TestDb) -> Vec<i64> {
    PALM_TABLES
        .iter()
        .map(|t| {
            db.scalar(&format!("SELECT count(*) FROM {t}"))
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// Every row of a table as text, sorted: equal outputs mean equal contents.
pub fn table_text(db: &TestDb, table: &str) -> String {
    db.scalar(&format!(
        "SELECT coalesce(string_agg(whole_row::text, E'\\n' ORDER BY whole_row::text), '') FROM {table} AS whole_row"
    ))
    .unwrap()
}

/// Each of `tables` holds the same rows in `target` as in `source`.
pub fn assert_same_rows<T: AsRef<str>>(source: &TestDb, target: &TestDb, tables: &[T]) {
    for table in tables {
        let table = table.as_ref();
        assert_eq!(
            table_text(target, table),
            table_text(source, table),
            "{table}"
        );
    }
}

/// Source and target hold the same tables with the same rows, and the same sequences.
pub fn assert_same_data(source: &TestDb, target: &TestDb) {
    let tables = user_tables(source);
    assert!(!tables.is_empty());
    assert_eq!(user_tables(target), tables);
    assert_same_rows(source, target, &tables);
    assert_eq!(sequence_states(target), sequence_states(source));
}

/// The manifest of a backup folder as JSON.
pub fn manifest(folder: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap()
}

/// Writes a changed manifest as palmdb would, with its own SHA-256 recomputed (an edit that
/// did not recompute it is caught first; tests of that write the file themselves).
pub fn write_manifest(folder: &Path, manifest: &serde_json::Value) {
    let mut manifest = manifest.clone();
    palmdb::archive::manifest::seal(&mut manifest);
    std::fs::write(
        folder.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

/// The file of table `name` in a backup folder.
pub fn table_file(folder: &Path, name: &str) -> PathBuf {
    let m = manifest(folder);
    let entry = m["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name} in the backup"));
    folder.join(entry["file"].as_str().unwrap())
}

/// Rewrites a table's file through `edit` (on the decompressed lines) and records the new
/// hash, size and row count in the manifest: a backup that verifies but holds what `edit`
/// made of it.
pub fn rewrite_table(folder: &Path, name: &str, edit: impl FnOnce(&mut Vec<String>)) {
    let path = table_file(folder, name);
    let compressed = path.to_string_lossy().ends_with(".zst");
    let raw = std::fs::read(&path).unwrap();
    let text = if compressed {
        zstd::decode_all(&raw[..]).unwrap()
    } else {
        raw
    };
    let mut lines: Vec<String> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    edit(&mut lines);
    let mut text = lines.join("\n");
    text.push('\n');
    let bytes = if compressed {
        zstd::encode_all(text.as_bytes(), 3).unwrap()
    } else {
        text.into_bytes()
    };
    std::fs::write(&path, &bytes).unwrap();
    let mut m = manifest(folder);
    let file = path.file_name().unwrap().to_str().unwrap().to_string();
    let total_before: u64 = m["total_rows"].as_u64().unwrap();
    let bytes_before: u64 = m["total_bytes"].as_u64().unwrap();
    for t in m["tables"].as_array_mut().unwrap() {
        if t["file"] == file.as_str() {
            let old_rows = t["rows"].as_u64().unwrap();
            let old_bytes = t["bytes"].as_u64().unwrap();
            t["rows"] = (lines.len() as u64).into();
            t["bytes"] = (bytes.len() as u64).into();
            t["sha256"] = sha256_hex(&bytes).into();
            m["total_rows"] = (total_before - old_rows + lines.len() as u64).into();
            m["total_bytes"] = (bytes_before - old_bytes + bytes.len() as u64).into();
            break;
        }
    }
    write_manifest(folder, &m);
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Starts `palmdb restore` into `target`, SIGKILLs it as soon as `moment` (a query on the
/// restore's backend in pg_stat_activity / progress views, `$1` its pid) returns true, and
/// waits until the server has rolled the dead session back.
pub fn kill_restore_when(target: &TestDb, folder: &std::path::Path, moment: &'static str) {
    let child = target
        .command(&["restore", folder.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = target.url.clone();
    let database = target.name.clone();
    crate::common::block_on(async move {
        let mut child = child;
        let client = crate::common::connect(&url).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let backend: Option<i32> = client
                .query_opt(
                    "SELECT pid FROM pg_stat_activity
                     WHERE datname = $1 AND application_name = 'palmdb restore'
                       AND backend_type = 'client backend'",
                    &[&database],
                )
                .await
                .unwrap()
                .map(|r| r.get(0));
            if let Some(pid) = backend {
                let now: bool = client.query_one(moment, &[&pid]).await.unwrap().get(0);
                if now {
                    break;
                }
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "restore ended before it could be killed"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "the restore never got there"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // The server notices the dead client and rolls back; wait for its backend to go.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let left: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = $1 AND application_name = 'palmdb restore'",
                    &[&database],
                )
                .await
                .unwrap()
                .get(0);
            if left == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the killed restore's backend stayed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
}

/// Every user table of a database, `schema.table` quoted for SQL, sorted.
pub fn user_tables(db: &TestDb) -> Vec<String> {
    db.scalar(
        "SELECT string_agg(format('%I.%I', schemaname, tablename), E'\\n' ORDER BY schemaname, tablename)
         FROM pg_tables
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )
    .unwrap_or_default()
    .lines()
    .map(str::to_string)
    .collect()
}

/// Every sequence with its stored state: `schema.name last_value is_called`.
pub fn sequence_states(db: &TestDb) -> Vec<String> {
    let names = db
        .scalar(
            "SELECT string_agg(format('%I.%I', schemaname, sequencename), E'\\n'
                               ORDER BY schemaname, sequencename)
             FROM pg_sequences",
        )
        .unwrap_or_default();
    names
        .lines()
        .map(|name| {
            let state = db
                .scalar(&format!(
                    "SELECT last_value || ' ' || is_called FROM {name}"
                ))
                .unwrap();
            format!("{name} {state}")
        })
        .collect()
}

/// `pg_dump --schema-only` of a database, without psql's per-run `\restrict` keys: equal
/// outputs mean equal schemas (types, tables, defaults, indexes, triggers, policies, owners).
pub fn schema_of(db: &TestDb) -> String {
    let out = std::process::Command::new("pg_dump")
        .args(["--schema-only", "--dbname", &db.url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `command` and returns its output and its peak resident memory (bytes).
///
/// The command runs under GNU time (`/usr/bin/time`, Debian's `time`), which forks it from its
/// own small process and reads its rusage: the kernel keeps the high-water mark of the
/// memory a process execs from, so a child spawned straight from this test binary (one
/// process for the whole suite, hundreds of MB after a while) would report at least the
/// binary's own peak.
pub fn run_measuring_memory(command: std::process::Command) -> (std::process::Output, u64) {
    let report = tempfile::NamedTempFile::new().expect("a file for time's report");
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => timed.env(name, value),
            None => timed.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    let output = timed
        .output()
        .expect("/usr/bin/time runs (Debian's `time` package)");
    let text = std::fs::read_to_string(report.path()).expect("time's report");
    // Its last line is %M, the peak in KiB (a line before it says how a failed command ended).
    let kib: u64 = text
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("time's report has no peak memory: {text:?}"));
    (output, kib * 1024)
}

/// The foreign fixture restored whole, with its schema: the same tables (at least its 14),
/// rows, sequences and schema, and its materialized view holding its rows again.
pub fn assert_same_foreign_database(source: &TestDb, target: &TestDb) {
    let tables = user_tables(source);
    assert_eq!(user_tables(target), tables);
    assert!(tables.len() >= 14, "{tables:?}");
    assert_same_rows(source, target, &tables);
    // Every sequence as it was, owned or not, called or not.
    assert_eq!(sequence_states(target), sequence_states(source));
    assert_eq!(schema_of(target), schema_of(source));
    assert_eq!(
        table_text(target, "shop.mood_counts"),
        table_text(source, "shop.mood_counts")
    );
}
