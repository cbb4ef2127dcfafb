//! Lossless round trip: a table of every type the issue lists (and their awkward values) is
//! backed up and restored, and source and target compared exactly — every row cast to text,
//! the two sets equal both ways (`json` has no equality operator, its text does).

use crate::common;
use crate::common::{assert_success, block_on, connect, take_backup, TestDb};

/// Created in both databases: palmdb's migrations do not create these tables.
const SCHEMA: &str = include_str!("../fixtures/every_type_schema.sql");

const ROWS: &str = include_str!("../fixtures/every_type_rows.sql");

/// Every row of a table cast to text (json's text included), sorted.
fn rows_as_text(db: &TestDb, table: &str) -> Vec<String> {
    let url = db.url.clone();
    let sql = format!("SELECT whole_row::text AS row FROM {table} AS whole_row ORDER BY 1");
    block_on(async move {
        connect(&url)
            .await
            .query(&sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>("row"))
            .collect()
    })
}

#[test]
fn every_type_round_trips_exactly() {
    let source = TestDb::migrated("types_src");
    source.execute(SCHEMA);
    source.execute(ROWS);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);

    let target = TestDb::migrated("types_dst");
    target.execute(SCHEMA);
    assert_success(&target.palmdb(&["restore", folder.to_str().unwrap()]));

    for table in [
        "every_type",
        "with_identity",
        "with_generated",
        "\"Odd \"\"Table\"\" name\"",
    ] {
        let expected = rows_as_text(&source, table);
        let restored = rows_as_text(&target, table);
        let missing: Vec<&String> = expected.iter().filter(|r| !restored.contains(r)).collect();
        let extra: Vec<&String> = restored.iter().filter(|r| !expected.contains(r)).collect();
        assert!(
            missing.is_empty() && extra.is_empty() && expected.len() == restored.len(),
            "{table} differs\nnot restored: {missing:#?}\nnot in the source: {extra:#?}"
        );
    }
    // json kept byte for byte, whitespace, duplicate keys and key order included.
    assert_eq!(
        target.scalar("SELECT j FROM every_type WHERE id = 1"),
        source.scalar("SELECT j FROM every_type WHERE id = 1")
    );
    // -0 is still negative zero, NaN still NaN.
    assert_eq!(
        target
            .scalar("SELECT f8 FROM every_type WHERE id = 2")
            .as_deref(),
        Some("-0")
    );
    // Empty string and NULL stay apart.
    assert_eq!(
        target
            .scalar("SELECT t IS NULL FROM every_type WHERE id = 2")
            .as_deref(),
        Some("false")
    );
    assert_eq!(
        target
            .scalar("SELECT t IS NULL FROM every_type WHERE id = 3")
            .as_deref(),
        Some("true")
    );
    // The restore test's SQL-side decoding and checksum agree with the restore on every type
    // (it reads the files independently of the client-side codec).
    let url = target.url.clone();
    let checked = folder.clone();
    let mismatches = block_on(async move {
        let mut client = connect(&url).await;
        client
            .batch_execute(
                "SET DateStyle = ISO; SET IntervalStyle = postgres; SET TimeZone = 'UTC'",
            )
            .await
            .unwrap();
        let manifest = palmdb::archive::Manifest::read(&checked).unwrap();
        let backup = palmdb::archive::repository::Repository::folder(checked.parent().unwrap())
            .locate(checked.to_str().unwrap())
            .unwrap();
        let files = palmdb::archive::backup_files::BackupFiles::new(backup, &manifest, None);
        let mut mismatches = Vec::new();
        for entry in &manifest.tables {
            // The prepared target keeps its own migration bookkeeping (not loaded).
            if ["refinery_schema_history", "schema_objects"].contains(&entry.name.as_str()) {
                continue;
            }
            let from_files = palmdb::verify::checksum::backup(&mut client, &files, entry)
                .await
                .unwrap();
            let restored = palmdb::verify::checksum::restored(&client, entry)
                .await
                .unwrap();
            if from_files != restored || from_files.rows as u64 != entry.rows {
                mismatches.push(format!("{}: {from_files:?} vs {restored:?}", entry.name));
            }
        }
        mismatches
    });
    assert!(mismatches.is_empty(), "{mismatches:#?}");

    // Identity values kept as given, and the next one is past them.
    target.execute("INSERT INTO with_identity (note) VALUES ('new')");
    assert_eq!(
        target
            .scalar("SELECT id FROM with_identity WHERE note = 'new'")
            .as_deref(),
        Some("11")
    );
    // Generated columns are computed by the target.
    assert_eq!(
        target
            .scalar("SELECT total FROM with_generated WHERE id = 1")
            .as_deref(),
        Some("29.97")
    );

    // A backup of tables palmdb does not create is restore-tested all the same: the scratch
    // database gets them from the schema stored in the backup.
    let out = source.palmdb(&[
        "backup",
        "verify",
        folder.to_str().unwrap(),
        "--restore-test",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(
        report["restore_test"]["not_restore_tested"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "{report:#}"
    );
    let manifest = palmdb::archive::Manifest::read(&folder).unwrap();
    assert_eq!(
        report["restore_test"]["tables"].as_array().unwrap().len(),
        manifest.tables.len()
    );
    assert_eq!(report["restore_test"]["ok"], true, "{report:#}");
}
