//! `palmdb stats`: one user's figures, and the newest orders in a status. The queries are
//! the SQL functions in `sql/stats/` (schema `palmdb`), so psql, the CLI and the HTTP API
//! see the same numbers; this module only calls them and renders the result, as an aligned
//! table for people or as JSON whose keys are the functions' column names, for scripts.

pub mod orders;
mod sql_error;
pub mod table;
pub mod user;

pub use orders::{orders_by_status, OrdersPage, OrdersQuery};
pub use user::{user_stats, UserKey, UserStats};

use anyhow::Result;

use crate::connect::ConnectSettings;
use crate::error::ExitCode;
use crate::ui::{emit, Format};

/// `palmdb stats user ID-or-EMAIL`.
pub async fn run_user(settings: &ConnectSettings, user: &str, format: Format) -> Result<ExitCode> {
    let client = read_only(settings).await?;
    let key = UserKey::parse(user)?;
    let stats = user_stats(&client, &key).await?;
    client.batch_execute("COMMIT").await?;
    emit(&stats, format)
}

/// `palmdb stats orders --status S`.
pub async fn run_orders(
    settings: &ConnectSettings,
    query: &OrdersQuery,
    format: Format,
) -> Result<ExitCode> {
    let client = read_only(settings).await?;
    let page = orders_by_status(&client, query).await?;
    client.batch_execute("COMMIT").await?;
    emit(&page, format)
}

/// A connection inside one read-only transaction: through a pooler in transaction mode
/// (PgBouncer) every statement, with its prepare and close, then runs on the one server it
/// pins.
async fn read_only(settings: &ConnectSettings) -> Result<tokio_postgres::Client> {
    let client = settings
        .with_application_name("palmdb stats")
        .connect()
        .await?;
    client.batch_execute("BEGIN READ ONLY").await?;
    Ok(client)
}
