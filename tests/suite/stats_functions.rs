//! The stats functions that the CLI does not call (the listing pages' queries), from SQL:
//! each agrees with a plain query over the same rows, and bad input is an error naming what
//! is allowed.

use crate::common;
use crate::common::{assert_success, TestDb};

fn demo_db(tag: &str) -> TestDb {
    let db = TestDb::migrated(tag);
    assert_success(&db.palmdb(&["demo-data", "--users", "2000", "--seed", "11"]));
    db
}

/// The error message of a statement that must fail.
fn error_of(db: &TestDb, sql: &str) -> String {
    let (url, sql) = (db.url.clone(), sql.to_string());
    common::block_on(async move {
        let err = common::connect(&url)
            .await
            .batch_execute(&sql)
            .await
            .unwrap_err();
        let db_error = err.as_db_error().expect("a database error");
        format!("{} | {}", db_error.message(), db_error.hint().unwrap_or(""))
    })
}

#[test]
fn user_sessions_pages_through_one_users_sessions_newest_first() {
    let db = demo_db("stats_fn_sessions");
    let user = db
        .scalar("SELECT user_id FROM palm_analysis_sessions GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1")
        .unwrap();
    let all = db
        .scalar(&format!(
            "SELECT string_agg(id::text, ',' ORDER BY created_at DESC, id DESC)
             FROM palm_analysis_sessions WHERE user_id = '{user}'"
        ))
        .unwrap();
    let first = db
        .scalar(&format!(
            "SELECT string_agg(id::text, ',') FROM palmdb.user_sessions('{user}', 3)"
        ))
        .unwrap();
    let cursor = first.rsplit(',').next().unwrap();
    let rest = db
        .scalar(&format!(
            "SELECT string_agg(id::text, ',') FROM palmdb.user_sessions('{user}', 1000, {cursor})"
        ))
        .unwrap();
    assert_eq!(format!("{first},{rest}"), all);

    // A cursor from another user's sessions is refused, not silently ignored.
    let other = db
        .scalar(&format!(
            "SELECT id FROM palm_analysis_sessions WHERE user_id <> '{user}' LIMIT 1"
        ))
        .unwrap();
    assert!(error_of(
        &db,
        &format!("SELECT * FROM palmdb.user_sessions('{user}', 3, {other})")
    )
    .contains("has no session with id"));
}

#[test]
fn revenue_by_day_adds_up_completed_orders_per_utc_day_and_currency() {
    let db = demo_db("stats_fn_revenue");
    let from_function = db
        .scalar(
            "SELECT string_agg(day || ' ' || currency || ' ' || orders || ' ' || revenue_cents, '; ')
             FROM palmdb.revenue_by_day('2026-09-01', '2026-10-31')",
        )
        .unwrap();
    let from_sql = db
        .scalar(
            "SELECT string_agg(day || ' ' || currency || ' ' || orders || ' ' || revenue, '; ' ORDER BY day, currency)
             FROM (
                 SELECT (created_at AT TIME ZONE 'UTC')::date AS day, currency,
                        count(*) AS orders, sum(stripe_amount) AS revenue
                 FROM preorders
                 WHERE status = 'completed'
                   AND (created_at AT TIME ZONE 'UTC')::date BETWEEN '2026-09-01' AND '2026-10-31'
                 GROUP BY 1, 2
             ) AS per_day",
        )
        .unwrap();
    assert_eq!(from_function, from_sql);
    assert!(from_function.matches(';').count() > 30, "{from_function}");
}

#[test]
fn users_by_role_lists_one_role_newest_first_and_names_the_roles() {
    let db = demo_db("stats_fn_roles");
    db.execute("INSERT INTO users (email, role) VALUES ('boss@example.com', 'admin')");
    let admins = db
        .scalar("SELECT string_agg(email, ',') FROM palmdb.users_by_role('admin', 1000)")
        .unwrap();
    let expected = db
        .scalar("SELECT string_agg(email, ',' ORDER BY created_at DESC, id DESC) FROM users WHERE role = 'admin'")
        .unwrap();
    assert_eq!(admins, expected);
    assert!(admins.starts_with("boss@example.com"), "{admins}");

    let page = db
        .scalar("SELECT string_agg(id::text, ',') FROM palmdb.users_by_role('user', 5)")
        .unwrap();
    let cursor = page.rsplit(',').next().unwrap();
    let next = db
        .scalar(&format!(
            "SELECT string_agg(id::text, ',') FROM palmdb.users_by_role('user', 5, '{cursor}')"
        ))
        .unwrap();
    let expected = db
        .scalar(
            "SELECT string_agg(id::text, ',' ORDER BY created_at DESC, id DESC) FROM (
                     SELECT id, created_at FROM users WHERE role = 'user'
                     ORDER BY created_at DESC, id DESC LIMIT 10) AS t",
        )
        .unwrap();
    assert_eq!(format!("{page},{next}"), expected);

    assert_eq!(
        error_of(&db, "SELECT * FROM palmdb.users_by_role('root')"),
        "unknown role \"root\" | allowed values: user, admin"
    );
}

#[test]
fn webhooks_to_retry_is_the_failed_deliveries_with_attempts_left_oldest_first() {
    let db = demo_db("stats_fn_retry");
    let queue = db
        .scalar("SELECT string_agg(id::text, ',') FROM palmdb.webhooks_to_retry(3, 1000)")
        .unwrap();
    let expected = db
        .scalar(
            "SELECT string_agg(id::text, ',' ORDER BY created_at, id) FROM webhook_logs
             WHERE status = 'failed' AND attempts < 3",
        )
        .unwrap();
    assert_eq!(queue, expected);
    assert!(
        error_of(&db, "SELECT * FROM palmdb.webhooks_to_retry(5, 0)")
            .contains("page size must be between 1 and 1000, not 0")
    );
}

#[test]
fn the_stats_functions_are_stable_invoker_and_not_executable_by_public() {
    let db = TestDb::migrated("stats_fn_grants");
    let summary = db
        .scalar(
            "SELECT string_agg(p.proname || ' ' || p.provolatile::text || ' ' || p.prosecdef
                               || ' ' || has_function_privilege('public', p.oid, 'EXECUTE'),
                               ', ' ORDER BY p.proname)
             FROM pg_proc AS p
             WHERE p.pronamespace = 'palmdb'::regnamespace
               AND p.proname IN ('find_user_by_email', 'orders_by_status', 'page_size',
                                 'revenue_by_day', 'user_sessions', 'user_stats',
                                 'users_by_role', 'webhooks_to_retry')",
        )
        .unwrap();
    assert_eq!(
        summary,
        "find_user_by_email s false false, orders_by_status s false false, \
         page_size i false false, revenue_by_day s false false, user_sessions s false false, \
         user_stats s false false, users_by_role s false false, webhooks_to_retry s false false"
    );
}

/// revenue_by_day over all time, and the same figures computed from preorders directly.
fn revenue_both_ways(db: &TestDb) -> (String, String) {
    let from_function = db
        .scalar(
            "SELECT coalesce(string_agg(day || ' ' || currency || ' ' || orders || ' ' || revenue_cents, '; '), '')
             FROM palmdb.revenue_by_day('2000-01-01', '2100-01-01')",
        )
        .unwrap();
    let from_sql = db
        .scalar(
            "SELECT coalesce(string_agg(day || ' ' || currency || ' ' || orders || ' ' || revenue, '; ' ORDER BY day, currency), '')
             FROM (
                 SELECT (created_at AT TIME ZONE 'UTC')::date AS day, currency,
                        count(*) AS orders, sum(stripe_amount) AS revenue
                 FROM preorders
                 WHERE status = 'completed'
                 GROUP BY 1, 2
             ) AS per_day",
        )
        .unwrap();
    (from_function, from_sql)
}

#[test]
fn the_daily_revenue_rollup_follows_every_kind_of_write() {
    let db = demo_db("stats_fn_rollup");
    let (function, sql) = revenue_both_ways(&db);
    assert_eq!(function, sql, "after the demo load");
    let writes = [
        // An order completes, one is refunded, one moves to another day and currency.
        "UPDATE preorders SET status = 'completed' WHERE id = (SELECT min(id) FROM preorders WHERE status = 'initiated')",
        "UPDATE preorders SET status = 'refunded' WHERE id = (SELECT min(id) FROM preorders WHERE status = 'completed')",
        "UPDATE preorders SET created_at = created_at - interval '3 days', currency = 'eur'
         WHERE id = (SELECT max(id) FROM preorders WHERE status = 'completed')",
        "UPDATE preorders SET stripe_amount = stripe_amount + 100 WHERE status = 'completed' AND id % 7 = 0",
        // New completed orders in one statement, and deletions.
        "INSERT INTO preorders (user_id, status, stripe_amount, currency, created_at)
         SELECT id, 'completed', 1999, 'gbp', timestamptz '2026-10-05 23:59:59+00' FROM users LIMIT 50",
        "DELETE FROM preorders WHERE id IN (SELECT id FROM preorders WHERE status = 'completed' ORDER BY id LIMIT 10)",
    ];
    for write in writes {
        db.execute(write);
        let (function, sql) = revenue_both_ways(&db);
        assert_eq!(function, sql, "after: {write}");
    }
    // Another session writes into its own stripe; the sum is still exact.
    db.execute("INSERT INTO preorders (user_id, status, stripe_amount) SELECT id, 'completed', 500 FROM users LIMIT 5");
    assert!(
        db.scalar("SELECT count(DISTINCT stripe) > 1 FROM palmdb.daily_revenue")
            .as_deref()
            == Some("true"),
        "writes from several sessions use several stripes"
    );
    let (function, sql) = revenue_both_ways(&db);
    assert_eq!(function, sql, "after writes from several sessions");
    // A rolled-back write leaves no trace; TRUNCATE empties the rollup.
    db.execute("BEGIN; DELETE FROM preorders WHERE status = 'completed'; ROLLBACK;");
    let (function, sql) = revenue_both_ways(&db);
    assert_eq!(function, sql, "after a rolled-back delete");
    db.execute("TRUNCATE preorders");
    assert_eq!(
        db.scalar("SELECT count(*) FROM palmdb.daily_revenue")
            .as_deref(),
        Some("0")
    );
}
