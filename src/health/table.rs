//! The report for people: one aligned line per check, problems shouted, then what to do.

use std::fmt::Write;

use crate::ui::table::{Align, Table};

use super::report::{format_value, HealthReport};
use crate::ui::Verdict;

/// Renders the report as a table followed by the remedies of the checks that are not ok.
pub fn render(report: &HealthReport) -> String {
    let mut table = Table::new(&[
        ("STATUS", Align::Left),
        ("CHECK", Align::Left),
        ("VALUE", Align::Right),
        ("DETAIL", Align::Left),
    ]);
    for c in &report.checks {
        table.push(vec![
            label(c.status).to_string(),
            c.name.clone(),
            format_value(c.value),
            c.detail.clone(),
        ]);
    }
    let mut out = table.render();
    let _ = writeln!(out, "\noverall: {}", label(report.status));
    let problems: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status != Verdict::Ok)
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(out, "\nwhat to do:");
        for check in problems {
            let _ = writeln!(out, "  {} ({})", check.name, check.threshold);
            if let Some(remedy) = &check.remedy {
                let _ = writeln!(out, "    {remedy}");
            }
        }
    }
    out
}

/// Problems in capitals, so they stand out in a column of "ok".
fn label(status: Verdict) -> &'static str {
    match status {
        Verdict::Ok => "ok",
        Verdict::Warning => "WARNING",
        Verdict::Critical => "CRITICAL",
        Verdict::Unknown => "UNKNOWN",
    }
}
