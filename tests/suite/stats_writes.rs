//! Proof by writes: `palmdb migrate` builds the stats indexes on a populated database while
//! another connection keeps inserting and updating; every write succeeds and none waits more
//! than a second, because the builds are CONCURRENTLY.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::{assert_success, stdout, TestDb};

/// One write's outcome: when it started (since the writer began), how long it took, its error.
struct Write {
    started: Duration,
    took: Duration,
    error: Option<String>,
}

/// Inserts and updates in a loop, each statement its own transaction, until `stop`.
async fn keep_writing(url: String, stop: Arc<AtomicBool>, epoch: Instant) -> Vec<Write> {
    let client = common::connect(&url).await;
    let user_ids: Vec<String> = client
        .query("SELECT id::text FROM users ORDER BY id LIMIT 50", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let statements = [
        "INSERT INTO preorders (user_id, status, stripe_amount, stripe_session_id)
         VALUES ($1::text::uuid, 'initiated', 1999, 'cs_live_' || $2::text)",
        "UPDATE preorders SET status = 'completed', updated_at = now()
         WHERE id = (SELECT max(id) FROM preorders) AND $1::text IS NOT NULL AND $2::text IS NOT NULL",
        "INSERT INTO palm_analysis_sessions (user_id, status)
         VALUES ($1::text::uuid, 'pending') RETURNING $2::text",
        "UPDATE users SET updated_at = now() WHERE id = $1::text::uuid AND $2::text IS NOT NULL",
        "INSERT INTO webhook_logs (event_id, event_type, payload, status, attempts)
         VALUES ('evt_live_' || $2::text, 'checkout.session.completed', '{}', 'failed', 1)
         RETURNING $1::text",
    ];
    let mut writes = Vec::new();
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let sql = statements[(n % statements.len() as u64) as usize];
        let user = &user_ids[(n % user_ids.len() as u64) as usize];
        let started = epoch.elapsed();
        let begun = Instant::now();
        let outcome = client.execute(sql, &[user, &n.to_string()]).await;
        writes.push(Write {
            started,
            took: begun.elapsed(),
            error: outcome.err().map(|e| format!("{e:?}")),
        });
        n += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writes
}

/// Polls pg_stat_progress_create_index until `stop`: when an index build was seen running,
/// and with which command.
async fn watch_builds(
    url: String,
    stop: Arc<AtomicBool>,
    epoch: Instant,
) -> Vec<(Duration, String)> {
    let client = common::connect(&url).await;
    let mut seen = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        for row in client
            // Builds on Palm's (populated) tables in this test's database only: other tests
            // build indexes on the same server, and a migration may index a table it has
            // just created (empty, so a plain build blocks nobody).
            .query(
                "SELECT p.command
                 FROM pg_stat_progress_create_index AS p
                 JOIN pg_class AS c ON c.oid = p.relid
                 WHERE p.datname = current_database()
                   AND c.relnamespace = 'public'::regnamespace",
                &[],
            )
            .await
            .unwrap()
        {
            seen.push((epoch.elapsed(), row.get::<_, String>(0)));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    seen
}

#[test]
fn migrate_builds_the_indexes_while_writes_keep_flowing() {
    let db = TestDb::new("stats_writes");
    // The database as production has it before this release: V1 only, with data.
    let v1_only = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/V1__palm_schema.sql"
        ),
        v1_only.path().join("V1__palm_schema.sql"),
    )
    .unwrap();
    let no_objects = tempfile::tempdir().unwrap();
    assert_success(&db.palmdb(&[
        "migrate",
        "--migrations-dir",
        v1_only.path().to_str().unwrap(),
        "--sql-dir",
        no_objects.path().to_str().unwrap(),
    ]));
    assert_success(&db.palmdb(&["demo-data", "--users", "50000"]));

    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let writer = {
        let (url, stop) = (db.url.clone(), stop.clone());
        std::thread::spawn(move || common::block_on(keep_writing(url, stop, epoch)))
    };
    let watcher = {
        let (url, stop) = (db.url.clone(), stop.clone());
        std::thread::spawn(move || common::block_on(watch_builds(url, stop, epoch)))
    };
    std::thread::sleep(Duration::from_millis(300));
    let migrate_started = epoch.elapsed();
    let out = db.palmdb(&["migrate"]);
    let migrate_ended = epoch.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let writes = writer.join().unwrap();
    let builds = watcher.join().unwrap();

    assert_success(&out);
    let text = stdout(&out);
    assert!(
        text.contains("applied V2__stats_indexes.sql (no transaction)"),
        "{text}"
    );
    assert!(
        text.contains("applied V3__drop_prefix_duplicate_indexes.sql (no transaction)"),
        "{text}"
    );

    let failed: Vec<&String> = writes.iter().filter_map(|w| w.error.as_ref()).collect();
    assert!(
        failed.is_empty(),
        "writes failed during migrate: {failed:?}"
    );
    let during: Vec<&Write> = writes
        .iter()
        .filter(|w| w.started >= migrate_started && w.started <= migrate_ended)
        .collect();
    assert!(
        during.len() >= 20,
        "only {} writes ran while migrate ran for {:?}",
        during.len(),
        migrate_ended - migrate_started
    );
    // The builds were seen, as CREATE INDEX CONCURRENTLY, and writes completed while they ran.
    assert!(!builds.is_empty(), "no index build was seen running");
    assert!(
        builds
            .iter()
            .all(|(_, command)| command == "CREATE INDEX CONCURRENTLY"),
        "{builds:?}"
    );
    let (first_build, last_build) = (builds[0].0, builds[builds.len() - 1].0);
    let while_building = writes
        .iter()
        .filter(|w| w.started >= first_build && w.started + w.took <= last_build)
        .count();
    assert!(
        while_building >= 1,
        "no write completed while the indexes were being built"
    );
    let slowest = writes.iter().map(|w| w.took).max().unwrap();
    assert!(
        slowest < Duration::from_secs(1),
        "a write waited {slowest:?}"
    );
    eprintln!(
        "{} writes, {} during a {:?} migrate, {while_building} while building, slowest {:?}",
        writes.len(),
        during.len(),
        migrate_ended - migrate_started,
        slowest
    );

    // The indexes were built, valid, and the writes are in the tables.
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM pg_index WHERE indisvalid AND indexrelid::regclass::text IN
             ('users_role_created_at_idx', 'preorders_status_created_at_idx',
              'palm_analysis_sessions_user_created_idx', 'webhook_logs_failed_created_at_idx')"
        )
        .unwrap(),
        "4"
    );
    assert_eq!(
        db.scalar("to_regclass('palm_analysis_sessions_user_id_idx') IS NULL")
            .unwrap(),
        "true"
    );
    assert!(
        db.scalar("SELECT count(*) FROM webhook_logs WHERE event_id LIKE 'evt_live_%'")
            .unwrap()
            .parse::<usize>()
            .unwrap()
            >= during.len() / 5
    );
}
