//! `palmdb backup create`: open one snapshot → choose the tables → store the schema with
//! pg_dump from the same snapshot while streaming each table into its file (with `--jobs N`
//! connections sharing the snapshot) → read the sequences → write the manifest → publish the
//! backup (a rename in a folder; on a store, the manifest written last). The repository
//! (`--repo`) is a local folder or an S3 prefix; with `--encrypt-to`, every file is encrypted
//! to the recipients' age keys after compression.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Client;

use super::catalog::{self, Table};
use super::mask::MaskRules;
use super::selection::{self, Selection};
use super::session;
use super::table_copy::{self, CopyPlan};
use crate::archive::encryption::Recipients;
use crate::archive::manifest::{TableEntry, ENCRYPTED_FORMAT_VERSION, UNENCRYPTED_FORMAT_VERSION};
use crate::archive::naming::table_file_name;
use crate::archive::repository::{NewBackup, Repository};
use crate::archive::schema::{SchemaEntry, SchemaWriter, SCHEMA_FILE, SCHEMA_FORMAT};
use crate::archive::{Compression, Manifest};
use crate::connect::ConnectSettings;
use crate::error::Failure;
use crate::pg_tools::{self, Found, Need, Tool};
use crate::ui::progress::{Progress, Total};

#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Where the backup goes.
    pub repo: Repository,
    /// Encrypt every file to these age recipients (`--encrypt-to`).
    pub recipients: Option<Recipients>,
    /// Connections reading tables at once (all sharing one snapshot).
    pub jobs: usize,
    pub compression: Compression,
    pub selection: Selection,
    /// Write a masked, shareable copy.
    pub mask: bool,
    /// Extra mask rules (win over the defaults).
    pub mask_rules: Option<PathBuf>,
    /// How long to wait for a table lock before giving up (a long DDL in progress).
    pub lock_timeout: Duration,
    /// Store the database's schema with pg_dump (`--no-schema` turns it off).
    pub schema: bool,
    /// `--pg-dump PATH`: the pg_dump to use instead of looking for one.
    pub pg_dump: Option<PathBuf>,
    /// Progress bars on a terminal (not `--quiet`, not `--json`).
    pub progress: bool,
}

/// What `create` prints with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct CreateSummary {
    pub id: String,
    /// Where it is: the folder, or `s3://bucket/prefix/id`.
    pub path: String,
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub masked: bool,
    /// Whether the files are encrypted (`--encrypt-to`).
    pub encrypted: bool,
    /// Whether the database's schema is stored (false with `--no-schema`).
    pub schema: bool,
    /// What a person should know, also printed on stderr: a foreign key to a table left out.
    pub warnings: Vec<String>,
}

/// `palmdb backup create`: on one server session, takes the backup (Ctrl-C or SIGTERM drops
/// the backup in progress, which deletes what it wrote), names its warnings on stderr and
/// prints the summary.
pub async fn run(
    session: &ConnectSettings,
    options: &CreateOptions,
    format: crate::ui::Format,
) -> Result<crate::error::ExitCode> {
    session
        .require_session(
            "backup create",
            "its snapshot (shared with its workers and pg_dump) needs one server session",
        )
        .await?;
    let summary = tokio::select! {
        result = create(session, options) => result?,
        signal = crate::interrupt::interrupted() => return Err(signal),
    };
    for warning in &summary.warnings {
        eprintln!("palmdb: warning: {warning}");
    }
    crate::ui::emit(&summary, format)
}

impl crate::ui::Report for CreateSummary {
    /// The id alone, for `id=$(palmdb backup create)`.
    fn render_text(&self) -> String {
        format!("{}\n", self.id)
    }

    /// One line: the id, what it holds, how long it took and how fast.
    /// `backup 20261127T130501Z: 9 tables, 1.2M rows, 45.6 MB in 3.2s (385.0k rows/s, 14.2 MB/s)`
    fn render_terminal(&self) -> String {
        use crate::ui::human;
        let elapsed = Duration::from_secs_f64(self.seconds.max(0.0));
        let mut notes = Vec::new();
        if self.masked {
            notes.push("masked");
        }
        if self.encrypted {
            notes.push("encrypted");
        }
        if !self.schema {
            notes.push("no schema");
        }
        let notes = match notes.is_empty() {
            true => String::new(),
            false => format!(", {}", notes.join(", ")),
        };
        format!(
            "backup {}: {}, {} rows, {} in {} ({}){notes}\n",
            self.id,
            human::counted(self.tables as u64, "table", "tables"),
            human::count(self.rows as f64),
            human::bytes(self.bytes),
            human::duration(elapsed),
            human::rates(self.rows, self.bytes, elapsed),
        )
    }
}

pub async fn create(settings: &ConnectSettings, options: &CreateOptions) -> Result<CreateSummary> {
    let started = Instant::now();
    let rules = options
        .mask
        .then(|| MaskRules::load(options.mask_rules.as_deref()))
        .transpose()?;
    let repo = options.repo.clone();
    let started_at = Utc::now();
    let backup = Arc::new(
        tokio::task::spawn_blocking(move || repo.create(started_at))
            .await
            .context("the backup could not start")??,
    );
    let settings = settings.with_application_name("palmdb backup");
    let snapshot = Snapshot::open(&settings, options.lock_timeout).await?;
    let facts = catalog::server_facts(&snapshot.client).await?;
    let pg_dump = match options.schema {
        true => Some(find_pg_dump(options, &facts)?),
        false => None,
    };
    let chosen = selection::select(&snapshot.client, &options.selection).await?;
    let ancestors: Vec<((String, String), Vec<crate::archive::RelationName>)> = chosen
        .tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone()))
        .zip(chosen.partition_of.iter().cloned())
        .collect();
    let tables = catalog::with_columns(&snapshot.client, chosen.tables.clone()).await?;
    let hidden = catalog::hidden_by_policies(&snapshot.client, &tables).await?;
    if !hidden.is_empty() {
        return Err(table_copy::hidden_by_policy(&hidden.join(", ")));
    }
    if let Some(rules) = &rules {
        for warning in super::mask::check_rules(&snapshot.client, rules, &tables).await? {
            eprintln!("palmdb: warning: {warning}");
        }
    }
    let plans = tables
        .iter()
        .map(|t| table_copy::plan(t, rules.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    snapshot.lock(&tables).await?;
    let dump = async {
        match &pg_dump {
            Some(found) => dump_schema(
                found,
                &settings,
                &snapshot,
                &chosen.dump_filter,
                &backup,
                options.recipients.as_ref(),
            )
            .await
            .map(Some),
            None => Ok(None),
        }
    };
    let copies = copy_tables(&settings, &snapshot, &tables, &plans, &backup, options);
    let (mut entries, schema) = tokio::try_join!(copies, dump)?;
    for entry in &mut entries {
        if let Some((_, chain)) = ancestors
            .iter()
            .find(|((schema, name), _)| *schema == entry.schema && *name == entry.name)
        {
            entry.partition_of = chain.clone();
        }
    }
    let sequences = catalog::sequences(&snapshot.client, &chosen.sequences).await?;
    snapshot.finish().await?;

    let encryption = options.recipients.as_ref().map(Recipients::entry);
    let mut manifest = Manifest {
        format_version: match encryption {
            Some(_) => ENCRYPTED_FORMAT_VERSION,
            None => UNENCRYPTED_FORMAT_VERSION,
        },
        id: backup.provisional_id(),
        created_at: snapshot.taken_at,
        completed_at: Utc::now(),
        database: facts.database,
        server_version: facts.server_version,
        server_version_num: facts.server_version_num,
        schema_version: facts.schema_version,
        schema_version_name: facts.schema_version_name,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        snapshot_id: snapshot.id.clone(),
        masked: options.mask,
        compression: options.compression.codec(),
        total_rows: entries.iter().map(|e| e.rows).sum(),
        total_bytes: entries.iter().map(|e| e.bytes).sum(),
        tables: entries,
        sequences,
        schema,
        materialized_views: chosen.materialized_views.clone(),
        encryption,
    };
    let backup = Arc::try_unwrap(backup)
        .map_err(|_| anyhow::anyhow!("the backup is still being written"))?;
    let (id, manifest) = tokio::task::spawn_blocking(move || {
        let id = backup.publish_manifest(&mut manifest)?;
        Ok::<_, anyhow::Error>((id, manifest))
    })
    .await
    .context("the backup could not be published")??;
    Ok(CreateSummary {
        path: options.repo.backup(&id).describe(),
        id,
        tables: manifest.tables.len(),
        rows: manifest.total_rows,
        bytes: manifest.total_bytes,
        seconds: started.elapsed().as_secs_f64(),
        masked: manifest.masked,
        encrypted: manifest.encryption.is_some(),
        schema: manifest.schema.is_some(),
        warnings: chosen.warnings,
    })
}

/// The pg_dump for this server: its own major version, else the newest newer one.
fn find_pg_dump(options: &CreateOptions, facts: &catalog::ServerFacts) -> Result<Found> {
    let major = pg_tools::server_major(facts.server_version_num);
    pg_tools::find(&Need {
        tool: Tool::PgDump,
        explicit: options.pg_dump.as_deref(),
        min_major: major,
        preferred_major: major,
        purpose: format!(
            "store the schema of a PostgreSQL {} database",
            facts.server_version
        ),
        alternative: Some("pass --no-schema to back up the rows without the schema"),
    })
}

/// Runs `pg_dump --schema-only --format=custom` on the backup's snapshot, streaming its
/// output into `schema.dump` (written on a blocking thread: an upload may wait for the store).
/// The snapshot's transaction stays open meanwhile (the caller commits it only after this
/// returns), so the schema is the data's, to the transaction.
async fn dump_schema(
    found: &Found,
    settings: &ConnectSettings,
    snapshot: &Snapshot,
    filter: &[String],
    backup: &NewBackup,
    recipients: Option<&Recipients>,
) -> Result<SchemaEntry> {
    use tokio::io::AsyncReadExt;
    // Its own application_name, so a DBA can tell it from palmdb's connections.
    let settings = settings.with_application_name("palmdb backup (pg_dump)");
    let mut command = pg_tools::command(found, &settings);
    command
        .arg("--schema-only")
        .arg("--format=custom")
        .arg(format!("--snapshot={}", snapshot.id))
        .arg(format!("--lock-wait-timeout={}", snapshot.lock_timeout_ms))
        .args(filter)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", found.path.display()))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let errors = tokio::spawn(async move {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text).await;
        text
    });
    let mut writer = SchemaWriter::new(
        backup.create_file(SCHEMA_FILE)?,
        format!("{}/{SCHEMA_FILE}", backup.describe()),
        recipients,
    )?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let writing = tokio::task::spawn_blocking(move || {
        let mut ended = false;
        while let Some(chunk) = receiver.blocking_recv() {
            if chunk.is_empty() {
                ended = true;
                break;
            }
            writer.write(&chunk)?;
        }
        anyhow::ensure!(ended, "the schema dump was cancelled before its end");
        writer.finish()
    });
    let reading = async {
        loop {
            let mut buffer = vec![0u8; 64 * 1024];
            let n = stdout
                .read(&mut buffer)
                .await
                .context("cannot read pg_dump's output")?;
            buffer.truncate(n);
            let end = n == 0;
            if sender.send(buffer).await.is_err() || end {
                return Ok::<_, anyhow::Error>(());
            }
        }
    };
    let read = reading.await;
    let written = writing.await.context("the schema writer thread failed")?;
    let status = child.wait().await.context("pg_dump did not finish")?;
    let errors = errors.await.unwrap_or_default();
    if !status.success() {
        return Err(Failure::operation(format!(
            "pg_dump could not store the schema ({}): {}",
            status,
            pg_tools::stderr_tail(&errors)
        ))
        .with_hint("pass --no-schema to back up the rows without the schema")
        .into());
    }
    read?;
    let (bytes, sha256) = written?;
    Ok(SchemaEntry {
        file: SCHEMA_FILE.to_string(),
        bytes,
        sha256,
        format: SCHEMA_FORMAT.to_string(),
        pg_dump_version: found.version.clone(),
        pg_dump_major: found.major,
    })
}

/// The transaction every table is read in, and the snapshot it exports to the workers.
struct Snapshot {
    client: Client,
    id: String,
    taken_at: DateTime<Utc>,
    lock_timeout_ms: u64,
}

impl Snapshot {
    async fn open(settings: &ConnectSettings, lock_timeout: Duration) -> Result<Snapshot> {
        let lock_timeout_ms = lock_timeout.as_millis().max(1) as u64;
        let client = settings.connect().await?;
        session::prepare(&client, lock_timeout_ms).await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .context("cannot start the backup transaction")?;
        let row = client
            .query_one(
                "SELECT pg_export_snapshot() AS snapshot_id, now() AS taken_at",
                &[],
            )
            .await
            .context("cannot export the backup snapshot")?;
        Ok(Snapshot {
            client,
            id: row.get("snapshot_id"),
            taken_at: row.get("taken_at"),
            lock_timeout_ms,
        })
    }

    /// Takes ACCESS SHARE locks on every table, as pg_dump does, so none is dropped or
    /// rewritten while the backup reads it; waits at most lock_timeout.
    async fn lock(&self, tables: &[Table]) -> Result<()> {
        if tables.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = tables.iter().map(Table::quoted).collect();
        let sql = format!("LOCK TABLE {} IN ACCESS SHARE MODE", names.join(", "));
        self.client.batch_execute(&sql).await.map_err(|e| {
            let waited = e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE);
            let err = anyhow::Error::new(e).context("cannot lock the tables to back up");
            if waited {
                err.context(crate::error::Failure::operation(
                    "a table stayed locked (DDL in progress?) longer than --lock-timeout",
                ))
            } else {
                err
            }
        })
    }

    /// A worker connection reading from the same snapshot.
    async fn join(&self, settings: &ConnectSettings) -> Result<Client> {
        let client = settings.connect().await?;
        session::prepare(&client, self.lock_timeout_ms).await?;
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
                self.id.replace('\'', "''")
            ))
            .await
            .context("cannot join the backup snapshot")?;
        Ok(client)
    }

    async fn finish(&self) -> Result<()> {
        self.client
            .batch_execute("COMMIT")
            .await
            .context("cannot end the backup transaction")
    }
}

/// Streams every table, `options.jobs` at a time, biggest first; entries in catalog order.
async fn copy_tables(
    settings: &ConnectSettings,
    snapshot: &Snapshot,
    tables: &[Table],
    plans: &[CopyPlan],
    backup: &NewBackup,
    options: &CreateOptions,
) -> Result<Vec<TableEntry>> {
    let mut files: Vec<String> = Vec::new();
    for table in tables {
        let name = table_file_name(
            &table.schema,
            &table.name,
            options.compression.codec(),
            &files,
        );
        files.push(name);
    }
    let jobs = options.jobs.clamp(1, tables.len().max(1));
    let mut workers = Vec::with_capacity(jobs - 1);
    for _ in 1..jobs {
        workers.push(snapshot.join(settings).await?);
    }
    let work = Work {
        tables,
        plans,
        files,
        queue: Mutex::new((0..tables.len()).collect()),
        results: Mutex::new(vec![None; tables.len()]),
        progress: Progress::new(options.progress),
        backup,
        compression: options.compression,
        recipients: options.recipients.as_ref(),
    };
    let mut runs = vec![work.run(&snapshot.client)];
    runs.extend(workers.iter().map(|client| work.run(client)));
    futures_util::future::try_join_all(runs).await?;
    for worker in &workers {
        worker
            .batch_execute("COMMIT")
            .await
            .context("cannot end a worker transaction")?;
    }
    let mut entries: Vec<TableEntry> =
        std::mem::take(&mut *work.results.lock().expect("results lock"))
            .into_iter()
            .flatten()
            .collect();
    entries.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(entries)
}

/// The tables to copy and what the workers share.
struct Work<'a> {
    tables: &'a [Table],
    plans: &'a [CopyPlan],
    files: Vec<String>,
    /// Indexes of the tables not started yet, biggest first.
    queue: Mutex<VecDeque<usize>>,
    results: Mutex<Vec<Option<TableEntry>>>,
    progress: Progress,
    backup: &'a NewBackup,
    compression: Compression,
    recipients: Option<&'a Recipients>,
}

impl Work<'_> {
    /// One worker: takes the next table until none is left.
    async fn run(&self, client: &Client) -> Result<()> {
        loop {
            let next = self.queue.lock().expect("queue lock").pop_front();
            let Some(i) = next else { return Ok(()) };
            let table = &self.tables[i];
            let bar = self.progress.bar(
                &table.qualified_name(),
                Total::Estimate(table.estimated_rows.max(0) as u64),
            );
            let entry = table_copy::copy_table(
                client,
                table,
                &self.plans[i],
                &table_copy::Destination {
                    backup: self.backup,
                    compression: self.compression,
                    recipients: self.recipients,
                },
                self.files[i].clone(),
                bar,
            )
            .await?;
            self.results.lock().expect("results lock")[i] = Some(entry);
        }
    }
}
