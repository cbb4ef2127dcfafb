//! Runs one parsed command: turns CLI arguments into module options, calls the module, and
//! prints its result. Returns the exit code for commands that check something.

use anyhow::Result;

use crate::cli::{
    BackupAction, BackupArgs, Cli, Command, MigrateAction, MigrateArgs, RestoreArgs, SourceArgs,
    VerifyArgs,
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
    ) || matches!(
        &cli.command,
        Command::Backup(BackupArgs {
            action: BackupAction::Verify(_)
        })
    )
}

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let settings = connect::settings(cli.database_url.as_deref())?;
    match cli.command {
        Command::Migrate(args) => migrate_command(&settings, args).await,
        Command::Backup(BackupArgs {
            action: BackupAction::Verify(args),
        }) => verify_command(&settings, args, cli.quiet).await,
        Command::Restore(args) => restore_command(&settings, args, cli.quiet).await,
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
            migrate::migrate_to(
                settings,
                &options,
                args.target_version,
                &mut std::io::stdout(),
            )
            .await?;
            Ok(ExitCode::Ok)
        }
    }
}

async fn verify_command(
    settings: &ConnectSettings,
    args: VerifyArgs,
    quiet: bool,
) -> Result<ExitCode> {
    let options = crate::verify::VerifyOptions {
        backup: args.backup,
        dir: args.dir,
        restore_test: args.restore_test,
        progress: !quiet && !args.json,
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
                dir: args.dir,
                tables: args.tables,
                clean: args.clean,
                allow_masked: args.allow_masked,
                dry_run: args.dry_run,
                progress,
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
