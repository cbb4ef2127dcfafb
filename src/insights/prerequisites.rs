//! What insights need from the server, and one clear line when it is missing: which
//! extension to install, and how.
//!
//! - pg_stat_statements (both commands): preloaded by the server and created in the database.
//! - HypoPG (`advise`): the package for the server's major version, then `CREATE EXTENSION`.

use anyhow::Result;
use tokio_postgres::Client;

use crate::error::Failure;

/// Fails with what to do unless pg_stat_statements can be read in this database.
pub async fn require_pg_stat_statements(client: &Client) -> Result<()> {
    let state: String = client
        .query_one("SELECT palmdb.pg_stat_statements_state() AS state", &[])
        .await
        .map_err(explain_sql_error)?
        .get("state");
    match state.as_str() {
        "ready" => Ok(()),
        "not loaded" => Err(Failure::usage(
            "pg_stat_statements is installed in this database but the server does not load it",
        )
        .with_hint(
            "add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart PostgreSQL",
        )
        .into()),
        _ => Err(Failure::usage(format!(
            "pg_stat_statements is not installed in database {}",
            database_name(client).await?
        ))
        .with_hint(
            "run CREATE EXTENSION pg_stat_statements; (the server must also have \
             shared_preload_libraries = 'pg_stat_statements')",
        )
        .into()),
    }
}

/// Fails with what to do unless HypoPG's functions can be called in this database.
pub async fn require_hypopg(client: &Client) -> Result<()> {
    let row = client
        .query_one(
            "SELECT
                 EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg') AS installed,
                 EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg') AS available,
                 current_setting('server_version_num')::int / 10000 AS major",
            &[],
        )
        .await?;
    if row.get::<_, bool>("installed") {
        return Ok(());
    }
    let major: i32 = row.get("major");
    let database = database_name(client).await?;
    let failure = if row.get::<_, bool>("available") {
        Failure::usage(format!("HypoPG is not installed in database {database}"))
            .with_hint("run CREATE EXTENSION hypopg; in this database")
    } else {
        Failure::usage(format!(
            "HypoPG is not installed on the server of database {database}"
        ))
        .with_hint(format!(
            "install the package postgresql-{major}-hypopg (Debian/Ubuntu; hypopg_{major} from the \
             PGDG RPMs), then run CREATE EXTENSION hypopg; in this database"
        ))
    };
    Err(failure.into())
}

async fn database_name(client: &Client) -> Result<String> {
    Ok(client
        .query_one("SELECT current_database()::text AS name", &[])
        .await?
        .get("name"))
}

/// Errors of palmdb's insight functions as one usage line: bad input and missing extensions
/// (raised with a hint by the functions), or a database where palmdb's objects were never
/// installed.
pub fn explain_sql_error(err: tokio_postgres::Error) -> anyhow::Error {
    let Some(db) = err.as_db_error() else {
        return err.into();
    };
    match db.code().code() {
        // invalid_parameter_value, object_not_in_prerequisite_state: raised by the functions.
        "22023" | "55000" => {
            let failure = Failure::usage(db.message().to_string());
            match db.hint() {
                Some(hint) => failure.with_hint(hint.to_string()).into(),
                None => failure.into(),
            }
        }
        // undefined_function, invalid_schema_name: the sql/insights objects are not there.
        "42883" | "3F000" => Failure::usage(format!(
            "this database has no palmdb insight functions ({})",
            db.message()
        ))
        .with_hint(crate::migrate::profile::SETUP_HINT)
        .into(),
        _ => err.into(),
    }
}
