//! The server's database connections: one small, bounded pool.
//!
//! However many HTTP clients come, the database sees at most `size` sessions from
//! `palmdb serve` (application_name `palmdb serve`). Every use of a connection — waiting for
//! it, opening it, and the queries — fits in one deadline, so a database that is down or stuck
//! turns into a quick error instead of a hanging request. A query we gave up on is cancelled,
//! so it does not run on in the server. No session settings are made (no startup `options`,
//! no `SET`): the pool works through PgBouncer in transaction mode.

use std::time::Duration;

use anyhow::Result;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio::time::{timeout_at, Instant};
use tokio_postgres::Client;

use crate::connect::ConnectSettings;
use crate::error::{describe_pg_error, Failure};

/// The database could not be reached or did not answer in time. `detail` (which names
/// `user@host:port/database`) is for the server's log; `public` is what an HTTP client is told.
#[derive(Debug)]
pub struct Unavailable {
    pub detail: String,
    pub public: String,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for Unavailable {}

pub struct DbPool {
    pool: Pool,
    target: String,
    timeout: Duration,
    cancel_tls: postgres_native_tls::MakeTlsConnector,
}

/// Pool occupancy, for `/metrics`.
pub struct PoolFigures {
    pub max: usize,
    pub open: usize,
    pub idle: usize,
    pub waiting: usize,
}

impl DbPool {
    /// Builds the pool; connections are opened on first use, so the server starts (and
    /// `/livez` answers) even while the database is down.
    pub fn open(settings: &ConnectSettings, size: usize, timeout: Duration) -> Result<DbPool> {
        let settings = settings.with_application_name("palmdb serve");
        let (config, tls) = settings.driver_parts()?;
        // No `-c statement_timeout=...` startup options: PgBouncer refuses them. A query past
        // the deadline is cancelled instead (see `with_client`), through a pooler too.
        let cancel_tls = tls.clone();
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                // A pooled session may have been terminated by the server (restart,
                // pg_terminate_backend): check it before handing it out.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(|e| Failure::operation(format!("cannot set up the connection pool: {e}")))?;
        Ok(DbPool {
            pool,
            target: settings.describe(),
            timeout,
            cancel_tls,
        })
    }

    /// Runs `work` on a pooled connection. Waiting for the connection, opening it and the work
    /// itself share one deadline; past it the connection is closed rather than returned, since
    /// it may still be busy with the abandoned query.
    pub async fn with_client<T>(&self, work: impl AsyncFnOnce(&Client) -> Result<T>) -> Result<T> {
        let deadline = Instant::now() + self.timeout;
        let client = match timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(self.explain(e)),
            Err(_) => return Err(self.too_slow()),
        };
        match timeout_at(deadline, work(&client)).await {
            Ok(result) => result,
            Err(_) => {
                // Ask the server to stop the abandoned query (so it does not run on), then
                // close the connection rather than return it: it may still be busy.
                let token = client.cancel_token();
                let tls = self.cancel_tls.clone();
                tokio::spawn(async move {
                    let _ = token.cancel_query(tls).await;
                });
                drop(Object::take(client));
                Err(self.too_slow())
            }
        }
    }

    pub fn figures(&self) -> PoolFigures {
        let status = self.pool.status();
        PoolFigures {
            max: status.max_size,
            open: status.size,
            idle: status.available,
            waiting: status.waiting,
        }
    }

    /// `--db-timeout`: the deadline of one use of the database.
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
    }

    pub fn describe(&self) -> &str {
        &self.target
    }

    pub fn close(&self) {
        self.pool.close();
    }

    fn too_slow(&self) -> anyhow::Error {
        let within = humantime::format_duration(self.timeout);
        Unavailable {
            detail: format!("no answer from {} within {within}", self.target),
            public: format!("no answer from the database within {within}"),
        }
        .into()
    }

    fn explain(&self, err: PoolError) -> anyhow::Error {
        let reason = match &err {
            PoolError::Backend(pg) => describe_pg_error(pg),
            PoolError::Timeout(_) => {
                format!(
                    "no connection within {}",
                    humantime::format_duration(self.timeout)
                )
            }
            other => other.to_string(),
        };
        Unavailable {
            detail: format!("cannot connect to {}: {reason}", self.target),
            public: "cannot connect to the database".to_string(),
        }
        .into()
    }
}
