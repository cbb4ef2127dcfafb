//! The stored schema's post-data part cut into units that several connections can run at
//! once (`restore --create-database --jobs N`).
//!
//! A unit is one archive entry: an index with its `CLUSTER ON` or `REPLICA IDENTITY`, a
//! primary key, a foreign key. pg_restore's script sets session settings (`search_path`,
//! `default_tablespace`) as it goes, and each statement counts on those made before it; so
//! every unit carries the settings in force where it stood in the script, and runs them first
//! in its own transaction. Indexes and key constraints come first, then foreign keys (which
//! need the keys they reference); everything else (triggers, policies, index attachments,
//! comments, grants) stays in the script's order for the final transaction.

use super::schema::SchemaStatement;

/// When a unit may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Indexes, primary keys, unique and exclusion constraints: each reads one table.
    Keys,
    /// Foreign keys: they need the referenced table's key.
    ForeignKeys,
    /// In the script's order, in the final transaction.
    Last,
}

impl Stage {
    fn of(kind: &str) -> Stage {
        match kind {
            "INDEX" | "CONSTRAINT" => Stage::Keys,
            "FK CONSTRAINT" => Stage::ForeignKeys,
            _ => Stage::Last,
        }
    }
}

/// One archive entry's statements, after the settings it runs under.
#[derive(Debug, Clone)]
pub struct Unit {
    pub stage: Stage,
    /// The entry, for messages (`INDEX public.users_email_key`).
    pub what: String,
    /// Settings in force at the entry (transaction-local forms), then its statements.
    pub statements: Vec<String>,
    /// How many of `statements` are the settings.
    pub settings: usize,
}

/// The name a settings statement sets, if it is one (`SET LOCAL search_path = ''`,
/// `SELECT pg_catalog.set_config('search_path', '', true)`).
fn setting_name(sql: &str) -> Option<&str> {
    if let Some(rest) = sql.strip_prefix("SET LOCAL ") {
        let rest = rest.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        return Some(&rest[..end]);
    }
    sql.strip_prefix("SELECT pg_catalog.set_config('")
        .and_then(|rest| rest.split_once('\''))
        .map(|(name, _)| name)
}

/// Cuts `post_data` into units, in the script's order.
pub fn units(post_data: &[SchemaStatement]) -> Vec<Unit> {
    // The latest statement for each setting, in the order first set.
    let mut in_force: Vec<(String, String)> = Vec::new();
    let mut units: Vec<Unit> = Vec::new();
    for statement in post_data {
        if let Some(name) = setting_name(&statement.sql) {
            match in_force.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = statement.sql.clone(),
                None => in_force.push((name.to_string(), statement.sql.clone())),
            }
            // A setting inside an entry applies to the rest of it, too.
            if let Some(open) = units.last_mut().filter(|u| u.what == statement.what) {
                open.statements.push(statement.sql.clone());
            }
            continue;
        }
        match units.last_mut().filter(|u| u.what == statement.what) {
            Some(open) => open.statements.push(statement.sql.clone()),
            None => {
                let mut statements: Vec<String> =
                    in_force.iter().map(|(_, sql)| sql.clone()).collect();
                let settings = statements.len();
                statements.push(statement.sql.clone());
                units.push(Unit {
                    stage: Stage::of(&statement.kind),
                    what: statement.what.clone(),
                    statements,
                    settings,
                });
            }
        }
    }
    units
}

/// The table a key-stage unit builds on (`CREATE INDEX ... ON [ONLY] s.t`, `ALTER TABLE
/// [ONLY] s.t ADD CONSTRAINT`), as (schema, name), read by PostgreSQL's own parser; `None`
/// when the statement is anything else or names no schema (the unit then waits for every
/// table).
pub fn table_of(unit: &Unit) -> Option<(String, String)> {
    use pg_query::protobuf::node::Node;
    let sql = unit.statements.get(unit.settings)?;
    let parsed = pg_query::parse(sql, 0).ok()?;
    let statement = parsed.protobuf.stmts.first()?.stmt.as_ref()?;
    let relation = match statement.node.as_ref()? {
        Node::IndexStmt(index) => index.relation.as_ref()?,
        Node::AlterTableStmt(alter) => alter.relation.as_ref()?,
        _ => return None,
    };
    (!relation.schemaname.is_empty())
        .then(|| (relation.schemaname.clone(), relation.relname.clone()))
}

/// The statements of `post_data` that belong to the last stage, with every settings
/// statement kept in place: the final transaction runs them in the script's order.
pub fn last_stage(post_data: &[SchemaStatement]) -> Vec<SchemaStatement> {
    post_data
        .iter()
        .filter(|s| setting_name(&s.sql).is_some() || Stage::of(&s.kind) == Stage::Last)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(kind: &str, what: &str, sql: &str) -> SchemaStatement {
        SchemaStatement {
            sql: sql.to_string(),
            what: what.to_string(),
            kind: kind.to_string(),
        }
    }

    fn script() -> Vec<SchemaStatement> {
        vec![
            statement(
                "",
                "preamble",
                "SELECT pg_catalog.set_config('search_path', '', true)",
            ),
            statement("", "preamble", "SET LOCAL check_function_bodies = false"),
            statement(
                "INDEX",
                "INDEX public.a_idx",
                "CREATE INDEX a_idx ON public.a (x)",
            ),
            statement(
                "INDEX",
                "INDEX public.a_idx",
                "ALTER TABLE public.a CLUSTER ON a_idx",
            ),
            statement("INDEX", "INDEX public.a_idx", "SET LOCAL default_tablespace = ''"),
            statement(
                "CONSTRAINT",
                "CONSTRAINT public.b b_pkey",
                "ALTER TABLE ONLY public.b ADD CONSTRAINT b_pkey PRIMARY KEY (id)",
            ),
            statement(
                "TRIGGER",
                "TRIGGER public.b t",
                "CREATE TRIGGER t AFTER INSERT ON public.b EXECUTE FUNCTION public.f()",
            ),
            statement(
                "FK CONSTRAINT",
                "FK CONSTRAINT public.a a_b_fkey",
                "ALTER TABLE ONLY public.a ADD CONSTRAINT a_b_fkey FOREIGN KEY (b) REFERENCES public.b(id)",
            ),
        ]
    }

    #[test]
    fn an_entry_is_one_unit_after_the_settings_in_force_where_it_stood() {
        let units = units(&script());
        let whats: Vec<(&str, Stage)> = units.iter().map(|u| (u.what.as_str(), u.stage)).collect();
        assert_eq!(
            whats,
            vec![
                ("INDEX public.a_idx", Stage::Keys),
                ("CONSTRAINT public.b b_pkey", Stage::Keys),
                ("TRIGGER public.b t", Stage::Last),
                ("FK CONSTRAINT public.a a_b_fkey", Stage::ForeignKeys),
            ]
        );
        // The index and its CLUSTER ON stay together, in order, after both settings.
        assert_eq!(units[0].settings, 2);
        assert_eq!(
            &units[0].statements[units[0].settings..],
            [
                "CREATE INDEX a_idx ON public.a (x)",
                "ALTER TABLE public.a CLUSTER ON a_idx",
                "SET LOCAL default_tablespace = ''",
            ]
        );
        // A setting made inside the index entry is in force for the entries after it.
        assert_eq!(units[1].settings, 3);
        assert_eq!(units[1].statements[2], "SET LOCAL default_tablespace = ''");
    }

    #[test]
    fn a_setting_set_twice_is_carried_once_with_its_latest_value() {
        let mut script = script();
        script.insert(
            5,
            statement(
                "",
                "x",
                "SELECT pg_catalog.set_config('search_path', 'app', true)",
            ),
        );
        let units = units(&script);
        let constraint = &units[1];
        assert_eq!(constraint.settings, 3);
        assert_eq!(
            constraint.statements[0],
            "SELECT pg_catalog.set_config('search_path', 'app', true)"
        );
    }

    #[test]
    fn a_key_unit_names_the_table_it_builds_on() {
        let unit = |sql: &str| Unit {
            stage: Stage::Keys,
            what: "x".into(),
            statements: vec!["SET LOCAL a = 1".into(), sql.into()],
            settings: 1,
        };
        let table = |sql: &str| table_of(&unit(sql));
        let named = |s: &str, n: &str| Some((s.to_string(), n.to_string()));
        assert_eq!(
            table("CREATE INDEX a_idx ON public.a USING btree (x)"),
            named("public", "a")
        );
        assert_eq!(
            table("CREATE UNIQUE INDEX \"Odd \"\"ix\" ON ONLY \"Odd Schema\".\"big \"\"one\"\"\" USING btree (x)"),
            named("Odd Schema", "big \"one\"")
        );
        assert_eq!(
            table("ALTER TABLE ONLY shop.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (no)"),
            named("shop", "orders")
        );
        assert_eq!(
            table("ALTER TABLE \"ÄÖ\".t ADD CONSTRAINT k UNIQUE (x)"),
            named("ÄÖ", "t")
        );
        assert_eq!(table("CREATE INDEX a_idx ON a USING btree (x)"), None);
        assert_eq!(table("COMMENT ON INDEX public.a_idx IS 'x'"), None);
        assert_eq!(table("CREATE INDEX \"unterminated ON public.a (x)"), None);
    }

    #[test]
    fn the_last_stage_keeps_every_setting_and_drops_what_ran_before() {
        let last = last_stage(&script());
        let sql: Vec<&str> = last.iter().map(|s| s.sql.as_str()).collect();
        assert_eq!(
            sql,
            vec![
                "SELECT pg_catalog.set_config('search_path', '', true)",
                "SET LOCAL check_function_bodies = false",
                "SET LOCAL default_tablespace = ''",
                "CREATE TRIGGER t AFTER INSERT ON public.b EXECUTE FUNCTION public.f()",
            ]
        );
    }
}
