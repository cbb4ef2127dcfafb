//! The stats functions' latency at production scale, without and with the query indexes.
//!
//!     flock /tmp/palmdb-bench.lock cargo bench --bench stats
//!
//! Creates the database `palmdb_bench_stats` on the server of `PALMDB_BENCH_URL` (default
//! postgres://postgres@127.0.0.1:5432/postgres), migrates it to V1 only (constraint and
//! foreign-key indexes) with the stats functions, fills it with `demo-data --users 1000000`,
//! VACUUM ANALYZEs, and times every function with V1's indexes only. Then `palmdb migrate`
//! builds V2–V12 (the query indexes, the daily rollup) and every function is timed again;
//! then V13 (covering indexes: user_stats index-only) and once more. `SELECT 1` on the same
//! connection is the floor: one round trip that does nothing. Prints a markdown table and
//! writes it to docs/benchmarks/stats.md; drops the database at the end.
//!
//! Users are drawn at random across the whole table, a different one for every call and a
//! different set for every phase, so no call finds the pages an earlier call warmed: with the
//! server's shared_buffers (PostgreSQL's default 128MB here, a tenth of the data) that is
//! what a request for an arbitrary user costs.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use palmdb::connect::{self, ConnectSettings};
use palmdb::demo_data::{self, DemoOptions};
use palmdb::migrate::{self, history::Timeouts, source::Source, MigrateOptions};

const DATABASE: &str = "palmdb_bench_stats";
/// Users generated; `PALMDB_BENCH_USERS` overrides it for a quick smoke run.
fn users() -> i64 {
    std::env::var("PALMDB_BENCH_USERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000)
}
/// Calls per function with the indexes; without them, as many as fit in the time budget.
const CALLS_WITH: usize = 2000;
/// Untimed calls before each function's timed ones (plans cached, as in a running app).
const WARM_UP: usize = 10;
/// Timed phases: V1 only, V2–V12, V13. Each gets its own users.
const PHASES: usize = 3;
const CALLS_WITHOUT_MAX: usize = 300;
const BUDGET_WITHOUT: Duration = Duration::from_secs(8);

/// Arguments drawn once from the data, so every call asks for something different.
struct Samples {
    user_ids: Vec<String>,
    emails: Vec<String>,
    order_cursors: Vec<i64>,
    user_cursors: Vec<String>,
    days: Vec<chrono::NaiveDate>,
}

/// One benchmarked call: its label and how to run the i-th call.
struct Case {
    label: &'static str,
    sql: &'static str,
}

const CASES: [Case; 12] = [
    Case {
        label: "`SELECT 1` (floor)",
        sql: "SELECT 1",
    },
    Case {
        label: "one user by primary key",
        sql: "SELECT * FROM users WHERE id = $1::text::uuid",
    },
    Case {
        label: "find_user_by_email",
        sql: "SELECT * FROM palmdb.find_user_by_email($1)",
    },
    Case {
        label: "user_stats",
        sql: "SELECT * FROM palmdb.user_stats($1::text::uuid)",
    },
    Case {
        label: "orders_by_status, first page (20)",
        sql: "SELECT * FROM palmdb.orders_by_status($1, 20)",
    },
    Case {
        label: "orders_by_status, deep page (20)",
        sql: "SELECT * FROM palmdb.orders_by_status('completed', 20, $1)",
    },
    Case {
        label: "user_sessions (20)",
        sql: "SELECT * FROM palmdb.user_sessions($1::text::uuid, 20)",
    },
    Case {
        label: "revenue_by_day, 1 day",
        sql: "SELECT * FROM palmdb.revenue_by_day($1::date, $1::date)",
    },
    Case {
        label: "revenue_by_day, 30 days",
        sql: "SELECT * FROM palmdb.revenue_by_day($1::date, $1::date + 29)",
    },
    Case {
        label: "users_by_role admin (50)",
        sql: "SELECT * FROM palmdb.users_by_role('admin', 50)",
    },
    Case {
        label: "users_by_role user, deep page (50)",
        sql: "SELECT * FROM palmdb.users_by_role('user', 50, $1::text::uuid)",
    },
    Case {
        label: "webhooks_to_retry (100)",
        sql: "SELECT * FROM palmdb.webhooks_to_retry(5, 100)",
    },
];

const STATUSES: [&str; 6] = [
    "initiated",
    "processing",
    "completed",
    "failed",
    "refunded",
    "cancelled",
];

#[derive(Clone, Copy)]
struct Timing {
    p50: Duration,
    p99: Duration,
    calls: usize,
    rows: f64,
}

fn main() {
    let outcome = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(run()));
    if let Err(err) = outcome {
        eprintln!("bench stats: {}", palmdb::error::one_line(&err));
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let admin_url = std::env::var("PALMDB_BENCH_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let admin = connect::settings(Some(&admin_url))?;
    let settings = admin.with_database(DATABASE);
    let admin_client = admin.connect().await?;
    admin_client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .await?;
    // A statement of its own: CREATE DATABASE refuses to run in a transaction block.
    admin_client
        .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
        .await?;

    let outcome = measure(&settings).await;
    admin_client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        .await?;
    let report = outcome?;
    print!("{report}");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/benchmarks/stats.md");
    std::fs::write(path, &report).with_context(|| format!("cannot write {path}"))?;
    eprintln!("written to docs/benchmarks/stats.md");
    Ok(())
}

/// revenue_by_day as it was before the daily rollup (V11): a sum over the completed orders.
const REVENUE_BY_DAY_BEFORE_ROLLUP: &str = "
CREATE OR REPLACE FUNCTION palmdb.revenue_by_day(from_day date, to_day date)
RETURNS TABLE (day date, currency text, orders bigint, revenue_cents bigint)
LANGUAGE sql STABLE AS $$
    SELECT (p.created_at AT TIME ZONE 'UTC')::date, p.currency, count(*), sum(p.stripe_amount)::bigint
    FROM public.preorders AS p
    WHERE p.status = 'completed'
      AND p.created_at >= (from_day::timestamp AT TIME ZONE 'UTC')
      AND p.created_at < ((to_day + 1)::timestamp AT TIME ZONE 'UTC')
    GROUP BY 1, 2
    ORDER BY 1, 2
$$;";

async fn measure(settings: &ConnectSettings) -> Result<String> {
    // V1 only, with the stats functions alone from sql/: the database before this work's
    // indexes. (Later migrations come with the full run below, in version order.)
    let v1_only = tempfile::tempdir()?;
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/V1__palm_schema.sql"
        ),
        v1_only.path().join("V1__palm_schema.sql"),
    )?;
    let stats_objects = tempfile::tempdir()?;
    std::fs::create_dir(stats_objects.path().join("stats"))?;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/stats"))? {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, stats_objects.path().join("stats").join(name))?;
        }
    }
    // revenue_by_day reads the daily rollup of V11; before this work it summed the orders
    // themselves, which is what "without" measures.
    std::fs::write(
        stats_objects
            .path()
            .join("stats")
            .join("50_revenue_by_day.sql"),
        REVENUE_BY_DAY_BEFORE_ROLLUP,
    )?;
    run_migrate(
        settings,
        Some(v1_only.path().to_path_buf()),
        Some(stats_objects.path().to_path_buf()),
    )
    .await?;

    let mut client = settings.connect().await?;
    eprintln!("generating {} users of demo data...", users());
    let options = DemoOptions {
        users: users(),
        seed: 1,
        force: false,
    };
    let demo = demo_data::fill(&mut client, &options, &|step| eprintln!("  {step}")).await?;
    let started = Instant::now();
    client.batch_execute("VACUUM ANALYZE").await?;
    let vacuum = started.elapsed();
    let samples = sample(&client).await?;

    eprintln!("timing without the query indexes (V1 only)...");
    let mut without = Vec::new();
    for case in &CASES {
        without.push(
            time_case(
                &client,
                case,
                &samples,
                0,
                CALLS_WITHOUT_MAX,
                BUDGET_WITHOUT,
            )
            .await?,
        );
    }

    eprintln!("palmdb migrate: V2–V12, building the indexes CONCURRENTLY...");
    let before_v13 = tempfile::tempdir()?;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let version: u32 = name
            .strip_prefix('V')
            .and_then(|rest| rest.split("__").next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX);
        if version < 13 {
            std::fs::copy(&path, before_v13.path().join(name))?;
        }
    }
    let started = Instant::now();
    run_migrate(settings, Some(before_v13.path().to_path_buf()), None).await?;
    let build = started.elapsed();

    eprintln!("timing with V2–V12's indexes...");
    let mut v12 = Vec::new();
    for case in &CASES {
        v12.push(
            time_case(
                &client,
                case,
                &samples,
                1,
                CALLS_WITH,
                Duration::from_secs(60),
            )
            .await?,
        );
    }

    eprintln!("palmdb migrate: V13, covering indexes CONCURRENTLY...");
    let started = Instant::now();
    run_migrate(settings, None, None).await?;
    let build_v13 = started.elapsed();

    eprintln!("timing with V13's covering indexes...");
    let mut with = Vec::new();
    for case in &CASES {
        with.push(
            time_case(
                &client,
                case,
                &samples,
                2,
                CALLS_WITH,
                Duration::from_secs(60),
            )
            .await?,
        );
    }

    let server: String = client.query_one("SHOW server_version", &[]).await?.get(0);
    let tls: bool = client
        .query_one(
            "SELECT coalesce((SELECT s.ssl FROM pg_stat_ssl AS s WHERE s.pid = pg_backend_pid()), false)",
            &[],
        )
        .await?
        .get(0);
    let sizes: String = client
        .query_one(
            "SELECT string_agg(format('%s %s rows', c.relname, c.reltuples::bigint), ', ' ORDER BY c.relname)
             FROM pg_class AS c
             WHERE c.relname IN ('users', 'preorders', 'palm_analysis_sessions', 'user_images', 'webhook_logs')",
            &[],
        )
        .await?
        .get(0);
    let server = format!(
        "{server}, client on the same host ({})",
        if tls { "TLS" } else { "no TLS" }
    );
    let shared_buffers: String = client.query_one("SHOW shared_buffers", &[]).await?.get(0);
    let database_size: String = client
        .query_one(
            "SELECT pg_size_pretty(pg_database_size(current_database()))",
            &[],
        )
        .await?
        .get(0);
    let server = format!("{server}, shared_buffers {shared_buffers}, database {database_size}");
    Ok(render(
        &demo,
        vacuum,
        (build, build_v13),
        &server,
        &sizes,
        (&without, &v12, &with),
    ))
}

async fn run_migrate(
    settings: &ConnectSettings,
    migrations_dir: Option<std::path::PathBuf>,
    sql_dir: Option<std::path::PathBuf>,
) -> Result<()> {
    let options = MigrateOptions {
        source: Source {
            migrations_dir,
            sql_dir,
        },
        dry_run: false,
        lock_wait: Duration::from_secs(60),
        timeouts: Timeouts {
            lock_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(1800),
        },
    };
    migrate::migrate(settings, &options, &mut std::io::stderr()).await
}

async fn sample(client: &Client) -> Result<Samples> {
    // Distinct users at random across the whole table (hashing the id spreads the picks), one
    // per call of every phase, warm-up included: no timed call reads a user read before.
    let users = client
        .query(
            "SELECT id::text, email FROM users ORDER BY hashtext(id::text) LIMIT $1",
            &[&(((CALLS_WITH + WARM_UP) * PHASES) as i64)],
        )
        .await?;
    let order_cursors = client
        .query(
            "SELECT id FROM preorders WHERE status = 'completed' ORDER BY hashtext(id::text) LIMIT 1000",
            &[],
        )
        .await?;
    let user_cursors = client
        .query(
            "SELECT id::text FROM users WHERE role = 'user' ORDER BY hashtext(id::text) DESC LIMIT 1000",
            &[],
        )
        .await?;
    let days = client
        .query(
            "SELECT d::date FROM generate_series(date '2026-08-01', date '2026-10-01', interval '1 day') AS d",
            &[],
        )
        .await?;
    Ok(Samples {
        user_ids: users.iter().map(|r| r.get(0)).collect(),
        // Addresses as people type them: every third one in capitals.
        emails: users
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let email: String = r.get(1);
                if i % 3 == 0 {
                    email.to_uppercase()
                } else {
                    email
                }
            })
            .collect(),
        order_cursors: order_cursors.iter().map(|r| r.get(0)).collect(),
        user_cursors: user_cursors.iter().map(|r| r.get(0)).collect(),
        days: days.iter().map(|r| r.get(0)).collect(),
    })
}

async fn time_case(
    client: &Client,
    case: &Case,
    samples: &Samples,
    phase: usize,
    max_calls: usize,
    budget: Duration,
) -> Result<Timing> {
    let statement = client.prepare(case.sql).await?;
    // This phase's slice of the users: calls 0..max_calls timed, then the warm-up ones.
    let user = |i: usize| {
        samples.user_ids[(phase * (CALLS_WITH + WARM_UP) + i) % samples.user_ids.len()].clone()
    };
    let call = |i: usize| -> Vec<Box<dyn ToSql + Sync + Send>> {
        match case.label {
            "find_user_by_email" => {
                vec![Box::new(samples.emails[i % samples.emails.len()].clone())]
            }
            "user_stats" | "user_sessions (20)" | "one user by primary key" => {
                vec![Box::new(user(i))]
            }
            "orders_by_status, first page (20)" => {
                vec![Box::new(STATUSES[i % STATUSES.len()].to_string())]
            }
            "orders_by_status, deep page (20)" => {
                vec![Box::new(
                    samples.order_cursors[i % samples.order_cursors.len()],
                )]
            }
            "revenue_by_day, 1 day" | "revenue_by_day, 30 days" => {
                vec![Box::new(samples.days[i % samples.days.len()])]
            }
            "users_by_role user, deep page (50)" => {
                vec![Box::new(
                    samples.user_cursors[i % samples.user_cursors.len()].clone(),
                )]
            }
            _ => Vec::new(),
        }
    };
    // Warm-up: plans cached, pages in shared buffers, as in a running application.
    for i in 0..WARM_UP {
        let params = call(CALLS_WITH + i);
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        client.query(&statement, &refs).await?;
    }
    let mut latencies = Vec::new();
    let mut rows = 0usize;
    let started = Instant::now();
    for i in 0..max_calls {
        let params = call(i);
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let begun = Instant::now();
        rows += client.query(&statement, &refs).await?.len();
        latencies.push(begun.elapsed());
        if started.elapsed() > budget && latencies.len() >= 20 {
            break;
        }
    }
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    Ok(Timing {
        p50: at(0.50),
        p99: at(0.99),
        calls: latencies.len(),
        rows: rows as f64 / latencies.len() as f64,
    })
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.0}")
    }
}

fn render(
    demo: &demo_data::DemoReport,
    vacuum: Duration,
    (build, build_v13): (Duration, Duration),
    server: &str,
    sizes: &str,
    (without, v12, with): (&[Timing], &[Timing], &[Timing]),
) -> String {
    let mut out = String::new();
    out.push_str("# Stats functions: latency without and with the query indexes\n\n");
    out.push_str(&format!(
        "Measured {} by `flock /tmp/palmdb-bench.lock cargo bench --bench stats` (release build) on a \
         {}-core machine shared with other work (load average {} when the timings began), PostgreSQL {server}. \
         Data: `palmdb demo-data --users {} --seed 1` ({sizes}), then `VACUUM ANALYZE`.\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        load_average(),
        users(),
    ));
    out.push_str(&format!(
        "- demo-data: {:.1} s for {} rows; VACUUM ANALYZE {:.1} s\n\
         - `palmdb migrate` V2–V12 (building V2's four indexes CONCURRENTLY, dropping V3's, the later migrations): {:.1} s\n\
         - `palmdb migrate` V13 (three covering indexes rebuilt CONCURRENTLY, swapped in under the old names): {:.1} s\n\n",
        demo.elapsed_ms as f64 / 1000.0,
        demo.tables.iter().map(|t| t.rows).sum::<i64>(),
        vacuum.as_secs_f64(),
        build.as_secs_f64(),
        build_v13.as_secs_f64(),
    ));
    out.push_str(
        "\"Without\" is V1's indexes only (primary keys, unique constraints, foreign-key indexes, \
         `lower(email)`); \"V12\" adds V2/V3's query indexes and V11's daily revenue rollup; \"V13\" \
         rebuilds three of them as covering indexes. Times in milliseconds per call, one prepared \
         statement per function on one connection, arguments varied per call; user ids drawn at \
         random across the whole table, a new user for every call of every phase. Without the \
         indexes each function gets an {BUDGET}-second budget, so the slow ones have fewer calls. \
         The last column is V13's p50 divided by the `SELECT 1` floor's.\n\n"
            .replace("{BUDGET}", &BUDGET_WITHOUT.as_secs().to_string())
            .as_str(),
    );
    out.push_str(
        "| query | rows/call | without p50 | without p99 | calls | V12 p50 | V12 p99 | V13 p50 | V13 p99 | calls | V13 p50 ÷ floor |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let floor = with[0].p50.as_secs_f64();
    for (((case, w), b), i) in CASES.iter().zip(without).zip(v12).zip(with) {
        out.push_str(&format!(
            "| {} | {:.1} | {} | {} | {} | {} | {} | **{}** | **{}** | {} | {:.1}× |\n",
            case.label,
            i.rows,
            ms(w.p50),
            ms(w.p99),
            w.calls,
            ms(b.p50),
            ms(b.p99),
            ms(i.p50),
            ms(i.p99),
            i.calls,
            i.p50.as_secs_f64() / floor,
        ));
    }
    out.push_str(NOTES);
    out
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

const NOTES: &str = "
Target: p50 ≤ 1 ms and p99 ≤ 5 ms with the indexes, a small multiple of the `SELECT 1` floor;
`user_stats` and `user_sessions` for an arbitrary user p50 ≤ 3× the floor (issue 16). V13 makes
`user_stats` two Index Only Scans (the INCLUDE columns hold everything it adds up), so a user
costs a few index pages instead of one heap page per order and per session. `user_sessions`
returns each session's `result` (jsonb) and `error_message`, which no B-tree entry can safely
hold (about 2.7 kB at most), so it reads the heap for the rows it returns, and only those.
Every call that returns a page or one user's figures touches a bounded number of index
entries, so its cost does not grow with the table. `revenue_by_day` is different by nature: a
sum over a range. \"Without\" is its earlier body, which added up every completed order of the
range (even index-only, 30 days took 20 ms at this scale); \"with\" reads V11's
`palmdb.daily_revenue`, a rollup per day, currency and stripe that statement-level triggers on
`preorders` keep exact, striped by session so concurrent writers do not queue on one row (see
docs/indexes.md).
";
