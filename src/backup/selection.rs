//! Which tables and sequences a backup holds, chosen as pg_dump chooses: by default every
//! table of every schema that is not PostgreSQL's own (palmdb's schema and refinery's history
//! included); `--schema` narrows to whole schemas, `--table` to named tables (a partitioned
//! table brings its partitions), `--exclude-table` leaves tables (and their partitions) out.
//!
//! A name that matches nothing is an error, never an empty backup. The same choice is handed
//! to pg_dump for the stored schema, as exact (quoted) names, so the schema and the rows always
//! describe the same tables.

use std::collections::HashSet;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::catalog::Table;
use crate::archive::RelationName;
use crate::error::Failure;

/// Which tables to back up, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Schemas to back up whole; empty means every schema (unless `tables` is given).
    pub schemas: Vec<String>,
    /// Only these tables (`name` or `schema.name`).
    pub tables: Vec<String>,
    /// Not these tables (`name` or `schema.name`).
    pub exclude_tables: Vec<String>,
}

/// A table or partitioned table of the database, as the selection sees it.
#[derive(Debug, Clone)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// A partitioned table: no rows of its own, its partitions hold them.
    pub partitioned: bool,
    /// Every partition below a partitioned table, at any depth.
    pub descendants: Vec<u32>,
    /// The partitioned tables above a partition, nearest first.
    pub ancestors: Vec<RelationName>,
    pub estimated_bytes: i64,
    pub estimated_rows: i64,
}

impl Relation {
    /// `pattern` is `name` (a name may itself hold dots) or `schema.name`.
    fn matches(&self, pattern: &str) -> bool {
        self.name == pattern
            || pattern
                .split_once('.')
                .is_some_and(|(schema, name)| self.schema == schema && self.name == name)
    }

    fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// What the backup holds.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    /// Tables whose rows are copied (plain tables and partitions), without columns yet.
    pub tables: Vec<Table>,
    /// For each of `tables` (same order): its partitioned ancestors, nearest first.
    pub partition_of: Vec<Vec<RelationName>>,
    /// The sequences whose values are recorded.
    pub sequences: Vec<u32>,
    /// Materialized views with rows, refreshed after a restore.
    pub materialized_views: Vec<RelationName>,
    /// pg_dump's selection options, with exact (quoted) names.
    pub dump_filter: Vec<String>,
    /// Things a person should know: a foreign key to a table left out.
    pub warnings: Vec<String>,
}

/// Schemas that belong to PostgreSQL itself, never backed up (as pg_dump).
const USER_SCHEMAS: &str = "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'";

/// Tables and partitioned tables, except those an extension creates (its script does).
fn relations_sql() -> String {
    format!(
        "
SELECT c.oid AS relation_oid,
       n.nspname::text AS schema_name,
       c.relname::text AS relation_name,
       c.relkind = 'p' AS partitioned,
       pg_catalog.pg_relation_size(c.oid) AS estimated_bytes,
       greatest(c.reltuples, 0)::bigint AS estimated_rows,
       CASE WHEN c.relkind = 'p' THEN
           ARRAY(SELECT t.relid::oid
                 FROM pg_catalog.pg_partition_tree(c.oid) AS t
                 WHERE t.relid <> c.oid)
       ELSE '{{}}'::oid[] END AS descendants,
       CASE WHEN c.relispartition THEN
           ARRAY(SELECT a.relname::text
                 FROM pg_catalog.pg_partition_ancestors(c.oid) WITH ORDINALITY AS p (relid, depth)
                 JOIN pg_catalog.pg_class AS a ON a.oid = p.relid
                 WHERE p.relid <> c.oid
                 ORDER BY p.depth)
       ELSE '{{}}'::text[] END AS ancestor_names,
       CASE WHEN c.relispartition THEN
           ARRAY(SELECT an.nspname::text
                 FROM pg_catalog.pg_partition_ancestors(c.oid) WITH ORDINALITY AS p (relid, depth)
                 JOIN pg_catalog.pg_class AS a ON a.oid = p.relid
                 JOIN pg_catalog.pg_namespace AS an ON an.oid = a.relnamespace
                 WHERE p.relid <> c.oid
                 ORDER BY p.depth)
       ELSE '{{}}'::text[] END AS ancestor_schemas
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n
  ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND {USER_SCHEMAS}
  AND NOT EXISTS (
      SELECT 1
      FROM pg_catalog.pg_depend AS d
      WHERE d.classid = 'pg_catalog.pg_class'::regclass
        AND d.objid = c.oid
        AND d.deptype = 'e')
ORDER BY n.nspname, c.relname"
    )
}

/// Chooses what to back up, reading the catalog in the backup's snapshot.
pub async fn select(client: &Client, selection: &Selection) -> Result<Chosen> {
    let schemas: Vec<String> = client
        .query(
            &format!(
                "SELECT n.nspname::text AS schema_name
                 FROM pg_catalog.pg_namespace AS n
                 WHERE {USER_SCHEMAS}
                 ORDER BY 1"
            ),
            &[],
        )
        .await
        .context("cannot list the schemas")?
        .iter()
        .map(|r| r.get("schema_name"))
        .collect();
    let relations: Vec<Relation> = client
        .query(&relations_sql(), &[])
        .await
        .context("cannot list the tables to back up")?
        .iter()
        .map(|r| {
            let names: Vec<String> = r.get("ancestor_names");
            let ancestor_schemas: Vec<String> = r.get("ancestor_schemas");
            Relation {
                oid: r.get("relation_oid"),
                schema: r.get("schema_name"),
                name: r.get("relation_name"),
                partitioned: r.get("partitioned"),
                descendants: r.get("descendants"),
                ancestors: ancestor_schemas
                    .into_iter()
                    .zip(names)
                    .map(|(schema, name)| RelationName { schema, name })
                    .collect(),
                estimated_bytes: r.get("estimated_bytes"),
                estimated_rows: r.get("estimated_rows"),
            }
        })
        .collect();
    let mut chosen = choose(&relations, &schemas, selection)?;
    if selection.schemas.is_empty() && selection.tables.is_empty() {
        refuse_large_objects(client).await?;
    }
    let oids: Vec<u32> = chosen.tables.iter().map(|t| t.oid).collect();
    let all_chosen: Vec<u32> = relations
        .iter()
        .filter(|r| chosen_relation(&chosen, r, &relations))
        .map(|r| r.oid)
        .collect();
    chosen.warnings = left_out_references(client, &all_chosen).await?;
    chosen.sequences = sequences(
        client,
        selection,
        &chosen_schemas(selection, &schemas),
        &oids,
    )
    .await?;
    if !selection.tables.is_empty() {
        // pg_dump -t dumps owned sequences by itself, but not one a default merely uses.
        let names = sequence_names(client, &chosen.sequences).await?;
        chosen.dump_filter.extend(
            names
                .iter()
                .map(|n| format!("--table={}", exact_pattern(&n.schema, &n.name))),
        );
    } else {
        chosen.materialized_views =
            populated_materialized_views(client, &chosen_schemas(selection, &schemas)).await?;
    }
    Ok(chosen)
}

/// Whether relation `r` (table or partitioned table) is part of the backup.
fn chosen_relation(chosen: &Chosen, r: &Relation, all: &[Relation]) -> bool {
    if !r.partitioned {
        return chosen.tables.iter().any(|t| t.oid == r.oid);
    }
    // A partitioned table is in when its partitions are (or when it has none and its name
    // was chosen, which the dump filter then says).
    let leaves: Vec<u32> = r
        .descendants
        .iter()
        .copied()
        .filter(|d| all.iter().any(|x| x.oid == *d && !x.partitioned))
        .collect();
    !leaves.is_empty()
        && leaves
            .iter()
            .all(|l| chosen.tables.iter().any(|t| t.oid == *l))
}

/// The schemas whose sequences and materialized views go with the backup.
fn chosen_schemas(selection: &Selection, all: &[String]) -> Vec<String> {
    if selection.schemas.is_empty() {
        all.to_vec()
    } else {
        selection.schemas.clone()
    }
}

/// The pure part of the choice: patterns against the catalog.
pub fn choose(relations: &[Relation], schemas: &[String], selection: &Selection) -> Result<Chosen> {
    for wanted in &selection.schemas {
        if !schemas.contains(wanted) {
            let mut failure = Failure::usage(format!("there is no schema \"{wanted}\""));
            let same_letters: Vec<&String> = schemas
                .iter()
                .filter(|s| s.to_lowercase() == wanted.to_lowercase())
                .collect();
            failure = match same_letters.first() {
                Some(other) => failure.with_hint(format!(
                    "schema names are case-sensitive: did you mean --schema \"{other}\"?"
                )),
                None => failure.with_hint(format!("the schemas are: {}", schemas.join(", "))),
            };
            return Err(failure.into());
        }
    }
    let by_oid = |oid: u32| relations.iter().find(|r| r.oid == oid);
    let with_descendants = |r: &Relation| -> Vec<u32> {
        let mut all = vec![r.oid];
        all.extend(&r.descendants);
        all
    };

    let mut picked: Vec<u32> = Vec::new();
    if !selection.tables.is_empty() {
        for wanted in &selection.tables {
            let matched: Vec<&Relation> = relations.iter().filter(|r| r.matches(wanted)).collect();
            if matched.is_empty() {
                return Err(no_such_table(wanted, relations, "to back up").into());
            }
            for r in matched {
                picked.extend(with_descendants(r));
            }
        }
    } else {
        picked.extend(
            relations
                .iter()
                .filter(|r| selection.schemas.is_empty() || selection.schemas.contains(&r.schema))
                .map(|r| r.oid),
        );
    }
    let mut excluded: HashSet<u32> = HashSet::new();
    for unwanted in &selection.exclude_tables {
        let matched: Vec<&Relation> = relations.iter().filter(|r| r.matches(unwanted)).collect();
        if matched.is_empty() {
            return Err(no_such_table(unwanted, relations, "to leave out").into());
        }
        for r in matched {
            excluded.extend(with_descendants(r));
        }
    }
    let mut seen = HashSet::new();
    picked.retain(|oid| !excluded.contains(oid) && seen.insert(*oid));

    let mut chosen = Chosen::default();
    for oid in &picked {
        let r = by_oid(*oid).expect("picked from the relations");
        if !r.partitioned {
            chosen.tables.push(Table {
                schema: r.schema.clone(),
                name: r.name.clone(),
                oid: r.oid,
                estimated_bytes: r.estimated_bytes,
                estimated_rows: r.estimated_rows,
                columns: Vec::new(),
            });
            chosen.partition_of.push(r.ancestors.clone());
        }
    }
    if !selection.tables.is_empty() {
        for oid in &picked {
            let r = by_oid(*oid).expect("picked from the relations");
            chosen
                .dump_filter
                .push(format!("--table={}", exact_pattern(&r.schema, &r.name)));
        }
    } else {
        for schema in &selection.schemas {
            chosen
                .dump_filter
                .push(format!("--schema={}", exact_name(schema)));
        }
        for r in relations.iter().filter(|r| excluded.contains(&r.oid)) {
            chosen.dump_filter.push(format!(
                "--exclude-table={}",
                exact_pattern(&r.schema, &r.name)
            ));
        }
    }
    Ok(chosen)
}

fn no_such_table(pattern: &str, relations: &[Relation], what: &str) -> Failure {
    let failure = Failure::usage(format!("there is no table \"{pattern}\" {what}"));
    let lower = pattern.to_lowercase();
    match relations
        .iter()
        .find(|r| r.name.to_lowercase() == lower || r.qualified_name().to_lowercase() == lower)
    {
        Some(other) => failure.with_hint(format!(
            "table names are case-sensitive: did you mean \"{}\"?",
            other.qualified_name()
        )),
        None => {
            failure.with_hint("name a table as NAME or SCHEMA.NAME (`\\dt *.*` in psql lists them)")
        }
    }
}

/// A name as a pg_dump pattern that matches exactly it: inside double quotes, pattern
/// characters (`*`, `?`, `.`) are literal; a double quote is doubled.
fn exact_name(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn exact_pattern(schema: &str, name: &str) -> String {
    format!("{}.{}", exact_name(schema), exact_name(name))
}

/// pg_dump leaves large objects out of a narrowed dump and puts them in a whole one; palmdb
/// backs up tables only, so a whole-database backup of a database with large objects would
/// silently lose them: refused instead.
async fn refuse_large_objects(client: &Client) -> Result<()> {
    let count: i64 = client
        .query_one(
            "SELECT count(*) AS large_objects FROM pg_catalog.pg_largeobject_metadata",
            &[],
        )
        .await
        .context("cannot count the large objects")?
        .get("large_objects");
    if count == 0 {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "the database holds {count} large object(s) (pg_largeobject), which palmdb backups \
         do not hold: a whole-database backup would silently lose them"
    ))
    .with_hint(
        "back them up with pg_dump, or name what to back up with --schema / --table (which, \
         as with pg_dump, leaves large objects out)",
    )
    .into())
}

/// A warning for each foreign key from a chosen table to a table left out.
async fn left_out_references(client: &Client, chosen: &[u32]) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT cn.nspname || '.' || c.relname AS child,
                    pn.nspname || '.' || p.relname AS parent,
                    con.conname::text AS constraint_name
             FROM pg_catalog.pg_constraint AS con
             JOIN pg_catalog.pg_class AS c ON c.oid = con.conrelid
             JOIN pg_catalog.pg_namespace AS cn ON cn.oid = c.relnamespace
             JOIN pg_catalog.pg_class AS p ON p.oid = con.confrelid
             JOIN pg_catalog.pg_namespace AS pn ON pn.oid = p.relnamespace
             WHERE con.contype = 'f'
               AND con.conparentid = 0
               AND con.conrelid = ANY($1)
               AND NOT con.confrelid = ANY($1)
             ORDER BY 1, 2, 3",
            &[&chosen],
        )
        .await
        .context("cannot read the foreign keys")?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "table {} references {} (foreign key {}), which is not in the backup: \
                 restoring it needs that table's rows already there",
                r.get::<_, String>("child"),
                r.get::<_, String>("parent"),
                r.get::<_, String>("constraint_name")
            )
        })
        .collect())
}

/// The sequences that go with the backup: every sequence of the chosen schemas; with
/// `--table`, those owned by the chosen tables or used by their defaults.
async fn sequences(
    client: &Client,
    selection: &Selection,
    schemas: &[String],
    tables: &[u32],
) -> Result<Vec<u32>> {
    let rows = if selection.tables.is_empty() {
        client
            .query(
                "SELECT s.oid AS sequence_oid
                 FROM pg_catalog.pg_class AS s
                 JOIN pg_catalog.pg_namespace AS n ON n.oid = s.relnamespace
                 WHERE s.relkind = 'S'
                   AND n.nspname = ANY($1)
                   AND NOT EXISTS (
                       SELECT 1
                       FROM pg_catalog.pg_depend AS d
                       WHERE d.classid = 'pg_catalog.pg_class'::regclass
                         AND d.objid = s.oid
                         AND d.deptype = 'e')
                 ORDER BY s.oid",
                &[&schemas],
            )
            .await
    } else {
        // Owned: pg_depend from the sequence to its column ('a' serial, 'i' identity).
        // Used by a default: pg_depend from the column's pg_attrdef to the sequence.
        client
            .query(
                "SELECT DISTINCT s.oid AS sequence_oid
                 FROM pg_catalog.pg_class AS s
                 WHERE s.relkind = 'S'
                   AND (EXISTS (
                           SELECT 1
                           FROM pg_catalog.pg_depend AS d
                           WHERE d.classid = 'pg_catalog.pg_class'::regclass
                             AND d.objid = s.oid
                             AND d.refclassid = 'pg_catalog.pg_class'::regclass
                             AND d.refobjid = ANY($1)
                             AND d.deptype IN ('a', 'i'))
                        OR EXISTS (
                           SELECT 1
                           FROM pg_catalog.pg_depend AS d
                           JOIN pg_catalog.pg_attrdef AS ad ON ad.oid = d.objid
                           WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass
                             AND d.refclassid = 'pg_catalog.pg_class'::regclass
                             AND d.refobjid = s.oid
                             AND ad.adrelid = ANY($1)))
                 ORDER BY s.oid",
                &[&tables],
            )
            .await
    }
    .context("cannot list the sequences")?;
    Ok(rows.iter().map(|r| r.get("sequence_oid")).collect())
}

async fn sequence_names(client: &Client, oids: &[u32]) -> Result<Vec<RelationName>> {
    let rows = client
        .query(
            "SELECT n.nspname::text AS schema_name, s.relname::text AS sequence_name
             FROM pg_catalog.pg_class AS s
             JOIN pg_catalog.pg_namespace AS n ON n.oid = s.relnamespace
             WHERE s.oid = ANY($1)
             ORDER BY 1, 2",
            &[&oids],
        )
        .await
        .context("cannot list the sequences")?;
    Ok(rows
        .iter()
        .map(|r| RelationName {
            schema: r.get("schema_name"),
            name: r.get("sequence_name"),
        })
        .collect())
}

/// Materialized views of the chosen schemas that hold rows, in creation order (a view built
/// on another is created after it).
async fn populated_materialized_views(
    client: &Client,
    schemas: &[String],
) -> Result<Vec<RelationName>> {
    let rows = client
        .query(
            "SELECT n.nspname::text AS schema_name, c.relname::text AS view_name
             FROM pg_catalog.pg_class AS c
             JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
             WHERE c.relkind = 'm'
               AND c.relispopulated
               AND n.nspname = ANY($1)
             ORDER BY c.oid",
            &[&schemas],
        )
        .await
        .context("cannot list the materialized views")?;
    Ok(rows
        .iter()
        .map(|r| RelationName {
            schema: r.get("schema_name"),
            name: r.get("view_name"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation(oid: u32, schema: &str, name: &str) -> Relation {
        Relation {
            oid,
            schema: schema.into(),
            name: name.into(),
            partitioned: false,
            descendants: vec![],
            ancestors: vec![],
            estimated_bytes: 0,
            estimated_rows: 0,
        }
    }

    fn catalog() -> (Vec<Relation>, Vec<String>) {
        let mut events = relation(10, "archive", "events");
        events.partitioned = true;
        events.descendants = vec![11, 12, 13];
        let mut y2025 = relation(11, "archive", "events_2025");
        y2025.partitioned = true;
        y2025.descendants = vec![12];
        let mut click = relation(12, "archive", "events_2025_click");
        click.ancestors = vec![
            RelationName {
                schema: "archive".into(),
                name: "events_2025".into(),
            },
            RelationName {
                schema: "archive".into(),
                name: "events".into(),
            },
        ];
        let y2026 = relation(13, "archive", "events_2026");
        let relations = vec![
            events,
            y2025,
            click,
            y2026,
            relation(1, "public", "users"),
            relation(2, "public", "orders"),
            relation(3, "Shop", "users"),
            relation(4, "palmdb", "daily_revenue"),
        ];
        let schemas = ["archive", "palmdb", "public", "Shop"]
            .map(String::from)
            .to_vec();
        (relations, schemas)
    }

    fn names(chosen: &Chosen) -> Vec<String> {
        chosen
            .tables
            .iter()
            .map(|t| format!("{}.{}", t.schema, t.name))
            .collect()
    }

    #[test]
    fn the_default_is_every_table_of_every_schema() {
        let (relations, schemas) = catalog();
        let chosen = choose(&relations, &schemas, &Selection::default()).unwrap();
        assert_eq!(
            names(&chosen),
            [
                "archive.events_2025_click",
                "archive.events_2026",
                "public.users",
                "public.orders",
                "Shop.users",
                "palmdb.daily_revenue"
            ]
        );
        assert!(chosen.dump_filter.is_empty());
        assert_eq!(chosen.partition_of[0].len(), 2);
    }

    #[test]
    fn a_partitioned_table_brings_its_partitions_and_names_match_exactly() {
        let (relations, schemas) = catalog();
        let chosen = choose(
            &relations,
            &schemas,
            &Selection {
                tables: vec!["archive.events".into(), "Shop.users".into()],
                ..Selection::default()
            },
        )
        .unwrap();
        assert_eq!(
            names(&chosen),
            [
                "archive.events_2025_click",
                "archive.events_2026",
                "Shop.users"
            ]
        );
        assert!(chosen
            .dump_filter
            .contains(&"--table=\"archive\".\"events_2025\"".to_string()));
        assert!(chosen
            .dump_filter
            .contains(&"--table=\"Shop\".\"users\"".to_string()));
    }

    #[test]
    fn excluding_a_partitioned_table_leaves_its_partitions_out() {
        let (relations, schemas) = catalog();
        let chosen = choose(
            &relations,
            &schemas,
            &Selection {
                schemas: vec!["archive".into()],
                exclude_tables: vec!["events_2025".into()],
                ..Selection::default()
            },
        )
        .unwrap();
        assert_eq!(names(&chosen), ["archive.events_2026"]);
        assert_eq!(
            chosen.dump_filter,
            [
                "--schema=\"archive\"",
                "--exclude-table=\"archive\".\"events_2025\"",
                "--exclude-table=\"archive\".\"events_2025_click\""
            ]
        );
    }

    #[test]
    fn names_that_match_nothing_are_errors_with_a_hint() {
        let (relations, schemas) = catalog();
        let err = |selection: Selection| {
            let err = choose(&relations, &schemas, &selection).unwrap_err();
            let failure = crate::error::failure_of(&err).unwrap();
            format!(
                "{} / {}",
                failure.message,
                failure.hint.clone().unwrap_or_default()
            )
        };
        let text = err(Selection {
            schemas: vec!["no_such_schema".into()],
            ..Selection::default()
        });
        assert!(text.contains("no schema \"no_such_schema\""), "{text}");
        let text = err(Selection {
            schemas: vec!["shop".into()],
            ..Selection::default()
        });
        assert!(text.contains("did you mean --schema \"Shop\""), "{text}");
        let text = err(Selection {
            tables: vec!["nope".into()],
            ..Selection::default()
        });
        assert!(text.contains("no table \"nope\" to back up"), "{text}");
        let text = err(Selection {
            exclude_tables: vec!["Users".into()],
            ..Selection::default()
        });
        assert!(text.contains("no table \"Users\" to leave out"), "{text}");
        assert!(text.contains("case-sensitive"), "{text}");
    }

    #[test]
    fn patterns_quote_what_pg_dump_would_read_as_wildcards() {
        assert_eq!(exact_pattern("a.b", "x*\"y"), "\"a.b\".\"x*\"\"y\"");
    }
}
