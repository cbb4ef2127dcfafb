//! `palmdb demo-data`: realistic, deterministic, and never on top of existing data.

use crate::common;
use crate::common::{assert_exit, assert_success, stdout, TestDb};
use palmdb::demo_data::PALM_TABLES;

/// A fingerprint of every row of every Palm table, in id order.
fn fingerprint(db: &TestDb) -> String {
    PALM_TABLES
        .iter()
        .map(|t| {
            db.scalar(&format!(
                "SELECT md5(string_agg(t::text, E'\\n' ORDER BY t.id::text)) FROM {t} AS t"
            ))
            .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Indexes and constraints of the Palm tables, as definitions.
fn schema_shape(db: &TestDb) -> String {
    db.scalar(
        "SELECT string_agg(d, E'\\n' ORDER BY d) FROM (
             SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index
             WHERE indrelid::regclass::text IN
                   ('users', 'preorders', 'palm_analysis_sessions', 'user_images', 'webhook_logs')
             UNION ALL
             SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
             FROM pg_constraint
             WHERE conrelid::regclass::text IN
                   ('users', 'preorders', 'palm_analysis_sessions', 'user_images', 'webhook_logs')
         ) AS shape",
    )
    .unwrap()
}

#[test]
fn demo_data_fills_every_table_with_a_realistic_mix() {
    let db = TestDb::migrated("demo_mix");
    let shape_before = schema_shape(&db);
    let out = db.palmdb(&["demo-data", "--users", "2000", "--json"]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["tables"][0]["rows"], 2000);

    let count = |sql: &str| db.scalar(sql).unwrap().parse::<i64>().unwrap();
    assert_eq!(count("SELECT count(*) FROM users"), 2000);
    assert_eq!(count("SELECT count(*) FROM preorders"), 2000);
    assert_eq!(count("SELECT count(*) FROM palm_analysis_sessions"), 2000);
    assert_eq!(count("SELECT count(*) FROM user_images"), 1000);
    assert_eq!(count("SELECT count(*) FROM webhook_logs"), 2000);

    // Skewed: most orders completed, every status present, and some users buy many times.
    let completed = count("SELECT count(*) FROM preorders WHERE status = 'completed'");
    assert!(
        (1200..1600).contains(&completed),
        "completed orders: {completed}"
    );
    assert_eq!(count("SELECT count(DISTINCT status) FROM preorders"), 6);
    assert_eq!(
        count("SELECT count(DISTINCT status) FROM palm_analysis_sessions"),
        4
    );
    assert_eq!(count("SELECT count(DISTINCT status) FROM webhook_logs"), 3);
    assert!(
        count("SELECT max(n) FROM (SELECT count(*) AS n FROM preorders GROUP BY user_id) AS c")
            >= 5
    );
    assert!(
        count("SELECT count(*) FROM users WHERE id NOT IN (SELECT user_id FROM preorders)") > 500
    );

    // Some people type their address with capitals; the unique lower(email) index holds.
    let mixed = count("SELECT count(*) FROM users WHERE email <> lower(email)");
    assert!((20..200).contains(&mixed), "mixed-case emails: {mixed}");
    assert!(count("SELECT count(*) FROM users WHERE role = 'admin'") < 20);

    // JSON payloads that look like the provider's, and analysis results.
    assert_eq!(
        count("SELECT count(*) FROM webhook_logs WHERE payload->>'id' = event_id AND payload #>> '{data,object,id}' LIKE 'cs_demo_%'"),
        2000
    );
    assert!(count("SELECT count(*) FROM palm_analysis_sessions WHERE result ? 'lines'") > 1000);
    assert_eq!(
        count("SELECT count(*) FROM user_images AS i JOIN palm_analysis_sessions AS s ON s.id = i.session_id AND s.user_id = i.user_id"),
        1000
    );

    // Indexes and foreign keys set aside during the load are all back, unchanged.
    assert_eq!(schema_shape(&db), shape_before);
    // Identities continue after the generated ids.
    db.execute("INSERT INTO preorders (user_id, stripe_amount) SELECT id, 100 FROM users LIMIT 1");
    assert_eq!(count("SELECT max(id) FROM preorders"), 2001);
}

#[test]
fn demo_data_is_deterministic_for_a_seed() {
    let first = TestDb::migrated("demo_seed_a");
    let second = TestDb::migrated("demo_seed_b");
    assert_success(&first.palmdb(&["demo-data", "--users", "500", "--seed", "7"]));
    assert_success(&second.palmdb(&["demo-data", "--users", "500", "--seed", "7"]));
    assert_eq!(fingerprint(&first), fingerprint(&second));

    assert_success(&second.palmdb(&["demo-data", "--users", "500", "--seed", "8", "--force"]));
    assert_ne!(fingerprint(&first), fingerprint(&second));
}

#[test]
fn demo_data_refuses_tables_with_rows_unless_forced() {
    let db = TestDb::migrated("demo_refuse");
    db.execute("INSERT INTO users (email) VALUES ('real.customer@example.com')");
    let out = db.palmdb(&["demo-data", "--users", "100"]);
    let text = assert_exit(&out, 1);
    assert!(
        text.contains("refusing to write demo data: users already holds rows"),
        "{text}"
    );
    assert!(text.contains("HINT: pass --force"), "{text}");
    assert_eq!(
        db.scalar("SELECT string_agg(email, ',') FROM users")
            .unwrap(),
        "real.customer@example.com"
    );

    assert_success(&db.palmdb(&["demo-data", "--users", "100", "--force"]));
    assert_eq!(db.scalar("SELECT count(*) FROM users").unwrap(), "100");
    assert_eq!(
        db.scalar("SELECT count(*) FROM users WHERE email = 'real.customer@example.com'")
            .unwrap(),
        "0"
    );
}

#[test]
fn demo_data_without_the_schema_says_to_migrate() {
    let db = TestDb::new("demo_nomigrate");
    let text = assert_exit(&db.palmdb(&["demo-data", "--users", "10"]), 1);
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.contains("HINT: run palmdb migrate first"), "{text}");
}

#[test]
fn demo_data_rejects_a_user_count_out_of_range() {
    let db = TestDb::migrated("demo_range");
    let text = assert_exit(&db.palmdb(&["demo-data", "--users", "0"]), 1);
    assert!(text.contains("--users must be between 1 and"), "{text}");
    assert_eq!(db.scalar("SELECT count(*) FROM users").unwrap(), "0");
}

#[test]
fn demo_data_leaves_fresh_statistics_so_health_does_not_call_them_stale() {
    let db = TestDb::migrated("demo_data_fresh_stats");
    // Enough users that the trigger-kept revenue rollup gets over the check's 1,000-row floor.
    common::assert_success(&db.palmdb(&["demo-data", "--users", "20000"]));
    let out = db.palmdb(&["health", "--check", "stale_statistics", "--format", "json"]);
    let text = common::assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["checks"][0]["name"], "stale_statistics", "{text}");
    assert_eq!(report["checks"][0]["status"], "ok", "{text}");
}
