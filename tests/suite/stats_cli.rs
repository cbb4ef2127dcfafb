//! `palmdb stats user` and `palmdb stats orders` against demo data: the figures agree with
//! plain SQL, pages follow each other without gaps or repeats, bad input is one clear line.

use serde_json::Value;

use crate::common::{assert_exit, assert_success, stdout, TestDb};

fn demo_db(tag: &str) -> TestDb {
    let db = TestDb::migrated(tag);
    assert_success(&db.palmdb(&["demo-data", "--users", "2000", "--seed", "5"]));
    db
}

fn json(db: &TestDb, args: &[&str]) -> Value {
    let out = db.palmdb(args);
    assert_success(&out);
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

#[test]
fn stats_user_by_email_in_any_case_or_by_id_gives_the_figures_sql_gives() {
    let db = demo_db("stats_cli_user");
    let user_id = db
        .scalar("SELECT user_id FROM preorders GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1")
        .unwrap();
    let email = db
        .scalar(&format!("SELECT email FROM users WHERE id = '{user_id}'"))
        .unwrap();

    let by_id = json(&db, &["stats", "user", &user_id, "--json"]);
    let by_email = json(&db, &["stats", "user", &email.to_uppercase(), "--json"]);
    assert_eq!(by_id, by_email);
    assert_eq!(by_id["user_id"], user_id.as_str());

    let sql = |q: &str| {
        db.scalar(&q.replace("$USER", &user_id))
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(
        by_id["orders_total"],
        sql("SELECT count(*) FROM preorders WHERE user_id = '$USER'")
    );
    assert_eq!(
        by_id["orders_completed"],
        sql("SELECT count(*) FROM preorders WHERE user_id = '$USER' AND status = 'completed'")
    );
    assert_eq!(
        by_id["orders_refunded"],
        sql("SELECT count(*) FROM preorders WHERE user_id = '$USER' AND status = 'refunded'")
    );
    assert_eq!(
        by_id["revenue_cents"],
        sql("SELECT coalesce(sum(stripe_amount), 0) FROM preorders WHERE user_id = '$USER' AND status = 'completed'")
    );
    assert_eq!(
        by_id["sessions_total"],
        sql("SELECT count(*) FROM palm_analysis_sessions WHERE user_id = '$USER'")
    );
    assert_eq!(
        by_id["sessions_failed"],
        sql("SELECT count(*) FROM palm_analysis_sessions WHERE user_id = '$USER' AND status = 'failed'")
    );
    assert!(by_id["orders_total"].as_i64().unwrap() >= 3);

    // For people: one labelled line per figure.
    let out = db.palmdb(&["stats", "user", &email]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("user            {email} ({user_id})")),
        "{text}"
    );
    assert!(
        text.contains(&format!("orders          {} total", by_id["orders_total"])),
        "{text}"
    );
}

#[test]
fn stats_user_without_orders_or_sessions_gets_zeros_not_nulls() {
    let db = TestDb::migrated("stats_cli_zero");
    db.execute("INSERT INTO users (email) VALUES ('New.Comer@example.com')");
    let stats = json(&db, &["stats", "user", "new.comer@EXAMPLE.com", "--json"]);
    for key in [
        "orders_total",
        "orders_completed",
        "orders_refunded",
        "revenue_cents",
        "sessions_total",
        "sessions_completed",
        "sessions_failed",
    ] {
        assert_eq!(stats[key], 0, "{key} in {stats}");
    }
    assert_eq!(stats["first_activity_at"], Value::Null);
    assert_eq!(stats["email"], "New.Comer@example.com");
}

#[test]
fn stats_user_unknown_or_malformed_is_one_clear_error() {
    let db = TestDb::migrated("stats_cli_unknown");
    let text = assert_exit(&db.palmdb(&["stats", "user", "nobody@example.com"]), 1);
    assert!(
        text.starts_with("palmdb: no user with email nobody@example.com\n"),
        "{text}"
    );
    let text = assert_exit(
        &db.palmdb(&[
            "stats",
            "user",
            "00000000-0000-0000-0000-000000000000",
            "--json",
        ]),
        1,
    );
    assert!(
        text.starts_with("palmdb: no user with id 00000000-0000-0000-0000-000000000000"),
        "{text}"
    );
    let text = assert_exit(&db.palmdb(&["stats", "user", "bob"]), 1);
    assert!(
        text.contains("\"bob\" is neither a user id (a uuid) nor an email address"),
        "{text}"
    );
}

#[test]
fn stats_orders_pages_follow_each_other_newest_first_without_gaps() {
    let db = demo_db("stats_cli_pages");
    let expected: Vec<i64> = db
        .scalar(
            "SELECT string_agg(id::text, ',' ORDER BY created_at DESC, id DESC) FROM (
                 SELECT id, created_at FROM preorders WHERE status = 'completed'
                 ORDER BY created_at DESC, id DESC LIMIT 30) AS newest",
        )
        .unwrap()
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();

    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    for _ in 0..3 {
        let mut args = vec![
            "stats",
            "orders",
            "--status",
            "completed",
            "--limit",
            "10",
            "--json",
        ];
        let cursor = before.map(|b| b.to_string());
        if let Some(cursor) = &cursor {
            args.extend(["--before", cursor.as_str()]);
        }
        let page = json(&db, &args);
        assert_eq!(page["status"], "completed");
        let orders = page["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 10);
        assert!(orders.iter().all(|o| o["status"] == "completed"));
        seen.extend(orders.iter().map(|o| o["id"].as_i64().unwrap()));
        before = page["next_before"].as_i64();
        assert_eq!(before, seen.last().copied());
    }
    assert_eq!(seen, expected);
}

#[test]
fn stats_orders_last_page_has_no_cursor_and_the_table_says_how_to_go_on() {
    let db = demo_db("stats_cli_table");
    let refunded: usize = db
        .scalar("SELECT count(*) FROM preorders WHERE status = 'refunded'")
        .unwrap()
        .parse()
        .unwrap();
    let page = json(
        &db,
        &[
            "stats", "orders", "--status", "refunded", "--limit", "1000", "--json",
        ],
    );
    assert_eq!(page["orders"].as_array().unwrap().len(), refunded);
    assert_eq!(page["next_before"], Value::Null);

    let out = db.palmdb(&["stats", "orders", "--status", "refunded", "--limit", "2"]);
    assert_success(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].trim_start().starts_with("ID  CREATED"), "{text}");
    assert!(
        lines[3]
            .starts_with("next page: palmdb stats orders --status refunded --limit 2 --before "),
        "{text}"
    );
}

#[test]
fn stats_orders_with_an_unknown_status_names_the_allowed_values() {
    let db = TestDb::migrated("stats_cli_status");
    let out = db.palmdb(&["stats", "orders", "--status", "shipped"]);
    let text = assert_exit(&out, 1);
    assert!(stdout(&out).is_empty());
    assert_eq!(
        text,
        "palmdb: unknown order status \"shipped\"\n\
         HINT: allowed values: initiated, processing, completed, failed, refunded, cancelled\n"
    );
    let text = assert_exit(
        &db.palmdb(&[
            "stats",
            "orders",
            "--status",
            "completed",
            "--limit",
            "5000",
        ]),
        1,
    );
    assert!(
        text.contains("page size must be between 1 and 1000, not 5000"),
        "{text}"
    );
    let text = assert_exit(
        &db.palmdb(&["stats", "orders", "--status", "completed", "--before", "42"]),
        1,
    );
    assert!(text.contains("no order with id 42 to page from"), "{text}");
}

#[test]
fn stats_on_a_database_without_palms_tables_says_they_are_not_there() {
    let db = TestDb::new("stats_cli_nomigrate");
    let text = assert_exit(&db.palmdb(&["stats", "orders", "--status", "completed"]), 1);
    assert!(
        text.contains(&format!(
            "palmdb: database {} does not have Palm's tables (public.users, ",
            db.name
        )),
        "{text}"
    );
    assert!(
        text.contains("HINT: point palmdb stats at Palm's database"),
        "{text}"
    );
}

#[test]
fn stats_on_palms_tables_without_the_functions_says_to_migrate() {
    let db = TestDb::new("stats_cli_nofunctions");
    assert_success(&db.palmdb(&["migrate", "--target-version", "1"]));
    let text = assert_exit(&db.palmdb(&["stats", "user", "a@example.com"]), 1);
    assert!(
        text.contains("this database has no palmdb stats functions"),
        "{text}"
    );
    assert!(text.contains("HINT: run palmdb migrate first"), "{text}");
}
