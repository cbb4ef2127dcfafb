//! Tables palmdb derives from others with triggers, and materialized views: after a load with
//! triggers disabled, a derived table whose sources were restored but which was not restored
//! itself is recomputed from them, in the same transaction, so it agrees with the restored
//! rows. Materialized views that held rows in the backup are refreshed (the stored schema
//! creates them empty).

use anyhow::{Context, Result};
use tokio_postgres::GenericClient;

use super::plan::TableToLoad;
use crate::archive::RelationName;
use crate::sql_quote::quote_ident;

/// A table kept by triggers on others, and how to compute it from scratch.
struct Derived {
    table: (&'static str, &'static str),
    sources: &'static [(&'static str, &'static str)],
    rebuild: &'static str,
}

/// palmdb's derived tables. `palmdb.daily_revenue` (migration V11): completed revenue per day
/// and currency, kept by statement triggers on `public.preorders`.
const DERIVED: &[Derived] = &[Derived {
    table: ("palmdb", "daily_revenue"),
    sources: &[("public", "preorders")],
    rebuild: include_str!("daily_revenue_rebuild.sql"),
}];

/// Recomputes the derived tables that need it; returns their names.
pub async fn rebuild(client: &impl GenericClient, restored: &[TableToLoad]) -> Result<Vec<String>> {
    let is_restored = |(schema, name): (&str, &str)| {
        restored
            .iter()
            .any(|t| t.schema == schema && t.name == name)
    };
    let mut rebuilt = Vec::new();
    for derived in DERIVED {
        if is_restored(derived.table) || !derived.sources.iter().any(|s| is_restored(*s)) {
            continue;
        }
        let qualified = format!(
            "{}.{}",
            quote_ident(derived.table.0),
            quote_ident(derived.table.1)
        );
        let exists: bool = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL AS present",
                &[&qualified],
            )
            .await?
            .get("present");
        if !exists {
            continue;
        }
        client
            .batch_execute(derived.rebuild)
            .await
            .with_context(|| {
                format!(
                    "cannot recompute {}.{} from the restored rows",
                    derived.table.0, derived.table.1
                )
            })?;
        rebuilt.push(format!("{}.{}", derived.table.0, derived.table.1));
    }
    Ok(rebuilt)
}

/// Refreshes the materialized views the backup says held rows, in the order given (the
/// source's creation order, which follows their dependencies). Returns their names.
pub async fn refresh_materialized_views(
    client: &impl GenericClient,
    views: &[RelationName],
) -> Result<Vec<String>> {
    let mut refreshed = Vec::new();
    for view in views {
        let qualified = format!("{}.{}", quote_ident(&view.schema), quote_ident(&view.name));
        let is_view: bool = client
            .query_one(
                "SELECT EXISTS (
                     SELECT 1 FROM pg_catalog.pg_class AS c
                     WHERE c.oid = to_regclass($1) AND c.relkind = 'm') AS present",
                &[&qualified],
            )
            .await?
            .get("present");
        if !is_view {
            continue;
        }
        client
            .batch_execute(&format!("REFRESH MATERIALIZED VIEW {qualified}"))
            .await
            .with_context(|| {
                format!(
                    "cannot refresh materialized view {}.{}",
                    view.schema, view.name
                )
            })?;
        refreshed.push(format!("{}.{}", view.schema, view.name));
    }
    Ok(refreshed)
}
