//! The stats functions report bad input (an unknown status, a page size out of range, a
//! cursor that does not exist) as SQLSTATE 22023 with a hint naming the allowed values; a
//! database without them has not been migrated. Both become a one-line usage error here.

use crate::error::Failure;

pub fn explain(err: tokio_postgres::Error) -> anyhow::Error {
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
        "42883" | "3F000" => Failure::usage(format!(
            "this database has no palmdb stats functions ({})",
            db.message()
        ))
        .with_hint("run palmdb migrate first")
        .into(),
        _ => err.into(),
    }
}
