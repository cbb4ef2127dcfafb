//! The integration-test harness itself: test databases that killed runs left behind are
//! swept at the start of the next run, and those of running processes never are.

use crate::common;
use crate::common::sweep::{self, Creator};
use crate::common::{admin_url, block_on, connect, TestDb};

/// A pid that no process has now: a child that has exited and been reaped.
fn a_finished_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("run true");
    let pid = child.id();
    child.wait().expect("wait for true");
    pid
}

/// One statement, or one boolean query, on the admin database.
fn admin_execute(sql: String) {
    common::admin::execute(&admin_url(), &sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn exists(name: &str) -> bool {
    let name = name.to_string();
    block_on(async move {
        connect(&admin_url())
            .await
            .query_one(
                "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)",
                &[&name],
            )
            .await
            .expect("pg_database")
            .get(0)
    })
}

fn create_with_comment(name: &str, comment: Option<&str>) {
    admin_execute(format!("CREATE DATABASE \"{name}\""));
    if let Some(comment) = comment {
        admin_execute(format!(
            "COMMENT ON DATABASE \"{name}\" IS '{}'",
            comment.replace('\'', "''")
        ));
    }
}

#[test]
fn leftovers_of_gone_runs_are_dropped_and_running_ones_kept() {
    let me = Creator::this_process();
    let pid = std::process::id();
    let gone = Creator {
        start: me.start + 1,
        ..me.clone()
    };
    let dead_pid = a_finished_pid();
    let elsewhere = Creator {
        host: format!("{}-elsewhere", me.host),
        pid: dead_pid,
        ..me.clone()
    };
    let names = [
        (
            format!("palmdb_t_sweep_recycled_pid_{pid}"),
            Some(gone.comment()),
            true,
        ),
        (
            format!("palmdb_t_sweep_running_{pid}"),
            Some(me.comment()),
            false,
        ),
        (
            format!("palmdb_t_sweep_other_host_{pid}"),
            Some(elsewhere.comment()),
            false,
        ),
        (
            format!("palmdb_t_sweep_unrecorded_{dead_pid}_0"),
            None,
            true,
        ),
        (format!("palmdb_t_sweep_unrecorded_{pid}_1"), None, false),
    ];
    for (name, comment, _) in &names {
        create_with_comment(name, comment.as_deref());
    }
    sweep::sweep(&admin_url());
    let mut kept_wrongly = Vec::new();
    for (name, _, leftover) in &names {
        if exists(name) == *leftover {
            kept_wrongly.push(name.clone());
        }
        // Whatever the sweep decided, this test leaves nothing behind.
        admin_execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    }
    assert!(kept_wrongly.is_empty(), "swept wrongly: {kept_wrongly:?}");
}

#[test]
fn every_test_database_records_its_creator() {
    let db = TestDb::new("harness_records");
    let comment = db
        .scalar(&format!(
            "shobj_description((SELECT oid FROM pg_database WHERE datname = '{}'), 'pg_database')",
            db.name
        ))
        .expect("a comment");
    assert_eq!(Creator::parse(&comment), Some(Creator::this_process()));
    assert!(!sweep::is_leftover(&db.name, Some(&comment)));
}

#[test]
fn creators_are_recognised_only_by_their_own_comment() {
    assert!(Creator::parse("a database for the reports team").is_none());
    assert!(!sweep::is_leftover(
        "palmdb_t_x_1_0",
        Some("a comment of someone else")
    ));
    assert!(!sweep::is_leftover("not_a_test_db_1_0", None));
    // A name cut at 63 bytes says nothing reliable about its creator.
    let cut = format!("palmdb_t_{}", "x".repeat(54));
    assert_eq!(cut.len(), 63);
    assert!(!sweep::is_leftover(&cut, None));
}
