//! Creating the backup's tables from the schema stored in it, inside the restore's one
//! transaction: pg_restore turns `schema.dump` into SQL (the pre-data section — schemas,
//! types, functions, tables, sequences, defaults, views — and the post-data section —
//! indexes, constraints, foreign keys, triggers, policies), and palmdb runs that SQL itself,
//! statement by statement, on its own connection: before the rows are loaded and after.
//! So a failure anywhere, in the schema or in the rows, rolls back everything.
//!
//! pg_restore writes a script for psql: session settings (`SET ...`, `set_config(...,
//! false)`) are made transaction-local here so none outlives the restore's transaction, psql's
//! `\restrict` lines are dropped, and anything else that is not plain SQL is refused.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use tokio_postgres::Transaction;

use crate::archive::backup_files::BackupFiles;
use crate::archive::schema::{self, SchemaEntry};
use crate::error::{describe_pg_error, Failure};
use crate::migrate::statements::{split, without_leading_comments};
use crate::pg_tools::{self, Found, Need, Tool};

/// How the stored schema is turned into SQL.
#[derive(Debug, Clone, Default)]
pub struct SchemaOptions {
    /// `--no-owner`: objects belong to the restoring role.
    pub no_owner: bool,
    /// `--no-privileges`: no GRANT / REVOKE.
    pub no_privileges: bool,
    /// `--pg-restore PATH`.
    pub pg_restore: Option<PathBuf>,
}

/// One statement of the stored schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatement {
    pub sql: String,
    /// What it creates, from pg_restore's header (`TABLE shop.orders`), for messages.
    pub what: String,
    /// The archive entry's type from that header (`TABLE`, `INDEX`, `FK CONSTRAINT`); empty
    /// before the first header (the script's preamble).
    pub kind: String,
}

/// The stored schema as SQL, in the two parts the load goes between.
#[derive(Debug, Clone)]
pub struct StoredSchema {
    pub pre_data: Vec<SchemaStatement>,
    pub post_data: Vec<SchemaStatement>,
    /// Session settings the statements change (made transaction-local), to reset after each
    /// part.
    pub settings: Vec<String>,
}

/// Runs pg_restore on the stored schema (checking its SHA-256 as it is read) and splits the
/// SQL it writes into statements.
pub async fn render(
    files: &BackupFiles,
    entry: &SchemaEntry,
    options: &SchemaOptions,
) -> Result<StoredSchema> {
    let found = pg_tools::find(&Need {
        tool: Tool::PgRestore,
        explicit: options.pg_restore.as_deref(),
        min_major: entry.pg_dump_major,
        preferred_major: entry.pg_dump_major,
        purpose: format!(
            "read the schema stored in the backup (written by pg_dump {})",
            entry.pg_dump_major
        ),
        alternative: None,
    })?;
    let mut settings = Vec::new();
    let mut parts = Vec::new();
    for section in ["pre-data", "post-data"] {
        let files = files.clone();
        let entry = entry.clone();
        let found = found.clone();
        let options = options.clone();
        let script = tokio::task::spawn_blocking(move || {
            pg_restore_script(&found, &files, &entry, &options, section)
        })
        .await
        .context("the pg_restore thread failed")??;
        parts.push(parse_script(&script, &mut settings)?);
    }
    let post_data = parts.pop().unwrap_or_default();
    let pre_data = parts.pop().unwrap_or_default();
    Ok(StoredSchema {
        pre_data,
        post_data,
        settings,
    })
}

/// `pg_restore --section=SECTION --file=-` with the stored schema on its standard input.
fn pg_restore_script(
    found: &Found,
    files: &BackupFiles,
    entry: &SchemaEntry,
    options: &SchemaOptions,
    section: &str,
) -> Result<String> {
    let mut command = Command::new(&found.path);
    command
        .arg(format!("--section={section}"))
        .arg("--file=-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if options.no_owner {
        command.arg("--no-owner");
    }
    if options.no_privileges {
        command.arg("--no-privileges");
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {}", found.path.display()))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let files = files.clone();
    let entry = entry.clone();
    // Feeding and reading at once: either side could fill a pipe and wait for the other.
    let feeding = std::thread::spawn(move || -> Result<()> {
        let fed = schema::read_into(&files, &entry, &mut stdin);
        drop(stdin);
        fed
    });
    let errors = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let mut script = Vec::new();
    stdout
        .read_to_end(&mut script)
        .context("cannot read pg_restore's output")?;
    let status = child.wait().context("pg_restore did not finish")?;
    let fed = feeding
        .join()
        .map_err(|_| anyhow!("the thread feeding pg_restore panicked"))?;
    let errors = errors.join().unwrap_or_default();
    // A changed file is the error to report, whatever pg_restore made of it.
    if let Err(e) = fed {
        if e.chain().any(|c| c.to_string().contains("SHA-256")) {
            return Err(e);
        }
        if status.success() {
            return Err(e);
        }
    }
    if !status.success() {
        return Err(Failure::operation(format!(
            "pg_restore could not read the schema stored in the backup ({status}): {}",
            pg_tools::stderr_tail(&errors)
        ))
        .into());
    }
    String::from_utf8(script).context("pg_restore wrote something that is not UTF-8")
}

/// Splits pg_restore's script into statements palmdb can run in its transaction.
pub fn parse_script(script: &str, settings: &mut Vec<String>) -> Result<Vec<SchemaStatement>> {
    let mut statements = Vec::new();
    let mut what = String::from("the schema's preamble");
    let mut kind = String::new();
    for statement in split(script) {
        let text = statement.text.as_str();
        let mut body = without_leading_comments(text);
        let header = &text[..text.len() - body.len()];
        if let Some((entry_kind, named)) = header_name(header) {
            what = named;
            kind = entry_kind;
        }
        // psql meta-commands come as lines of their own before a statement.
        while body.starts_with('\\') {
            let (line, rest) = body.split_once('\n').unwrap_or((body, ""));
            let command = line.split_whitespace().next().unwrap_or(line);
            if command != "\\restrict" && command != "\\unrestrict" {
                bail!(
                    "the stored schema holds the psql command {command}, which palmdb does not run"
                );
            }
            body = without_leading_comments(rest);
        }
        if body.is_empty() {
            continue;
        }
        let sql = transaction_local(body, settings)?;
        statements.push(SchemaStatement {
            sql,
            what: what.clone(),
            kind: kind.clone(),
        });
    }
    Ok(statements)
}

/// `-- Name: orders; Type: TABLE; Schema: shop; Owner: app` → (`TABLE`, `TABLE shop.orders`).
fn header_name(header: &str) -> Option<(String, String)> {
    let line = header
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("-- Name: "))?;
    let mut name = "";
    let mut kind = "";
    let mut schema = "-";
    for field in line.split("; ") {
        if let Some(v) = field.strip_prefix("Type: ") {
            kind = v;
        } else if let Some(v) = field.strip_prefix("Schema: ") {
            schema = v;
        } else if name.is_empty() {
            name = field;
        }
    }
    let what = if schema == "-" {
        format!("{kind} {name}")
    } else {
        format!("{kind} {schema}.{name}")
    };
    Some((kind.to_string(), what))
}

/// Session settings become transaction-local; transaction control is refused.
fn transaction_local(body: &str, settings: &mut Vec<String>) -> Result<String> {
    let first_word = body
        .split(|c: char| c.is_whitespace() || c == ';')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if [
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "END",
        "ABORT",
        "START",
        "SAVEPOINT",
        "RELEASE",
        "RESET",
        "DISCARD",
    ]
    .contains(&first_word.as_str())
    {
        bail!("the stored schema holds \"{first_word}\", which palmdb does not run inside its restore transaction");
    }
    if first_word == "SET" {
        let rest = body[3..].trim_start();
        let upper = rest.to_ascii_uppercase();
        if upper.starts_with("LOCAL ") {
            return Ok(body.to_string());
        }
        if upper.starts_with("SESSION ") || upper.starts_with("ROLE ") {
            bail!(
                "the stored schema changes the session's role ({}), which palmdb does not do",
                body.lines().next().unwrap_or(body)
            );
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        remember(settings, &name);
        return Ok(format!("SET LOCAL {rest}"));
    }
    const SET_CONFIG: &str = "SELECT pg_catalog.set_config(";
    if let Some(arguments) = body.strip_prefix(SET_CONFIG) {
        let trimmed = arguments.trim_end();
        let Some(inner) = trimmed.strip_suffix(", false)") else {
            bail!("the stored schema sets a setting in a way palmdb does not know: {body}");
        };
        let name = inner
            .strip_prefix('\'')
            .and_then(|s| s.split_once('\''))
            .map(|(name, _)| name)
            .unwrap_or_default();
        remember(settings, name);
        return Ok(format!("{SET_CONFIG}{inner}, true)"));
    }
    Ok(body.to_string())
}

fn remember(settings: &mut Vec<String>, name: &str) {
    if !name.is_empty() && !settings.iter().any(|s| s == name) {
        settings.push(name.to_string());
    }
}

/// Settings a newer pg_restore sets in its preamble (to their neutral value) that an older
/// server does not have: skipped there, as pg_restore itself does when it connects to one.
/// `transaction_timeout` came in PostgreSQL 17; pg_dump 17+ sets it to 0 in every script, so
/// a schema captured by a newer pg_dump (the newest installed dumps older servers) would
/// otherwise not restore into 13..16.
const OPTIONAL_SETTINGS: &[&str] = &["transaction_timeout"];

/// Which part of the stored schema is being run, for messages.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// Before the rows: types, tables, sequences.
    Before,
    /// After the rows: indexes, constraints, triggers.
    After,
}

/// Runs the statements of one part in the restore's transaction, then resets the settings
/// they changed to the session's (the caller re-applies its own).
pub async fn apply(
    transaction: &Transaction<'_>,
    statements: &[SchemaStatement],
    settings: &[String],
    part: Part,
) -> Result<()> {
    let mut missing = Vec::new();
    for name in OPTIONAL_SETTINGS {
        let known: bool = transaction
            .query_one("SELECT current_setting($1, true) IS NOT NULL", &[name])
            .await?
            .get(0);
        if !known {
            missing.push(*name);
        }
    }
    let unknown_here = |sql: &str| {
        missing.iter().any(|name| {
            sql.strip_prefix("SET LOCAL ")
                .is_some_and(|rest| rest.trim_start().starts_with(name))
        })
    };
    for statement in statements {
        if unknown_here(&statement.sql) {
            continue;
        }
        transaction
            .batch_execute(&statement.sql)
            .await
            .map_err(|e| schema_failure(statement, part, &e))?;
    }
    for name in settings {
        if missing.contains(&name.as_str()) {
            continue;
        }
        transaction
            .batch_execute(&format!(
                "SET LOCAL {} TO DEFAULT",
                crate::sql_quote::quote_ident(name)
            ))
            .await
            .with_context(|| format!("cannot reset the setting {name}"))?;
    }
    Ok(())
}

/// A failed schema statement, in the user's words, with what to do about it.
pub(super) fn schema_failure(
    statement: &SchemaStatement,
    part: Part,
    err: &tokio_postgres::Error,
) -> anyhow::Error {
    let reason = describe_pg_error(err);
    let db = err.as_db_error();
    let code = db.map(|d| d.code().code()).unwrap_or("");
    let message = db.map(|d| d.message()).unwrap_or("");
    let upper = statement.sql.to_ascii_uppercase();
    let is_grant = upper.starts_with("GRANT ") || upper.starts_with("REVOKE ");
    let missing_role = (code == "42704" && message.starts_with("role "))
        .then(|| message.split('"').nth(1).unwrap_or("?").to_string());
    if let Some(role) = missing_role {
        let option = if is_grant {
            "--no-privileges"
        } else {
            "--no-owner"
        };
        return Failure::usage(format!(
            "the backup's schema needs role \"{role}\" ({}), which does not exist on this \
             server; nothing was restored",
            statement.what
        ))
        .with_hint(format!(
            "create the role first (CREATE ROLE \"{role}\"), or pass {option} (and \
             --no-owner / --no-privileges as needed) to leave ownership and grants to the \
             restoring role"
        ))
        .into();
    }
    if code == "42501" && upper.contains(" OWNER TO ") {
        return Failure::usage(format!(
            "cannot give {} to its owner in the backup: {reason}; nothing was restored",
            statement.what
        ))
        .with_hint("restore as a superuser or a member of the owning roles, or pass --no-owner")
        .into();
    }
    let hint = match code {
        "42P06" | "42P07" | "42710" | "42723" => {
            "the backup's schema creates every object: restore into a new, empty database \
             (createdb NEW), or into one that already has every table of the backup"
        }
        "3F000" | "42883" | "42704" => {
            "the schema of a backup narrowed with --schema or --table holds only those objects \
             (as pg_dump does): create what they depend on first, or restore a whole-database \
             backup"
        }
        _ => "see PostgreSQL's message; nothing was changed",
    };
    Failure::operation(format!(
        "creating {} from the backup's schema ({}) failed: {reason}; nothing was restored",
        statement.what,
        match part {
            Part::Before => "before the rows",
            Part::After => "after the rows",
        }
    ))
    .with_hint(hint)
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"--
-- PostgreSQL database dump
--

\restrict AbC123

-- Dumped from database version 15.20

SET statement_timeout = 0;
SET lock_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;

--
-- Name: shop; Type: SCHEMA; Schema: -; Owner: app
--

CREATE SCHEMA shop;


ALTER SCHEMA shop OWNER TO app;

SET default_tablespace = '';

--
-- Name: shout(); Type: FUNCTION; Schema: shop; Owner: app
--

CREATE FUNCTION shop.shout() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
SET search_path = x;
RETURN NEW; END $$;

--
-- PostgreSQL database dump complete
--

\unrestrict AbC123

"#;

    #[test]
    fn settings_become_local_and_psql_lines_go() {
        let mut settings = Vec::new();
        let statements = parse_script(SCRIPT, &mut settings).unwrap();
        let sql: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(sql[0], "SET LOCAL statement_timeout = 0");
        assert_eq!(sql[1], "SET LOCAL lock_timeout = 0");
        assert_eq!(
            sql[2],
            "SELECT pg_catalog.set_config('search_path', '', true)"
        );
        assert_eq!(sql[4], "CREATE SCHEMA shop");
        assert_eq!(statements[4].what, "SCHEMA shop");
        assert_eq!(sql[5], "ALTER SCHEMA shop OWNER TO app");
        assert_eq!(sql[6], "SET LOCAL default_tablespace = ''");
        // A SET inside a function body is the function's, untouched.
        assert!(sql[7].contains("SET search_path = x;"), "{}", sql[7]);
        assert_eq!(statements[7].what, "FUNCTION shop.shout()");
        assert_eq!(statements.len(), 8);
        assert_eq!(
            settings,
            [
                "statement_timeout",
                "lock_timeout",
                "search_path",
                "check_function_bodies",
                "default_tablespace"
            ]
        );
    }

    #[test]
    fn anything_that_would_leave_the_transaction_is_refused() {
        for bad in [
            "\\connect other\nCREATE TABLE t ();",
            "COMMIT;",
            "BEGIN;",
            "SET SESSION AUTHORIZATION app;",
            "SET ROLE app;",
        ] {
            assert!(
                parse_script(bad, &mut Vec::new()).is_err(),
                "{bad} was accepted"
            );
        }
    }
}
