//! Property tests for the row codec (issue 12, item 4): any value of every supported type
//! round-trips COPY text → JSON line → COPY text byte for byte.
//!
//! Two levels:
//! - `generated_copy_rows_round_trip_byte_for_byte`: rows generated in the exact text
//!   PostgreSQL's COPY writes (its escaping of text, its spelling of numbers and booleans),
//!   many cases, no database: the encoder and decoder alone.
//! - `postgres_copy_output_round_trips_byte_for_byte`: generated values of every kind of type
//!   are inserted into a real table, PostgreSQL's own `COPY ... TO STDOUT` line is encoded and
//!   decoded, must come back identical, and is loaded into a twin table with `COPY ... FROM
//!   STDIN`, whose `COPY ... TO STDOUT` must again be identical. Fewer cases (a database round
//!   trip each), so the suite stays quick; `PROPTEST_CASES` raises both.

use std::collections::BTreeMap;

use crate::common::{connect, TestDb};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use palmdb::archive::row_codec::{JsonKind, RowDecoder, RowEncoder};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// `PROPTEST_CASES` if set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Text as PostgreSQL's COPY writes it (`CopyAttributeOutText`): backslash, and the control
/// characters it has a letter for, escaped; everything else as it is.
fn copy_escape_like_postgres(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x0b => out.extend_from_slice(b"\\v"),
            _ => out.push(b),
        }
    }
    out
}

/// A float8 as PostgreSQL 12+ prints it (shortest exact digits; exponent form below 1e-4 and
/// from 1e15, with a sign and at least two digits).
fn float_text_like_postgres(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap();
    let exponent: i32 = exponent.parse().unwrap();
    if (-4..15).contains(&exponent) {
        format!("{x}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// One generated value: its kind, its COPY text, and the JSON value it must become.
#[derive(Debug, Clone)]
struct Field {
    kind: JsonKind,
    copy: Vec<u8>,
    json: Value,
}

fn field() -> impl Strategy<Value = Field> {
    let null = prop_oneof![
        Just(JsonKind::Bool),
        Just(JsonKind::Integer),
        Just(JsonKind::Float),
        Just(JsonKind::Text)
    ]
    .prop_map(|kind| Field {
        kind,
        copy: b"\\N".to_vec(),
        json: Value::Null,
    });
    let boolean = any::<bool>().prop_map(|b| Field {
        kind: JsonKind::Bool,
        copy: if b { b"t".to_vec() } else { b"f".to_vec() },
        json: Value::Bool(b),
    });
    let integer = prop_oneof![
        any::<i64>(),
        any::<i16>().prop_map(i64::from),
        any::<i32>().prop_map(i64::from),
        any::<u32>().prop_map(i64::from),
    ]
    .prop_map(|n| Field {
        kind: JsonKind::Integer,
        copy: n.to_string().into_bytes(),
        json: Value::from(n),
    });
    let float = prop_oneof![
        any::<f64>(),
        any::<f32>().prop_map(f64::from),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MIN_POSITIVE / 4.0),
    ]
    .prop_map(|x| {
        let text = float_text_like_postgres(x);
        let json = if x.is_finite() {
            Value::from(x)
        } else {
            Value::String(text.clone())
        };
        Field {
            kind: JsonKind::Float,
            copy: text.into_bytes(),
            json,
        }
    });
    // Any text PostgreSQL can hold: every char but NUL, control characters weighted up.
    let text = proptest::collection::vec(
        prop_oneof![
            3 => any::<char>(),
            2 => proptest::char::range('\u{1}', '\u{1f}'),
            2 => proptest::sample::select(vec!['\\', '"', '\t', '\n', '\r', 'N', '{', '}', ',', '\u{7f}', '\u{2028}', '😀']),
        ]
        .prop_filter("PostgreSQL text holds no NUL", |c| *c != '\0'),
        0..40,
    )
    .prop_map(|chars| {
        let text: String = chars.into_iter().collect();
        Field {
            kind: JsonKind::Text,
            copy: copy_escape_like_postgres(&text),
            json: Value::String(text),
        }
    });
    prop_oneof![1 => null, 1 => boolean, 2 => integer, 2 => float, 4 => text]
}

/// Encodes a COPY row, decodes the JSON line, and returns (line, COPY row back).
fn round_trip(
    kinds: &[JsonKind],
    names: &[String],
    row: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), TestCaseError> {
    let encoder = RowEncoder::new(names.iter().map(String::as_str).zip(kinds.iter().copied()));
    let mut line = Vec::new();
    encoder
        .encode(row, &mut line)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let decoder = RowDecoder::new(names.to_vec());
    let mut back = Vec::new();
    decoder
        .decode(&line[..line.len() - 1], &mut back)
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    Ok((line, back))
}

#[test]
fn generated_copy_rows_round_trip_byte_for_byte() {
    let mut runner = runner(cases(2000));
    let rows = proptest::collection::vec(field(), 1..8);
    runner
        .run(&rows, |fields| {
            let kinds: Vec<JsonKind> = fields.iter().map(|f| f.kind).collect();
            let names: Vec<String> = (0..fields.len()).map(|i| format!("c{i}")).collect();
            let row = fields
                .iter()
                .map(|f| f.copy.clone())
                .collect::<Vec<_>>()
                .join(&b'\t');
            let (line, back) = round_trip(&kinds, &names, &row)?;

            let mut expected_row = row.clone();
            expected_row.push(b'\n');
            prop_assert_eq!(
                String::from_utf8_lossy(&back),
                String::from_utf8_lossy(&expected_row)
            );
            prop_assert_eq!(back, expected_row);
            // The line is JSON and says what the values are, read by another parser. Finite
            // floats are compared as text: they must be PostgreSQL's digits, verbatim.
            let object: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(&line)
                .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
            for (name, field) in names.iter().zip(&fields) {
                let raw = object[name].get();
                if field.kind == JsonKind::Float && field.json.is_number() {
                    prop_assert_eq!(raw.as_bytes(), &field.copy[..], "column {}", name);
                } else {
                    let value: Value = serde_json::from_str(raw).unwrap();
                    prop_assert_eq!(&value, &field.json, "column {}", name);
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Values of every kind of type the backup meets, as one row of the test table.
#[derive(Debug, Clone)]
struct TypedRow {
    flag: Option<bool>,
    i2: Option<i16>,
    i4: Option<i32>,
    i8: Option<i64>,
    oid: Option<u32>,
    f4: Option<f32>,
    f8: Option<f64>,
    num: Option<String>,
    t: Option<String>,
    b: Option<Vec<u8>>,
    tstz_micros: Option<i64>,
    d_days: Option<i32>,
    iv: Option<(i32, i64)>,
    u: Option<u128>,
    atext: Option<Vec<Option<String>>>,
    aint: Option<Vec<Option<i32>>>,
}

/// Text PostgreSQL accepts (no NUL), with the characters that need escaping weighted up.
fn pg_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => any::<char>(),
            2 => proptest::char::range('\u{1}', '\u{1f}'),
            2 => proptest::sample::select(vec!['\\', '"', '\t', '\n', '\r', '{', '}', ',', ' ', 'N', '😀']),
        ]
        .prop_filter("no NUL", |c| *c != '\0'),
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Numeric values; `infinity`: the server knows numeric infinity (PostgreSQL 14 and later).
fn numeric_text(infinity: bool) -> impl Strategy<Value = String> {
    let special = if infinity {
        vec!["NaN", "Infinity", "-Infinity"]
    } else {
        vec!["NaN"]
    };
    prop_oneof![
        proptest::sample::select(special).prop_map(str::to_string),
        "-?[0-9]{1,30}(\\.[0-9]{1,20})?",
    ]
}

fn typed_row(numeric_infinity: bool) -> impl Strategy<Value = TypedRow> {
    use proptest::option::of;
    (
        (
            of(any::<bool>()),
            of(any::<i16>()),
            of(any::<i32>()),
            of(any::<i64>()),
            of(any::<u32>()),
            of(any::<f32>()),
            of(any::<f64>()),
            of(numeric_text(numeric_infinity)),
        ),
        (
            of(pg_text()),
            of(proptest::collection::vec(any::<u8>(), 0..32)),
            // Microseconds from 2000-01-01 within about ±140 years, and the infinities.
            of(prop_oneof![
                -(1i64 << 52)..(1i64 << 52),
                Just(i64::MAX),
                Just(i64::MIN)
            ]),
            of(-1_000_000i32..1_000_000),
            of((-100_000i32..100_000, -(1i64 << 50)..(1i64 << 50))),
            of(any::<u128>()),
            of(proptest::collection::vec(of(pg_text()), 0..5)),
            of(proptest::collection::vec(of(any::<i32>()), 0..5)),
        ),
    )
        .prop_map(
            |(
                (flag, i2, i4, i8, oid, f4, f8, num),
                (t, b, tstz_micros, d_days, iv, u, atext, aint),
            )| {
                TypedRow {
                    flag,
                    i2,
                    i4,
                    i8,
                    oid,
                    f4,
                    f8,
                    num,
                    t,
                    b,
                    tstz_micros,
                    d_days,
                    iv,
                    u,
                    atext,
                    aint,
                }
            },
        )
}

const COLUMNS: &str = "flag bool, i2 int2, i4 int4, i8 int8, o oid, f4 float4, f8 float8, \
    num numeric, t text, b bytea, tstz timestamptz, d date, iv interval, u uuid, \
    j json, jb jsonb, atext text[], aint int4[]";

/// Builds the row in SQL from the generated parts (json and jsonb from the text, so their
/// quoting is exercised too).
const INSERT: &str = "INSERT INTO source VALUES ($1::bool, $2::int2, $3::int4, $4::int8, \
    $5::int8::oid, $6::float4, $7::float8, $8::text::numeric, $9::text, $10::bytea, \
    CASE $11::int8 WHEN 9223372036854775807 THEN 'infinity'::timestamptz \
                   WHEN -9223372036854775808 THEN '-infinity'::timestamptz \
                   ELSE timestamptz '2000-01-01 00:00:00+00' + $11::int8 * interval '1 microsecond' END, \
    date '2000-01-01' + $12::int4, \
    $13::int4 * interval '1 month' + $14::int8 * interval '1 microsecond', \
    $15::text::uuid, json_build_array($9::text, $4::int8, $1::bool), \
    jsonb_build_object('t', $9::text, 'n', $3::int4), $16::text[], $17::int4[])";

#[test]
fn postgres_copy_output_round_trips_byte_for_byte() {
    let db = TestDb::new("row_codec_props");
    let numeric_infinity = db.server_major() >= 14;
    db.execute(&format!(
        "SET client_encoding = 'UTF8'; CREATE TABLE source ({COLUMNS}); CREATE TABLE twin ({COLUMNS});"
    ));
    let kinds: Vec<JsonKind> = [
        "bool",
        "int2",
        "int4",
        "int8",
        "oid",
        "float4",
        "float8",
        "numeric",
        "text",
        "bytea",
        "timestamptz",
        "date",
        "interval",
        "uuid",
        "json",
        "jsonb",
        "_text",
        "_int4",
    ]
    .into_iter()
    .map(JsonKind::for_base_type)
    .collect();
    let names: Vec<String> = COLUMNS
        .split(", ")
        .map(|c| c.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), kinds.len());

    // One runtime for the whole run: the connection's task runs while a case awaits.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(connect(&db.url));
    let lines_checked = std::cell::Cell::new(0usize);
    runner(cases(24))
        .run(
            &proptest::collection::vec(typed_row(numeric_infinity), 1..12),
            |rows| runtime.block_on(check_rows(&client, &kinds, &names, &rows, &lines_checked)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(lines_checked.get() > 0, "no row was checked");
}

async fn check_rows(
    client: &tokio_postgres::Client,
    kinds: &[JsonKind],
    names: &[String],
    rows: &[TypedRow],
    lines_checked: &std::cell::Cell<usize>,
) -> Result<(), TestCaseError> {
    let fail = |what: &str, e: &tokio_postgres::Error| {
        let reason = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |db| db.message().to_string());
        TestCaseError::fail(format!("{what}: {reason}"))
    };
    client
        .batch_execute("TRUNCATE source, twin")
        .await
        .map_err(|e| fail("truncate", &e))?;
    for row in rows {
        let oid = row.oid.map(i64::from);
        let (months, micros) = row.iv.unzip();
        let uuid = row.u.map(|u| format!("{u:032x}"));
        client
            .execute(
                INSERT,
                &[
                    &row.flag,
                    &row.i2,
                    &row.i4,
                    &row.i8,
                    &oid,
                    &row.f4,
                    &row.f8,
                    &row.num,
                    &row.t,
                    &row.b,
                    &row.tstz_micros,
                    &row.d_days,
                    &months,
                    &micros,
                    &uuid,
                    &row.atext,
                    &row.aint,
                ],
            )
            .await
            .map_err(|e| fail("insert", &e))?;
    }
    let source = copy_out(client, "COPY source TO STDOUT").await?;
    prop_assert_eq!(source.len(), rows.len());

    let mut decoded = Vec::new();
    for line in &source {
        let (json, back) = round_trip(kinds, names, line)?;
        serde_json::from_slice::<Map<String, Value>>(&json)
            .map_err(|e| TestCaseError::fail(format!("the line is not a JSON object: {e}")))?;
        let mut expected = line.clone();
        expected.push(b'\n');
        prop_assert_eq!(
            String::from_utf8_lossy(&back),
            String::from_utf8_lossy(&expected),
            "JSON line {}",
            String::from_utf8_lossy(&json)
        );
        decoded.extend_from_slice(&back);
        lines_checked.set(lines_checked.get() + 1);
    }

    // What restore sends, PostgreSQL reads back to the same values.
    let sink = client
        .copy_in("COPY twin FROM STDIN")
        .await
        .map_err(|e| fail("copy in", &e))?;
    futures_util::pin_mut!(sink);
    sink.send(Bytes::from(decoded))
        .await
        .map_err(|e| fail("copy in", &e))?;
    sink.finish().await.map_err(|e| fail("copy in", &e))?;
    let twin = copy_out(client, "COPY twin TO STDOUT").await?;
    prop_assert_eq!(twin, source);
    Ok(())
}

/// The COPY text lines of a query, without their newlines.
async fn copy_out(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Vec<Vec<u8>>, TestCaseError> {
    let stream = client
        .copy_out(sql)
        .await
        .map_err(|e| TestCaseError::fail(format!("copy out: {e}")))?;
    futures_util::pin_mut!(stream);
    let mut all = Vec::new();
    while let Some(chunk) = stream.next().await {
        all.extend_from_slice(&chunk.map_err(|e| TestCaseError::fail(format!("copy out: {e}")))?);
    }
    Ok(all
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}
