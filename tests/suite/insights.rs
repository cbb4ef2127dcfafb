//! `palmdb queries` and `palmdb advise` end to end: the real binary, a real server with
//! pg_stat_statements preloaded and HypoPG installed (scripts/ensure-postgres.sh), and a real
//! workload — Palm's queries as pgbench scripts (tests/workload/) run by pgbench itself.
//!
//! pg_stat_statements is cluster-wide and the tests run in parallel: every test reads only its
//! own database's statements (palmdb.top_queries filters by dbid), and none resets the others'.

use std::path::Path;
use std::process::Command;

use crate::common;
use crate::common::{assert_exit, assert_success, stderr, stdout, TestDb};
use serde_json::Value;

/// A migrated database with Palm's data at `users` users and both extensions.
fn palm_with_extensions(tag: &str, users: &str) -> TestDb {
    let db = TestDb::migrated(tag);
    assert_success(&db.palmdb(&["demo-data", "--users", users]));
    db.execute("CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg;");
    db
}

/// Runs each of Palm's query scripts (tests/workload/) `transactions` times with pgbench.
fn run_workload(db: &TestDb, transactions: u32) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workload");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 4, "{scripts:?}");
    for script in &scripts {
        let out = Command::new("pgbench")
            .args(["-n", "-t", &transactions.to_string(), "-f"])
            .arg(script)
            .arg(&db.url)
            .output()
            .expect("run pgbench (postgresql-client)");
        assert!(
            out.status.success(),
            "pgbench -f {} failed:\n{}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn json(out: &std::process::Output) -> Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(out)))
}

fn advise(db: &TestDb, extra: &[&str]) -> Value {
    let mut args = vec!["advise", "--json"];
    args.extend_from_slice(extra);
    json(&db.palmdb(&args))
}

/// The plan modes this server supports: sample values always, generic plans from 16 on.
fn plan_modes(db: &TestDb) -> Vec<&'static str> {
    if db.server_major() >= 16 {
        vec!["samples", "generic"]
    } else {
        vec!["samples"]
    }
}

/// The statements of the workload: every examined statement that reads a Palm table.
fn verdicts(report: &Value) -> Vec<(String, String, String)> {
    report["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["verdict"].as_str().unwrap().to_string(),
                s["query"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn columns(advice: &Value) -> Vec<String> {
    advice["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn queries_ranks_this_databases_statements_and_no_other_databases() {
    let db = TestDb::migrated("queries_ranks");
    db.execute(
        "CREATE EXTENSION pg_stat_statements;
         CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 20000) AS i;",
    );
    // Many cheap calls of one statement, one expensive call of another. pg_stat_statements
    // is shared by every test of the cluster and evicts its least used entries when full, so
    // the count is compared with one taken after the entry is well established.
    let lookup_calls = |db: &TestDb| -> i64 {
        db.scalar("SELECT coalesce(sum(calls), 0) FROM palmdb.top_queries('calls', 1000) WHERE query = 'SELECT v FROM t WHERE id = $1'")
            .unwrap()
            .parse()
            .unwrap()
    };
    for i in 1..=10 {
        db.execute(&format!("SELECT v FROM t WHERE id = {i}"));
    }
    let before = lookup_calls(&db);
    assert!(before > 0);
    for i in 1..=30 {
        db.execute(&format!("SELECT v FROM t WHERE id = {i}"));
    }
    assert_eq!(lookup_calls(&db), before + 30);
    db.execute("SELECT count(DISTINCT v), max(md5(v || id)) FROM t, generate_series(1, 20)");
    // Another database's statement must not show up here.
    let other = TestDb::migrated("queries_other");
    other.execute(
        "CREATE EXTENSION pg_stat_statements; SELECT 'only in the other database' AS marker",
    );

    let by_calls = json(&db.palmdb(&["queries", "--by", "calls", "--limit", "50", "--json"]));
    assert_eq!(by_calls["by"], "calls");
    let statements = by_calls["statements"].as_array().unwrap();
    let lookup = statements
        .iter()
        .find(|s| s["query"] == "SELECT v FROM t WHERE id = $1")
        .unwrap_or_else(|| panic!("{by_calls:#}"));
    assert_eq!(lookup["calls"], before + 30);
    assert_eq!(lookup["rows"], lookup["calls"]);
    for key in [
        "query_id",
        "total_time_ms",
        "mean_time_ms",
        "cache_hit_ratio",
        "share_of_total",
    ] {
        assert!(lookup.get(key).is_some(), "{key} missing: {lookup}");
    }
    assert!(statements.iter().all(|s| !s["query"]
        .as_str()
        .unwrap()
        .contains("only in the other database")));
    let calls: Vec<i64> = statements
        .iter()
        .map(|s| s["calls"].as_i64().unwrap())
        .collect();
    assert!(calls.windows(2).all(|w| w[0] >= w[1]), "{calls:?}");

    let by_mean = json(&db.palmdb(&["queries", "--by", "mean", "--json"]));
    let means: Vec<f64> = by_mean["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["mean_time_ms"].as_f64().unwrap())
        .collect();
    assert!(means.windows(2).all(|w| w[0] >= w[1]), "{means:?}");
    let by_total = json(&db.palmdb(&["queries", "--limit", "3", "--json"]));
    let total = by_total["statements"].as_array().unwrap();
    assert_eq!(total.len(), 3);
    let shares: f64 = total
        .iter()
        .map(|s| s["share_of_total"].as_f64().unwrap())
        .sum();
    assert!(shares > 0.0 && shares <= 1.0001, "{shares}");

    // The text table, and the SQL function psql users call.
    let text = stdout(&db.palmdb(&["queries", "--by", "calls"]));
    assert!(text.contains("top ") && text.contains("by calls"), "{text}");
    assert!(text.contains("SELECT v FROM t WHERE id = $1"), "{text}");
    assert_eq!(lookup_calls(&db), before + 30);
    // Bad input: one line and a hint.
    let out = db.palmdb(&["queries", "--limit", "0"]);
    let text = assert_exit(&out, 1);
    assert!(
        text.contains("cannot return 0 statements") && text.contains("HINT:"),
        "{text}"
    );
}

#[test]
fn without_pg_stat_statements_or_hypopg_one_line_says_what_to_install() {
    let db = TestDb::migrated("insights_missing_ext");
    let out = db.palmdb(&["queries"]);
    let text = assert_exit(&out, 1);
    assert!(
        stderr(&out).starts_with(&format!(
            "palmdb: pg_stat_statements is not installed in database {}\nHINT: run CREATE EXTENSION pg_stat_statements;",
            db.name
        )),
        "{text}"
    );
    assert_eq!(stderr(&out).lines().count(), 2, "{text}");
    let out = db.palmdb(&["advise"]);
    assert!(stderr(&out).contains("pg_stat_statements is not installed"));
    // The SQL function says the same to psql users.
    let url = db.url.clone();
    let err = common::block_on(async move {
        common::connect(&url)
            .await
            .query("SELECT * FROM palmdb.top_queries()", &[])
            .await
            .unwrap_err()
    });
    let db_err = err.as_db_error().unwrap();
    assert!(db_err
        .message()
        .contains("pg_stat_statements is not installed"));
    assert!(db_err
        .hint()
        .unwrap()
        .contains("CREATE EXTENSION pg_stat_statements"));

    db.execute("CREATE EXTENSION pg_stat_statements");
    let out = db.palmdb(&["advise"]);
    let text = assert_exit(&out, 1);
    let available = db.scalar("SELECT count(*) FROM pg_available_extensions WHERE name = 'hypopg'");
    if available.as_deref() == Some("1") {
        assert!(
            text.contains(&format!("HypoPG is not installed in database {}", db.name))
                && text.contains("HINT: run CREATE EXTENSION hypopg;"),
            "{text}"
        );
    } else {
        // A server without the package (the matrix's other majors): which package to install.
        let major = db.server_major();
        assert!(
            text.contains(&format!(
                "HypoPG is not installed on the server of database {}",
                db.name
            )) && text.contains(&format!(
                "HINT: install the package postgresql-{major}-hypopg"
            )),
            "{text}"
        );
    }
    assert_success(&db.palmdb(&["queries"]));
}

#[test]
fn advise_recommends_the_dropped_indexes_back_and_nothing_for_served_queries() {
    let db = palm_with_extensions("advise_dropped", "20000");
    // Two of Palm's query indexes (migrations/V2, docs/indexes.md) are gone.
    db.execute(
        "DROP INDEX users_role_created_at_idx;
         DROP INDEX preorders_status_created_at_idx;
         ANALYZE;",
    );
    run_workload(&db, 40);

    for mode in plan_modes(&db) {
        let report = advise(&db, &["--plans", mode]);
        assert_eq!(report["plans"], mode);
        let advice = report["advice"].as_array().unwrap();
        let mut got: Vec<(String, Vec<String>)> = advice
            .iter()
            .map(|a| (a["table"].as_str().unwrap().to_string(), columns(a)))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (
                    "public.preorders".to_string(),
                    vec!["status".into(), "created_at".into(), "id".into()]
                ),
                (
                    "public.users".to_string(),
                    vec!["role".into(), "created_at".into(), "id".into()]
                ),
            ],
            "{mode}: {report:#}"
        );
        for a in advice {
            let statement = a["create_index"].as_str().unwrap();
            assert!(
                statement.starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS "),
                "{statement}"
            );
            assert!(a["estimated_bytes"].as_i64().unwrap() > 0, "{a}");
            let served = a["statements"].as_array().unwrap();
            assert_eq!(served.len(), 1, "{a}");
            let s = &served[0];
            assert!(
                s["cost_after"].as_f64().unwrap() <= s["cost_before"].as_f64().unwrap() * 0.5,
                "{s}"
            );
            assert!(s["improvement"].as_f64().unwrap() >= 0.5, "{s}");
            // pg_stat_statements is shared by every test of the cluster: an entry may be
            // evicted (and counted anew) after its first call, never after many.
            assert!(s["calls"].as_i64().unwrap() >= 30, "{s}");
        }
        // Every other statement of the workload is served by the indexes that are there.
        let verdicts = verdicts(&report);
        assert!(verdicts.len() >= 10, "{verdicts:#?}");
        for (verdict, query, reason) in &verdicts {
            match verdict.as_str() {
                "advised" => assert!(
                    query.contains("u.role = $1")
                        || query.contains("p.status = $1 AND (p.created_at"),
                    "{query}"
                ),
                "served" | "no_candidates" => {}
                _ => panic!("{mode}: {verdict} {query}: {reason}"),
            }
        }
        let webhooks = verdicts
            .iter()
            .find(|v| v.1.contains("FROM webhook_logs AS w"))
            .unwrap_or_else(|| panic!("{verdicts:#?}"));
        assert_eq!(
            webhooks.0, "served",
            "the partial index serves it: {webhooks:?}"
        );
    }

    // The text says the same, and --write-migration puts it in the deploy pipeline.
    let migrations = tempfile::tempdir().unwrap();
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")).unwrap()
    {
        let path = entry.unwrap().path();
        std::fs::copy(&path, migrations.path().join(path.file_name().unwrap())).unwrap();
    }
    let dir = migrations.path().to_str().unwrap();
    let next = palmdb::insights::advise::migration::next_version(migrations.path()).unwrap();
    let file = format!("V{next}__advised_indexes.sql");
    let out = db.palmdb(&["advise", "--write-migration", "--migrations-dir", dir]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("CREATE INDEX CONCURRENTLY IF NOT EXISTS users_role_created_at_id_idx ON public.users (role, created_at, id);"), "{text}");
    assert!(text.contains("wrote ") && text.contains(&file), "{text}");
    let written = std::fs::read_to_string(migrations.path().join(&file)).unwrap();
    assert!(
        written.starts_with("-- palmdb:no-transaction\n"),
        "{written}"
    );
    assert_eq!(
        written.matches("CREATE INDEX CONCURRENTLY").count(),
        2,
        "{written}"
    );
    let out = db.palmdb(&["migrate", "--migrations-dir", dir]);
    assert_success(&out);
    assert!(
        stdout(&out).contains(&format!("{file} (no transaction)")),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_index WHERE indexrelid::regclass::text IN ('users_role_created_at_id_idx', 'preorders_status_created_at_id_idx') AND indisvalid").as_deref(),
        Some("2")
    );
    // With the advice applied, nothing is left to advise.
    let report = advise(&db, &[]);
    assert_eq!(report["advice"].as_array().unwrap().len(), 0, "{report:#}");
}

#[test]
fn advise_with_every_index_present_recommends_nothing() {
    let db = palm_with_extensions("advise_control", "20000");
    run_workload(&db, 40);
    for mode in plan_modes(&db) {
        let report = advise(&db, &["--plans", mode]);
        assert_eq!(
            report["advice"].as_array().unwrap().len(),
            0,
            "{mode}: {report:#}"
        );
        let verdicts = verdicts(&report);
        assert!(verdicts.len() >= 10, "{verdicts:#?}");
        assert!(
            verdicts
                .iter()
                .all(|v| v.0 == "served" || v.0 == "no_candidates"),
            "{mode}: {verdicts:#?}"
        );
        assert!(verdicts
            .iter()
            .any(|v| v.1.contains("u.role = $1") && v.0 == "served"));
    }
    let text = stdout(&db.palmdb(&["advise"]));
    assert!(text.contains("no index to add"), "{text}");
    // No advice, no migration.
    let migrations = tempfile::tempdir().unwrap();
    let out = db.palmdb(&[
        "advise",
        "--write-migration",
        "--migrations-dir",
        migrations.path().to_str().unwrap(),
    ]);
    assert!(
        stdout(&out).contains("no migration written"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read_dir(migrations.path()).unwrap().count(), 0);
}

/// Odd names, a prefix duplicate the planner would like, and an index a longer one makes
/// redundant — on a schema that is not Palm's.
#[test]
fn advise_never_proposes_a_prefix_duplicate_and_names_what_its_advice_makes_redundant() {
    let db = TestDb::migrated("advise_prefix");
    db.execute(
        r#"CREATE EXTENSION pg_stat_statements;
           CREATE EXTENSION hypopg;
           CREATE SCHEMA "Odd Schema";
           CREATE TABLE "Odd Schema"."We ird" (
               id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
               "Tenant Id" int NOT NULL,
               kind int NOT NULL,
               created_at timestamptz NOT NULL,
               padding text NOT NULL
           );
           INSERT INTO "Odd Schema"."We ird" ("Tenant Id", kind, created_at, padding)
           SELECT i % 20, i % 100, now() - ((i * 7919) % 30000) * interval '1 minute', repeat(md5(i::text), 8)
           FROM generate_series(1, 30000) AS i;
           -- A wide index: a narrower (kind) would plan a little cheaper, but it is a prefix.
           CREATE INDEX wide_kind_idx ON "Odd Schema"."We ird" (kind, padding);
           -- Tenant lookups are served, but not in created_at order.
           CREATE INDEX "tenant idx" ON "Odd Schema"."We ird" ("Tenant Id");
           ANALYZE "Odd Schema"."We ird";"#,
    );
    for i in 0..40 {
        db.execute(&format!(
            r#"SELECT count(*) FROM "Odd Schema"."We ird" WHERE kind = {};
               SELECT id, created_at FROM "Odd Schema"."We ird" w WHERE w."Tenant Id" = {} ORDER BY w.created_at DESC LIMIT 10"#,
            i % 100,
            i % 20
        ));
    }
    let report = advise(&db, &["--min-improvement", "1%"]);
    let advice = report["advice"].as_array().unwrap();
    assert!(
        advice
            .iter()
            .all(|a| columns(a) != vec!["kind".to_string()]),
        "a prefix of wide_kind_idx was advised: {report:#}"
    );
    // The planner did prefer the narrower index; the duplicate_indexes rule turned it down.
    let (verdict, _, reason) = verdicts(&report)
        .into_iter()
        .find(|v| v.1.contains("WHERE kind = $1"))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(verdict, "served");
    assert!(
        reason.contains("an index on (kind)")
            && reason.contains("prefix of the existing index wide_kind_idx"),
        "{reason}"
    );
    let tenant = advice
        .iter()
        .find(|a| columns(a) == vec!["Tenant Id".to_string(), "created_at".to_string()])
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(tenant["table"], "\"Odd Schema\".\"We ird\"");
    assert_eq!(tenant["makes_redundant"], serde_json::json!(["tenant idx"]));
    assert_eq!(
        tenant["create_index"],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"We ird_Tenant Id_created_at_idx\" ON \"Odd Schema\".\"We ird\" (\"Tenant Id\", created_at);"
    );
    // The statement runs as written.
    db.execute(tenant["create_index"].as_str().unwrap());
    // Nothing of the check is left behind: no scratch schema, no hypothetical index.
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'palmdb_advise%'")
            .as_deref(),
        Some("0")
    );
}

#[test]
fn generic_plans_are_refused_before_postgresql_16_and_bad_shares_are_refused() {
    let db = TestDb::migrated("advise_modes");
    db.execute("CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg;");
    if db.server_major() < 16 {
        let out = db.palmdb(&["advise", "--plans", "generic"]);
        let text = assert_exit(&out, 1);
        assert!(
            text.contains("generic plans need PostgreSQL 16")
                && text.contains("HINT: use --plans samples"),
            "{text}"
        );
    } else {
        assert_success(&db.palmdb(&["advise", "--plans", "generic"]));
    }
    let out = db.palmdb(&["advise", "--min-improvement", "150%"]);
    let text = assert_exit(&out, 3);
    assert!(text.contains("at most 100%"), "{text}");
}

#[test]
fn column_sample_reads_typical_values_and_quantiles_from_pg_stats() {
    let db = TestDb::migrated("column_sample");
    db.execute(
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE s (n int, m mood, t text, never int);
         INSERT INTO s SELECT i, (ARRAY['happy','happy','happy','ok','sad']::mood[])[1 + i % 5], 'x' || i, NULL
         FROM generate_series(1, 10000) AS i;
         ANALYZE s;",
    );
    let n_mid: i64 = db
        .scalar("palmdb.column_sample('s', 'n')")
        .unwrap()
        .parse()
        .unwrap();
    assert!((4000..6000).contains(&n_mid), "{n_mid}");
    let n_third: i64 = db
        .scalar("palmdb.column_sample('s', 'n', 1.0/3)")
        .unwrap()
        .parse()
        .unwrap();
    assert!((2800..3900).contains(&n_third), "{n_third}");
    // All-common values: the most common for equality, the enum's order for quantiles.
    assert_eq!(
        db.scalar("palmdb.column_sample('s', 'm')").as_deref(),
        Some("happy")
    );
    assert_eq!(
        db.scalar("palmdb.column_sample('s', 'm', 0)").as_deref(),
        Some("sad")
    );
    assert_eq!(
        db.scalar("palmdb.column_sample('s', 'm', 1)").as_deref(),
        Some("happy")
    );
    assert_eq!(db.scalar("palmdb.column_sample('s', 'never')"), None);
    assert_eq!(
        db.scalar("palmdb.column_sample('s', 'no_such_column')"),
        None
    );
}
