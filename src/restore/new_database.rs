//! `restore --create-database`: the restore builds the database under a working name and
//! renames it to the one asked for only when everything is in it. So the database either does
//! not exist or is complete, whatever happens to palmdb on the way, and the work inside may use
//! several connections, each committing on its own.
//!
//! The working database is `<name>_palmdb_restoring` (or a hashed name when that is too long),
//! commented as such. One restore per name at a time: an advisory lock on the server's
//! maintenance database says a working database is in use; one found without its lock was
//! left by a killed restore, and is dropped.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::connect::ConnectSettings;
use crate::error::{describe_pg_error, Failure};
use crate::sql_quote::{quote_ident, quote_literal};

/// PostgreSQL's longest identifier, in bytes.
const MAX_NAME: usize = 63;
const SUFFIX: &str = "_palmdb_restoring";
/// The databases createdb itself connects to, in its order.
const MAINTENANCE_DATABASES: [&str; 2] = ["postgres", "template1"];

/// The database being built, and the connection that will publish or drop it.
pub struct WorkingDatabase {
    admin: Client,
    /// The name asked for.
    pub target: String,
    /// The working name.
    pub name: String,
}

/// The working name for `target`: readable when it fits, hashed otherwise.
pub fn working_name(target: &str) -> String {
    let readable = format!("{target}{SUFFIX}");
    if readable.len() <= MAX_NAME {
        return readable;
    }
    let digest = Sha256::digest(target.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("palmdb_restoring_{hex}")
}

/// The comment that marks a working database as palmdb's, for `target`.
fn unfinished_comment(target: &str) -> String {
    format!("palmdb restore of {target}, not finished; the next restore of {target} drops it")
}

/// Connects to the server's maintenance database (as createdb does): the target does not
/// exist yet.
async fn connect_admin(settings: &ConnectSettings) -> Result<Client> {
    let mut last = None;
    for database in MAINTENANCE_DATABASES {
        match settings
            .with_database(database)
            .with_application_name("palmdb restore")
            .connect()
            .await
        {
            Ok(client) => return Ok(client),
            Err(e) => last = Some(e),
        }
    }
    let e = last.expect("at least one maintenance database was tried");
    Err(e.context(format!(
        "cannot connect to the server's maintenance database ({}) to create database {}",
        MAINTENANCE_DATABASES.join(" or "),
        settings.database()
    )))
}

async fn exists(admin: &Client, name: &str) -> Result<bool> {
    Ok(admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some())
}

fn already_exists(target: &str) -> anyhow::Error {
    Failure::usage(format!(
        "database {target} already exists: --create-database builds a new one"
    ))
    .with_hint(format!(
        "name a new database in --database-url, drop this one first (DROP DATABASE {}), or \
         restore into it without --create-database",
        quote_ident(target)
    ))
    .into()
}

/// Checks that `target` can be created here, without creating anything (`--dry-run`).
pub async fn check(settings: &ConnectSettings) -> Result<()> {
    let target = settings.database();
    let admin = connect_admin(settings).await?;
    if exists(&admin, target).await? {
        return Err(already_exists(target));
    }
    let may_create: bool = admin
        .query_one(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await?
        .get(0);
    if !may_create {
        return Err(no_createdb(target));
    }
    Ok(())
}

fn no_createdb(target: &str) -> anyhow::Error {
    Failure::usage(format!(
        "cannot create database {target}: the role may not create databases"
    ))
    .with_hint(
        "restore as a role with CREATEDB (ALTER ROLE ... CREATEDB), or create the database \
         and restore into it without --create-database",
    )
    .into()
}

impl WorkingDatabase {
    /// Creates the working database for the one `settings` names, after checking that
    /// database does not exist and dropping a working database a killed restore left.
    pub async fn create(settings: &ConnectSettings) -> Result<WorkingDatabase> {
        let target = settings.database().to_string();
        let admin = connect_admin(settings).await?;
        if exists(&admin, &target).await? {
            return Err(already_exists(&target));
        }
        let name = working_name(&target);
        let locked: bool = admin
            .query_one(
                "SELECT pg_try_advisory_lock(hashtext($1))",
                &[&format!("palmdb restore {name}")],
            )
            .await?
            .get(0);
        if !locked {
            return Err(Failure::operation(format!(
                "another palmdb restore is creating database {target} right now"
            ))
            .with_hint("wait for it to finish, or stop it, then try again")
            .into());
        }
        if exists(&admin, &name).await? {
            // Only a database palmdb commented as its own unfinished restore is dropped; its
            // restore is gone (the lock was free): it was killed on the way.
            let comment: Option<String> = admin
                .query_one(
                    "SELECT shobj_description(oid, 'pg_database') FROM pg_database \
                     WHERE datname = $1",
                    &[&name],
                )
                .await?
                .get(0);
            if comment.as_deref() != Some(unfinished_comment(&target).as_str()) {
                return Err(Failure::usage(format!(
                    "database {name} exists and is not an unfinished palmdb restore of \
                     {target}: palmdb builds {target} under that name"
                ))
                .with_hint(format!(
                    "rename or drop {name} (ALTER DATABASE {} RENAME TO ...), or restore under \
                     another name",
                    quote_ident(&name)
                ))
                .into());
            }
            eprintln!("palmdb: dropping {name}, left by a restore of {target} that did not finish");
            drop_database(&admin, &name).await?;
        }
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE template0",
                quote_ident(&name)
            ))
            .await
            .map_err(|e| {
                if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
                    no_createdb(&target)
                } else {
                    Failure::operation(format!(
                        "cannot create database {name} to restore into: {}",
                        describe_pg_error(&e)
                    ))
                    .into()
                }
            })?;
        admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {} IS {}",
                quote_ident(&name),
                quote_literal(&unfinished_comment(&target))
            ))
            .await?;
        Ok(WorkingDatabase {
            admin,
            target,
            name,
        })
    }

    /// Gives the finished database its name, in one step. Every other connection to it
    /// must be closed.
    pub async fn publish(self) -> Result<()> {
        self.wait_until_alone().await?;
        let renamed = self
            .admin
            .batch_execute(&format!(
                "BEGIN;
                 ALTER DATABASE {working} RENAME TO {target};
                 COMMENT ON DATABASE {target} IS NULL;
                 COMMIT",
                working = quote_ident(&self.name),
                target = quote_ident(&self.target)
            ))
            .await;
        if let Err(e) = renamed {
            let _ = self.admin.batch_execute("ROLLBACK").await;
            let duplicate = e.code() == Some(&SqlState::DUPLICATE_DATABASE);
            self.discard().await;
            if duplicate {
                return Err(Failure::operation(format!(
                    "database {} was created by someone else during the restore; nothing was \
                     restored",
                    self.target
                ))
                .with_hint("restore under another name, or drop that database and try again")
                .into());
            }
            return Err(Failure::operation(format!(
                "cannot give the restored database its name: {}; nothing was restored",
                describe_pg_error(&e)
            ))
            .into());
        }
        Ok(())
    }

    /// The connections palmdb closed may take a moment to leave the server.
    async fn wait_until_alone(&self) -> Result<()> {
        for _ in 0..200 {
            let others: i64 = self
                .admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                    &[&self.name],
                )
                .await?
                .get(0);
            if others == 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Autovacuum leaves when asked; anyone else makes the rename fail, which says so.
        Ok(())
    }

    /// Drops the working database (a failed or interrupted restore).
    pub async fn discard(&self) {
        if let Err(e) = drop_database(&self.admin, &self.name).await {
            eprintln!(
                "palmdb: cannot drop {}, the unfinished restore of {}: {e:#}; the next restore \
                 of {} drops it, or DROP DATABASE {} WITH (FORCE)",
                self.name,
                self.target,
                self.target,
                quote_ident(&self.name)
            );
        }
    }
}

async fn drop_database(admin: &Client, name: &str) -> Result<()> {
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await
        .with_context(|| format!("cannot drop database {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_working_name_is_readable_when_it_fits() {
        assert_eq!(working_name("palm"), "palm_palmdb_restoring");
        let long = "x".repeat(60);
        let name = working_name(&long);
        assert!(name.starts_with("palmdb_restoring_"), "{name}");
        assert!(name.len() <= MAX_NAME);
        assert_ne!(name, working_name(&"y".repeat(60)));
    }
}
