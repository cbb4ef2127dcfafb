//! refinery's history table, read and written through refinery's own async path.
//!
//! [`TimedClient`] lets refinery run each migration in its own transaction as usual, but opens
//! every transaction with `SET LOCAL lock_timeout` and `statement_timeout`. Setting them in
//! the transaction (not in the file) keeps the files, and so their checksums, untouched.

use std::time::Duration;

use anyhow::Result;
use refinery::{AsyncMigrate, Migration};
use refinery_core::error::WrapMigrationError;
use refinery_core::traits::r#async::{AsyncQuery, AsyncTransaction};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_postgres::Client;

use super::source::VersionedFile;

/// refinery's default history table, in the first schema of the search path (`public`).
pub const HISTORY_TABLE: &str = "refinery_schema_history";

/// Limits on how long one migration may wait for a lock and run.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
}

impl Timeouts {
    /// `SET LOCAL` statements for a transaction, or plain `SET` for a session.
    pub fn set_sql(&self, local: bool) -> String {
        let scope = if local { "SET LOCAL" } else { "SET" };
        format!(
            "{scope} lock_timeout = {}; {scope} statement_timeout = {}",
            self.lock_timeout.as_millis(),
            self.statement_timeout.as_millis()
        )
    }
}

/// A migration row as stored in the history table.
#[derive(Debug, Clone)]
pub struct AppliedRow {
    pub version: i32,
    pub name: String,
    pub applied_on: String,
    pub checksum: String,
}

/// The connection refinery migrates through: timeouts set locally in every transaction.
pub struct TimedClient<'c> {
    client: &'c mut Client,
    set_local: String,
    /// The server's major version: what the SQL is adapted to (see [`super::compat`]).
    server_major: u32,
}

impl<'c> TimedClient<'c> {
    pub fn new(client: &'c mut Client, timeouts: Timeouts) -> Self {
        TimedClient {
            client,
            set_local: timeouts.set_sql(true),
            server_major: u32::MAX,
        }
    }

    /// Adapts what it runs to a server of `major` (refinery still records the file's checksum).
    pub fn for_server(mut self, major: u32) -> Self {
        self.server_major = major;
        self
    }
}

impl AsyncTransaction for TimedClient<'_> {
    type Error = tokio_postgres::Error;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let transaction = self.client.transaction().await?;
        transaction.batch_execute(&self.set_local).await?;
        let mut count = 0;
        for query in queries {
            transaction
                .batch_execute(&super::compat::adapt(query, self.server_major))
                .await?;
            count += 1;
        }
        transaction.commit().await?;
        Ok(count)
    }
}

impl AsyncQuery<Vec<Migration>> for TimedClient<'_> {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        let rows = Client::query(self.client, query, &[]).await?;
        let mut applied = Vec::with_capacity(rows.len());
        for row in rows {
            let applied_on: String = row.get(2);
            let checksum: String = row.get(3);
            applied.push(Migration::applied(
                row.get(0),
                row.get(1),
                // Rows written by refinery or by `record` are RFC 3339; anything else is
                // a hand edit, shown as the epoch rather than aborting the run.
                OffsetDateTime::parse(&applied_on, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH),
                checksum.parse().unwrap_or(0),
            ));
        }
        Ok(applied)
    }
}

impl AsyncMigrate for TimedClient<'_> {}

/// Creates the history table if needed (under the migration lock, so runners never race).
pub async fn ensure_table(client: &mut Client) -> Result<()> {
    let mut timed = TimedClient::new(
        client,
        Timeouts {
            lock_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(60),
        },
    );
    let sql = <TimedClient as AsyncMigrate>::assert_migrations_table_query(HISTORY_TABLE);
    timed
        .execute([sql.as_str()].into_iter())
        .await
        .migration_err("cannot create the migration history table", None)?;
    Ok(())
}

/// The rows of the history table; empty when it does not exist yet (nothing is created).
pub async fn read_applied(client: &Client) -> Result<Vec<AppliedRow>> {
    read_applied_from(client, HISTORY_TABLE).await
}

/// The rows of a history table in refinery's layout: refinery's own, or the monitoring
/// profile's `palmdb.monitoring_history` (see [`super::profile`]).
pub async fn read_applied_from(client: &Client, table: &str) -> Result<Vec<AppliedRow>> {
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!("SELECT version, name, applied_on, checksum FROM {table} ORDER BY version"),
            &[],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| AppliedRow {
            version: r.get(0),
            name: r.get(1),
            applied_on: r.get(2),
            checksum: r.get(3),
        })
        .collect())
}

/// Records a migration that palmdb ran itself (a no-transaction file) in refinery's format.
pub async fn record(client: &Client, file: &VersionedFile) -> Result<()> {
    let applied_on = OffsetDateTime::now_utc().format(&Rfc3339)?;
    client
        .execute(
            &format!(
                "INSERT INTO {HISTORY_TABLE} (version, name, applied_on, checksum) VALUES ($1, $2, $3, $4)"
            ),
            &[
                &file.version,
                &file.name,
                &applied_on,
                &file.checksum()?.to_string(),
            ],
        )
        .await?;
    Ok(())
}
