//! The migration files palmdb applies: versioned migrations from `migrations/` and
//! re-appliable objects from `sql/`. Both are compiled into the binary, so the tool a pipeline
//! runs carries exactly the schema it was built with; `--migrations-dir` / `--sql-dir` read
//! them from disk instead.
//!
//! Line endings are normalised to LF before anything is hashed, so a checkout with CRLF never
//! looks like an edited migration.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

use crate::error::Failure;

static EMBEDDED_MIGRATIONS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/migrations");
static EMBEDDED_SQL: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/sql");

/// First-line marker of a migration whose statements cannot run inside a transaction.
pub const NO_TRANSACTION_MARKER: &str = "-- palmdb:no-transaction";

/// One `V{version}__{name}.sql` file.
#[derive(Debug, Clone)]
pub struct VersionedFile {
    pub version: i32,
    pub name: String,
    pub file_name: String,
    pub sql: String,
    pub no_transaction: bool,
}

impl VersionedFile {
    /// refinery's view of this file (its checksum covers name, version and SQL).
    pub fn to_refinery(&self) -> Result<refinery::Migration> {
        refinery::Migration::unapplied(&format!("V{}__{}", self.version, self.name), &self.sql)
            .with_context(|| format!("migration file {} has an invalid name", self.file_name))
    }

    pub fn checksum(&self) -> Result<u64> {
        Ok(self.to_refinery()?.checksum())
    }
}

/// One re-appliable file under `sql/`, identified by its path relative to `sql/`.
#[derive(Debug, Clone)]
pub struct ObjectFile {
    pub path: String,
    pub sql: String,
    pub sha256: String,
}

impl ObjectFile {
    /// The file as it runs on a server of `major` (see [`super::compat`]), with the SHA-256
    /// of that text.
    pub fn adapted_to(self, major: u32) -> ObjectFile {
        match super::compat::adapt(&self.sql, major) {
            std::borrow::Cow::Borrowed(_) => self,
            std::borrow::Cow::Owned(sql) => ObjectFile {
                sha256: hex::encode(Sha256::digest(sql.as_bytes())),
                path: self.path,
                sql,
            },
        }
    }
}

/// Where migrations and sql/ objects come from.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub migrations_dir: Option<PathBuf>,
    pub sql_dir: Option<PathBuf>,
}

impl Source {
    /// Versioned migrations sorted by version; duplicate versions are an error.
    pub fn versioned(&self) -> Result<Vec<VersionedFile>> {
        let files = match &self.migrations_dir {
            Some(dir) => read_dir_files(dir)?,
            None => embedded_files(&EMBEDDED_MIGRATIONS),
        };
        let mut migrations = Vec::new();
        for (path, sql) in files {
            if !path.ends_with(".sql") || path.contains('/') {
                continue;
            }
            migrations.push(parse_versioned(&path, normalise(&sql))?);
        }
        migrations.sort_by_key(|m| m.version);
        for pair in migrations.windows(2) {
            if pair[0].version == pair[1].version {
                return Err(Failure::usage(format!(
                    "migrations {} and {} have the same version {}",
                    pair[0].file_name, pair[1].file_name, pair[0].version
                ))
                .with_hint("give every migration file its own version number")
                .into());
            }
        }
        Ok(migrations)
    }

    /// sql/ objects in a stable order: by path, so `sql/health/00_x.sql` runs before `10_y.sql`.
    pub fn objects(&self) -> Result<Vec<ObjectFile>> {
        let files = match &self.sql_dir {
            Some(dir) => read_dir_files(dir)?,
            None => embedded_files(&EMBEDDED_SQL),
        };
        let mut objects: Vec<ObjectFile> = files
            .into_iter()
            .filter(|(path, _)| path.ends_with(".sql"))
            .map(|(path, sql)| {
                let sql = normalise(&sql);
                let sha256 = hex::encode(Sha256::digest(sql.as_bytes()));
                ObjectFile { path, sql, sha256 }
            })
            .collect();
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(objects)
    }
}

fn normalise(sql: &str) -> String {
    sql.replace("\r\n", "\n")
}

fn parse_versioned(file_name: &str, sql: String) -> Result<VersionedFile> {
    let bad_name = || {
        Failure::usage(format!(
            "migration file {file_name} is not named V<number>__<name>.sql"
        ))
    };
    let stem = file_name.strip_suffix(".sql").ok_or_else(bad_name)?;
    let rest = stem.strip_prefix('V').ok_or_else(bad_name)?;
    let (version, name) = rest.split_once("__").ok_or_else(bad_name)?;
    let version: i32 = version.parse().map_err(|_| bad_name())?;
    if name.is_empty() {
        return Err(bad_name().into());
    }
    let no_transaction = sql
        .lines()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
        .any(|l| l.trim() == NO_TRANSACTION_MARKER);
    Ok(VersionedFile {
        version,
        name: name.to_string(),
        file_name: file_name.to_string(),
        sql,
        no_transaction,
    })
}

fn embedded_files(dir: &'static Dir<'static>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    collect_embedded(dir, &mut out);
    out
}

fn collect_embedded(dir: &'static Dir<'static>, out: &mut Vec<(String, String)>) {
    for file in dir.files() {
        if let Some(text) = file.contents_utf8() {
            out.push((
                file.path().to_string_lossy().replace('\\', "/"),
                text.to_string(),
            ));
        }
    }
    for sub in dir.dirs() {
        collect_embedded(sub, out);
    }
}

fn read_dir_files(root: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read directory {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let relative = path.strip_prefix(root).unwrap_or(&path);
                out.push((relative.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_lf_files_have_the_same_checksum() {
        let lf = parse_versioned("V2__x.sql", normalise("SELECT 1;\nSELECT 2;\n")).unwrap();
        let crlf = parse_versioned("V2__x.sql", normalise("SELECT 1;\r\nSELECT 2;\r\n")).unwrap();
        assert_eq!(lf.checksum().unwrap(), crlf.checksum().unwrap());
    }

    #[test]
    fn the_no_transaction_marker_is_read_from_the_header() {
        let m = parse_versioned(
            "V3__idx.sql",
            format!("-- why\n{NO_TRANSACTION_MARKER}\nCREATE INDEX CONCURRENTLY i ON t (x);\n"),
        )
        .unwrap();
        assert!(m.no_transaction);
        let later =
            parse_versioned("V4__x.sql", format!("SELECT 1;\n{NO_TRANSACTION_MARKER}\n")).unwrap();
        assert!(!later.no_transaction);
    }

    #[test]
    fn badly_named_files_are_refused() {
        assert!(parse_versioned("1_init.sql", String::new()).is_err());
        assert!(parse_versioned("Vx__init.sql", String::new()).is_err());
    }

    #[test]
    fn embedded_migrations_start_at_version_one() {
        let versioned = Source::default().versioned().unwrap();
        assert_eq!(versioned[0].version, 1);
    }
}
