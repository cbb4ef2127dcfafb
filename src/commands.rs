//! Runs one parsed command: turns CLI arguments into module options, calls the module, and
//! prints its result. Returns the exit code for commands that check something.

use anyhow::Result;

use crate::cli::{AdviseArgs, QueriesArgs, ServeArgs};
use crate::cli::{
    BackupAction, BackupArgs, Cli, Command, DemoDataArgs, HealthArgs, HealthFormat, MaintainArgs,
    MigrateAction, MigrateArgs, RestoreArgs, SourceArgs, StatsArgs, StatsCommand, VerifyArgs,
};
use crate::connect::{self, ConnectSettings};
use crate::error::ExitCode;
use crate::health::{self, HealthOptions};
use crate::maintain::{self, MaintainOptions};
use crate::migrate::{self, history::Timeouts, source::Source, MigrateOptions};

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
            if status_args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render_text());
            }
            Ok(report.exit_code())
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
    let mut client = settings
        .with_application_name("palmdb demo-data")
        .connect()
        .await?;
    let spinner = crate::demo_data::progress::Spinner::new(quiet);
    let report = crate::demo_data::fill(&mut client, &options, &|step| spinner.step(step)).await;
    spinner.finish();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text(settings.database()));
    }
    Ok(ExitCode::Ok)
}

async fn stats_command(settings: &ConnectSettings, args: StatsArgs) -> Result<ExitCode> {
    let client = settings
        .with_application_name("palmdb stats")
        .connect()
        .await?;
    // One read-only transaction: through a pooler in transaction mode (PgBouncer) every
    // statement, with its prepare and close, then runs on the one server it pins.
    client.batch_execute("BEGIN READ ONLY").await?;
    match args.what {
        StatsCommand::User(user_args) => {
            let key = crate::stats::UserKey::parse(&user_args.user)?;
            let stats = crate::stats::user_stats(&client, &key).await?;
            if user_args.json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", stats.render_text());
            }
        }
        StatsCommand::Orders(order_args) => {
            let query = crate::stats::OrdersQuery {
                status: order_args.status,
                limit: order_args.limit,
                before: order_args.before,
            };
            let page = crate::stats::orders_by_status(&client, &query).await?;
            if order_args.json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                print!("{}", page.render_text());
            }
        }
    }
    client.batch_execute("COMMIT").await?;
    Ok(ExitCode::Ok)
}

async fn health_command(settings: &ConnectSettings, args: HealthArgs) -> Result<ExitCode> {
    let client = settings
        .with_application_name("palmdb health")
        .connect()
        .await?;
    let format = args.format.unwrap_or_else(|| {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            HealthFormat::Table
        } else {
            HealthFormat::Json
        }
    });
    if args.record {
        let recorded = health::record::record_snapshot(&client, args.keep).await?;
        if format == HealthFormat::Table {
            println!("recorded a snapshot of {recorded} table(s) in palmdb.health_snapshots\n");
        }
    }
    // PgBouncer's checks and thresholds are judged here, the others by SQL.
    let pool = crate::health::pgbouncer::PREFIX;
    let (pool_checks, checks): (Vec<String>, Vec<String>) =
        args.checks.into_iter().partition(|c| c.starts_with(pool));
    let (pool_thresholds, thresholds): (Vec<_>, Vec<_>) = args
        .thresholds
        .into_iter()
        .partition(|t| t.name.starts_with(pool));
    let console = match args.pgbouncer_url.as_deref() {
        Some(url) => Some(connect::settings(Some(url))?),
        None if !pool_checks.is_empty() || !pool_thresholds.is_empty() => {
            return Err(crate::error::Failure::usage(
                "the pgbouncer_* checks and thresholds need --pgbouncer-url",
            )
            .with_hint(
                "--pgbouncer-url postgres://USER@HOST:6432/pgbouncer (PgBouncer's admin console)",
            )
            .into())
        }
        None => None,
    };
    let pool_thresholds =
        crate::health::pgbouncer::PoolThresholds::with_overrides(&pool_thresholds)?;
    if let Some(unknown) = pool_checks
        .iter()
        .find(|c| !crate::health::pgbouncer::CHECKS.contains(&c.as_str()))
    {
        return Err(
            crate::error::Failure::usage(format!("unknown check \"{unknown}\""))
                .with_hint(format!(
                    "PgBouncer checks: {}",
                    crate::health::pgbouncer::CHECKS.join(", ")
                ))
                .into(),
        );
    }
    let only_pool = !pool_checks.is_empty() && checks.is_empty();
    let options = HealthOptions { checks, thresholds };
    let mut report = if only_pool {
        health::HealthReport::new(Vec::new())
    } else {
        health::collect(&client, &options).await?
    };
    if let Some(console) = &console {
        let mut pool = crate::health::pgbouncer::checks(
            console,
            settings.database(),
            &pool_thresholds,
            &pool_checks,
        )
        .await?;
        let mut all = std::mem::take(&mut report.checks);
        all.append(&mut pool);
        report = health::HealthReport::new(all);
    }
    match format {
        HealthFormat::Table => print!("{}", health::table::render(&report)),
        HealthFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        HealthFormat::Nagios => println!("{}", health::nagios::render(&report)),
        HealthFormat::Prometheus => print!("{}", report.to_prometheus()),
    }
    Ok(report.exit_code())
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
    use crate::backup::{copy, create, list, prune, selection::Selection, status};
    match args.action {
        BackupAction::Create(a) => {
            let recipients = a
                .encrypt_to
                .as_deref()
                .map(crate::archive::encryption::Recipients::from_file)
                .transpose()?;
            let options = create::CreateOptions {
                repo: crate::backup::repository(a.dir.repo.as_deref(), a.dir.dir.as_deref())?,
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
                quiet,
            };
            session
                .require_session(
                    "backup create",
                    "its snapshot (shared with its workers and pg_dump) needs one server session",
                )
                .await?;
            // Ctrl-C or SIGTERM drops the backup in progress, which deletes what it wrote.
            let summary = tokio::select! {
                result = create::create(session, &options) => result?,
                signal = interrupted() => return Err(signal),
            };
            for warning in &summary.warnings {
                eprintln!("palmdb: warning: {warning}");
            }
            if a.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!("{}", summary.id);
            }
            Ok(ExitCode::Ok)
        }
        BackupAction::List(a) => {
            let repo = crate::backup::repository(a.dir.repo.as_deref(), a.dir.dir.as_deref())?;
            let scan = list::scan(&repo)?;
            eprint!("{}", list::render_invalid(&scan.invalid));
            let backups = list::summaries(&scan);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&backups)?);
            } else {
                print!("{}", list::render_text(&backups));
            }
            Ok(ExitCode::Ok)
        }
        BackupAction::Status(a) => {
            let repos = crate::backup::repositories(&a.dir.repos, a.dir.dir.as_deref())?;
            let report = status::check_status(&repos, a.max_age)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render_text());
            }
            Ok(report.exit_code())
        }
        BackupAction::Prune(a) => {
            let options = prune::PruneOptions {
                keep_days: a.keep_days,
                keep_last: a.keep_last,
                dry_run: a.dry_run,
                unfinished_grace: a.unfinished_grace,
            };
            let repo = crate::backup::repository(a.dir.repo.as_deref(), a.dir.dir.as_deref())?;
            let report = prune::prune(&repo, &options)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render_text());
            }
            Ok(ExitCode::Ok)
        }
        BackupAction::Verify(a) => verify_command(session, a, quiet).await,
        BackupAction::Copy(a) => {
            let from = crate::archive::repository::Repository::open(&a.from)?;
            let to = crate::archive::repository::Repository::open(&a.to)?;
            let which = match a.backup {
                Some(what) if !a.all => copy::Which::One(what),
                _ => copy::Which::All,
            };
            let report = tokio::select! {
                result = tokio::task::spawn_blocking(move || copy::copy(&from, &to, &which)) => result??,
                signal = interrupted() => return Err(signal),
            };
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render_text());
            }
            if !report.failed.is_empty() {
                return Err(crate::error::Failure::operation(format!(
                    "{} of {} backups could not be copied",
                    report.failed.len(),
                    report.failed.len() + report.copied.len() + report.skipped.len()
                ))
                .into());
            }
            Ok(ExitCode::Ok)
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

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM), as an error to report.
async fn interrupted() -> anyhow::Error {
    use tokio::signal::unix::{signal, SignalKind};
    let name = match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    };
    crate::error::Failure::operation(format!("interrupted by {name}; nothing was kept")).into()
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
        progress: !quiet && !args.json,
        pg_restore: args.pg_restore,
    };
    let mut report = crate::verify::verify(settings, &options).await?;
    report.conclude();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(report.exit_code())
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
                schema: crate::restore::schema::SchemaOptions {
                    no_owner: args.no_owner,
                    no_privileges: args.no_privileges,
                    pg_restore: args.pg_restore,
                },
            };
            crate::restore::restore(settings, &options).await?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(ExitCode::Ok)
}

async fn queries_command(settings: &ConnectSettings, args: QueriesArgs) -> Result<ExitCode> {
    let client = settings
        .with_application_name("palmdb queries")
        .connect()
        .await?;
    // One transaction, so it works through a pooler in transaction mode (as stats does).
    client.batch_execute("BEGIN READ ONLY").await?;
    let top = crate::insights::queries::top_queries(&client, args.by, args.limit).await?;
    client.batch_execute("COMMIT").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&top)?);
    } else {
        print!("{}", top.render_text());
    }
    Ok(ExitCode::Ok)
}

async fn advise_command(settings: &ConnectSettings, args: AdviseArgs) -> Result<ExitCode> {
    use crate::insights::advise;
    let client = settings
        .with_application_name("palmdb advise")
        .connect()
        .await?;
    if args.write_migration {
        // Before the work: a missing folder is found now, not after.
        advise::migration::next_version(&args.migrations_dir)?;
    }
    let options = advise::AdviseOptions {
        min_improvement: args.min_improvement,
        min_cost: args.min_cost,
        plans: args.plans,
    };
    let report = advise::advise(&client, &options).await?;
    let written = if args.write_migration && !report.advice.is_empty() {
        Some(advise::migration::write(
            &args.migrations_dir,
            &report.advice,
        )?)
    } else {
        None
    };
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        json["migration"] = serde_json::json!(written);
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", report.render_text());
        match &written {
            Some(path) => println!("\nwrote {} (apply it with palmdb migrate)", path.display()),
            None if args.write_migration => println!("\nno migration written: no advice"),
            None => {}
        }
    }
    Ok(ExitCode::Ok)
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
