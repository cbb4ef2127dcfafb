//! Helpers shared by the restore and verify tests: taking a backup of a test database,
//! filling Palm's tables, tampering with backup files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use crate::common::{assert_success, stdout, TestDb};

/// Takes a backup of `db` into `dir`; returns its folder.
pub fn take_backup(db: &TestDb, dir: &Path, extra: &[&str]) -> PathBuf {
    if std::env::var_os("PALMDB_TEST_ARCHIVE_BACKUP").is_some() || !has_backup_create() {
        assert!(extra.is_empty(), "options need the real backup create");
        return archive_backup(db, dir);
    }
    binary_backup(db, dir, extra)
}

fn has_backup_create() -> bool {
    let out = crate::common::palmdb_command(&["backup", "create", "--help"])
        .output()
        .unwrap();
    out.status.success()
}

/// The real `palmdb backup create`.
fn binary_backup(db: &TestDb, dir: &Path, extra: &[&str]) -> PathBuf {
    let dir_arg = dir.to_str().unwrap();
    let mut args = vec!["backup", "create", "--dir", dir_arg, "--json"];
    args.extend_from_slice(extra);
    let out = db.palmdb(&args);
    assert_success(&out);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "backup create --json printed no JSON ({e}): {}",
            stdout(&out)
        )
    });
    PathBuf::from(summary["path"].as_str().expect("backup summary has a path"))
}

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

/// Palm's tables, parents first.
pub const PALM_TABLES: [&str; 5] = [
    "users",
    "preorders",
    "palm_analysis_sessions",
    "user_images",
    "webhook_logs",
];

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

/// The manifest of a backup folder as JSON.
pub fn manifest(folder: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).unwrap()).unwrap()
}

pub fn write_manifest(folder: &Path, manifest: &serde_json::Value) {
    std::fs::write(
        folder.join("manifest.json"),
        serde_json::to_vec_pretty(manifest).unwrap(),
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
    for t in m["tables"].as_array_mut().unwrap() {
        if t["file"] == file.as_str() {
            let old_rows = t["rows"].as_u64().unwrap();
            t["rows"] = (lines.len() as u64).into();
            t["bytes"] = (bytes.len() as u64).into();
            t["sha256"] = sha256_hex(&bytes).into();
            m["total_rows"] = (total_before - old_rows + lines.len() as u64).into();
            break;
        }
    }
    write_manifest(folder, &m);
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A backup written with the archive module directly (COPY TO STDOUT → RowEncoder →
/// TableWriter → Manifest), as `backup create` writes it; used while that command is not
/// in this branch.
fn archive_backup(db: &TestDb, dir: &Path) -> PathBuf {
    use palmdb::archive::compression::Codec;
    use palmdb::archive::row_codec::{JsonKind, RowEncoder};
    use palmdb::archive::{ColumnEntry, Compression, Manifest, TableEntry, TableWriter};

    let url = db.url.clone();
    let database = db.name.clone();
    let dir = dir.to_path_buf();
    crate::common::block_on(async move {
        use futures_util::StreamExt;
        let client = crate::common::connect(&url).await;
        client
            .batch_execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
                 SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits = 1;
                 SET bytea_output = hex; SET TimeZone = 'UTC'",
            )
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let id = palmdb::archive::naming::backup_id(now, 1);
        let folder = dir.join(&id);
        std::fs::create_dir_all(&folder).unwrap();
        let migrated: bool = client
            .query_one(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL AS m",
                &[],
            )
            .await
            .unwrap()
            .get("m");
        let schema_version: Option<i64> = if migrated {
            client
                .query_one(
                    "SELECT max(version)::bigint AS v FROM refinery_schema_history",
                    &[],
                )
                .await
                .unwrap()
                .get("v")
        } else {
            None
        };
        let tables = client
            .query(
                "SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name
                 FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                   AND c.relname <> 'refinery_schema_history'
                 ORDER BY c.relname",
                &[],
            )
            .await
            .unwrap();
        let mut entries = Vec::new();
        let mut taken = Vec::new();
        for t in tables {
            let oid: i64 = t.get("oid");
            let schema: String = t.get("schema");
            let name: String = t.get("name");
            let columns = client
                .query(
                    "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type_name,
                            a.attgenerated <> '' AS generated, a.attidentity <> '' AS identity,
                            a.attnotnull AS not_null,
                            CASE WHEN bt.typcategory = 'A' THEN 'array' ELSE bt.typname::text END AS base
                     FROM pg_attribute AS a
                     JOIN pg_type AS ty ON ty.oid = a.atttypid
                     JOIN pg_type AS bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
                     WHERE a.attrelid = $1::bigint::oid AND a.attnum > 0 AND NOT a.attisdropped
                     ORDER BY a.attnum",
                    &[&oid],
                )
                .await
                .unwrap();
            let entry_columns: Vec<ColumnEntry> = columns
                .iter()
                .map(|c| ColumnEntry {
                    name: c.get("name"),
                    type_name: c.get("type_name"),
                    generated: c.get("generated"),
                    identity: c.get("identity"),
                    not_null: c.get("not_null"),
                })
                .collect();
            let row_columns: Vec<(String, JsonKind)> = columns
                .iter()
                .filter(|c| !c.get::<_, bool>("generated"))
                .map(|c| (c.get("name"), JsonKind::for_base_type(c.get("base"))))
                .collect();
            let encoder = RowEncoder::new(row_columns.iter().map(|(n, k)| (n.as_str(), *k)));
            let file =
                palmdb::archive::naming::table_file_name(&schema, &name, Codec::Zstd, &taken);
            taken.push(file.clone());
            let mut writer =
                TableWriter::create(&folder.join(&file), Compression::default()).unwrap();
            let list: Vec<String> = row_columns
                .iter()
                .map(|(n, _)| format!("\"{}\"", n.replace('"', "\"\"")))
                .collect();
            let sql = format!(
                "COPY (SELECT {} FROM \"{}\".\"{}\") TO STDOUT",
                if list.is_empty() {
                    "".to_string()
                } else {
                    list.join(", ")
                },
                schema.replace('"', "\"\""),
                name.replace('"', "\"\"")
            );
            let stream = client.copy_out(&sql).await.unwrap();
            futures_util::pin_mut!(stream);
            let mut pending: Vec<u8> = Vec::new();
            let mut out = Vec::new();
            let mut rows = 0u64;
            while let Some(chunk) = stream.next().await {
                pending.extend_from_slice(&chunk.unwrap());
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    out.clear();
                    encoder.encode(&pending[..end], &mut out).unwrap();
                    writer.write_all(&out).unwrap();
                    rows += 1;
                    pending.drain(..=end);
                }
            }
            let digest = writer.finish().unwrap();
            entries.push(TableEntry {
                schema,
                name,
                columns: entry_columns,
                rows,
                file,
                bytes: digest.bytes,
                sha256: digest.sha256,
                masked_columns: vec![],
            });
        }
        let sequences = client
            .query(
                "SELECT schemaname::text AS schema, sequencename::text AS name,
                        coalesce(last_value, start_value) AS last_value,
                        last_value IS NOT NULL AS is_called
                 FROM pg_sequences WHERE schemaname = 'public'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| palmdb::archive::SequenceEntry {
                schema: r.get("schema"),
                name: r.get("name"),
                last_value: r.get("last_value"),
                is_called: r.get("is_called"),
                owned_by: None,
            })
            .collect();
        let manifest = Manifest {
            format_version: palmdb::archive::FORMAT_VERSION,
            id: id.clone(),
            created_at: now,
            completed_at: chrono::Utc::now(),
            database,
            server_version: "15".into(),
            server_version_num: 150000,
            schema_version,
            schema_version_name: None,
            tool_version: "test".into(),
            snapshot_id: String::new(),
            masked: false,
            compression: Codec::Zstd,
            total_rows: entries.iter().map(|e| e.rows).sum(),
            total_bytes: entries.iter().map(|e| e.bytes).sum(),
            tables: entries,
            sequences,
        };
        manifest.write(&folder).unwrap();
        folder
    })
}
