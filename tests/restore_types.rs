//! Lossless round trip: a table of every type the issue lists (and their awkward values) is
//! backed up and restored, and source and target compared exactly — every row cast to text,
//! the two sets equal both ways (`json` has no equality operator, its text does).

mod common;
mod restore_support;

use common::{assert_success, block_on, connect, TestDb};
use restore_support::take_backup;

/// Created in both databases: palmdb's migrations do not create these tables.
const SCHEMA: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s "complicated"');
CREATE TYPE pair AS (label text, amount numeric);
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);

CREATE TABLE every_type (
    id        integer PRIMARY KEY,
    i2        int2,
    i4        int4,
    i8        int8,
    num       numeric,
    num_big   numeric(60, 20),
    f4        float4,
    f8        float8,
    t         text,
    vc        varchar(20),
    ch        char(5),
    b         bytea,
    flag      bool,
    d         date,
    tm        time,
    tmtz      timetz,
    ts        timestamp,
    tstz      timestamptz,
    iv        interval,
    u         uuid,
    j         json,
    jb        jsonb,
    ai        integer[],
    atext     text[],
    a2        integer[][],
    m         mood,
    ip        inet,
    net       cidr,
    p         pair,
    pos       positive_int,
    r         int4range
);

CREATE TABLE with_identity (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    note   text
);

CREATE TABLE with_generated (
    id     integer PRIMARY KEY,
    price  numeric NOT NULL,
    qty    integer NOT NULL,
    total  numeric GENERATED ALWAYS AS (price * qty) STORED
);

CREATE TABLE "Odd ""Table"" name" (
    "weird col" text,
    "UPPER" integer
);
"#;

const ROWS: &str = r#"
INSERT INTO every_type VALUES (
    1, -32768, 2147483647, -9223372036854775808,
    'NaN', 12345678901234567890123456789012345678.12345678901234567890,
    'NaN', 'Infinity',
    E'back\\slash "double" ''single'' \t tab \r\n crlf \n lf ünïcödé 🎉 \\N',
    '', 'ab', '\x00ff5c0a0d09', true,
    'infinity', '23:59:59.999999', '12:00:00+05:30', '-infinity', 'infinity',
    '-1 year 2 mons -3 days 04:05:06.789',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    E'{"b": 1,\n  "a": [1, 2.50, "x\\ny", "tab\\t"],   "b": 2 }',
    '{"z": 1, "a": {"nested": [true, null, 1.0e10]}}',
    '{1,NULL,3}', '{"a b","c\"d",NULL,"","NULL","\\"}', '{{1,2},{3,NULL}}',
    'it''s "complicated"', '192.168.1.5/24', '10.0.0.0/8',
    ROW(E'x "y" \\ z', 1.50), 42, '[1,10)'
), (
    2, 0, -1, 1, '-0.000000000000000000001', -0.00000000000000000001,
    '-Infinity', '-0', '', NULL, '', '\x', false,
    '2024-02-29', '00:00:00', '00:00:00-12', '2024-02-29 13:14:15.123456',
    '-infinity', '0 seconds', '00000000-0000-0000-0000-000000000000',
    '"just a string"', '[]', '{}', '{}', '{{{1}},{{2}}}',
    'sad', '::1', '2001:db8::/32', ROW(NULL, NULL), 1, 'empty'
), (
    3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL
), (
    4, 32767, -2147483648, 9223372036854775807, '0.1', 1e-20,
    1.1, 0.30000000000000004, 'NULL', 'x', NULL, '\x5c4e', NULL,
    '0001-01-01 BC', '24:00:00', '23:59:59.999999+14', '1999-12-31 23:59:59.999999',
    '2000-01-01 00:00:00.000001+00', '178000000 years', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
    E'  \n\t null \n', E'"\\u00e9\\ud83c\\udf89"', '{-2147483648}', E'{"tab\there","new\nline"}', NULL,
    'ok', '0.0.0.0/0', '0.0.0.0/0', ROW('', 0), 2147483647, '(,)'
), (
    5, 1, 1, 1, '1e1000'::numeric / 3, 1, 3.4028235e38, 5e-324, E'\u0001 control \u001f',
    'émoji 👩‍👩‍👧', 'ünï', '\xdeadbeef', true, '5874897-12-31', '01:02:03', '01:02:03-00:30',
    '294276-12-31 23:59:59.999999', '4713-01-01 00:00:00+00 BC', '-178000000 years 1 microsecond',
    '12345678-1234-5678-1234-567812345678', '1e308', '-1.5e-300', '{NULL,NULL}',
    '{" spaced ",""}', '{{NULL,NULL},{NULL,NULL}}', 'sad', '255.255.255.255', '192.168.0.0/16',
    ROW('(', -1e-10), 7, '[-2147483648,2147483647)'
);

INSERT INTO with_identity (note) SELECT 'note ' || i FROM generate_series(1, 10) AS i;
DELETE FROM with_identity WHERE id IN (3, 10);

INSERT INTO with_generated (id, price, qty) VALUES (1, 9.99, 3), (2, 0.1, 7), (3, 'NaN', 1);

INSERT INTO "Odd ""Table"" name" VALUES (E'tab\there', 1), (NULL, NULL), ('', 0);
"#;

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
