//! The Nagios plugin format: one line, `PALMDB HEALTH <STATE> - <summary> | <perfdata>`, with
//! the exit code carrying the state. Perfdata is `'name'=value;warn;crit` per check that
//! measured something (check_postgres does the same).

use super::report::{format_value, HealthReport};
use crate::ui::Verdict;

pub fn render(report: &HealthReport) -> String {
    let state = report.status.as_str().to_uppercase();
    let mut parts = Vec::new();
    for status in [Verdict::Critical, Verdict::Warning] {
        let names: Vec<&str> = report
            .with_status(status)
            .map(|c| c.name.as_str())
            .collect();
        if !names.is_empty() {
            parts.push(format!(
                "{} {}: {}",
                names.len(),
                status.as_str(),
                names.join(", ")
            ));
        }
    }
    let summary = if parts.is_empty() {
        format!("{} checks ok", report.checks.len())
    } else {
        parts.join("; ")
    };
    let perfdata: Vec<String> = report
        .checks
        .iter()
        .filter_map(|c| {
            let value = c.value?;
            Some(format!(
                "'{}'={};{};{}",
                c.name,
                format_value(Some(value)),
                level(c.warning_level),
                level(c.critical_level)
            ))
        })
        .collect();
    format!("PALMDB HEALTH {state} - {summary} | {}", perfdata.join(" "))
}

/// The line for a health check that could not run (Nagios shows only stdout).
pub fn unknown_line(reason: &str) -> String {
    format!(
        "PALMDB HEALTH {} - {reason}",
        crate::ui::Verdict::Unknown.word()
    )
}

fn level(value: Option<f64>) -> String {
    value.map(|v| format_value(Some(v))).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Check;

    #[test]
    fn one_line_with_state_summary_and_perfdata() {
        let report = HealthReport::new(vec![
            Check {
                name: "connections".into(),
                status: Verdict::Ok,
                value: Some(0.05),
                threshold: String::new(),
                detail: String::new(),
                remedy: None,
                warning_level: Some(0.8),
                critical_level: Some(0.9),
            },
            Check {
                name: "duplicate_indexes".into(),
                status: Verdict::Warning,
                value: Some(2.0),
                threshold: String::new(),
                detail: String::new(),
                remedy: None,
                warning_level: Some(0.0),
                critical_level: None,
            },
        ]);
        assert_eq!(
            render(&report),
            "PALMDB HEALTH WARNING - 1 warning: duplicate_indexes | 'connections'=0.05;0.8;0.9 'duplicate_indexes'=2;0;"
        );
    }
}
