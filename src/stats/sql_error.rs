//! The stats functions report bad input (an unknown status, a page size out of range, a
//! cursor that does not exist) as SQLSTATE 22023 with a hint naming the allowed values; both
//! become a one-line usage error here. When the functions are not there at all, the
//! database is asked why: Palm's tables are missing (a database that is not Palm's, with or
//! without palmdb's monitoring objects), or Palm's database was not migrated.

use tokio_postgres::Client;

use crate::demo_data::PALM_TABLES;
use crate::error::Failure;

/// One usage line for `err`, a failed call of a stats function on `client`.
pub async fn explain(client: &Client, err: tokio_postgres::Error) -> anyhow::Error {
    let Some(db) = err.as_db_error() else {
        return err.into();
    };
    match db.code().code() {
        // invalid_parameter_value, raised by the functions themselves.
        "22023" => {
            let failure = Failure::usage(db.message().to_string());
            match db.hint() {
                Some(hint) => failure.with_hint(hint.to_string()).into(),
                None => failure.into(),
            }
        }
        // undefined_function, invalid_schema_name: the sql/stats objects are not there.
        "42883" | "3F000" => missing_functions(client, db.message()).await,
        _ => err.into(),
    }
}

async fn missing_functions(client: &Client, message: &str) -> anyhow::Error {
    // The call failed inside the caller's read-only transaction, which can only be rolled
    // back now; the catalog is read after it.
    let _ = client.batch_execute("ROLLBACK").await;
    let tables: Vec<String> = PALM_TABLES.iter().map(|t| format!("public.{t}")).collect();
    let found = client
        .query_one(
            "SELECT
                 current_database()::text AS database,
                 to_regclass($1) IS NOT NULL AS monitoring_only,
                 array(
                     SELECT t
                     FROM unnest($2::text[]) WITH ORDINALITY AS u (t, n)
                     WHERE to_regclass(t) IS NULL
                     ORDER BY n
                 ) AS missing",
            &[&crate::migrate::profile::MONITORING_HISTORY, &tables],
        )
        .await;
    let Ok(row) = found else {
        return no_functions(message);
    };
    let database: String = row.get("database");
    let missing: Vec<String> = row.get("missing");
    if missing.is_empty() {
        return no_functions(message);
    }
    let has = if row.get::<_, bool>("monitoring_only") {
        "has palmdb's monitoring objects only, not Palm's tables"
    } else {
        "does not have Palm's tables"
    };
    Failure::usage(format!(
        "database {database} {has} ({} not found): palmdb stats reads Palm's application data",
        missing.join(", ")
    ))
    .with_hint(
        "point palmdb stats at Palm's database (set up by palmdb migrate); \
         palmdb migrate --monitoring-only installs no stats",
    )
    .into()
}

/// Palm's tables are there (or could not be looked for), the functions are not.
fn no_functions(message: &str) -> anyhow::Error {
    Failure::usage(format!(
        "this database has no palmdb stats functions ({message})"
    ))
    .with_hint("run palmdb migrate first")
    .into()
}
