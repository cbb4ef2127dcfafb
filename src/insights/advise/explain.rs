//! The planner's estimate for a statement as pg_stat_statements recorded it, with its
//! constants replaced by `$1`, `$2`...
//!
//! - PostgreSQL 16 and later plan it as it is: `EXPLAIN (GENERIC_PLAN)` plans a statement with
//!   parameters, as a prepared statement's generic plan.
//! - Before 16 each parameter takes a typical value of the column it is compared with, from
//!   pg_stats (`palmdb.column_sample`); LIMIT takes [`SAMPLE_LIMIT`] and OFFSET 0. The values
//!   are written as quoted literals of unknown type, as the application's constants were, so
//!   PostgreSQL gives them the column's type. A parameter with no such column (an interval
//!   added to now(), an array) has no sample, and the statement is skipped with that reason.
//!
//! Parameters are found with PostgreSQL's own scanner (libpg_query), never by pattern
//! matching, so a `$1` inside a string literal or a comment is left alone.

use std::collections::HashMap;

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use super::resolve::{Catalog, ParamValue};
use super::statement::Bound;
use crate::sql_quote::quote_literal;

/// The row count a LIMIT parameter stands for when planning with sample values.
pub const SAMPLE_LIMIT: &str = "100";

/// How statements with parameters are planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PlanMode {
    /// `EXPLAIN (GENERIC_PLAN)`: PostgreSQL 16 and later.
    Generic,
    /// Parameters replaced by typical values from pg_stats: any version.
    Samples,
}

impl PlanMode {
    /// The mode a server supports best.
    pub fn for_server(version_num: i32) -> PlanMode {
        if version_num >= 160000 {
            PlanMode::Generic
        } else {
            PlanMode::Samples
        }
    }
}

/// What the planner said: the estimated total cost, and the indexes the plan scans.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub cost: f64,
    pub indexes: Vec<String>,
}

/// The SQL each parameter is planned with (a quoted literal, or NULL). A column an existing
/// partial index is built for takes that index's constant (in both modes: see `partial`);
/// otherwise, with samples, a value of the column from pg_stats (typical for `=`, at a third
/// of its order for `<` and at two thirds for `>`, the share of rows a generic plan assumes
/// for an inequality); a generic plan keeps the other parameters.
pub async fn values(
    client: &Client,
    catalog: &mut Catalog,
    mode: PlanMode,
    params: &[(i32, ParamValue)],
    cache: &mut HashMap<(u32, String, Bound), Option<String>>,
) -> Result<HashMap<i32, String>> {
    let samples = mode == PlanMode::Samples;
    let mut values = HashMap::new();
    for (number, value) in params {
        let chosen = match value {
            ParamValue::Column {
                table_oid,
                column,
                bound,
            } => {
                let pinned = match bound {
                    Bound::Equal => catalog.partial_constant(client, *table_oid, column).await?,
                    _ => None,
                };
                match pinned {
                    Some(constant) => Some(quote_literal(&constant)),
                    None if samples => {
                        let key = (*table_oid, column.clone(), *bound);
                        if !cache.contains_key(&key) {
                            let quantile = match bound {
                                Bound::Equal => None,
                                Bound::Upper => Some(1.0 / 3.0),
                                Bound::Lower => Some(2.0 / 3.0),
                            };
                            let row = client
                                .query_one(
                                    "SELECT palmdb.column_sample($1::oid::regclass, $2::text::name, $3) AS sample",
                                    &[table_oid, column, &quantile],
                                )
                                .await?;
                            cache.insert(key.clone(), row.get("sample"));
                        }
                        cache[&key].as_deref().map(quote_literal)
                    }
                    None => None,
                }
            }
            ParamValue::Limit if samples => Some(quote_literal(SAMPLE_LIMIT)),
            ParamValue::Offset if samples => Some(quote_literal("0")),
            ParamValue::Output if samples => Some("NULL".to_string()),
            _ => None,
        };
        if let Some(v) = chosen {
            values.insert(*number, v);
        }
    }
    Ok(values)
}

/// The EXPLAIN statement for `sql` in `mode`; with samples, every parameter must have one.
pub fn explain_sql(
    mode: PlanMode,
    sql: &str,
    samples: &HashMap<i32, String>,
) -> Result<String, String> {
    match mode {
        PlanMode::Generic => Ok(format!(
            "EXPLAIN (GENERIC_PLAN, FORMAT JSON) {}",
            substitute(sql, samples, false)?
        )),
        PlanMode::Samples => Ok(format!(
            "EXPLAIN (FORMAT JSON) {}",
            substitute(sql, samples, true)?
        )),
    }
}

/// `sql` with each `$n` that has a value replaced by it (SQL text); a parameter
/// without one is an error when `all` are needed, else left as it is.
pub fn substitute(sql: &str, samples: &HashMap<i32, String>, all: bool) -> Result<String, String> {
    let tokens = pg_query::scan_tokens(sql).map_err(|e| format!("cannot be scanned: {e}"))?;
    let mut out = String::with_capacity(sql.len() + 64);
    let mut copied = 0;
    for token in tokens {
        if token.token != pg_query::protobuf::Token::Param as i32 {
            continue;
        }
        let (start, end) = (token.start as usize, token.end as usize);
        let Some(number) = sql
            .get(start..end)
            .and_then(|t| t.strip_prefix('$'))
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Some(value) = samples.get(&number) else {
            if !all {
                continue;
            }
            return Err(format!(
                "has no sample value for ${number} (it is not compared with a column that has statistics)"
            ));
        };
        out.push_str(&sql[copied..start]);
        out.push_str(value);
        copied = end;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// Runs an EXPLAIN (FORMAT JSON) and reads its cost and the indexes it uses.
pub async fn plan(client: &Client, explain: &str) -> Result<Plan> {
    let row = client.query_one(explain, &[]).await?;
    let json: serde_json::Value = row.get(0);
    read_plan(&json).ok_or_else(|| anyhow::anyhow!("EXPLAIN returned no plan"))
}

/// The top node's total cost and every "Index Name" in the tree.
pub fn read_plan(json: &serde_json::Value) -> Option<Plan> {
    let top = json.get(0)?.get("Plan")?;
    let cost = top.get("Total Cost")?.as_f64()?;
    let mut indexes = Vec::new();
    collect_indexes(top, &mut indexes);
    Some(Plan { cost, indexes })
}

fn collect_indexes(node: &serde_json::Value, out: &mut Vec<String>) {
    if let Some(name) = node.get("Index Name").and_then(|n| n.as_str()) {
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    for child in node
        .get("Plans")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
    {
        collect_indexes(child, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_replaced_but_not_inside_strings_or_comments() {
        let samples = HashMap::from([(1, "'it''s'".to_string()), (2, "'20'".to_string())]);
        let sql = "SELECT '$1' AS x /* $2 */ FROM t WHERE a = $1 AND b < $2::int LIMIT $2";
        assert_eq!(
            substitute(sql, &samples, true).unwrap(),
            "SELECT '$1' AS x /* $2 */ FROM t WHERE a = 'it''s' AND b < '20'::int LIMIT '20'"
        );
        let missing =
            substitute("SELECT * FROM t WHERE a > now() - $3", &samples, true).unwrap_err();
        assert!(missing.contains("$3"), "{missing}");
        // A generic plan keeps the parameters that have no value.
        assert_eq!(
            substitute("SELECT * FROM t WHERE a = $1 AND b > $3", &samples, false).unwrap(),
            "SELECT * FROM t WHERE a = 'it''s' AND b > $3"
        );
    }

    #[test]
    fn generic_plans_keep_the_parameters() {
        let sql = explain_sql(
            PlanMode::Generic,
            "SELECT * FROM t WHERE a = $1",
            &HashMap::new(),
        );
        assert_eq!(
            sql.unwrap(),
            "EXPLAIN (GENERIC_PLAN, FORMAT JSON) SELECT * FROM t WHERE a = $1"
        );
        assert_eq!(PlanMode::for_server(160004), PlanMode::Generic);
        assert_eq!(PlanMode::for_server(150020), PlanMode::Samples);
    }

    #[test]
    fn the_cost_and_every_index_of_a_plan_are_read() {
        let json = serde_json::json!([{"Plan": {
            "Node Type": "Nested Loop", "Total Cost": 42.5,
            "Plans": [
                {"Node Type": "Index Scan", "Index Name": "a_idx", "Total Cost": 1.0},
                {"Node Type": "Bitmap Heap Scan", "Total Cost": 2.0, "Plans": [
                    {"Node Type": "Bitmap Index Scan", "Index Name": "<1234>btree_t_b", "Total Cost": 1.0}
                ]}
            ]
        }}]);
        assert_eq!(
            read_plan(&json).unwrap(),
            Plan {
                cost: 42.5,
                indexes: vec!["a_idx".into(), "<1234>btree_t_b".into()]
            }
        );
    }
}
