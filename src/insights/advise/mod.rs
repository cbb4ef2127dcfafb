//! `palmdb advise`: indexes proven by the planner, not guessed (Dexter's method).
//!
//! read the top statements → parse each with PostgreSQL's parser → resolve its tables and
//! columns → plan it as it is → drop candidates an existing index already covers (the
//! duplicate_indexes rule) → plan it again with each candidate as a hypothetical index
//! (HypoPG: nothing is built, nothing is locked) → keep a candidate only where the plan uses it
//! and its cost falls by at least the threshold → fold a candidate into a longer one that
//! serves the same statements as well.
//!
//! Everything runs in one session, inside a READ ONLY transaction that is rolled back; the
//! hypothetical indexes live in the session's memory and are reset at the end.

pub mod candidates;
pub mod explain;
pub mod migration;
pub mod partial;
pub mod redundancy;
pub mod report;
pub mod resolve;
pub mod statement;

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::Client;

use super::prerequisites;
use explain::{Plan, PlanMode};
use resolve::{Catalog, Resolved};

/// How many of the most expensive statements (by total time) are examined: SELECT, UPDATE
/// and DELETE statements on the application's tables, found among the [`STATEMENTS_READ`]
/// most expensive statements of any kind (utility statements, catalog queries and palmdb's
/// own are passed over and only counted).
pub const STATEMENTS_EXAMINED: usize = 100;
pub const STATEMENTS_READ: i32 = 1000;

#[derive(Debug, Clone)]
pub struct AdviseOptions {
    /// The share by which a statement's estimated cost must fall, 0.0 to 1.0.
    pub min_improvement: f64,
    /// Statements cheaper than this (planner cost units) are left alone: a lookup in a small
    /// table is as fast as it gets, and an index would only cost writes.
    pub min_cost: f64,
    /// Generic plans (16+) or sample values; `None` picks what the server supports.
    pub plans: Option<PlanMode>,
}

/// One index worth building, and what it buys.
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    pub table: String,
    pub columns: Vec<String>,
    pub index_name: String,
    /// The statement to run (or to put in a migration), as text.
    pub create_index: String,
    /// HypoPG's estimate of the index's size on disk.
    pub estimated_bytes: i64,
    /// Existing indexes whose key is a prefix of this one's: redundant once it is built
    /// (palmdb.duplicate_indexes will list them).
    pub makes_redundant: Vec<String>,
    pub statements: Vec<Served>,
}

/// A statement an advice serves, with the planner's cost before and after.
#[derive(Debug, Clone, Serialize)]
pub struct Served {
    pub query_id: i64,
    pub calls: i64,
    pub cost_before: f64,
    pub cost_after: f64,
    /// 1 - after / before.
    pub improvement: f64,
    pub query: String,
}

/// What became of each statement examined.
#[derive(Debug, Clone, Serialize)]
pub struct Examined {
    pub query_id: i64,
    pub calls: i64,
    pub query: String,
    /// advised; served (already cheap, or no candidate lowers its cost enough);
    /// no_candidates (it filters, joins and sorts on no plain column);
    /// skipped (it could not be read or planned: the reason says why).
    pub verdict: Verdict,
    /// The plan's cost as it is, when it could be planned.
    pub cost: Option<f64>,
    /// The best a single candidate did, when one was tried and used.
    pub best_improvement: Option<f64>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Advised,
    Served,
    NoCandidates,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdviceReport {
    pub min_improvement: f64,
    pub min_cost: f64,
    pub plans: PlanMode,
    pub server_version_num: i32,
    pub advice: Vec<Advice>,
    pub statements: Vec<Examined>,
    /// Statements passed over: not a SELECT, UPDATE or DELETE, or on no application table.
    pub other_statements: usize,
}

/// A statement that could be planned, with what it asks of which tables.
struct Planned {
    index: usize,
    resolved: Resolved,
    explain: String,
    base: Plan,
}

/// A candidate index: the table and its key.
#[derive(Debug, Clone, PartialEq)]
struct Candidate {
    table_oid: u32,
    columns: Vec<String>,
}

/// What one candidate did for one statement.
#[derive(Debug, Clone, Copy)]
struct Trial {
    cost: f64,
    used: bool,
}

/// `palmdb advise`: the advice, and with `write_migration` (the migrations folder) a
/// migration holding it.
pub async fn run(
    settings: &crate::connect::ConnectSettings,
    options: &AdviseOptions,
    write_migration: Option<&std::path::Path>,
    format: crate::ui::Format,
) -> Result<crate::error::ExitCode> {
    let client = settings
        .with_application_name("palmdb advise")
        .connect()
        .await?;
    if let Some(dir) = write_migration {
        // Before the work: a missing folder is found now, not after.
        migration::next_version(dir)?;
    }
    let report = advise(&client, options).await?;
    let written = match write_migration {
        Some(dir) if !report.advice.is_empty() => Some(migration::write(dir, &report.advice)?),
        _ => None,
    };
    crate::ui::emit(
        &AdviseOutcome {
            report,
            asked_to_write: write_migration.is_some(),
            written,
        },
        format,
    )
}

/// The advice and the migration written from it, if any: what `advise` prints.
pub struct AdviseOutcome {
    pub report: AdviceReport,
    pub asked_to_write: bool,
    pub written: Option<std::path::PathBuf>,
}

impl serde::Serialize for AdviseOutcome {
    /// The report's fields and `migration`: the file written, or null.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut json = serde_json::to_value(&self.report).map_err(serde::ser::Error::custom)?;
        json["migration"] = serde_json::json!(self.written);
        json.serialize(serializer)
    }
}

impl crate::ui::Report for AdviseOutcome {
    fn render_text(&self) -> String {
        let mut text = crate::ui::Report::render_text(&self.report);
        match &self.written {
            Some(path) => text.push_str(&format!(
                "\nwrote {} (apply it with palmdb migrate)\n",
                path.display()
            )),
            None if self.asked_to_write => text.push_str("\nno migration written: no advice\n"),
            None => {}
        }
        text
    }
}

pub async fn advise(client: &Client, options: &AdviseOptions) -> Result<AdviceReport> {
    prerequisites::require_pg_stat_statements(client).await?;
    prerequisites::require_hypopg(client).await?;
    let server_version_num: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await?
        .get(0);
    let mode = options
        .plans
        .unwrap_or_else(|| PlanMode::for_server(server_version_num));
    if mode == PlanMode::Generic && server_version_num < 160000 {
        return Err(crate::error::Failure::usage(format!(
            "generic plans need PostgreSQL 16 or later; this server is {}",
            server_version_num / 10000
        ))
        .with_hint("use --plans samples (the default on this server)")
        .into());
    }
    let top = super::queries::top_queries(client, super::queries::OrderBy::Total, STATEMENTS_READ)
        .await?
        .statements;

    // Read only: EXPLAIN never runs a statement, and this makes sure of it.
    client
        .batch_execute(
            "BEGIN READ ONLY; SET LOCAL statement_timeout = '30s'; SELECT hypopg_reset()",
        )
        .await?;
    let outcome = plan_everything(client, options, mode, &top).await;
    let _ = client
        .batch_execute("SELECT hypopg_reset(); ROLLBACK")
        .await;
    let (mut examined, other_statements, planned, catalog, candidates, trials, sizes) = outcome?;

    // Candidates an existing index already covers are never advised; outside the read-only
    // transaction, since the check builds (and rolls back) a scratch copy of the table.
    let mut coverage = Vec::new();
    for oid in distinct(candidates.iter().map(|c| c.table_oid)) {
        let table = catalog
            .table_by_oid(oid)
            .context("a candidate's table vanished")?;
        let keys: Vec<Vec<String>> = candidates
            .iter()
            .filter(|c| c.table_oid == oid)
            .map(|c| c.columns.clone())
            .collect();
        let found = redundancy::check(client, table, &keys).await?;
        coverage.extend(keys.into_iter().zip(found).map(|(k, f)| ((oid, k), f)));
    }
    let coverage_of = |c: &Candidate| {
        coverage
            .iter()
            .find(|((oid, k), _)| *oid == c.table_oid && *k == c.columns)
            .map(|(_, f)| f.clone())
            .unwrap_or_default()
    };

    // Each statement's best candidate: the cheapest plan that uses it. The best of those an
    // existing index covers is kept too, to say why nothing was advised.
    let mut chosen: HashMap<usize, usize> = HashMap::new(); // statement → candidate
    for p in &planned {
        let e = &mut examined[p.index];
        let mut best: Option<(usize, f64)> = None;
        let mut best_covered: Option<(usize, f64, String)> = None;
        for (ci, c) in candidates.iter().enumerate() {
            if !p.resolved.table_oids.contains(&c.table_oid) {
                continue;
            }
            let Some(trial) = trials.get(&(p.index, ci)).filter(|t| t.used) else {
                continue;
            };
            let beats = |other: Option<(usize, f64)>| match other {
                None => true,
                Some((oi, ocost)) => {
                    trial.cost < ocost
                        || (trial.cost == ocost
                            && candidates[ci].columns.len() < candidates[oi].columns.len())
                }
            };
            match coverage_of(c).covered_by {
                Some(existing) => {
                    if beats(best_covered.as_ref().map(|b| (b.0, b.1))) {
                        best_covered = Some((ci, trial.cost, existing));
                    }
                }
                None => {
                    if beats(best) {
                        best = Some((ci, trial.cost));
                    }
                }
            }
        }
        let gain = best.map(|(_, cost)| improvement(p.base.cost, cost));
        e.best_improvement = gain;
        if let (Some((ci, _)), Some(gain)) = (best, gain) {
            if gain >= options.min_improvement {
                chosen.insert(p.index, ci);
                continue;
            }
        }
        e.verdict = Verdict::Served;
        e.reason = match (&best_covered, gain) {
            (Some((ci, cost, existing)), _)
                if best.is_none_or(|(_, b)| *cost < b)
                    && improvement(p.base.cost, *cost) >= options.min_improvement =>
            {
                format!(
                    "an index on ({}) would lower its cost by {:.0}%, but it is a prefix of the \
                     existing index {existing}, which serves it (a duplicate is never advised)",
                    candidates[*ci].columns.join(", "),
                    improvement(p.base.cost, *cost) * 100.0
                )
            }
            (_, Some(gain)) => format!(
                "the best candidate lowers its cost by {:.0}%, less than {:.0}%",
                gain * 100.0,
                options.min_improvement * 100.0
            ),
            (_, None) => "no candidate index is used by its plan".into(),
        };
    }

    // A candidate whose key is a prefix of another chosen one folds into it when the longer
    // index serves its statements at least as well as the threshold asks.
    let mut winners: Vec<usize> = distinct(chosen.values().copied());
    winners.sort_by_key(|&ci| std::cmp::Reverse(candidates[ci].columns.len()));
    let mut fold: HashMap<usize, usize> = HashMap::new();
    for &short in &winners {
        for &long in &winners {
            if long == short || fold.contains_key(&long) {
                continue;
            }
            let (s, l) = (&candidates[short], &candidates[long]);
            if s.table_oid != l.table_oid
                || l.columns.len() <= s.columns.len()
                || l.columns[..s.columns.len()] != s.columns[..]
            {
                continue;
            }
            let serves_all = chosen.iter().filter(|(_, &c)| c == short).all(|(&si, _)| {
                let base = planned.iter().find(|p| p.index == si).map(|p| p.base.cost);
                match (base, trials.get(&(si, long))) {
                    (Some(base), Some(t)) => {
                        t.used && improvement(base, t.cost) >= options.min_improvement
                    }
                    _ => false,
                }
            });
            if serves_all {
                fold.insert(short, long);
                break;
            }
        }
    }

    let mut advice: Vec<Advice> = Vec::new();
    let mut advice_of: HashMap<usize, usize> = HashMap::new(); // candidate → advice index
    let mut taken_names: Vec<String> = Vec::new();
    let mut statement_indexes: Vec<usize> = chosen.keys().copied().collect();
    statement_indexes.sort();
    for si in statement_indexes {
        let mut ci = chosen[&si];
        while let Some(&longer) = fold.get(&ci) {
            ci = longer;
        }
        let p = planned
            .iter()
            .find(|p| p.index == si)
            .context("planned statement")?;
        let trial = trials[&(si, ci)];
        let e = &mut examined[si];
        e.verdict = Verdict::Advised;
        let ai = match advice_of.get(&ci) {
            Some(&ai) => ai,
            None => {
                let c = &candidates[ci];
                let table = catalog.table_by_oid(c.table_oid).context("table")?;
                let name = index_name(client, table, &c.columns, &taken_names).await?;
                taken_names.push(name.clone());
                let key: Vec<String> = quoted_columns(client, &c.columns).await?;
                advice.push(Advice {
                    table: table.qualified.clone(),
                    columns: c.columns.clone(),
                    create_index: format!(
                        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({});",
                        quoted_name(client, &name).await?,
                        table.qualified,
                        key.join(", ")
                    ),
                    index_name: name,
                    estimated_bytes: sizes.get(&ci).copied().unwrap_or(0),
                    makes_redundant: coverage_of(c).makes_redundant,
                    statements: Vec::new(),
                });
                advice_of.insert(ci, advice.len() - 1);
                advice.len() - 1
            }
        };
        e.reason = format!("served by the advised index {}", advice[ai].index_name);
        advice[ai].statements.push(Served {
            query_id: e.query_id,
            calls: e.calls,
            cost_before: p.base.cost,
            cost_after: trial.cost,
            improvement: improvement(p.base.cost, trial.cost),
            query: e.query.clone(),
        });
    }
    Ok(AdviceReport {
        min_improvement: options.min_improvement,
        min_cost: options.min_cost,
        plans: mode,
        server_version_num,
        advice,
        statements: examined,
        other_statements,
    })
}

type Planning = (
    Vec<Examined>,
    usize,
    Vec<Planned>,
    Catalog,
    Vec<Candidate>,
    HashMap<(usize, usize), Trial>,
    HashMap<usize, i64>,
);

/// Plans every statement as it is, then with each candidate; fills in the verdicts of the
/// statements that are skipped, cheap or without candidates on the way.
async fn plan_everything(
    client: &Client,
    options: &AdviseOptions,
    mode: PlanMode,
    top: &[super::queries::Statement],
) -> Result<Planning> {
    let mut catalog = Catalog::default();
    let mut sample_cache = HashMap::new();
    let mut examined: Vec<Examined> = Vec::new();
    let mut other_statements = 0;
    let mut planned: Vec<Planned> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    for statement in top {
        if examined.len() == STATEMENTS_EXAMINED {
            break;
        }
        let analysis = statement::analyze(&statement.query);
        let resolved = match &analysis {
            Ok(a) => Some(resolve::resolve(client, &mut catalog, a).await?),
            Err(_) => None,
        };
        let is_other = match (&analysis, &resolved) {
            (Err(why), _) => why == statement::NOT_DML,
            (Ok(_), Some(r)) => r.table_oids.is_empty(),
            (Ok(_), None) => true,
        };
        if is_other {
            other_statements += 1;
            continue;
        }
        let index = examined.len();
        examined.push(Examined {
            query_id: statement.query_id,
            calls: statement.calls,
            query: statement.query.clone(),
            verdict: Verdict::Skipped,
            cost: None,
            best_improvement: None,
            reason: String::new(),
        });
        let e = &mut examined[index];
        let resolved = match (analysis, resolved) {
            (Ok(_), Some(resolved)) => resolved,
            (Err(why), _) => {
                e.reason = format!("it {why}");
                continue;
            }
            (Ok(_), None) => continue,
        };
        let samples = explain::values(
            client,
            &mut catalog,
            mode,
            &resolved.params,
            &mut sample_cache,
        )
        .await?;
        let explain = match explain::explain_sql(mode, &e.query, &samples) {
            Ok(sql) => sql,
            Err(why) => {
                e.reason = format!("it {why}");
                continue;
            }
        };
        let base = match savepointed_plan(client, &explain).await {
            Ok(plan) => plan,
            Err(why) => {
                e.reason = format!("it cannot be planned: {}", crate::error::one_line(&why));
                continue;
            }
        };
        e.cost = Some(base.cost);
        if base.cost < options.min_cost {
            e.verdict = Verdict::Served;
            e.reason = format!(
                "already cheap: its cost ({:.1}) is below --min-cost {:.0}",
                base.cost, options.min_cost
            );
            continue;
        }
        let mut mine = 0;
        for needs in &resolved.needs {
            for columns in candidates::for_needs(needs) {
                mine += 1;
                let c = Candidate {
                    table_oid: needs.table_oid,
                    columns,
                };
                if !candidates.contains(&c) {
                    candidates.push(c);
                }
            }
        }
        if mine == 0 {
            e.verdict = Verdict::NoCandidates;
            e.reason = "it filters, joins and sorts on no plain column".into();
            continue;
        }
        planned.push(Planned {
            index,
            resolved,
            explain,
            base,
        });
    }

    let mut trials = HashMap::new();
    let mut sizes = HashMap::new();
    for (ci, c) in candidates.iter().enumerate() {
        let table = catalog.table_by_oid(c.table_oid).context("table")?;
        let key: Vec<String> = quoted_columns(client, &c.columns).await?;
        let create = format!("CREATE INDEX ON {} ({})", table.qualified, key.join(", "));
        // A column type without a B-tree operator class cannot be indexed so: not a candidate.
        client.batch_execute("SAVEPOINT palmdb_candidate").await?;
        let created = client
            .query_one(
                "SELECT h.indexrelid, h.indexname, hypopg_relation_size(h.indexrelid) AS bytes
                 FROM hypopg_create_index($1) AS h",
                &[&create],
            )
            .await;
        let row = match created {
            Ok(row) => {
                client
                    .batch_execute("RELEASE SAVEPOINT palmdb_candidate")
                    .await?;
                row
            }
            Err(e) => {
                tracing::info!("advise: no hypothetical index {create}: {e}");
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT palmdb_candidate")
                    .await?;
                continue;
            }
        };
        let oid: u32 = row.get("indexrelid");
        let name: String = row.get("indexname");
        sizes.insert(ci, row.get::<_, i64>("bytes"));
        for p in planned
            .iter()
            .filter(|p| p.resolved.table_oids.contains(&c.table_oid))
        {
            if let Ok(plan) = savepointed_plan(client, &p.explain).await {
                trials.insert(
                    (p.index, ci),
                    Trial {
                        cost: plan.cost,
                        used: plan.indexes.contains(&name),
                    },
                );
            }
        }
        client
            .execute("SELECT hypopg_drop_index($1)", &[&oid])
            .await?;
    }
    Ok((
        examined,
        other_statements,
        planned,
        catalog,
        candidates,
        trials,
        sizes,
    ))
}

/// EXPLAIN inside a savepoint, so a statement that cannot be planned leaves the transaction
/// usable for the others.
async fn savepointed_plan(client: &Client, explain: &str) -> Result<Plan> {
    client.batch_execute("SAVEPOINT palmdb_explain").await?;
    match explain::plan(client, explain).await {
        Ok(plan) => {
            client
                .batch_execute("RELEASE SAVEPOINT palmdb_explain")
                .await?;
            Ok(plan)
        }
        Err(e) => {
            client
                .batch_execute("ROLLBACK TO SAVEPOINT palmdb_explain")
                .await?;
            Err(e)
        }
    }
}

fn improvement(before: f64, after: f64) -> f64 {
    if before <= 0.0 {
        0.0
    } else {
        1.0 - after / before
    }
}

fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

async fn quoted_columns(client: &Client, columns: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for c in columns {
        out.push(quoted_name(client, c).await?);
    }
    Ok(out)
}

/// An identifier quoted as PostgreSQL would (only when it must be).
async fn quoted_name(client: &Client, name: &str) -> Result<String> {
    Ok(client
        .query_one("SELECT quote_ident($1)", &[&name])
        .await?
        .get(0))
}

/// PostgreSQL's own naming (`table_col1_col2_idx`, at most 63 bytes), made unique against
/// the schema's relations and the other advice.
async fn index_name(
    client: &Client,
    table: &resolve::Table,
    columns: &[String],
    taken: &[String],
) -> Result<String> {
    let base = format!("{}_{}", table.name, columns.join("_"));
    for n in 0.. {
        let suffix = if n == 0 {
            "_idx".to_string()
        } else {
            format!("_idx{n}")
        };
        let mut stem = base.clone();
        while stem.len() + suffix.len() > 63 {
            stem.pop();
        }
        let name = format!("{stem}{suffix}");
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_class AS c
                                JOIN pg_namespace AS n ON n.oid = c.relnamespace
                                WHERE n.nspname = $1 AND c.relname = $2)",
                &[&table.schema, &name],
            )
            .await?
            .get(0);
        if !exists && !taken.contains(&name) {
            return Ok(name);
        }
    }
    unreachable!("some index name is free")
}

/// `50%`, `50` or `0.5` → 0.5; refuses anything outside 0 to 100%.
pub fn parse_share(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let (number, percent) = match trimmed.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (trimmed, false),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a share: write 50% or 0.5"))?;
    let share = if percent || value > 1.0 {
        value / 100.0
    } else {
        value
    };
    if !(share > 0.0 && share <= 1.0) {
        return Err(format!("{text:?} must be more than 0% and at most 100%"));
    }
    Ok(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_read_as_percentages_or_fractions() {
        assert_eq!(parse_share("50%").unwrap(), 0.5);
        assert_eq!(parse_share("30").unwrap(), 0.3);
        assert_eq!(parse_share("0.25").unwrap(), 0.25);
        assert!(parse_share("0").is_err());
        assert!(parse_share("150%").is_err());
        assert!(parse_share("half").is_err());
    }
}
