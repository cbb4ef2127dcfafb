//! The report for people: one aligned line per check, problems shouted, then what to do.

use std::fmt::Write;

use super::report::{format_value, HealthReport};
use crate::ui::Verdict;

/// Renders the report as a table followed by the remedies of the checks that are not ok.
pub fn render(report: &HealthReport) -> String {
    let rows: Vec<[String; 4]> = report
        .checks
        .iter()
        .map(|c| {
            [
                label(c.status).to_string(),
                c.name.clone(),
                format_value(c.value),
                c.detail.clone(),
            ]
        })
        .collect();
    let header = ["STATUS", "CHECK", "VALUE", "DETAIL"].map(String::from);
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:>w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
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
