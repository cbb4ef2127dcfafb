//! Backups that carry their schema, on databases that are not Palm's: a backup with the
//! defaults restores into an empty database with nothing else to do, every table and every
//! sequence equal to the source, every default usable, the restore test testing every table;
//! and a Palm database restored that way is at its migration version, its rollup right.

use crate::common::{assert_exit, assert_success, stdout, take_backup, TestDb};
use crate::restore_support::*;

fn restore(target: &TestDb, folder: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["restore", folder.to_str().unwrap()];
    args.extend_from_slice(extra);
    target.palmdb(&args)
}

#[test]
fn a_foreign_database_restores_into_an_empty_one_exactly() {
    let source = TestDb::foreign("schema_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);

    let target = TestDb::new("schema_dst");
    let out = restore(&target, &folder, &["--json"]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["schema_created"], true);

    // The same tables, rows, sequences and schema, object for object.
    assert_same_foreign_database(&source, &target);
    // The triggers did not fire during the load: names as stored, no extra audit rows.
    assert_eq!(
        target.scalar("SELECT string_agg(name, ',' ORDER BY id) FROM shop.customers"),
        Some("ANN,BOB,CÉ \"QUOTED\" \\ BACK".to_string())
    );
    assert_eq!(
        target.scalar("SELECT count(*) FROM shop.audit").as_deref(),
        Some("3")
    );

    // Every default works, and hands out what the source would have.
    target.execute(
        "INSERT INTO shop.customers (name) VALUES ('dora');
         INSERT INTO shop.orders (customer_id, price) VALUES (4, 5);
         INSERT INTO shop.audit (note) VALUES ('by hand');
         INSERT INTO archive.events (at, kind) VALUES ('2026-05-05', 'view');
         INSERT INTO shop.nothing DEFAULT VALUES;",
    );
    for (sql, expected) in [
        ("SELECT max(id) FROM shop.customers", "4"),
        ("SELECT name FROM shop.customers WHERE id = 4", "DORA"),
        ("SELECT max(no) FROM shop.orders", "1021"),
        (
            "SELECT qty || ' ' || total FROM shop.orders WHERE no = 1021",
            "1 5.00",
        ),
        // 3 restored rows, the trigger's row for order 1021, and the one by hand.
        ("SELECT max(id) FROM shop.audit", "5"),
        ("SELECT note FROM shop.audit WHERE id = 4", "order 1021"),
        ("SELECT max(id) FROM archive.events", "4"),
        ("SELECT nextval('shop.standalone_counter')", "7"),
        ("SELECT nextval('shop.never_used')", "42"),
        ("SELECT nextval('shop.countdown')", "97"),
        ("SELECT count(*) FROM shop.nothing", "3"),
    ] {
        assert_eq!(target.scalar(sql).as_deref(), Some(expected), "{sql}");
    }

    // The restore test creates the schema in its scratch database and tests every table.
    let out = source.palmdb(&[
        "backup",
        "verify",
        folder.to_str().unwrap(),
        "--restore-test",
        "--json",
    ]);
    let text = assert_exit(&out, 0);
    let verified: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let tested = verified["restore_test"]["tables"].as_array().unwrap();
    let in_backup = manifest(&folder)["tables"].as_array().unwrap().len();
    assert_eq!(tested.len(), in_backup, "{text}");
    assert!(tested.iter().all(|t| t["ok"] == true), "{text}");
    assert_eq!(
        verified["restore_test"]["not_restore_tested"],
        serde_json::json!([])
    );
}

#[test]
fn triggers_do_not_fire_when_loading_into_tables_that_exist() {
    let source = TestDb::foreign("schema_triggers_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);

    // A target with the same schema made another way (pg_dump | psql): its triggers exist
    // and are enabled while palmdb loads the rows.
    let target = TestDb::new("schema_triggers_dst");
    target.execute(&schema_of(&source));
    target.execute("ALTER TABLE shop.customers ENABLE ALWAYS TRIGGER customers_shout");
    assert_success(&restore(&target, &folder, &[]));
    assert_same_rows(&source, &target, &user_tables(&source));
    assert_eq!(sequence_states(&target), sequence_states(&source));
    // And they are back, each in the state it had.
    assert_eq!(
        target
            .scalar(
                "SELECT string_agg(tgname || '=' || tgenabled::text, ',' ORDER BY tgname)
                 FROM pg_trigger WHERE NOT tgisinternal"
            )
            .as_deref(),
        Some("customers_shout=A,orders_log=O")
    );
    target.execute("INSERT INTO shop.customers (name) VALUES ('eve')");
    assert_eq!(
        target
            .scalar("SELECT name FROM shop.customers ORDER BY id DESC LIMIT 1")
            .as_deref(),
        Some("EVE")
    );
}

#[test]
fn a_palm_database_restored_into_an_empty_one_is_at_its_version_with_its_rollup_right() {
    let source = TestDb::migrated("schema_palm_src");
    fill_palm(&source, 40);
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);

    let target = TestDb::new("schema_palm_dst");
    assert_success(&restore(&target, &folder, &[]));
    assert_eq!(palm_counts(&target), palm_counts(&source));
    assert_same_rows(&source, &target, &user_tables(&source));
    // At the backup's migration version: nothing pending, nothing to do.
    assert_exit(&target.palmdb(&["migrate", "status"]), 0);
    assert_success(&target.palmdb(&["migrate"]));
    assert_exit(&target.palmdb(&["migrate", "status"]), 0);
    // The revenue rollup agrees with the restored orders, and keeps following new ones.
    let rollup = "SELECT string_agg(day || ' ' || currency || ' ' || orders || ' ' || revenue, ',' ORDER BY day, currency)
                  FROM (SELECT day, currency, sum(orders) AS orders, sum(revenue_cents) AS revenue
                        FROM palmdb.daily_revenue GROUP BY 1, 2) AS r";
    let from_orders = "SELECT string_agg(day || ' ' || currency || ' ' || orders || ' ' || revenue, ',' ORDER BY day, currency)
                       FROM (SELECT (created_at AT TIME ZONE 'UTC')::date AS day, currency,
                                    count(*) AS orders, sum(stripe_amount) AS revenue
                             FROM preorders WHERE status = 'completed' GROUP BY 1, 2) AS o";
    assert!(target.scalar(rollup).is_some());
    assert_eq!(target.scalar(rollup), target.scalar(from_orders));
    target.execute("UPDATE preorders SET status = 'completed' WHERE id = 1");
    assert_eq!(target.scalar(rollup), target.scalar(from_orders));
    let out = target.palmdb(&["stats", "orders", "--status", "completed", "--json"]);
    assert_success(&out);
}

#[test]
fn maintenance_work_mem_is_the_restores_own_and_checked() {
    let source = TestDb::foreign("schema_mwm_src");
    let dir = tempfile::tempdir().unwrap();
    let folder = take_backup(&source, dir.path(), &[]);
    let target = TestDb::new("schema_mwm_dst");

    // Not a size: refused before anything is read or changed.
    let out = restore(&target, &folder, &["--maintenance-work-mem", "lots"]);
    let text = assert_exit(&out, 3);
    assert!(text.contains("is not a memory size"), "{text}");
    // A size the server refuses (below its 1 MB minimum): the server's word, nothing restored.
    let out = restore(&target, &folder, &["--maintenance-work-mem", "1kB"]);
    let text = assert_exit(&out, 1);
    assert!(text.contains("maintenance_work_mem"), "{text}");
    assert!(user_tables(&target).is_empty(), "nothing was created");

    assert_success(&restore(
        &target,
        &folder,
        &["--maintenance-work-mem", "256MB"],
    ));
    assert_same_rows(&source, &target, &user_tables(&source));
    // Set for the restore's transaction only.
    assert_eq!(
        target
            .scalar("SELECT current_setting('maintenance_work_mem')")
            .as_deref(),
        source
            .scalar("SELECT current_setting('maintenance_work_mem')")
            .as_deref()
    );
}
