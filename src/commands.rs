//! Runs one parsed command: turns CLI arguments into the module's options and calls the
//! module's `run`, which prints its result (`ui::emit`). Returns the exit code for commands
//! that check something.

use anyhow::Result;

use crate::cli::{AdviseArgs, QueriesArgs, ServeArgs};
use crate::cli::{
    BackupAction, BackupArgs, Cli, Command, DemoDataArgs, HealthArgs, MaintainArgs, MigrateAction,
    MigrateArgs, RestoreArgs, SourceArgs, StatsArgs, StatsCommand, VerifyArgs,
};
use crate::connect::{self, ConnectSettings};
use crate::error::ExitCode;
use crate::maintain::{self, MaintainOptions};
use crate::migrate::{self, history::Timeouts, source::Source, MigrateOptions};
use crate::ui::{emit, Format};

/// Whether a command reports a state (Nagios exit codes, 3 on errors) or performs an action.
pub fn is_checking(cli: &Cli) -> bool {
    matches!(
        &cli.command,
        Command::Migrate(MigrateArgs {
            action: Some(MigrateAction::Status(_)),
            ..
        }) | Command::Backup(BackupArgs {
            action: BackupAction::Status(_) | BackupAction::Verify(_)
        })
    ) || matches!(&cli.command, Command::Health(_))
}

/// For commands whose stdout is a Nagios plugin line (`health --format nagios`, `backup
/// status` without `--json`): how to write a failure there, since Nagios shows only stdout
/// and would otherwise say "(No output)". None for every other command.
pub fn nagios_failure_line(cli: &Cli) -> Option<fn(&str) -> String> {
    match &cli.command {
        Command::Health(HealthArgs {
            format: Some(crate::cli::HealthFormat::Nagios),
            ..
        }) => Some(crate::health::nagios::unknown_line),
        Command::Backup(BackupArgs {
            action: BackupAction::Status(args),
        }) if !args.json => Some(crate::backup::status::unknown_line),
        _ => None,
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let settings = connect::settings(cli.database_url.as_deref())?;
    // Commands that need one server session from start to end use --direct-url when given
    // (the database URL may go through a transaction pooler).
    let session = match cli.direct_url.as_deref() {
        Some(url) if !url.trim().is_empty() => connect::settings(Some(url))?,
        _ => settings.clone(),
    };
    match cli.command {
        Command::Migrate(args) => migrate_command(&session, args).await,
        Command::Backup(args) => backup_command(&session, args, cli.quiet).await,
        Command::DemoData(args) => demo_data_command(&settings, args, cli.quiet).await,
        Command::Restore(args) => restore_command(&session, args, cli.quiet).await,
        Command::Stats(args) => stats_command(&settings, args).await,
        Command::Health(args) => health_command(&settings, args).await,
        Command::Maintain(args) => maintain_command(&settings, args).await,
        Command::Serve(args) => serve_command(&settings, args).await,
        Command::Queries(args) => queries_command(&settings, args).await,
        Command::Advise(args) => advise_command(&settings, args).await,
    }
}

fn source(args: &SourceArgs) -> Source {
    Source {
        migrations_dir: args.migrations_dir.clone(),
        sql_dir: args.sql_dir.clone(),
    }
}

async fn migrate_command(settings: &ConnectSettings, args: MigrateArgs) -> Result<ExitCode> {
    match args.action {
        Some(MigrateAction::Status(status_args)) => {
            let report = migrate::status(settings, &source(&status_args.source)).await?;
            emit(&report, Format::json(status_args.json))
        }
        None => {
            settings
                .require_session(
                    "migrate",
                    "its lock (one migrate at a time) must stay with one server session",
                )
                .await?;
            let options = MigrateOptions {
                source: source(&args.source),
                dry_run: args.dry_run,
                lock_wait: args.lock_wait,
                timeouts: Timeouts {
                    lock_timeout: args.lock_timeout,
                    statement_timeout: args.statement_timeout,
                },
            };
            if args.monitoring_only {
                migrate::monitoring::install(settings, &options, &mut std::io::stdout()).await?;
            } else {
                migrate::migrate_to(
                    settings,
                    &options,
                    args.target_version,
                    &mut std::io::stdout(),
                )
                .await?;
            }
            Ok(ExitCode::Ok)
        }
    }
}

async fn demo_data_command(
    settings: &ConnectSettings,
    args: DemoDataArgs,
    quiet: bool,
) -> Result<ExitCode> {
    let options = crate::demo_data::DemoOptions {
        users: args.users,
        seed: args.seed,
        force: args.force,
    };
    crate::demo_data::run(
        settings,
        &options,
        !quiet && !args.json,
        Format::json(args.json),
    )
    .await
}

async fn stats_command(settings: &ConnectSettings, args: StatsArgs) -> Result<ExitCode> {
    match args.what {
        StatsCommand::User(a) => {
            crate::stats::run_user(settings, &a.user, Format::json(a.json)).await
        }
        StatsCommand::Orders(a) => {
            let query = crate::stats::OrdersQuery {
                status: a.status,
                limit: a.limit,
                before: a.before,
            };
            crate::stats::run_orders(settings, &query, Format::json(a.json)).await
        }
    }
}

async fn health_command(settings: &ConnectSettings, args: HealthArgs) -> Result<ExitCode> {
    let options = crate::health::run::HealthRun {
        format: args.format,
        checks: args.checks,
        thresholds: args.thresholds,
        pgbouncer_url: args.pgbouncer_url,
        record: args.record,
        keep: args.keep,
    };
    crate::health::run::run(settings, options).await
}

async fn maintain_command(settings: &ConnectSettings, args: MaintainArgs) -> Result<ExitCode> {
    let client = settings
        .with_application_name("palmdb maintain")
        .connect()
        .await?;
    let options = MaintainOptions {
        dry_run: args.dry_run,
        dead_ratio: args.dead_ratio,
        dead_rows_min: args.dead_rows_min,
        stale_ratio: args.stale_ratio,
        stale_rows_min: args.stale_rows_min,
        lock_timeout: args.lock_timeout,
    };
    maintain::maintain(&client, &options, &mut std::io::stdout()).await?;
    Ok(ExitCode::Ok)
}

async fn backup_command(
    session: &ConnectSettings,
    args: BackupArgs,
    quiet: bool,
) -> Result<ExitCode> {
    use crate::backup::{copy, create, list, prune, repository, selection::Selection, status};
    match args.action {
        BackupAction::Create(a) => {
            let recipients = a
                .encrypt_to
                .as_deref()
                .map(crate::archive::encryption::Recipients::from_file)
                .transpose()?;
            let options = create::CreateOptions {
                repo: repository(a.dir.repo.as_deref(), a.dir.dir.as_deref())?,
                recipients,
                jobs: usize::from(a.jobs),
                compression: a.compress,
                selection: Selection {
                    schemas: a.schemas,
                    tables: a.tables,
                    exclude_tables: a.exclude_tables,
                },
                mask: a.mask,
                mask_rules: a.mask_rules,
                lock_timeout: a.lock_timeout,
                schema: !a.no_schema,
                pg_dump: a.pg_dump,
                progress: !quiet && !a.json,
            };
            create::run(session, &options, Format::json(a.json)).await
        }
        BackupAction::List(a) => {
            let repo = repository(a.dir.repo.as_deref(), a.dir.dir.as_deref())?;
            list::run(&repo, Format::json(a.json))
        }
        BackupAction::Status(a) => {
            let repos = crate::backup::repositories(&a.dir.repos, a.dir.dir.as_deref())?;
            status::run(&repos, a.max_age, Format::json(a.json))
        }
        BackupAction::Prune(a) => {
            let options = prune::PruneOptions {
                keep_days: a.keep_days,
                keep_last: a.keep_last,
                dry_run: a.dry_run,
                unfinished_grace: a.unfinished_grace,
            };
            let repo = repository(a.dir.repo.as_deref(), a.dir.dir.as_deref())?;
            prune::run(&repo, &options, Format::json(a.json))
        }
        BackupAction::Verify(a) => verify_command(session, a, quiet).await,
        BackupAction::Copy(a) => {
            let from = crate::archive::repository::Repository::open(&a.from)?;
            let to = crate::archive::repository::Repository::open(&a.to)?;
            let which = match a.backup {
                Some(what) if !a.all => copy::Which::One(what),
                _ => copy::Which::All,
            };
            copy::run(from, to, which, !quiet && !a.json, Format::json(a.json)).await
        }
    }
}

/// The age identity file `--identity` names, read once.
fn identities(
    path: Option<&std::path::Path>,
) -> Result<Option<std::sync::Arc<crate::archive::encryption::Identities>>> {
    path.map(|p| crate::archive::encryption::Identities::from_file(p).map(std::sync::Arc::new))
        .transpose()
}

async fn verify_command(
    settings: &ConnectSettings,
    args: VerifyArgs,
    quiet: bool,
) -> Result<ExitCode> {
    let options = crate::verify::VerifyOptions {
        backup: args.backup,
        repo: crate::backup::repository(args.dir.repo.as_deref(), args.dir.dir.as_deref())?,
        identities: identities(args.identity.as_deref())?,
        restore_test: args.restore_test,
        scratch_database: args.scratch_database,
        jobs: usize::from(args.jobs),
        progress: !quiet && !args.json,
        pg_restore: args.pg_restore,
    };
    crate::verify::run(settings, &options, Format::json(args.json)).await
}

async fn restore_command(
    settings: &ConnectSettings,
    args: RestoreArgs,
    quiet: bool,
) -> Result<ExitCode> {
    let progress = !quiet && !args.json;
    let report = match (args.from_legacy, args.backup) {
        (Some(file), _) => {
            let options = crate::restore::legacy::LegacyOptions {
                file,
                tables: args.tables,
                clean: args.clean,
                dry_run: args.dry_run,
                progress,
            };
            crate::restore::legacy::restore_legacy(settings, &options).await?
        }
        (None, backup) => {
            let options = crate::restore::RestoreOptions {
                backup: backup.unwrap_or_else(|| "latest".to_string()),
                repo: crate::backup::repository(args.dir.repo.as_deref(), args.dir.dir.as_deref())?,
                identities: identities(args.identity.as_deref())?,
                tables: args.tables,
                clean: args.clean,
                allow_masked: args.allow_masked,
                dry_run: args.dry_run,
                progress,
                maintenance_work_mem: args.maintenance_work_mem,
                schema: crate::restore::schema::SchemaOptions {
                    no_owner: args.no_owner,
                    no_privileges: args.no_privileges,
                    pg_restore: args.pg_restore,
                },
                create_database: args.create_database,
                jobs: usize::from(args.jobs),
            };
            crate::restore::restore(settings, &options).await?
        }
    };
    emit(&report, Format::json(args.json))
}

async fn queries_command(settings: &ConnectSettings, args: QueriesArgs) -> Result<ExitCode> {
    crate::insights::queries::run(settings, args.by, args.limit, Format::json(args.json)).await
}

async fn advise_command(settings: &ConnectSettings, args: AdviseArgs) -> Result<ExitCode> {
    let options = crate::insights::advise::AdviseOptions {
        min_improvement: args.min_improvement,
        min_cost: args.min_cost,
        plans: args.plans,
    };
    let write_migration = args
        .write_migration
        .then_some(args.migrations_dir.as_path());
    crate::insights::advise::run(settings, &options, write_migration, Format::json(args.json)).await
}

async fn serve_command(settings: &ConnectSettings, args: ServeArgs) -> Result<ExitCode> {
    let options = crate::serve::ServeOptions {
        listen: args.listen,
        tls: args.tls_cert.zip(args.tls_key),
        insecure_listen: args.insecure_listen,
        limits: crate::serve::listener::Limits {
            max_connections: usize::from(args.max_connections),
            per_client: usize::from(args.max_connections_per_client),
            ..Default::default()
        },
        tokens: crate::serve::tokens::TokenSources {
            admin_token: args.admin_token,
            admin_token_file: args.token_file,
            read_token: args.read_token,
            read_token_file: args.read_token_file,
        },
        metrics_public: args.metrics_public,
        // Each store read gets a sixth of the request deadline: serve lists every repository
        // twice (list, status), and retries may overshoot their budget by a quarter.
        repos: crate::backup::repositories_within(
            &args.dir.repos,
            args.dir.dir.as_deref(),
            args.request_timeout / 6,
        )?,
        max_age: args.max_age,
        pool_size: usize::from(args.pool_size),
        db_timeout: args.db_timeout,
        request_timeout: args.request_timeout,
        cache_ttl: args.cache_ttl,
        pgbouncer: args
            .pgbouncer_url
            .as_deref()
            .map(|url| connect::settings(Some(url)))
            .transpose()?,
    };
    crate::serve::serve(settings, options).await?;
    Ok(ExitCode::Ok)
}
