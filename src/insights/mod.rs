//! Insights: which statements cost the most (`palmdb queries`, from pg_stat_statements) and
//! which indexes would make them cheaper (`palmdb advise`, proven by the planner with HypoPG's
//! hypothetical indexes). The figures are SQL in the `palmdb` schema (`sql/insights/`), so
//! psql sees what the CLI and the dashboard see.

pub mod advise;
pub mod prerequisites;
pub mod queries;
