//! The order tables are loaded in: parents before children, following the foreign keys
//! between the tables being restored, so every row's references exist when it is checked.
//!
//! Foreign keys declared DEFERRABLE are checked at COMMIT (the restore runs
//! `SET CONSTRAINTS ALL DEFERRED`), so they do not constrain the order; a cycle of
//! non-deferrable foreign keys cannot be loaded without disabling triggers, which needs a
//! superuser, so it is refused up front with the tables named.

use anyhow::Result;
use tokio_postgres::GenericClient;

use crate::error::Failure;

/// A foreign key from `child` to `parent`, both `schema.table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub child: (String, String),
    pub parent: (String, String),
    pub deferrable: bool,
}

/// Every foreign key whose two tables are distinct (a table may reference itself: its rows
/// are checked at the end of the COPY statement, so order within a table does not matter).
pub async fn foreign_keys(client: &impl GenericClient) -> Result<Vec<ForeignKey>> {
    let rows = client
        .query(
            "SELECT child_ns.nspname AS child_schema,
                    child.relname AS child_table,
                    parent_ns.nspname AS parent_schema,
                    parent.relname AS parent_table,
                    con.condeferrable AS deferrable
             FROM pg_catalog.pg_constraint AS con
             JOIN pg_catalog.pg_class AS child ON child.oid = con.conrelid
             JOIN pg_catalog.pg_namespace AS child_ns ON child_ns.oid = child.relnamespace
             JOIN pg_catalog.pg_class AS parent ON parent.oid = con.confrelid
             JOIN pg_catalog.pg_namespace AS parent_ns ON parent_ns.oid = parent.relnamespace
             WHERE con.contype = 'f'
               AND con.conrelid <> con.confrelid",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ForeignKey {
            child: (r.get("child_schema"), r.get("child_table")),
            parent: (r.get("parent_schema"), r.get("parent_table")),
            deferrable: r.get("deferrable"),
        })
        .collect())
}

/// Indexes into `tables` in load order: a stable topological sort (tables keep their given
/// order unless a foreign key says otherwise).
pub fn load_order(tables: &[(String, String)], keys: &[ForeignKey]) -> Result<Vec<usize>> {
    let index_of = |t: &(String, String)| tables.iter().position(|x| x == t);
    // parents[i]: tables that must be loaded before table i.
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); tables.len()];
    for key in keys.iter().filter(|k| !k.deferrable) {
        if let (Some(child), Some(parent)) = (index_of(&key.child), index_of(&key.parent)) {
            if child != parent && !parents[child].contains(&parent) {
                parents[child].push(parent);
            }
        }
    }
    let mut order = Vec::with_capacity(tables.len());
    let mut placed = vec![false; tables.len()];
    while order.len() < tables.len() {
        let next = (0..tables.len()).find(|&i| !placed[i] && parents[i].iter().all(|&p| placed[p]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => {
                let stuck: Vec<String> = (0..tables.len())
                    .filter(|&i| !placed[i])
                    .map(|i| format!("{}.{}", tables[i].0, tables[i].1))
                    .collect();
                return Err(Failure::usage(format!(
                    "cannot order the restore: tables {} reference each other through \
                     foreign keys that are not DEFERRABLE",
                    stuck.join(", ")
                ))
                .with_hint(
                    "make one foreign key of the cycle DEFERRABLE (ALTER TABLE ... ALTER \
                     CONSTRAINT ... DEFERRABLE), or restore the tables with separate --table runs",
                )
                .into());
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> (String, String) {
        ("public".to_string(), name.to_string())
    }

    fn fk(child: &str, parent: &str, deferrable: bool) -> ForeignKey {
        ForeignKey {
            child: t(child),
            parent: t(parent),
            deferrable,
        }
    }

    #[test]
    fn parents_come_first_and_the_rest_keep_their_order() {
        let tables = [
            t("images"),
            t("orders"),
            t("logs"),
            t("users"),
            t("sessions"),
        ];
        let keys = [
            fk("images", "sessions", false),
            fk("images", "users", false),
            fk("orders", "users", false),
            fk("sessions", "users", false),
        ];
        let order = load_order(&tables, &keys).unwrap();
        let names: Vec<&str> = order.iter().map(|&i| tables[i].1.as_str()).collect();
        assert_eq!(names, ["logs", "users", "orders", "sessions", "images"]);
    }

    #[test]
    fn keys_to_tables_outside_the_restore_do_not_matter() {
        let tables = [t("orders")];
        let order = load_order(&tables, &[fk("orders", "users", false)]).unwrap();
        assert_eq!(order, [0]);
    }

    #[test]
    fn a_cycle_is_refused_unless_one_key_is_deferrable() {
        let tables = [t("a"), t("b")];
        let err = load_order(&tables, &[fk("a", "b", false), fk("b", "a", false)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("public.a, public.b"), "{err}");
        let order = load_order(&tables, &[fk("a", "b", true), fk("b", "a", false)]).unwrap();
        assert_eq!(order, [0, 1]);
    }
}
