//! `palmdb advise --write-migration`: the advice as the next versioned migration, so it goes
//! through review and the deploy pipeline like any schema change. The file starts with
//! `-- palmdb:no-transaction`, so `palmdb migrate` runs each `CREATE INDEX CONCURRENTLY`
//! outside a transaction (writes go on while it builds) and rebuilds one left INVALID.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Advice;
use crate::error::Failure;
use crate::insights::queries::one_line;

/// Writes `V<next>__advised_indexes.sql` into `dir` and returns its path; refuses to
/// overwrite anything.
pub fn write(dir: &Path, advice: &[Advice]) -> Result<PathBuf> {
    let next = next_version(dir)?;
    let path = dir.join(format!("V{next}__advised_indexes.sql"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(render(advice).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// One more than the highest `V<n>__` in the folder.
pub fn next_version(dir: &Path) -> Result<u64> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Failure::usage(format!(
            "cannot read the migrations folder {}: {e}",
            dir.display()
        ))
        .with_hint("run from the repository's root, or pass --migrations-dir DIR")
    })?;
    let mut highest = 0;
    for entry in entries {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let version = name
            .strip_prefix('V')
            .and_then(|rest| rest.split_once("__"))
            .filter(|_| name.ends_with(".sql"))
            .and_then(|(n, _)| n.parse::<u64>().ok());
        if let Some(v) = version {
            highest = highest.max(v);
        }
    }
    Ok(highest + 1)
}

pub fn render(advice: &[Advice]) -> String {
    let mut out = String::from("-- palmdb:no-transaction\n");
    out.push_str(
        "-- Indexes advised by `palmdb advise`: each one lowered the planner's cost of the\n",
    );
    out.push_str("-- statements listed above it, tried as a hypothetical index (HypoPG).\n");
    for a in advice {
        out.push('\n');
        for s in &a.statements {
            let _ = writeln!(
                out,
                "-- cost {:.1} -> {:.1} (-{:.0}%), {} calls: {}",
                s.cost_before,
                s.cost_after,
                s.improvement * 100.0,
                s.calls,
                one_line(&s.query, 200)
            );
        }
        if !a.makes_redundant.is_empty() {
            let _ = writeln!(
                out,
                "-- makes redundant (drop in a later migration): {}",
                a.makes_redundant.join(", ")
            );
        }
        let _ = writeln!(out, "{}", a.create_index);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::advise::Served;

    #[test]
    fn the_next_version_follows_the_highest_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "V1__a.sql",
            "V10__b.sql",
            "V9__c.sql",
            "README.md",
            "V11_bad.sql",
            "Vx__y.sql",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        assert_eq!(next_version(dir.path()).unwrap(), 11);
        let advice = vec![Advice {
            table: "public.users".into(),
            columns: vec!["role".into()],
            index_name: "users_role_idx".into(),
            create_index:
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_role_idx ON public.users (role);"
                    .into(),
            estimated_bytes: 8192,
            makes_redundant: vec![],
            statements: vec![Served {
                query_id: 1,
                calls: 3,
                cost_before: 100.0,
                cost_after: 10.0,
                improvement: 0.9,
                query: "SELECT *\nFROM users WHERE role = $1".into(),
            }],
        }];
        let path = write(dir.path(), &advice).unwrap();
        assert!(path.ends_with("V11__advised_indexes.sql"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-- palmdb:no-transaction\n"), "{text}");
        assert!(text.contains(
            "-- cost 100.0 -> 10.0 (-90%), 3 calls: SELECT * FROM users WHERE role = $1\n"
        ));
        assert!(text.ends_with(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_role_idx ON public.users (role);\n"
        ));
        // Never overwrites: a second write takes the next number.
        assert!(write(dir.path(), &advice)
            .unwrap()
            .ends_with("V12__advised_indexes.sql"));
        let missing = next_version(&dir.path().join("nope")).unwrap_err();
        assert!(crate::error::failure_of(&missing).unwrap().hint.is_some());
    }
}
