//! `palmdb restore --from-legacy`: the old system's single-document export (camelCase keys
//! from Drizzle, `{"tables": {"users": {"data": [...], "count": N}}}`), imported with the same
//! checks and atomicity as a restore.

use serde_json::{json, Value};

use crate::common::{assert_exit, assert_success, stdout, TestDb};
use crate::restore_support::palm_counts;

/// An export as `scripts/database-export.ts` wrote it: `JSON.stringify(backupData, null, 2)`,
/// Drizzle's camelCase property names, dates as ISO strings, jsonb as nested JSON. Tables are
/// not in foreign-key order (children first) on purpose.
fn export(users: usize) -> Value {
    let uid = |i: usize| format!("00000000-0000-4000-8000-{i:012}");
    let users_data: Vec<Value> = (1..=users)
        .map(|i| {
            json!({
                "id": uid(i),
                "email": format!("user{i}@example.com"),
                "name": if i % 3 == 0 { Value::Null } else { json!(format!("Name \"{i}\" \\ tab\there")) },
                "role": "user",
                "createdAt": "2025-01-02T03:04:05.678Z",
                "updatedAt": "2025-01-02T03:04:05.678Z"
            })
        })
        .collect();
    let preorders: Vec<Value> = (1..=users)
        .map(|i| {
            json!({
                "id": i * 10,
                "userId": uid(i),
                "status": "completed",
                "stripeAmount": 1999,
                "currency": "usd",
                "stripeSessionId": format!("cs_{i}"),
                "stripePaymentIntentId": null,
                "customerEmail": format!("user{i}@example.com"),
                "createdAt": "2025-01-02T03:04:05.678Z",
                "updatedAt": "2025-01-02T03:04:05.678Z"
            })
        })
        .collect();
    let sessions: Vec<Value> = (1..=users)
        .map(|i| {
            json!({
                "id": i,
                "userId": uid(i),
                "status": "completed",
                "analysisType": "basic",
                "result": {"lines": {"heart": "deep\nand long", "life": i}, "score": 0.5},
                "errorMessage": null,
                "createdAt": "2025-01-02T03:04:05.678Z",
                "updatedAt": "2025-01-02T03:04:05.678Z",
                "completedAt": "2025-01-02T03:05:00.000Z"
            })
        })
        .collect();
    json!({
        "timestamp": "2025-01-02T04:00:00.000Z",
        "version": "1.0",
        "tables": {
            "user_images": {"data": [{
                "id": 1, "userId": uid(1), "sessionId": 1,
                "imageUrl": "https://img.example.com/1.jpg", "hand": "left",
                "createdAt": "2025-01-02T03:04:05.678Z"
            }], "count": 1, "exported_at": "2025-01-02T04:00:00.000Z"},
            "preorders": {"data": preorders, "count": users, "exported_at": "2025-01-02T04:00:00.000Z"},
            "users": {"data": users_data, "count": users, "exported_at": "2025-01-02T04:00:00.000Z"},
            "palm_analysis_sessions": {"data": sessions, "count": users, "exported_at": "2025-01-02T04:00:00.000Z"},
            "webhook_logs": {"data": [], "count": 0, "exported_at": "2025-01-02T04:00:00.000Z"}
        }
    })
}

fn write(dir: &std::path::Path, document: &Value) -> std::path::PathBuf {
    let path = dir.join("database_export_2025-01-02.json");
    std::fs::write(&path, serde_json::to_string_pretty(document).unwrap()).unwrap();
    path
}

fn import(db: &TestDb, file: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["restore", "--from-legacy", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    db.palmdb(&args)
}

#[test]
fn imports_a_seed_era_export_with_camel_case_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), &export(25));
    let db = TestDb::migrated("legacy_ok");
    let out = import(&db, &file, &["--json"]);
    assert_success(&out);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["rows"], 76);
    assert_eq!(palm_counts(&db), vec![25, 25, 25, 1, 0]);

    assert_eq!(
        db.scalar("SELECT name FROM users WHERE email = 'user1@example.com'")
            .as_deref(),
        Some("Name \"1\" \\ tab\there")
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM users WHERE name IS NULL")
            .as_deref(),
        Some("8")
    );
    assert_eq!(
        db.scalar("SELECT created_at = '2025-01-02T03:04:05.678Z' FROM users LIMIT 1")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        db.scalar("SELECT result -> 'lines' ->> 'heart' FROM palm_analysis_sessions WHERE id = 2")
            .as_deref(),
        Some("deep\nand long")
    );
    assert_eq!(
        db.scalar("SELECT stripe_session_id FROM preorders WHERE id = 30")
            .as_deref(),
        Some("cs_3")
    );
    // Identity ids kept, sequence moved past them.
    db.execute("INSERT INTO preorders (user_id, stripe_amount) SELECT id, 1 FROM users LIMIT 1");
    assert_eq!(
        db.scalar("SELECT max(id) FROM preorders").as_deref(),
        Some("251")
    );

    // Imported once; a second import is refused (tables not empty), --clean replaces.
    let text = assert_exit(&import(&db, &file, &[]), 1);
    assert!(text.contains("not empty"), "{text}");
    assert_success(&import(&db, &file, &["--clean"]));
    assert_eq!(palm_counts(&db), vec![25, 25, 25, 1, 0]);
}

#[test]
fn a_bad_row_midway_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut document = export(20);
    // Preorders load after users; its 11th row breaks a CHECK constraint.
    document["tables"]["preorders"]["data"][10]["stripeAmount"] = json!(-5);
    let file = write(dir.path(), &document);
    let db = TestDb::migrated("legacy_badrow");
    let text = assert_exit(&import(&db, &file, &[]), 1);
    assert!(text.contains("preorders"), "{text}");
    assert!(text.contains("nothing was restored"), "{text}");
    assert_eq!(palm_counts(&db), vec![0, 0, 0, 0, 0]);
}

#[test]
fn refuses_inconsistent_or_unfitting_exports_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::migrated("legacy_refused");

    let mut document = export(5);
    document["tables"]["users"]["count"] = json!(6);
    let text = assert_exit(&import(&db, &write(dir.path(), &document), &[]), 1);
    assert!(
        text.contains("users says count 6 but holds 5 rows"),
        "{text}"
    );

    let mut document = export(5);
    document["tables"]["users"]["data"][0]["favouriteColour"] = json!("green");
    let text = assert_exit(&import(&db, &write(dir.path(), &document), &[]), 1);
    assert!(
        text.contains("\"favouriteColour\" matches no column"),
        "{text}"
    );

    let text = assert_exit(
        &import(&db, &write(dir.path(), &json!({"rows": []})), &[]),
        1,
    );
    assert!(text.contains("no \"tables\""), "{text}");

    let path = dir.path().join("cut.json");
    let full = serde_json::to_string_pretty(&export(5)).unwrap();
    std::fs::write(&path, &full[..full.len() / 2]).unwrap();
    let text = assert_exit(&import(&db, &path, &[]), 1);
    assert!(text.contains("not an export of the old system"), "{text}");
    assert_eq!(palm_counts(&db), vec![0, 0, 0, 0, 0]);

    // --dry-run checks and changes nothing; --table narrows.
    let file = write(dir.path(), &export(5));
    let out = import(&db, &file, &["--dry-run"]);
    assert_success(&out);
    assert_eq!(palm_counts(&db), vec![0, 0, 0, 0, 0]);
    assert_success(&import(&db, &file, &["--table", "users"]));
    assert_eq!(palm_counts(&db), vec![5, 0, 0, 0, 0]);
}
