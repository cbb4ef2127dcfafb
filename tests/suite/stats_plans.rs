//! Proof by plan: at 50k rows per table, after ANALYZE, every stats function is served by an
//! index, never by a sequential scan of a Palm table. The plans are those of the statements
//! the functions really run: auto_explain logs every nested statement (plpgsql bodies too)
//! at NOTICE level, so they reach this client instead of the server log. Also: the index set
//! has no prefix duplicate and is exactly the one docs/indexes.md lists.

use std::collections::BTreeSet;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::common;
use crate::common::{assert_success, TestDb};
use palmdb::demo_data::PALM_TABLES;

/// A connection whose notices (auto_explain's plans) arrive on a channel.
async fn explaining_client(url: &str) -> (Client, mpsc::UnboundedReceiver<String>) {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notice(notice) = message {
                let _ = sender.send(notice.message().to_string());
            }
        }
    });
    client
        .batch_execute(
            "LOAD 'auto_explain';
             SET auto_explain.log_min_duration = 0;
             SET auto_explain.log_nested_statements = on;
             SET auto_explain.log_format = 'json';
             SET auto_explain.log_level = 'notice';",
        )
        .await
        .unwrap();
    (client, receiver)
}

/// Every plan node under `plan`, as (node type, relation, index).
fn nodes(plan: &Value, out: &mut Vec<(String, String, String)>) {
    let text = |key: &str| {
        plan.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    out.push((text("Node Type"), text("Relation Name"), text("Index Name")));
    for child in plan
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        nodes(child, out);
    }
}

/// Runs `call` and returns the plan nodes of every statement it executed, with their text.
async fn plans_of(
    client: &Client,
    notices: &mut mpsc::UnboundedReceiver<String>,
    call: &str,
) -> (Vec<(String, String, String)>, Vec<String>) {
    client
        .simple_query(call)
        .await
        .unwrap_or_else(|e| panic!("{call}: {e:?}"));
    // A round trip after the call: every notice of the call has arrived before its answer.
    client.simple_query("SELECT 1").await.unwrap();
    let mut all = Vec::new();
    let mut texts = Vec::new();
    while let Ok(message) = notices.try_recv() {
        let Some(json) = message.split_once("plan:").map(|(_, json)| json.trim()) else {
            continue;
        };
        let logged: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        let query = logged["Query Text"].as_str().unwrap_or("").to_string();
        if query.trim() == "SELECT 1" {
            continue;
        }
        texts.push(query);
        nodes(&logged["Plan"], &mut all);
    }
    (all, texts)
}

fn assert_served_by(call: &str, found: &[(String, String, String)], texts: &[String], index: &str) {
    let seq_scans: Vec<_> = found
        .iter()
        .filter(|(node, relation, _)| {
            node == "Seq Scan" && PALM_TABLES.contains(&relation.as_str())
        })
        .collect();
    assert!(
        seq_scans.is_empty(),
        "{call} scans a whole table: {seq_scans:?}\nstatements: {texts:#?}"
    );
    assert!(
        found
            .iter()
            .any(|(node, _, name)| node.contains("Index") && name == index),
        "{call} does not use {index}: {found:?}\nstatements: {texts:#?}"
    );
}

#[test]
fn every_stats_function_is_served_by_an_index_at_50k_rows() {
    let db = TestDb::migrated("stats_plans");
    assert_success(&db.palmdb(&["demo-data", "--users", "50000", "--seed", "3"]));
    // Settled like a live database: statistics fresh, visibility map set.
    db.execute("VACUUM ANALYZE");
    let url = db.url.clone();
    common::block_on(async move {
        let (client, mut notices) = explaining_client(&url).await;
        let one = |sql: &str| sql.to_string();
        let value = |rows: Vec<tokio_postgres::SimpleQueryMessage>| -> String {
            rows.into_iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .expect("a row")
        };
        // Real arguments: the heaviest buyer, a mid-list cursor, an address typed in capitals.
        let heavy_user = value(
            client
                .simple_query(&one(
                    "SELECT user_id FROM preorders GROUP BY user_id ORDER BY count(*) DESC LIMIT 1",
                ))
                .await
                .unwrap(),
        );
        let email = value(
            client
                .simple_query("SELECT upper(email) FROM users ORDER BY id LIMIT 1")
                .await
                .unwrap(),
        );
        let order_cursor = value(client.simple_query(
            "SELECT id FROM preorders WHERE status = 'completed' ORDER BY created_at DESC, id DESC OFFSET 100 LIMIT 1",
        ).await.unwrap());
        let session_cursor = value(client.simple_query(&format!(
            "SELECT id FROM palm_analysis_sessions WHERE user_id = '{heavy_user}' ORDER BY created_at DESC LIMIT 1"
        )).await.unwrap());
        let user_cursor = value(client.simple_query(
            "SELECT id FROM users WHERE role = 'user' ORDER BY created_at DESC, id DESC OFFSET 50 LIMIT 1",
        ).await.unwrap());
        // Drop the notices of the lookups above.
        plans_of(&client, &mut notices, "SELECT 1").await;

        let cases = [
            (
                format!("SELECT * FROM palmdb.find_user_by_email('{email}')"),
                "users_email_lower_key",
            ),
            (
                format!("SELECT * FROM palmdb.user_stats('{heavy_user}')"),
                "preorders_user_id_idx",
            ),
            (
                format!("SELECT * FROM palmdb.user_stats('{heavy_user}')"),
                "palm_analysis_sessions_user_created_idx",
            ),
            (
                format!("SELECT * FROM palmdb.user_stats('{heavy_user}')"),
                "users_pkey",
            ),
            (
                "SELECT * FROM palmdb.orders_by_status('completed')".to_string(),
                "preorders_status_created_at_idx",
            ),
            (
                format!("SELECT * FROM palmdb.orders_by_status('completed', 50, {order_cursor})"),
                "preorders_status_created_at_idx",
            ),
            (
                format!("SELECT * FROM palmdb.orders_by_status('refunded', 20, {order_cursor})"),
                "preorders_pkey",
            ),
            (
                format!("SELECT * FROM palmdb.user_sessions('{heavy_user}')"),
                "palm_analysis_sessions_user_created_idx",
            ),
            (
                format!("SELECT * FROM palmdb.user_sessions('{heavy_user}', 5, {session_cursor})"),
                "palm_analysis_sessions_user_created_idx",
            ),
            (
                "SELECT * FROM palmdb.revenue_by_day('2026-10-01', '2026-10-07')".to_string(),
                "daily_revenue_pkey",
            ),
            (
                "SELECT * FROM palmdb.users_by_role('admin')".to_string(),
                "users_role_created_at_idx",
            ),
            (
                format!("SELECT * FROM palmdb.users_by_role('user', 50, '{user_cursor}')"),
                "users_role_created_at_idx",
            ),
            (
                "SELECT * FROM palmdb.webhooks_to_retry()".to_string(),
                "webhook_logs_failed_created_at_idx",
            ),
        ];
        for (call, index) in &cases {
            let (found, texts) = plans_of(&client, &mut notices, call).await;
            assert!(!found.is_empty(), "no plan was logged for {call}");
            assert_served_by(call, &found, &texts, index);
        }
        // V13's covering indexes: a user's figures come from the indexes alone, whichever
        // user (the heaviest buyer, or one with nothing at all).
        let idle_user = value(
            client
                .simple_query(
                    "SELECT u.id FROM users AS u
                     WHERE NOT EXISTS (SELECT FROM preorders AS p WHERE p.user_id = u.id)
                     ORDER BY u.id LIMIT 1",
                )
                .await
                .unwrap(),
        );
        plans_of(&client, &mut notices, "SELECT 1").await;
        for user in [&heavy_user, &idle_user] {
            let call = format!("SELECT * FROM palmdb.user_stats('{user}')");
            let (found, texts) = plans_of(&client, &mut notices, &call).await;
            for index in [
                "preorders_user_id_idx",
                "palm_analysis_sessions_user_created_idx",
            ] {
                assert_index_only(&call, &found, &texts, index);
            }
        }
    });
}

/// `index` is read by an Index Only Scan, and its table by nothing else.
fn assert_index_only(
    call: &str,
    found: &[(String, String, String)],
    texts: &[String],
    index: &str,
) {
    assert!(
        found
            .iter()
            .any(|(node, _, name)| node == "Index Only Scan" && name == index),
        "{call} does not read {index} index-only: {found:?}\nstatements: {texts:#?}"
    );
    let table = if index.starts_with("preorders") {
        "preorders"
    } else {
        "palm_analysis_sessions"
    };
    let heap_reads: Vec<_> = found
        .iter()
        .filter(|(node, relation, _)| node != "Index Only Scan" && relation == table)
        .collect();
    assert!(
        heap_reads.is_empty(),
        "{call} reads {table}'s heap: {heap_reads:?}\nstatements: {texts:#?}"
    );
}

#[test]
fn no_index_on_a_palm_table_is_a_prefix_of_another() {
    let db = TestDb::migrated("stats_prefix");
    // Two plain indexes on the same table, same predicate, where one's columns begin the
    // other's: the shorter only costs writes. Unique indexes enforce something and stay.
    let duplicates = db.scalar(
        "SELECT string_agg(short.indexrelid::regclass::text || ' is a prefix of '
                           || long.indexrelid::regclass::text, '; ')
         FROM pg_index AS short
         JOIN pg_index AS long
             ON long.indrelid = short.indrelid
            AND long.indexrelid <> short.indexrelid
         WHERE short.indrelid::regclass::text IN
               ('users', 'preorders', 'palm_analysis_sessions', 'user_images', 'webhook_logs')
           AND NOT short.indisunique
           AND short.indexprs IS NULL
           AND long.indexprs IS NULL
           AND pg_get_expr(short.indpred, short.indrelid) IS NOT DISTINCT FROM
               pg_get_expr(long.indpred, long.indrelid)
           AND (string_to_array(long.indkey::text, ' '))[1:short.indnkeyatts]
               = string_to_array(short.indkey::text, ' ')",
    );
    assert_eq!(duplicates, None);
}

#[test]
fn the_indexes_are_exactly_those_docs_indexes_md_lists() {
    let db = TestDb::migrated("stats_doc_indexes");
    let in_database: BTreeSet<String> = db
        .scalar(
            "SELECT string_agg(indexrelid::regclass::text, ' ') FROM pg_index
             WHERE indrelid::regclass::text IN
                   ('users', 'preorders', 'palm_analysis_sessions', 'user_images', 'webhook_logs')",
        )
        .unwrap()
        .split(' ')
        .map(str::to_string)
        .collect();
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/indexes.md")).unwrap();
    // The first column of the first table (before the first `##` section): | `name` | ...
    let documented: BTreeSet<String> = doc
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    assert_eq!(in_database, documented);
}

/// The proof has teeth: on a database with V1's indexes only, the same check sees the
/// sequential scans that V2's indexes remove.
#[test]
fn without_the_query_indexes_the_plans_show_sequential_scans() {
    let db = TestDb::new("stats_plans_v1");
    // Every migration but the stats index ones (V2-V9, V13's covering rebuilds), so the other
    // sql/ objects still apply.
    let without_stats = tempfile::tempdir().unwrap();
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    for entry in std::fs::read_dir(migrations).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let version: u32 = name[1..name.find("__").unwrap()].parse().unwrap();
        if !(2..=9).contains(&version) && version != 13 {
            std::fs::copy(&path, without_stats.path().join(&name)).unwrap();
        }
    }
    assert_success(&db.palmdb(&[
        "migrate",
        "--migrations-dir",
        without_stats.path().to_str().unwrap(),
    ]));
    assert_success(&db.palmdb(&["demo-data", "--users", "20000", "--seed", "3"]));
    db.execute("VACUUM ANALYZE");
    let url = db.url.clone();
    common::block_on(async move {
        let (client, mut notices) = explaining_client(&url).await;
        for call in [
            "SELECT * FROM palmdb.orders_by_status('completed')",
            "SELECT * FROM palmdb.users_by_role('admin')",
            "SELECT * FROM palmdb.webhooks_to_retry()",
        ] {
            let (found, texts) = plans_of(&client, &mut notices, call).await;
            assert!(
                found.iter().any(|(node, relation, _)| node == "Seq Scan"
                    && PALM_TABLES.contains(&relation.as_str())),
                "{call} without V2's indexes: {found:?}\n{texts:#?}"
            );
        }
    });
}
