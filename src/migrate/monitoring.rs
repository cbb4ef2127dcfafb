//! `palmdb migrate --monitoring-only`: palmdb's monitoring objects alone (schema `palmdb`:
//! the health checks and insights, the snapshot and threshold tables, their grants to
//! `pg_monitor`), installed into any database and upgraded by every newer palmdb, without
//! touching the database's own schemas.
//!
//! lock → refuse what does not fit (Palm's database not up to date, both histories, a
//! `palmdb` schema of someone else's) → ledgers in schema `palmdb` → the profile's versioned
//! migrations (one transaction each, recorded in `palmdb.monitoring_history` in the same
//! transaction) → its changed sql/ objects (one transaction each) → unlock.
//!
//! The same advisory lock as `palmdb migrate` (one of them at a time per database), the same
//! timeouts and lock_timeout retries, the same files and checksums. Unlike `migrate` it
//! repairs no INVALID index: those outside schema `palmdb` belong to the database's owners
//! (the invalid_indexes check reports them).

use std::time::Instant;

use anyhow::{Context, Result};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_postgres::Client;

use super::profile::{self, MonitoringTarget, Profile, MONITORING_HISTORY};
use super::source::VersionedFile;
use super::{compat, lock, plan, repeatable, MigrateOptions};
use crate::connect::ConnectSettings;
use crate::error::Failure;

/// Installs or upgrades the monitoring objects; writes what it did (or, with `dry_run`,
/// would do) to `out`.
pub async fn install(
    settings: &ConnectSettings,
    options: &MigrateOptions,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let mut client = settings
        .with_application_name("palmdb migrate --monitoring-only")
        .connect()
        .await?;
    if options.dry_run {
        return dry_run(&client, options, out).await;
    }
    lock::acquire(&client, options.lock_wait).await?;
    let outcome = install_locked(&mut client, options, out).await;
    // Closing the session releases the lock as well; this just frees it sooner.
    let _ = lock::release(&client).await;
    outcome
}

async fn install_locked(
    client: &mut Client,
    options: &MigrateOptions,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let found = profile::inspect(client, &options.source).await?;
    if found.monitoring_target()? == MonitoringTarget::PalmDatabase {
        return palm_database(client, options, &found, out).await;
    }
    ensure_ledgers(client).await?;
    let plan = plan::build(client, &options.source, Profile::Monitoring).await?;
    super::refuse_drift(&plan)?;
    let major = compat::server_major(client).await?;
    let mut did_something = false;
    for file in &plan.pending {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            match apply_versioned(client, file, options, major).await {
                Err(e) if super::retry_after_lock_timeout(&e, &mut attempt).await => continue,
                other => break other?,
            }
        }
        writeln!(
            out,
            "applied {} ({} ms)",
            file.file_name,
            started.elapsed().as_millis()
        )?;
        did_something = true;
    }
    if repeatable::apply_all(client, &plan.changed_objects, options.timeouts, major, out).await? {
        did_something = true;
    }
    let version = super::history::read_applied_from(client, MONITORING_HISTORY)
        .await?
        .last()
        .map(|r| format!("V{}__{}", r.version, r.name))
        .unwrap_or_else(|| "no migrations".to_string());
    writeln!(
        out,
        "{}palmdb's monitoring objects in database {} (schema palmdb only) are {}up to date \
         at {version}",
        if did_something { "" } else { "nothing to do: " },
        found.database,
        if did_something { "" } else { "already " },
    )?;
    Ok(())
}

/// On Palm's database the monitoring objects are part of `palmdb migrate`: nothing to do
/// when it is up to date, otherwise that is the command to run.
async fn palm_database(
    client: &Client,
    options: &MigrateOptions,
    found: &profile::Found,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let plan = plan::build(client, &options.source, Profile::Palm).await?;
    let version = found.palm_version.unwrap_or_default();
    if plan.drift.is_empty() && plan.pending.is_empty() && plan.changed_objects.is_empty() {
        writeln!(
            out,
            "nothing to do: database {} is Palm's, migrated by palmdb migrate (V{version}); \
             its monitoring objects are up to date",
            found.database
        )?;
        return Ok(());
    }
    Err(Failure::usage(format!(
        "database {} is Palm's (its migration history is at V{version}) and is not up to date: \
         its monitoring objects come with Palm's migrations",
        found.database
    ))
    .with_hint("run palmdb migrate (palmdb migrate status shows what is pending)")
    .into())
}

/// Schema `palmdb`, migrate's ledger of sql/ objects and the monitoring history table.
async fn ensure_ledgers(client: &Client) -> Result<()> {
    repeatable::ensure_ledger(client).await?;
    // refinery's layout, so that the rows (and checksums) read like refinery_schema_history's.
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {MONITORING_HISTORY} (
                 version     integer      PRIMARY KEY,
                 name        varchar(255) NOT NULL,
                 applied_on  varchar(255) NOT NULL,
                 checksum    varchar(255) NOT NULL
             );
             COMMENT ON TABLE {MONITORING_HISTORY} IS
                 'migrations applied by palmdb migrate --monitoring-only (refinery''s layout and checksums)';"
        ))
        .await
        .with_context(|| format!("cannot create {MONITORING_HISTORY}"))?;
    Ok(())
}

/// One monitoring migration and its history row, in one transaction.
async fn apply_versioned(
    client: &mut Client,
    file: &VersionedFile,
    options: &MigrateOptions,
    server_major: u32,
) -> Result<()> {
    if file.no_transaction {
        return Err(Failure::operation(format!(
            "migration {} is marked no-transaction: the monitoring profile runs each \
             migration in one transaction",
            file.file_name
        ))
        .into());
    }
    let applied_on = OffsetDateTime::now_utc().format(&Rfc3339)?;
    let checksum = file.checksum()?.to_string();
    let transaction = client.transaction().await?;
    transaction
        .batch_execute(&options.timeouts.set_sql(true))
        .await?;
    transaction
        .batch_execute(&compat::adapt(&file.sql, server_major))
        .await
        .map_err(|e| super::locate_error(&e, &file.file_name, &file.sql))?;
    transaction
        .execute(
            &format!(
                "INSERT INTO {MONITORING_HISTORY} (version, name, applied_on, checksum)
                 VALUES ($1, $2, $3, $4)"
            ),
            &[&file.version, &file.name, &applied_on, &checksum],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

async fn dry_run(
    client: &Client,
    options: &MigrateOptions,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let found = profile::inspect(client, &options.source).await?;
    if found.monitoring_target()? == MonitoringTarget::PalmDatabase {
        return palm_database(client, options, &found, out).await;
    }
    let plan = plan::build(client, &options.source, Profile::Monitoring).await?;
    super::refuse_drift(&plan)?;
    writeln!(
        out,
        "-- palmdb migrate --monitoring-only --dry-run on database {}: nothing below has been run",
        found.database
    )?;
    super::write_plan_sql(client, &plan, &[], options.timeouts, out).await
}
