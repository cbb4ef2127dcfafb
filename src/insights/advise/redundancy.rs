//! Never advise a prefix duplicate: the rule is the `duplicate_indexes` health check's, read
//! from the view `palmdb.duplicate_indexes` itself, not copied here.
//!
//! Hypothetical indexes are not in pg_index, so the view cannot see them. Instead, inside a
//! transaction that is always rolled back, an empty copy of the table is made in a scratch
//! schema (`CREATE TABLE ... (LIKE ...)`) with every valid index of the original, under the
//! original names (their definitions from `pg_get_indexdef`, re-targeted through PostgreSQL's
//! own parser and deparser), plus the candidates. Building indexes on an empty table takes
//! no time; the view then says, by its own rule, which candidate an existing index already
//! covers (never advised) and which existing indexes a candidate would make redundant (named
//! in the advice, to drop once the new index is built). Nothing of it is ever committed; it
//! needs CREATE on the database, like any schema.

use anyhow::{Context, Result};
use pg_query::protobuf::node::Node as N;
use tokio_postgres::Client;

use super::resolve::Table;
use crate::error::Failure;
use crate::sql_quote::quote_ident;

/// What the duplicate_indexes rule says of one candidate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coverage {
    /// An existing index whose key starts with the candidate's key: the candidate is a prefix
    /// duplicate of it.
    pub covered_by: Option<String>,
    /// Existing indexes whose keys are a prefix of the candidate's: redundant once it exists.
    pub makes_redundant: Vec<String>,
}

const SCRATCH_TABLE: &str = "scratch";

/// The name of candidate `i` on the scratch table.
fn candidate_name(i: usize) -> String {
    format!("palmdb_advise_candidate_{i}")
}

/// Coverage of each candidate key (column lists) of `table`, in order.
pub async fn check(
    client: &Client,
    table: &Table,
    candidates: &[Vec<String>],
) -> Result<Vec<Coverage>> {
    client.batch_execute("BEGIN").await?;
    let outcome = check_in_transaction(client, table, candidates).await;
    // Whatever happened, nothing of the scratch copy stays.
    client.batch_execute("ROLLBACK").await?;
    outcome
}

async fn check_in_transaction(
    tx: &Client,
    table: &Table,
    candidates: &[Vec<String>],
) -> Result<Vec<Coverage>> {
    let pid: i32 = tx.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
    let schema = format!("palmdb_advise_{pid}");
    let scratch = format!("{}.{}", quote_ident(&schema), quote_ident(SCRATCH_TABLE));
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '5s';
         CREATE SCHEMA {};
         CREATE TABLE {scratch} (LIKE {});",
        quote_ident(&schema),
        table.qualified
    ))
    .await
    .map_err(|e| {
        let failure = Failure::usage(format!(
            "cannot check advice on {} against its indexes: {}",
            table.qualified,
            crate::error::describe_pg_error(&e)
        ));
        if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
            failure.with_hint("palmdb advise needs CREATE on the database (for a scratch schema it always rolls back) and SELECT on the tables")
        } else {
            failure
        }
    })?;

    let existing = tx
        .query(
            "SELECT c.relname::text AS name, pg_get_indexdef(i.indexrelid) AS definition
             FROM pg_index AS i
             JOIN pg_class AS c ON c.oid = i.indexrelid
             WHERE i.indrelid = $1 AND i.indisvalid
             ORDER BY i.indexrelid",
            &[&table.oid],
        )
        .await?;
    for row in existing {
        let name: String = row.get("name");
        let definition: String = row.get("definition");
        let Ok(copy) = retarget(&definition, &schema, SCRATCH_TABLE) else {
            tracing::warn!("advise: cannot re-read the definition of index {name}");
            continue;
        };
        // An index the copy cannot carry (an unusual operator class, say) is left out of
        // the comparison rather than failing the whole check.
        tx.batch_execute("SAVEPOINT palmdb_clone").await?;
        match tx.batch_execute(&copy).await {
            Ok(()) => tx.batch_execute("RELEASE SAVEPOINT palmdb_clone").await?,
            Err(e) => {
                tracing::warn!("advise: index {name} left out of the duplicate check: {e}");
                tx.batch_execute("ROLLBACK TO SAVEPOINT palmdb_clone")
                    .await?;
            }
        }
    }
    for (i, columns) in candidates.iter().enumerate() {
        let key: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        tx.batch_execute(&format!(
            "CREATE INDEX {} ON {scratch} ({})",
            quote_ident(&candidate_name(i)),
            key.join(", ")
        ))
        .await
        .with_context(|| {
            format!(
                "cannot try an index on {} ({})",
                table.qualified,
                columns.join(", ")
            )
        })?;
    }
    let pairs = tx
        .query(
            "SELECT d.index_name::text AS redundant, d.covered_by::text AS covering
             FROM palmdb.duplicate_indexes AS d
             WHERE d.schema_name = $1",
            &[&schema],
        )
        .await
        .with_context(|| {
            format!(
                "cannot read palmdb.duplicate_indexes ({})",
                crate::migrate::profile::SETUP_HINT
            )
        })?;

    let mut coverage = vec![Coverage::default(); candidates.len()];
    let candidate_index = |name: &str| (0..candidates.len()).find(|&i| candidate_name(i) == name);
    for row in pairs {
        let redundant: String = row.get("redundant");
        let covering: String = row.get("covering");
        match (candidate_index(&redundant), candidate_index(&covering)) {
            (Some(i), None) => {
                coverage[i].covered_by.get_or_insert(covering);
            }
            (None, Some(i)) if !coverage[i].makes_redundant.contains(&redundant) => {
                coverage[i].makes_redundant.push(redundant);
            }
            _ => {}
        }
    }
    Ok(coverage)
}

/// `CREATE INDEX name ON schema.table ...` as `pg_get_indexdef` writes it, moved onto another
/// table under the same index name, through PostgreSQL's parser and deparser.
pub fn retarget(definition: &str, schema: &str, table: &str) -> Result<String> {
    let mut parsed = pg_query::parse(definition, 0)?;
    let statement = parsed
        .protobuf
        .stmts
        .first_mut()
        .and_then(|s| s.stmt.as_mut())
        .and_then(|n| n.node.as_mut());
    let Some(N::IndexStmt(index)) = statement else {
        anyhow::bail!("not a CREATE INDEX: {definition}");
    };
    let relation = index
        .relation
        .as_mut()
        .context("CREATE INDEX without a table")?;
    relation.schemaname = schema.to_string();
    relation.relname = table.to_string();
    relation.inh = true;
    Ok(parsed.protobuf.deparse(Default::default())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_definition_moves_to_another_table_keeping_everything_else() {
        let moved = retarget(
            "CREATE UNIQUE INDEX \"Odd idx\" ON ONLY public.\"We ird\" USING btree (lower(email) text_pattern_ops DESC, id) INCLUDE (x) WHERE (status = 'failed'::text)",
            "palmdb_advise_1",
            "scratch",
        )
        .unwrap();
        assert_eq!(
            moved,
            "CREATE UNIQUE INDEX \"Odd idx\" ON palmdb_advise_1.scratch USING btree (lower(email) text_pattern_ops DESC, id) INCLUDE (x) WHERE status = 'failed'::text"
        );
        assert!(retarget("SELECT 1", "s", "t").is_err());
    }
}
