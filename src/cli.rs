//! The command line, as data: clap types only. Doc comments are the help text.

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

    /// Take, list, check and prune backups.
    Backup(BackupArgs),

    /// Load a backup into the database: checked first, all or nothing.
    Restore(RestoreArgs),
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
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse)]
    pub lock_timeout: Duration,

    /// Stop after this migration version (e.g. to restore a backup taken at that version).
    #[arg(long, value_name = "VERSION")]
    pub target_version: Option<i32>,

    /// statement_timeout for every migration statement (0 turns it off).
    #[arg(long, default_value = "30m", value_parser = crate::duration::parse)]
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
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: BackupAction,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Check a backup: manifest, every file's SHA-256, every line, row counts; with
    /// --restore-test also restore it into a scratch database and compare.
    /// Exit 0 OK, 2 FAILED, 3 could not check.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The backup: its id, `latest`, or the path of its folder.
    pub backup: String,

    /// Folder holding the backups.
    #[arg(
        long,
        env = "BACKUP_DIR",
        default_value = "backups",
        value_name = "DIR"
    )]
    pub dir: PathBuf,

    /// Also restore it into a scratch database (created and dropped; needs CREATEDB) and
    /// compare row counts and content checksums with the files.
    #[arg(long)]
    pub restore_test: bool,

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

    /// Folder holding the backups.
    #[arg(
        long,
        env = "BACKUP_DIR",
        default_value = "backups",
        value_name = "DIR"
    )]
    pub dir: PathBuf,

    /// Restore only this table (`name` or `schema.name`); repeat for more.
    #[arg(long = "table", value_name = "TABLE")]
    pub tables: Vec<String>,

    /// Empty the restored tables first, in the same transaction.
    #[arg(long)]
    pub clean: bool,

    /// Restore a masked backup (its sensitive columns are not the real data).
    #[arg(long)]
    pub allow_masked: bool,

    /// Check everything and say what would be restored; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,

    /// Import the old system's single-document JSON export instead of a backup.
    #[arg(long, value_name = "FILE")]
    pub from_legacy: Option<PathBuf>,
}
