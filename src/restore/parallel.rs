//! Loading a new database over several connections (`restore --create-database --jobs N`):
//! nobody else can see it yet (see `new_database`), so each step may commit on its own and
//! the server's backends work side by side, as `pg_restore -j` does.
//!
//! One connection creates the schema before the rows; then the tables are loaded biggest
//! first, each by whichever connection is free (`TRUNCATE` and `COPY ... FREEZE` in one
//! transaction, so the rows are written frozen, once), and each index and key is built by a
//! free connection as soon as its table is in (while the biggest table still loads, the
//! others get their indexes); then the foreign keys are checked, one per free connection;
//! then one transaction runs the rest of the schema in its order (triggers, policies,
//! grants), sets the sequences and recomputes derived data.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::Notify;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::copy_in::{self, RowCounter};
use super::load::{check_row_count, copy_failure, finish, transaction_settings, Loaded, Producer};
use super::plan::TableToLoad;
use super::post_data::{self, Stage, Unit};
use super::report::TableOutcome;
use super::schema::{self, Part, SchemaStatement, StoredSchema};
use super::sequences::{BackupSequence, Setting};
use super::target::{self, MissingTables};
use crate::archive::RelationName;
use crate::connect::ConnectSettings;
use crate::ui::progress::{Progress, Total};

/// How often an entry that lost a deadlock to another connection is tried again.
const DEADLOCK_TRIES: u32 = 5;

pub struct ParallelOptions<'a> {
    /// Connections to use.
    pub jobs: usize,
    /// The name the database will have, for messages.
    pub database: &'a str,
    pub progress: &'a Progress,
    pub sequences: &'a [BackupSequence],
    pub materialized_views: &'a [RelationName],
    pub maintenance_work_mem: Option<&'a str>,
}

/// Settings of every transaction here: no lock timeout (an index build may wait for
/// another on the same table as long as that one takes).
fn session_settings(options: &ParallelOptions<'_>) -> String {
    transaction_settings(options.maintenance_work_mem, "0")
}

/// Loads `tables` into the new, empty database `settings` names, creating everything from
/// `stored`; `producer` gives each table's rows.
pub async fn load_all(
    settings: &ConnectSettings,
    tables: &[TableToLoad],
    stored: &StoredSchema,
    producer: impl Fn(&TableToLoad) -> Producer,
    options: &ParallelOptions<'_>,
) -> Result<Loaded> {
    let settings = settings.with_application_name("palmdb restore");
    let mut clients = Vec::with_capacity(options.jobs);
    for _ in 0..options.jobs.max(1) {
        clients.push(settings.connect().await?);
    }
    let prelude = session_settings(options);

    {
        let transaction = clients[0].transaction().await?;
        transaction.batch_execute(&prelude).await?;
        schema::apply(
            &transaction,
            &stored.pre_data,
            &stored.settings,
            Part::Before,
        )
        .await?;
        let mut created = tables.to_vec();
        target::check_tables(
            &transaction,
            &mut created,
            MissingTables::Refuse,
            options.database,
        )
        .await?;
        transaction.commit().await?;
    }

    let units = post_data::units(&stored.post_data);
    let mut tasks: VecDeque<Task> = tables
        .iter()
        .map(|t| Task::Copy(t.clone(), producer(t)))
        .collect();
    for unit in &units {
        match unit.stage {
            Stage::Keys => tasks.push_back(Task::Keys(unit.clone(), post_data::table_of(unit))),
            Stage::ForeignKeys => tasks.push_back(Task::ForeignKey(unit.clone())),
            Stage::Last => {}
        }
    }
    let schedule = Schedule::new(tasks, tables);
    let mut loaded = run_schedule(&mut clients, &schedule, &prelude, options.progress).await?;
    // In the backup's order, whatever order the connections finished in.
    loaded.sort_by_key(|outcome| {
        tables
            .iter()
            .position(|t| t.display_name() == outcome.table)
    });

    let mut client = clients.swap_remove(0);
    drop(clients);
    let transaction = client.transaction().await?;
    transaction.batch_execute(&prelude).await?;
    schema::apply(
        &transaction,
        &post_data::last_stage(&stored.post_data),
        &stored.settings,
        Part::After,
    )
    .await?;
    transaction.batch_execute(&prelude).await?;
    finish(
        transaction,
        loaded,
        tables,
        (options.sequences, Setting::Exact),
        options.materialized_views,
    )
    .await
}

/// Work between the schema and the final transaction.
enum Task {
    /// A table's rows.
    Copy(TableToLoad, Producer),
    /// An index or key, with the table it builds on when known: it may start once that
    /// table is loaded, while other tables still load (otherwise once every table is).
    Keys(Unit, Option<(String, String)>),
    /// A foreign key: once every table is loaded and every key built.
    ForeignKey(Unit),
}

/// The tasks left, and which tables are still loading: an index starts as soon as its
/// table is in, so one connection builds the small tables' indexes while another still
/// loads the biggest table.
struct Schedule {
    state: Mutex<ScheduleState>,
    changed: Notify,
}

struct ScheduleState {
    waiting: VecDeque<Task>,
    /// Tables of the restore not committed yet.
    loading: HashSet<(String, String)>,
    /// Keys being built.
    building: usize,
}

impl Schedule {
    fn new(tasks: VecDeque<Task>, tables: &[TableToLoad]) -> Schedule {
        Schedule {
            state: Mutex::new(ScheduleState {
                waiting: tasks,
                loading: tables
                    .iter()
                    .map(|t| (t.schema.clone(), t.name.clone()))
                    .collect(),
                building: 0,
            }),
            changed: Notify::new(),
        }
    }

    /// The first task that may start now (`Some(None)`: wait for one to finish); `None`
    /// when nothing is left to start.
    fn next(&self) -> Option<Option<Task>> {
        let mut state = self.state.lock().expect("the schedule is never poisoned");
        let keys_left = state.building > 0
            || state
                .waiting
                .iter()
                .any(|task| matches!(task, Task::Keys(..)));
        let ready = state.waiting.iter().position(|task| match task {
            Task::Copy(..) => true,
            // A table outside the load (a partitioned parent) has nothing to wait for.
            Task::Keys(_, Some(table)) => !state.loading.contains(table),
            Task::Keys(_, None) => state.loading.is_empty(),
            Task::ForeignKey(_) => state.loading.is_empty() && !keys_left,
        });
        match ready {
            Some(i) => {
                let task = state.waiting.remove(i);
                if matches!(task, Some(Task::Keys(..))) {
                    state.building += 1;
                }
                Some(task)
            }
            None if state.waiting.is_empty() => None,
            None => Some(None),
        }
    }

    fn loaded(&self, table: (String, String)) {
        self.state
            .lock()
            .expect("the schedule is never poisoned")
            .loading
            .remove(&table);
        self.changed.notify_waiters();
    }

    fn built(&self) {
        self.state
            .lock()
            .expect("the schedule is never poisoned")
            .building -= 1;
        self.changed.notify_waiters();
    }
}

/// Runs the tasks on every connection, each taking the first that may start.
async fn run_schedule(
    clients: &mut Vec<Client>,
    schedule: &Schedule,
    prelude: &str,
    progress: &Progress,
) -> Result<Vec<TableOutcome>> {
    let workers = std::mem::take(clients)
        .into_iter()
        .map(|client| async move {
            let mut client = client;
            let mut outcomes = Vec::new();
            loop {
                // Made before looking, so a table loaded meanwhile still wakes it.
                let changed = schedule.changed.notified();
                let task = match schedule.next() {
                    None => break,
                    Some(None) => {
                        changed.await;
                        continue;
                    }
                    Some(Some(task)) => task,
                };
                // A key built lets the foreign keys go once it is the last.
                let is_key = matches!(task, Task::Keys(..));
                match task {
                    Task::Copy(table, rows) => {
                        let key = (table.schema.clone(), table.name.clone());
                        let (back, outcome) =
                            copy_table(client, table, rows, prelude, progress).await;
                        client = back;
                        outcomes.push(outcome?);
                        schedule.loaded(key);
                    }
                    Task::Keys(unit, _) | Task::ForeignKey(unit) => {
                        let (back, result) = run_unit(client, unit, prelude).await;
                        client = back;
                        result?;
                        if is_key {
                            schedule.built();
                        }
                    }
                }
            }
            Ok::<_, anyhow::Error>((client, outcomes))
        });
    let finished = futures_util::future::try_join_all(workers).await?;
    let mut outcomes = Vec::new();
    for (client, done) in finished {
        clients.push(client);
        outcomes.extend(done);
    }
    Ok(outcomes)
}

/// One table: emptied and loaded frozen in one transaction, its row count checked.
async fn copy_table(
    mut client: Client,
    table: TableToLoad,
    rows: Producer,
    prelude: &str,
    progress: &Progress,
) -> (Client, Result<TableOutcome>) {
    let started = Instant::now();
    let result = async {
        if table.columns.is_empty() && table.rows == 0 {
            return Ok(0);
        }
        let bar = progress.bar(&table.display_name(), Total::Exact(table.rows));
        let transaction = client.transaction().await?;
        transaction.batch_execute(prelude).await?;
        // FREEZE needs the table emptied in this transaction.
        transaction
            .batch_execute(&format!("TRUNCATE ONLY {}", table.qualified()))
            .await?;
        let counter = RowCounter::default();
        let mut on_chunk = |rows: u64, bytes: u64| bar.set(rows, bytes);
        let loaded = copy_in::load(
            &transaction,
            &table.copy_sql(true),
            &counter,
            &mut on_chunk,
            rows,
        )
        .await
        .map_err(|e| copy_failure(&table, e))?;
        bar.finish();
        check_row_count(&table, loaded)?;
        transaction.commit().await?;
        Ok(loaded)
    }
    .await;
    let outcome = result.map(|rows| TableOutcome {
        table: table.display_name(),
        rows,
        seconds: started.elapsed().as_secs_f64(),
    });
    (client, outcome)
}

/// One post-data entry in its own transaction, after the settings it was written under;
/// tried again when PostgreSQL picked it to break a deadlock with another connection's.
async fn run_unit(mut client: Client, unit: Unit, prelude: &str) -> (Client, Result<()>) {
    let mut tries = 0;
    let result = loop {
        tries += 1;
        match run_unit_once(&mut client, &unit, prelude).await {
            Err((e, _))
                if tries < DEADLOCK_TRIES && e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) =>
            {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
            }
            Err((e, sql)) => {
                let statement = SchemaStatement {
                    sql,
                    what: unit.what.clone(),
                    kind: String::new(),
                };
                break Err(schema::schema_failure(&statement, Part::After, &e));
            }
            Ok(()) => break Ok(()),
        }
    };
    (client, result)
}

/// Runs the unit; on failure, the error and the statement that failed.
async fn run_unit_once(
    client: &mut Client,
    unit: &Unit,
    prelude: &str,
) -> std::result::Result<(), (tokio_postgres::Error, String)> {
    let transaction = client
        .transaction()
        .await
        .map_err(|e| (e, "BEGIN".to_string()))?;
    transaction
        .batch_execute(prelude)
        .await
        .map_err(|e| (e, prelude.to_string()))?;
    for sql in &unit.statements {
        transaction
            .batch_execute(sql)
            .await
            .map_err(|e| (e, sql.clone()))?;
    }
    transaction
        .commit()
        .await
        .map_err(|e| (e, "COMMIT".to_string()))
}
