//! Snapshot tests (`insta`) of the text every report renders, on fixed values: a change to a
//! table's layout, a word or a blank line shows up here as a diff to accept or refuse
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test --lib` and read the diff).

use chrono::{DateTime, TimeZone, Utc};
use insta::assert_snapshot;

use crate::archive::integrity::FileCheck;
use crate::backup::copy::{Copied, CopyFailure, CopyReport};
use crate::backup::create::CreateSummary;
use crate::backup::list::{BackupList, BackupSummary};
use crate::backup::prune::{PruneReport, PrunedEntry, PrunedKind};
use crate::backup::status::{BackupStatus, RepoStatus};
use crate::health::{Check, HealthReport};
use crate::migrate::no_transaction::InvalidIndex;
use crate::migrate::plan::{AppliedMigration, PendingMigration};
use crate::migrate::status::StatusReport;
use crate::restore::report::{RestoreReport, TableOutcome};
use crate::stats::orders::{Order, OrdersPage};
use crate::ui::{Report, Verdict};
use crate::verify::report::VerifyReport;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, hour, minute, 1).unwrap()
}

fn check(name: &str, status: Verdict, value: f64, detail: &str, remedy: Option<&str>) -> Check {
    Check {
        name: name.into(),
        status,
        value: Some(value),
        threshold: "warning > 0.8, critical > 0.9".into(),
        detail: detail.into(),
        remedy: remedy.map(String::from),
        warning_level: Some(0.8),
        critical_level: Some(0.9),
    }
}

fn health() -> HealthReport {
    HealthReport::new(vec![
        check(
            "cache_hit",
            Verdict::Ok,
            0.9987,
            "99.87% of reads hit the cache",
            None,
        ),
        check(
            "connections",
            Verdict::Warning,
            0.85,
            "85 of 100 connections in use (80 idle)",
            Some("SELECT pid, state FROM pg_stat_activity; -- or raise max_connections"),
        ),
        check(
            "duplicate_indexes",
            Verdict::Critical,
            2.0,
            "2 indexes duplicate another",
            Some("DROP INDEX CONCURRENTLY public.users_email_idx2;"),
        ),
    ])
}

#[test]
fn health_table() {
    assert_snapshot!(health().render_text());
}

#[test]
fn health_nagios() {
    assert_snapshot!(crate::health::nagios::render(&health()));
}

#[test]
fn health_prometheus() {
    assert_snapshot!(health().to_prometheus());
}

fn summary(id: &str, completed: DateTime<Utc>, masked: bool) -> BackupSummary {
    BackupSummary {
        id: id.into(),
        path: format!("/var/backups/palm/{id}"),
        repo: "/var/backups/palm".into(),
        created_at: completed,
        completed_at: completed,
        database: "palm".into(),
        schema_version: Some(12),
        tables: 9,
        rows: 1_234_567,
        bytes: 45_678_901,
        masked,
        encrypted: !masked,
    }
}

#[test]
fn backup_list() {
    let list = BackupList(vec![
        summary("20261125T170501Z", at(17, 5), false),
        summary("20261125T090001Z-2", at(9, 0), true),
    ]);
    assert_snapshot!(list.render_text());
    assert_snapshot!("backup_list_empty", BackupList(Vec::new()).render_text());
}

#[test]
fn backup_status() {
    let newest = summary("20261125T170501Z", at(17, 5), false);
    let status = BackupStatus {
        status: Verdict::Warning,
        message: "newest backup 20261125T170501Z is 1day 2h old, older than 1day".into(),
        max_age_seconds: 86_400,
        repo: "/var/backups/palm".into(),
        age_seconds: Some(93_600),
        backups: 3,
        newest: Some(newest.clone()),
        invalid: Vec::new(),
        repositories: vec![RepoStatus {
            repo: "/var/backups/palm".into(),
            status: Verdict::Warning,
            message: "older".into(),
            age_seconds: Some(93_600),
            backups: 3,
            newest: Some(newest),
            invalid: Vec::new(),
        }],
    };
    assert_snapshot!(status.render_text());
    assert_eq!(status.exit_code().code(), 1);
}

#[test]
fn backup_create() {
    let created = CreateSummary {
        id: "20261125T170501Z".into(),
        path: "/var/backups/palm/20261125T170501Z".into(),
        tables: 9,
        rows: 1_234_567,
        bytes: 45_678_901,
        seconds: 3.2,
        masked: false,
        encrypted: true,
        schema: true,
        warnings: Vec::new(),
    };
    assert_snapshot!("backup_create_piped", created.render_text());
    assert_snapshot!("backup_create_terminal", created.render_terminal());
}

#[test]
fn backup_prune_and_copy() {
    let prune = PruneReport {
        dry_run: true,
        deleted: vec![
            PrunedEntry {
                name: "20261101T170501Z".into(),
                kind: PrunedKind::Backup,
                completed_at: Some(at(17, 5)),
                bytes: 1000,
                open_uploads: 0,
            },
            PrunedEntry {
                name: ".partial-20261102T170501Z-4242".into(),
                kind: PrunedKind::Partial,
                completed_at: None,
                bytes: 10,
                open_uploads: 0,
            },
        ],
        kept: vec!["20261125T170501Z".into()],
    };
    assert_snapshot!("backup_prune", prune.render_text());
    let copy = CopyReport {
        from: "/var/backups/palm".into(),
        to: "s3://palm-backups/prod".into(),
        copied: vec![Copied {
            id: "20261125T170501Z".into(),
            files: 10,
            bytes: 45_678_901,
            seconds: 4.25,
        }],
        skipped: vec!["20261124T170501Z".into()],
        failed: vec![CopyFailure {
            id: "20261123T170501Z".into(),
            error: "cannot copy users.jsonl.zst: the source file does not match".into(),
        }],
    };
    assert_snapshot!("backup_copy", copy.render_text());
}

fn file(table: &str, ok: bool, problems: &[&str]) -> FileCheck {
    FileCheck {
        table: table.into(),
        file: format!("{table}.jsonl.zst"),
        ok,
        rows: 100,
        expected_rows: 100,
        lines_checked: true,
        problems: problems.iter().map(|p| p.to_string()).collect(),
    }
}

fn verified(files: Vec<FileCheck>) -> VerifyReport {
    let mut report = VerifyReport::new(
        "20261125T170501Z".into(),
        "/var/backups/palm/20261125T170501Z".into(),
    );
    report.lines_checked = true;
    report.manifest_sealed = true;
    report.schema_version = Some(12);
    report.rows = 200;
    report.bytes = 4096;
    report.files = files;
    report.conclude();
    report
}

#[test]
fn backup_verify() {
    let ok = verified(vec![
        file("public.users", true, &[]),
        file("public.orders", true, &[]),
    ]);
    assert_snapshot!("backup_verify_ok", ok.render_text());
    assert_eq!(ok.exit_code().code(), 0);
    let failed = verified(vec![
        file("public.users", true, &[]),
        file(
            "public.orders",
            false,
            &[
                "SHA-256 does not match the manifest",
                "holds 99 rows, the manifest says 100",
            ],
        ),
    ]);
    assert_snapshot!("backup_verify_failed", failed.render_text());
    assert_eq!(failed.exit_code().code(), 2);
    assert_eq!(serde_json::to_value(&failed).unwrap()["status"], "failed");
}

fn migrate_status(pending: bool) -> StatusReport {
    StatusReport {
        database: "palm".into(),
        profile: crate::migrate::profile::Profile::Palm,
        status: if pending {
            Verdict::Warning
        } else {
            Verdict::Ok
        },
        current_version: Some(12),
        applied: vec![AppliedMigration {
            version: 12,
            name: "orders_status_index".into(),
            applied_on: "2026-11-25T17:05:01Z".into(),
        }],
        pending: if pending {
            vec![PendingMigration {
                version: 13,
                name: "sessions".into(),
                file: "V13__sessions.sql".into(),
                no_transaction: false,
            }]
        } else {
            Vec::new()
        },
        drift: Vec::new(),
        changed_objects: if pending {
            vec!["sql/health/02_cache_hit.sql".into()]
        } else {
            Vec::new()
        },
        invalid_indexes: if pending {
            vec![InvalidIndex {
                schema: "public".into(),
                table: "orders".into(),
                index: "orders_user_idx".into(),
                repair: "REINDEX INDEX CONCURRENTLY public.orders_user_idx".into(),
            }]
        } else {
            Vec::new()
        },
    }
}

#[test]
fn migrate_status_text() {
    assert_snapshot!(
        "migrate_status_up_to_date",
        migrate_status(false).render_text()
    );
    assert_snapshot!("migrate_status_pending", migrate_status(true).render_text());
    let json = serde_json::to_value(migrate_status(true)).unwrap();
    assert_eq!(json["status"], "pending");
}

#[test]
fn restore_text() {
    let mut report = RestoreReport::new("20261125T170501Z", "palm", "palm_copy", false, true);
    report.tables = vec![
        TableOutcome {
            table: "public.users".into(),
            rows: 1000,
            seconds: 0.25,
        },
        TableOutcome {
            table: "public.orders".into(),
            rows: 5000,
            seconds: 1.5,
        },
    ];
    report.rows = 6000;
    report.seconds = 2.0;
    assert_snapshot!(report.render_text());
}

#[test]
fn stats_orders_text() {
    let page = OrdersPage {
        status: "paid".into(),
        orders: vec![
            Order {
                id: 7,
                user_id: "0b7e6a4e-5f1c-4f5e-9a34-2d1f0c1b2a3c".into(),
                customer_email: Some("ada@example.com".into()),
                status: "paid".into(),
                amount_cents: 1999,
                currency: "EUR".into(),
                created_at: at(9, 30),
                updated_at: at(9, 31),
            },
            Order {
                id: 1234,
                user_id: "5d7e6a4e-5f1c-4f5e-9a34-2d1f0c1b2a3c".into(),
                customer_email: None,
                status: "paid".into(),
                amount_cents: 5,
                currency: "USD".into(),
                created_at: at(8, 0),
                updated_at: at(8, 1),
            },
        ],
        next_before: Some(1234),
    };
    assert_snapshot!(page.render_text());
}

#[test]
fn stats_user_text() {
    let stats = crate::stats::UserStats {
        user_id: "0b7e6a4e-5f1c-4f5e-9a34-2d1f0c1b2a3c".into(),
        email: "ada@example.com".into(),
        role: "customer".into(),
        signed_up_at: at(8, 0),
        orders_total: 12,
        orders_completed: 10,
        orders_refunded: 1,
        revenue_cents: 123_456,
        sessions_total: 40,
        sessions_completed: 38,
        sessions_failed: 2,
        first_activity_at: Some(at(8, 5)),
        last_activity_at: None,
    };
    assert_snapshot!(stats.render_text());
}

#[test]
fn queries_text() {
    use crate::insights::queries::{OrderBy, Statement, TopQueries};
    let top = TopQueries {
        by: OrderBy::Total,
        statements: vec![
            Statement {
                query_id: 1,
                calls: 1200,
                total_time_ms: 5432.123,
                mean_time_ms: 4.5268,
                rows: 1200,
                cache_hit_ratio: Some(0.9987),
                share_of_total: Some(0.61),
                query:
                    "SELECT * FROM orders\n  WHERE status = $1 ORDER BY created_at DESC LIMIT $2"
                        .into(),
            },
            Statement {
                query_id: 2,
                calls: 3,
                total_time_ms: 12.0,
                mean_time_ms: 4.0,
                rows: 0,
                cache_hit_ratio: None,
                share_of_total: None,
                query: "UPDATE users SET role = $1 WHERE id = $2".into(),
            },
        ],
    };
    assert_snapshot!(top.render_text());
    let none = TopQueries {
        by: OrderBy::Calls,
        statements: Vec::new(),
    };
    assert_snapshot!("queries_text_none", none.render_text());
}

#[test]
fn demo_data_text() {
    let report = crate::demo_data::DemoReport {
        database: "palm".into(),
        seed: 1,
        tables: vec![
            crate::demo_data::TableCount {
                table: "users".into(),
                rows: 1000,
            },
            crate::demo_data::TableCount {
                table: "preorders".into(),
                rows: 1000,
            },
        ],
        elapsed_ms: 2049,
    };
    assert_snapshot!(report.render_text());
    let json = serde_json::to_value(&report).unwrap();
    assert!(json.get("database").is_none(), "the JSON is as before");
}

#[test]
fn advise_text() {
    use crate::insights::advise::explain::PlanMode;
    use crate::insights::advise::{Advice, AdviceReport, Examined, Served, Verdict as Seen};
    let by_status =
        "SELECT id, amount FROM public.orders WHERE status = $1 ORDER BY created_at DESC LIMIT $2";
    let examined = |query_id: i64, query: &str, verdict: Seen, reason: &str| Examined {
        query_id,
        calls: 1200,
        query: query.into(),
        verdict,
        cost: Some(2400.0),
        best_improvement: None,
        reason: reason.into(),
    };
    let report = AdviceReport {
        min_improvement: 0.3,
        min_cost: 100.0,
        plans: PlanMode::Samples,
        server_version_num: 150020,
        advice: vec![Advice {
            table: "public.orders".into(),
            columns: vec!["status".into(), "created_at".into()],
            index_name: "orders_status_created_at_idx".into(),
            create_index: "CREATE INDEX CONCURRENTLY orders_status_created_at_idx ON public.orders (status, created_at);".into(),
            estimated_bytes: 1_785_856,
            makes_redundant: vec!["public.orders_status_idx".into()],
            statements: vec![Served {
                query_id: 1,
                calls: 48_000,
                cost_before: 2400.5,
                cost_after: 12.25,
                improvement: 0.9949,
                query: by_status.into(),
            }],
        }],
        statements: vec![
            examined(1, by_status, Seen::Advised, ""),
            examined(2, "SELECT * FROM public.users WHERE id = $1", Seen::Served, "already cheap"),
            examined(
                3,
                "SELECT count(*) FROM public.orders",
                Seen::NoCandidates,
                "no plain column to index",
            ),
            examined(
                4,
                "SELECT * FROM public.orders WHERE note ~ $1",
                Seen::Skipped,
                "cannot plan: operator does not exist",
            ),
        ],
        other_statements: 7,
    };
    assert_snapshot!(report.render_text());
    let empty = AdviceReport {
        advice: Vec::new(),
        statements: Vec::new(),
        other_statements: 0,
        plans: PlanMode::Generic,
        server_version_num: 180000,
        ..report
    };
    assert_snapshot!("advise_text_none", empty.render_text());
}
