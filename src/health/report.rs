//! What a health run found: one [`Check`] per check and the worst status overall. Serialises
//! to the JSON contract: `{"status", "checks": [{"name","status","value","threshold","detail","remedy"}]}`.

use serde::{Deserialize, Serialize};

use crate::error::ExitCode;
use crate::ui::Verdict;

/// One check's row from `palmdb.checks()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: Verdict,
    /// The figure judged (seconds, a ratio, a count, a transaction age); null when nothing
    /// could be measured.
    pub value: Option<f64>,
    pub threshold: String,
    pub detail: String,
    /// The SQL a DBA would run next; null when the check is ok.
    pub remedy: Option<String>,
    /// The numeric levels behind `threshold`, for Nagios perfdata; not part of the JSON.
    #[serde(skip)]
    pub warning_level: Option<f64>,
    #[serde(skip)]
    pub critical_level: Option<f64>,
}

/// Every check that ran, and the worst of their statuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    pub status: Verdict,
    pub checks: Vec<Check>,
}

impl HealthReport {
    pub fn new(checks: Vec<Check>) -> HealthReport {
        let status = checks.iter().map(|c| c.status).max().unwrap_or(Verdict::Ok);
        HealthReport { status, checks }
    }

    /// 0 all ok, 1 a warning, 2 a critical (the Nagios convention).
    pub fn exit_code(&self) -> ExitCode {
        self.status.exit_code()
    }

    /// The Prometheus text exposition of this report.
    pub fn to_prometheus(&self) -> String {
        super::prometheus::render(self)
    }

    /// The checks whose status is `status`.
    pub fn with_status(&self, status: Verdict) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(move |c| c.status == status)
    }
}

/// A value as people read it: whole numbers without decimals, others with up to four.
pub fn format_value(value: Option<f64>) -> String {
    match value {
        None => "-".to_string(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => {
            let text = format!("{v:.4}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: Verdict) -> Check {
        Check {
            name: name.into(),
            status,
            value: Some(1.0),
            threshold: "warning > 0".into(),
            detail: "d".into(),
            remedy: None,
            warning_level: Some(0.0),
            critical_level: None,
        }
    }

    #[test]
    fn the_worst_status_wins() {
        let report = HealthReport::new(vec![
            check("a", Verdict::Ok),
            check("b", Verdict::Critical),
            check("c", Verdict::Warning),
        ]);
        assert_eq!(report.status, Verdict::Critical);
        assert_eq!(report.exit_code(), ExitCode::Critical);
        assert_eq!(HealthReport::new(vec![]).exit_code(), ExitCode::Ok);
    }

    #[test]
    fn json_has_exactly_the_contract_keys() {
        let json =
            serde_json::to_value(HealthReport::new(vec![check("a", Verdict::Warning)])).unwrap();
        assert_eq!(json["status"], "warning");
        let keys: Vec<&String> = json["checks"][0].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["name", "status", "value", "threshold", "detail", "remedy"]
        );
    }

    #[test]
    fn values_read_naturally() {
        assert_eq!(format_value(Some(3.0)), "3");
        assert_eq!(format_value(Some(0.98765)), "0.9877");
        assert_eq!(format_value(Some(0.5)), "0.5");
        assert_eq!(format_value(None), "-");
    }
}
