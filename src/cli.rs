//! The command line, as data: clap types only. Doc comments are the help text.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "palmdb",
    version,
    about = "Keeps a PostgreSQL database fast, healthy and recoverable",
    long_about = None
)]
pub struct Cli {
    /// Database to work on (postgres://user[:password]@host[:port]/db?sslmode=...).
    /// Without it, the libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE and
    /// PGSSLMODE are used.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// A direct (or session-pooling) URL for the commands that need one server session from
    /// start to end: migrate, backup create, backup verify, restore. Give it when
    /// --database-url goes through a pooler in transaction mode (PgBouncer, Supavisor on 6543).
    #[arg(long, env = "DIRECT_URL", global = true, hide_env_values = true)]
    pub direct_url: Option<String>,

    /// No progress bars, even on a terminal.
    #[arg(long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring the schema, sql/ objects and indexes up to date (safe to run concurrently).
    Migrate(MigrateArgs),
    /// Take, list, check and prune streaming JSON backups.
    Backup(BackupArgs),

    /// Fill Palm's tables with realistic synthetic data, deterministic for a given seed.
    /// Refuses tables that already hold rows unless --force.
    DemoData(DemoDataArgs),

    /// Load a backup into the database: checked first, all or nothing.
    Restore(RestoreArgs),

    /// Serve the admin HTTP API and Prometheus metrics (a token is required; see docs/serve.md).
    Serve(ServeArgs),

    /// One user's statistics, or the newest orders in a status.
    Stats(StatsArgs),
    /// Run the health checks. Exit 0 all ok, 1 a warning, 2 a critical, 3 cannot connect.
    Health(HealthArgs),

    /// VACUUM (ANALYZE) / ANALYZE the tables whose dead rows or stale statistics cross the
    /// thresholds, one table at a time.
    Maintain(MaintainArgs),

    /// The statements that cost this database the most (pg_stat_statements).
    Queries(QueriesArgs),

    /// Indexes that would make the most expensive statements cheaper, proven by the planner
    /// with hypothetical indexes (HypoPG); nothing is built.
    Advise(AdviseArgs),
}

#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// Rank by total execution time, mean time per call, or number of calls.
    #[arg(long, value_enum, default_value = "total")]
    pub by: crate::insights::queries::OrderBy,

    /// How many statements (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: i32,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AdviseArgs {
    /// Advise an index only when it lowers a statement's estimated cost by at least this
    /// much (e.g. 50%, or 0.5).
    #[arg(long, default_value = "50%", value_name = "PCT", value_parser = crate::insights::advise::parse_share)]
    pub min_improvement: f64,

    /// Leave statements cheaper than this (planner cost units) alone.
    #[arg(long, default_value_t = 100.0, value_name = "COST")]
    pub min_cost: f64,

    /// How statements with parameters are planned [default: generic on PostgreSQL 16+,
    /// samples before].
    #[arg(long, value_enum)]
    pub plans: Option<crate::insights::advise::explain::PlanMode>,

    /// Also write the advice as the next `-- palmdb:no-transaction` migration (CREATE INDEX
    /// CONCURRENTLY) into the migrations folder.
    #[arg(long)]
    pub write_migration: bool,

    /// The migrations folder --write-migration writes to.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "migrations",
        requires = "write_migration"
    )]
    pub migrations_dir: std::path::PathBuf,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: Option<MigrateAction>,

    /// Print the SQL that would run, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How long to wait for another `palmdb migrate` to finish (e.g. 60s, 5m).
    #[arg(long, default_value = "60s", value_parser = crate::duration::parse)]
    pub lock_wait: Duration,

    /// lock_timeout for every migration statement: fail fast instead of queueing behind a
    /// long transaction and blocking the application's queries. Retried up to 3 times.
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse_pg_timeout)]
    pub lock_timeout: Duration,

    /// Stop after this migration version (e.g. to restore a backup taken at that version).
    #[arg(long, value_name = "VERSION")]
    pub target_version: Option<i32>,

    /// Install or upgrade only palmdb's monitoring objects (schema palmdb: health checks,
    /// insights, snapshot and threshold tables, grants to pg_monitor), for a database that is
    /// not Palm's. Creates nothing outside schema palmdb; Palm's tables and history are not
    /// touched.
    #[arg(long, conflicts_with = "target_version")]
    pub monitoring_only: bool,

    /// statement_timeout for every migration statement (0 turns it off).
    #[arg(long, default_value = "30m", value_parser = crate::duration::parse_pg_timeout)]
    pub statement_timeout: Duration,

    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Applied and pending migrations, changed sql/ objects, INVALID indexes.
    /// Exit 0 up to date, 1 something pending, 2 applied migrations changed, 3 cannot connect.
    Status(MigrateStatusArgs),
}

#[derive(Debug, Args)]
pub struct MigrateStatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub source: SourceArgs,
}

/// Where migrations come from; by default the ones built into this binary.
#[derive(Debug, Args, Clone, Default)]
pub struct SourceArgs {
    /// Read versioned migrations from this folder instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub migrations_dir: Option<PathBuf>,

    /// Read re-appliable sql/ objects from this folder instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub sql_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoDataArgs {
    /// How many users; about one order, one analysis session, half an image and one webhook
    /// delivery are generated per user.
    #[arg(long, value_name = "N")]
    pub users: i64,

    /// Seed of the pseudo-random choices: the same seed gives the same rows.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: i64,

    /// Delete every row of the Palm tables first instead of refusing when they hold data.
    #[arg(long)]
    pub force: bool,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(subcommand)]
    pub what: StatsCommand,
}

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// One user's orders, revenue and palm analyses.
    User(StatsUserArgs),
    /// The newest orders in one status, a page at a time.
    Orders(StatsOrdersArgs),
}

#[derive(Debug, Args)]
pub struct StatsUserArgs {
    /// The user's id (a uuid) or email address (any case).
    #[arg(value_name = "ID-or-EMAIL")]
    pub user: String,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsOrdersArgs {
    /// initiated, processing, completed, failed, refunded or cancelled.
    #[arg(long, value_name = "S")]
    pub status: String,

    /// Orders per page (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: i32,

    /// Show orders older than this one: the id printed as the next page's cursor.
    #[arg(long, value_name = "CURSOR")]
    pub before: Option<i64>,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Output format [default: table on a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<HealthFormat>,

    /// Run only this check (repeatable); names are listed in docs/health-checks.md.
    #[arg(long = "check", value_name = "NAME")]
    pub checks: Vec<String>,

    /// Replace a default threshold for this run (repeatable), e.g. long_query_warning=30s,
    /// dead_ratio_warning=0.1; names and defaults: SELECT * FROM palmdb.health_threshold_parameters.
    #[arg(long = "threshold", value_name = "NAME=VALUE", value_parser = crate::health::thresholds::Threshold::parse)]
    pub thresholds: Vec<crate::health::thresholds::Threshold>,

    /// Also check PgBouncer's pools for this database from its admin console
    /// (postgres://USER@HOST:6432/pgbouncer, USER in admin_users or stats_users): clients
    /// waiting, longest wait, server connections in use vs the pool size.
    #[arg(
        long,
        value_name = "URL",
        env = "PALMDB_PGBOUNCER_URL",
        hide_env_values = true
    )]
    pub pgbouncer_url: Option<String>,

    /// Also store a snapshot of every table's size and rows in palmdb.health_snapshots
    /// (read back with palmdb.table_growth_per_day).
    #[arg(long)]
    pub record: bool,

    /// With --record: delete snapshots older than this (e.g. 90d).
    #[arg(long, default_value = "90d", value_parser = crate::duration::parse, requires = "record")]
    pub keep: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HealthFormat {
    /// Aligned columns and what to do, for people.
    Table,
    /// {"status", "checks": [{"name","status","value","threshold","detail","remedy"}]}.
    Json,
    /// One line with perfdata, for Nagios/Icinga.
    Nagios,
    /// Prometheus text format.
    Prometheus,
}

#[derive(Debug, Args)]
pub struct MaintainArgs {
    /// List what would run, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// VACUUM (ANALYZE) a table when more than this share of its rows are dead...
    /// [default: dead_ratio_warning in palmdb.health_thresholds]
    #[arg(long)]
    pub dead_ratio: Option<f64>,

    /// ...and at least this many rows are dead.
    /// [default: dead_rows_min in palmdb.health_thresholds]
    #[arg(long)]
    pub dead_rows_min: Option<i64>,

    /// ANALYZE a table when more than this share of its rows changed since the last ANALYZE...
    /// [default: stale_ratio_warning in palmdb.health_thresholds]
    #[arg(long)]
    pub stale_ratio: Option<f64>,

    /// ...and at least this many rows changed.
    /// [default: stale_rows_min in palmdb.health_thresholds]
    #[arg(long)]
    pub stale_rows_min: Option<i64>,

    /// Skip a table whose lock cannot be had within this time (e.g. 5s).
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse_pg_timeout)]
    pub lock_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: BackupAction,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Take a consistent backup of the database (one snapshot), print its id.
    Create(BackupCreateArgs),
    /// Valid backups, newest first.
    List(BackupListArgs),
    /// Is there a valid backup younger than --max-age? Exit 0 OK, 1 WARNING (too old),
    /// 2 CRITICAL (none), 3 cannot read the repository. With several --repo, the worst wins.
    Status(BackupStatusArgs),
    /// Delete expired backups and abandoned unfinished ones; never the newest backup.
    Prune(BackupPruneArgs),
    /// Check a backup: manifest, every file's SHA-256, every line, row counts; with
    /// --restore-test also restore it into a scratch database and compare.
    /// Exit 0 OK, 2 FAILED, 3 could not check.
    Verify(VerifyArgs),
    /// Copy backups to another repository (an off-site copy), checking every SHA-256 on the
    /// way; the manifest goes last, and a backup already complete there is skipped.
    Copy(BackupCopyArgs),
}

/// Where backups live. Without --repo or --dir: $PALMDB_REPO, else $BACKUP_DIR, else
/// ./backups.
#[derive(Debug, Args, Clone)]
pub struct BackupDirArgs {
    /// Backup repository: a folder, file:///path or s3://bucket/prefix (any S3-compatible
    /// store; credentials and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP).
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,

    /// Backup folder: the same as --repo DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "repo")]
    pub dir: Option<PathBuf>,
}

/// Several repositories (status, serve): each --repo (and --dir) is one. Without any:
/// $PALMDB_REPO, else $BACKUP_DIR, else ./backups.
#[derive(Debug, Args, Clone)]
pub struct ReposArgs {
    /// Backup repository (repeatable): a folder, file:///path or s3://bucket/prefix.
    #[arg(long = "repo", value_name = "URL")]
    pub repos: Vec<String>,

    /// Backup folder: the same as --repo DIR.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupCopyArgs {
    /// The backup to copy: its id or `latest` (or --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub backup: Option<String>,

    /// Copy every valid backup the target does not hold yet.
    #[arg(long)]
    pub all: bool,

    /// The repository to copy from.
    #[arg(long, value_name = "URL")]
    pub from: String,

    /// The repository to copy to.
    #[arg(long, value_name = "URL")]
    pub to: String,

    /// Print a JSON report instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupCreateArgs {
    #[command(flatten)]
    pub dir: BackupDirArgs,

    /// Encrypt every file to the age public keys (age1..., one per line) in this file; only
    /// their private keys can read the backup (restore, verify take --identity).
    #[arg(long, value_name = "RECIPIENTS_FILE", env = "PALMDB_AGE_RECIPIENTS")]
    pub encrypt_to: Option<PathBuf>,

    /// Connections reading tables at once, all from the same snapshot.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// Table file compression: zstd, zstd:LEVEL (1-19) or none.
    #[arg(long, default_value = "zstd", value_name = "zstd[:LEVEL]|none")]
    pub compress: crate::archive::Compression,

    /// Back up only this schema (repeatable; default: every schema, as pg_dump).
    #[arg(long = "schema", value_name = "SCHEMA")]
    pub schemas: Vec<String>,

    /// Back up only this table, NAME or SCHEMA.NAME (repeatable); a partitioned table brings
    /// its partitions.
    #[arg(long = "table", value_name = "TABLE")]
    pub tables: Vec<String>,

    /// Leave this table out, NAME or SCHEMA.NAME (repeatable).
    #[arg(long = "exclude-table", value_name = "TABLE")]
    pub exclude_tables: Vec<String>,

    /// Write a shareable copy: personal data masked in SQL during the COPY.
    #[arg(long)]
    pub mask: bool,

    /// Extra mask rules ([schema.]table.column RULE per line), winning over Palm's defaults.
    #[arg(long, value_name = "FILE", requires = "mask")]
    pub mask_rules: Option<PathBuf>,

    /// How long to wait for a table lock (a DDL in progress) before giving up.
    #[arg(long, default_value = "30s", value_parser = crate::duration::parse_pg_timeout)]
    pub lock_timeout: Duration,

    /// Back up the rows only, without the database's schema (no pg_dump needed; the backup
    /// then restores only into a database that already has its tables).
    #[arg(long)]
    pub no_schema: bool,

    /// The pg_dump that stores the schema (default: found in /usr/lib/postgresql/*/bin and
    /// PATH, the server's major version first).
    #[arg(
        long,
        value_name = "PATH",
        env = "PALMDB_PG_DUMP",
        conflicts_with = "no_schema"
    )]
    pub pg_dump: Option<PathBuf>,

    /// Print a JSON summary (id, path, tables, rows, bytes, seconds) instead of the id.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupListArgs {
    #[command(flatten)]
    pub dir: BackupDirArgs,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupStatusArgs {
    #[command(flatten)]
    pub dir: ReposArgs,

    /// Oldest acceptable age of the newest backup (e.g. 90m, 24h, 7d).
    #[arg(long, default_value = "24h", value_parser = crate::duration::parse)]
    pub max_age: Duration,

    /// Print JSON instead of one line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupPruneArgs {
    #[command(flatten)]
    pub dir: BackupDirArgs,

    /// Keep backups completed less than this many days ago (0 to 36500).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub keep_days: u32,

    /// Keep at least this many of the newest backups, whatever their age (at least 1).
    #[arg(long, default_value_t = 1)]
    pub keep_last: usize,

    /// Say what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Delete an unfinished backup on an object store once its writer has shown no sign of
    /// life (its lease's heartbeat) for this long (at least 30s). In a folder, the writer's
    /// lock tells.
    #[arg(long, default_value = "15m", value_parser = crate::duration::parse)]
    pub unfinished_grace: Duration,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The backup: its id, `latest`, or the path of its folder.
    pub backup: String,

    #[command(flatten)]
    pub dir: BackupDirArgs,

    /// Also restore it into a scratch database (created and dropped; needs CREATEDB) and
    /// compare row counts and content checksums with the files.
    #[arg(long)]
    pub restore_test: bool,

    /// With --restore-test: use this existing database instead of creating one (for a role
    /// without CREATEDB): everything the role owns in it is dropped before and after the
    /// test, and the database is left. Never the database --database-url names.
    #[arg(long, value_name = "NAME", requires = "restore_test")]
    pub scratch_database: Option<String>,

    /// The age key file of an encrypted backup: every line is then checked (without it, only
    /// the stored files' SHA-256), and the restore test can run.
    #[arg(long, value_name = "FILE", env = "PALMDB_AGE_IDENTITY")]
    pub identity: Option<PathBuf>,

    /// Table files checked at once, each on a thread of its own, biggest first.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,

    /// The pg_restore that reads the stored schema for the restore test (default: found in
    /// /usr/lib/postgresql/*/bin and PATH).
    #[arg(long, value_name = "PATH", env = "PALMDB_PG_RESTORE")]
    pub pg_restore: Option<PathBuf>,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup: its id, `latest`, or the path of its folder.
    #[arg(
        required_unless_present = "from_legacy",
        conflicts_with = "from_legacy"
    )]
    pub backup: Option<String>,

    #[command(flatten)]
    pub dir: BackupDirArgs,

    /// The age key file of an encrypted backup (one of its recipients' private keys).
    #[arg(long, value_name = "FILE", env = "PALMDB_AGE_IDENTITY")]
    pub identity: Option<PathBuf>,

    /// Restore only this table (`name` or `schema.name`); repeat for more.
    #[arg(long = "table", value_name = "TABLE")]
    pub tables: Vec<String>,

    /// Empty the restored tables first, in the same transaction.
    #[arg(long)]
    pub clean: bool,

    /// Restore a masked backup (its sensitive columns are not the real data).
    #[arg(long)]
    pub allow_masked: bool,

    /// When creating the tables from the backup's schema: leave ownership to the restoring
    /// role (for a server whose roles differ).
    #[arg(long)]
    pub no_owner: bool,

    /// When creating the tables from the backup's schema: skip GRANT and REVOKE (for a
    /// server whose roles differ).
    #[arg(long)]
    pub no_privileges: bool,

    /// The pg_restore that reads the backup's schema (default: found in
    /// /usr/lib/postgresql/*/bin and PATH).
    #[arg(long, value_name = "PATH", env = "PALMDB_PG_RESTORE")]
    pub pg_restore: Option<std::path::PathBuf>,

    /// Memory for each index build and foreign-key check of the restore (PostgreSQL's
    /// maintenance_work_mem, e.g. 1GB), set for its transaction only; with 32 MB or more per
    /// worker the server sorts in parallel. Default: the server's setting.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_size)]
    pub maintenance_work_mem: Option<String>,

    /// Create the database --database-url names (it must not exist) and restore the whole
    /// backup into it over --jobs connections. It is built under a working name and renamed
    /// only when complete: it either does not exist or holds everything. Needs CREATEDB.
    #[arg(long, conflicts_with_all = ["tables", "clean", "from_legacy"])]
    pub create_database: bool,

    /// With --create-database: connections loading tables and building indexes at once.
    #[arg(
        long,
        requires = "create_database",
        default_value_t = 2,
        value_parser = clap::value_parser!(u16).range(1..=64)
    )]
    pub jobs: u16,

    /// Check everything and say what would be restored; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,

    /// Import the old system's single-document JSON export instead of a backup.
    #[arg(long, value_name = "FILE")]
    pub from_legacy: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (IP:PORT; port 0 picks a free one and prints it). An address other
    /// machines can reach needs --tls-cert/--tls-key, or --insecure-listen.
    #[arg(long, default_value = "127.0.0.1:9187")]
    pub listen: SocketAddr,

    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM PKCS#8 private key of --tls-cert (mode 0600 or stricter).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Allow a --listen address other machines can reach without TLS: tokens then cross the
    /// network in clear text (only on a private network, or behind a TLS proxy on another host).
    #[arg(long)]
    pub insecure_listen: bool,

    /// Most connections served at once.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub max_connections: u16,

    /// Most connections from one client (an IPv4 address or an IPv6 /64): one client cannot
    /// take every slot.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub max_connections_per_client: u16,

    /// Token for every endpoint, including DELETE. Prefer the environment variable or
    /// --token-file: command-line arguments are visible to other users in `ps`.
    #[arg(
        long,
        env = "PALMDB_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,

    /// File holding the admin token (mode 0600 or stricter).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// Token for the read-only endpoints only (health, backups, status, metrics).
    #[arg(
        long,
        env = "PALMDB_READ_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub read_token: Option<String>,

    /// File holding the read token (mode 0600 or stricter).
    #[arg(long, value_name = "FILE")]
    pub read_token_file: Option<PathBuf>,

    /// Let anyone scrape /metrics without a token.
    #[arg(long)]
    pub metrics_public: bool,

    #[command(flatten)]
    pub dir: ReposArgs,

    /// Age past which the newest backup makes /backups/status a warning.
    #[arg(long, default_value = "24h", value_parser = crate::duration::parse)]
    pub max_age: Duration,

    /// Most database connections the server opens.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub pool_size: u16,

    /// Longest wait for the database (connect + queries) before /health answers 503 unknown.
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse_pg_timeout)]
    pub db_timeout: Duration,

    /// Longest time any request may take (must exceed --db-timeout).
    #[arg(long, default_value = "15s", value_parser = crate::duration::parse)]
    pub request_timeout: Duration,

    /// How long health and backup results are reused before being computed again.
    #[arg(long, default_value = "1s", value_parser = crate::duration::parse)]
    pub cache_ttl: Duration,

    /// Add PgBouncer's pool checks for this database (from its admin console,
    /// postgres://USER@HOST:6432/pgbouncer) to /health and /metrics.
    #[arg(
        long,
        value_name = "URL",
        env = "PALMDB_PGBOUNCER_URL",
        hide_env_values = true
    )]
    pub pgbouncer_url: Option<String>,
}

/// A memory size for a PostgreSQL setting, in palmdb's one size grammar
/// ([`crate::duration::parse_size`]: `1GB`, `256MB`, `1.5GB`, bytes without a unit), given to
/// the server in whole kB; the server judges its range.
fn parse_memory_size(value: &str) -> Result<String, String> {
    let bytes = crate::duration::parse_size(value)
        .map_err(|_| format!("\"{value}\" is not a memory size: use e.g. 256MB or 1.5GB"))?;
    Ok(format!("{}kB", bytes / 1024))
}

#[cfg(test)]
mod memory_size_tests {
    use super::parse_memory_size;

    #[test]
    fn sizes_are_palmdbs_size_grammar_given_in_kb() {
        assert_eq!(parse_memory_size("1GB").unwrap(), "1048576kB");
        assert_eq!(parse_memory_size("256MB").unwrap(), "262144kB");
        assert_eq!(parse_memory_size("1.5GB").unwrap(), "1572864kB");
        assert_eq!(parse_memory_size("1048576").unwrap(), "1024kB");
        assert_eq!(parse_memory_size("1kB").unwrap(), "1kB");
        for bad in [
            "",
            "GB",
            "1.5.5GB",
            "-1GB",
            "1GB'; DROP TABLE x; --",
            "99999999TB",
        ] {
            assert!(parse_memory_size(bad).is_err(), "{bad}");
        }
    }
}
