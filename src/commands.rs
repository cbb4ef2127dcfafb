//! Runs one parsed command: turns CLI arguments into module options, calls the module, and
//! prints its result. Returns the exit code for commands that check something.

use anyhow::Result;

use crate::cli::{
    Cli, Command, DemoDataArgs, MigrateAction, MigrateArgs, SourceArgs, StatsArgs, StatsCommand,
};
use crate::cli::{HealthArgs, HealthFormat, MaintainArgs};
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
        })
    ) || matches!(&cli.command, Command::Health(_))
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let settings = connect::settings(cli.database_url.as_deref())?;
    match cli.command {
        Command::Migrate(args) => migrate_command(&settings, args).await,
        Command::DemoData(args) => demo_data_command(&settings, args, cli.quiet).await,
        Command::Stats(args) => stats_command(&settings, args).await,
        Command::Health(args) => health_command(&settings, args).await,
        Command::Maintain(args) => maintain_command(&settings, args).await,
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
            let options = MigrateOptions {
                source: source(&args.source),
                dry_run: args.dry_run,
                lock_wait: args.lock_wait,
                timeouts: Timeouts {
                    lock_timeout: args.lock_timeout,
                    statement_timeout: args.statement_timeout,
                },
            };
            migrate::migrate(settings, &options, &mut std::io::stdout()).await?;
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
    Ok(ExitCode::Ok)
}

async fn health_command(settings: &ConnectSettings, args: HealthArgs) -> Result<ExitCode> {
    let client = settings
        .with_application_name("palmdb health")
        .connect()
        .await?;
    // A monitor must answer, not queue: fail (exit 3) rather than wait behind a lock.
    client
        .batch_execute("SET lock_timeout = '5s'; SET statement_timeout = '60s'")
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
    let options = HealthOptions {
        checks: args.checks,
        thresholds: args.thresholds,
    };
    let report = health::collect(&client, &options).await?;
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
