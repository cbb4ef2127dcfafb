//! Runs one parsed command: turns CLI arguments into module options, calls the module, and
//! prints its result. Returns the exit code for commands that check something.

use anyhow::Result;

use crate::cli::{
    Cli, Command, DemoDataArgs, MigrateAction, MigrateArgs, SourceArgs, StatsArgs, StatsCommand,
};
use crate::connect::{self, ConnectSettings};
use crate::error::ExitCode;
use crate::migrate::{self, history::Timeouts, source::Source, MigrateOptions};

/// Whether a command reports a state (Nagios exit codes, 3 on errors) or performs an action.
pub fn is_checking(cli: &Cli) -> bool {
    matches!(
        &cli.command,
        Command::Migrate(MigrateArgs {
            action: Some(MigrateAction::Status(_)),
            ..
        })
    )
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let settings = connect::settings(cli.database_url.as_deref())?;
    match cli.command {
        Command::Migrate(args) => migrate_command(&settings, args).await,
        Command::DemoData(args) => demo_data_command(&settings, args, cli.quiet).await,
        Command::Stats(args) => stats_command(&settings, args).await,
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
