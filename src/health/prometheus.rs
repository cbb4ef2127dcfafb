//! The Prometheus text exposition format (version 0.0.4): the overall status, each check's
//! status, and each check's measured value, labelled by check name.

use std::fmt::Write;

use super::report::HealthReport;

pub fn render(report: &HealthReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP palmdb_health_status Worst status of all health checks: 0 ok, 1 warning, 2 critical.");
    let _ = writeln!(out, "# TYPE palmdb_health_status gauge");
    let _ = writeln!(out, "palmdb_health_status {}", report.status.number());
    let _ = writeln!(out, "# HELP palmdb_health_check_status Status of one health check: 0 ok, 1 warning, 2 critical.");
    let _ = writeln!(out, "# TYPE palmdb_health_check_status gauge");
    for check in &report.checks {
        let _ = writeln!(
            out,
            "palmdb_health_check_status{{check=\"{}\"}} {}",
            escape(&check.name),
            check.status.number()
        );
    }
    let _ = writeln!(out, "# HELP palmdb_health_check_value The figure a health check judged (unit per check: see docs/health-checks.md).");
    let _ = writeln!(out, "# TYPE palmdb_health_check_value gauge");
    for check in &report.checks {
        if let Some(value) = check.value {
            let _ = writeln!(
                out,
                "palmdb_health_check_value{{check=\"{}\"}} {}",
                escape(&check.name),
                value
            );
        }
    }
    out
}

/// Label values escape backslash, double quote and newline.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Check;
    use crate::ui::Verdict;

    #[test]
    fn status_and_values_per_check() {
        let report = HealthReport::new(vec![Check {
            name: "dead_tuples".into(),
            status: Verdict::Critical,
            value: Some(0.75),
            threshold: String::new(),
            detail: String::new(),
            remedy: None,
            warning_level: None,
            critical_level: None,
        }]);
        let text = render(&report);
        assert!(text.contains("palmdb_health_status 2\n"), "{text}");
        assert!(
            text.contains("palmdb_health_check_status{check=\"dead_tuples\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("palmdb_health_check_value{check=\"dead_tuples\"} 0.75\n"),
            "{text}"
        );
    }
}
