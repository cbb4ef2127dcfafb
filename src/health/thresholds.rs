//! Threshold overrides: `--threshold long_query_warning=2s`.
//!
//! The thresholds themselves live in one place, the `palmdb.health_thresholds` table
//! (migration V12): its rows are the names, defaults, units and descriptions; the SQL reads
//! them, [`list`] reads them for Rust callers and the docs test. This module only reads what
//! a person typed — a number, a duration, or for a `*_bytes` threshold a size such as `10MB`
//! — and hands it to SQL as JSON. SQL knows each parameter's unit and refuses an unknown name
//! or a value of the wrong kind, with the same message for `palmdb health` and for
//! `SELECT * FROM palmdb.checks('{...}')` in psql.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::Client;

/// What was typed after `NAME=`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A plain number, in the parameter's unit: a ratio, a count, bytes, or seconds.
    Number(f64),
    /// A duration such as `500ms`, `2s`, `5m`, for the thresholds measured in seconds.
    Duration(Duration),
    /// A size such as `10MB`, for the thresholds whose name ends in `_bytes`.
    Bytes(u64),
}

/// The thresholds measured in bytes are named so (a test keeps the names and the table's
/// units in step); their values are sizes.
pub const BYTES_SUFFIX: &str = "_bytes";

/// One `NAME=VALUE` override.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub name: String,
    pub value: Value,
}

impl Threshold {
    /// Parses `NAME=VALUE` (the `--threshold` argument). Whether NAME exists and VALUE suits
    /// it is decided by the database, which holds the thresholds.
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("\"{text}\" is not NAME=VALUE, e.g. long_query_warning=30s"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!(
                "\"{text}\" has no threshold name, e.g. long_query_warning=30s"
            ));
        }
        let value = if name.ends_with(BYTES_SUFFIX) {
            crate::duration::parse_size(value).map(Value::Bytes)
        } else {
            parse_value(value.trim())
        };
        Ok(Threshold {
            name: name.to_string(),
            value: value.map_err(|e| format!("{name}: {e}"))?,
        })
    }
}

fn parse_value(text: &str) -> Result<Value, String> {
    if let Ok(number) = text.parse::<f64>() {
        return if !number.is_finite() {
            Err(format!("\"{text}\" is not a number such as 0.8 or 1000"))
        } else if number < 0.0 {
            Err(format!("\"{text}\" is negative: thresholds are 0 or more"))
        } else {
            Ok(Value::Number(number))
        };
    }
    crate::duration::parse(text)
        .map(Value::Duration)
        .map_err(|_| {
            format!("\"{text}\" is not a duration (500ms, 5s, 90m) or a number (0.8, 1000)")
        })
}

/// The overrides as the JSON object `palmdb.checks(thresholds)` takes: numbers as numbers,
/// durations as text in seconds (`"2.5 seconds"`), so that SQL can tell a duration given to
/// a threshold that is not one.
pub fn overrides_json(thresholds: &[Threshold]) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for threshold in thresholds {
        let value = match threshold.value {
            Value::Number(n) => serde_json::json!(n),
            Value::Duration(d) => serde_json::json!(format!("{} seconds", d.as_secs_f64())),
            Value::Bytes(b) => serde_json::json!(b),
        };
        object.insert(threshold.name.clone(), value);
    }
    serde_json::Value::Object(object)
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Value::Duration(d) => write!(f, "{}={}", self.name, humantime::format_duration(d)),
            Value::Number(v) => write!(f, "{}={v}", self.name),
            Value::Bytes(b) => write!(f, "{}={b}", self.name),
        }
    }
}

/// One parameter of `palmdb.health_threshold_parameters`: what `--threshold NAME` accepts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parameter {
    /// `<threshold>_warning`, `<threshold>_critical`, or the threshold's own name.
    pub name: String,
    /// The default, in `unit` (seconds for durations, bytes for sizes).
    pub default: f64,
    pub unit: String,
    /// The row of `palmdb.health_thresholds` it comes from.
    pub threshold: String,
    /// `warning`, `critical` or `value`.
    pub level: String,
    pub description: String,
}

/// Every threshold parameter with its default, as the database holds them.
pub async fn list(client: &Client) -> Result<Vec<Parameter>> {
    let rows = client
        .query(
            "SELECT parameter, value, unit, threshold_name, level, description
             FROM palmdb.health_threshold_parameters
             ORDER BY parameter",
            &[],
        )
        .await
        .with_context(|| {
            format!(
                "cannot read palmdb.health_threshold_parameters ({})",
                crate::migrate::profile::SETUP_HINT
            )
        })?;
    Ok(rows
        .into_iter()
        .map(|r| Parameter {
            name: r.get(0),
            default: r.get(1),
            unit: r.get(2),
            threshold: r.get(3),
            level: r.get(4),
            description: r.get(5),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_durations() {
        assert_eq!(
            Threshold::parse("long_query_warning=2s").unwrap().value,
            Value::Duration(Duration::from_secs(2))
        );
        assert_eq!(
            Threshold::parse("sequence_warning=0.5").unwrap().value,
            Value::Number(0.5)
        );
        assert_eq!(
            Threshold::parse("dead_rows_min=10").unwrap().value,
            Value::Number(10.0)
        );
        // A bare number for a duration means seconds, as everywhere on the command line.
        assert_eq!(
            Threshold::parse(" long_query_warning = 60 ").unwrap(),
            Threshold {
                name: "long_query_warning".into(),
                value: Value::Number(60.0)
            }
        );
    }

    #[test]
    fn rejects_bad_values_before_connecting() {
        assert!(Threshold::parse("dead_rows_min=-1")
            .unwrap_err()
            .contains("negative"));
        assert!(Threshold::parse("long_query_warning=soon")
            .unwrap_err()
            .contains("is not a duration"));
        assert!(Threshold::parse("long_query_warning").is_err());
        assert!(Threshold::parse("=1").is_err());
        assert!(Threshold::parse("x=NaN").is_err());
    }

    #[test]
    fn byte_thresholds_take_sizes() {
        assert_eq!(
            Threshold::parse("unused_index_min_bytes=10MB")
                .unwrap()
                .value,
            Value::Bytes(10 * 1024 * 1024)
        );
        assert_eq!(
            Threshold::parse("slot_wal_critical_bytes=0").unwrap().value,
            Value::Bytes(0)
        );
        assert!(
            Threshold::parse("slot_wal_critical_bytes=99999999999999999999")
                .unwrap_err()
                .contains("more than 9223372036854775807 bytes")
        );
    }

    #[test]
    fn overrides_become_one_json_object() {
        let thresholds = [
            Threshold::parse("long_query_warning=1500ms").unwrap(),
            Threshold::parse("dead_rows_min=10").unwrap(),
        ];
        assert_eq!(
            overrides_json(&thresholds),
            serde_json::json!({"long_query_warning": "1.5 seconds", "dead_rows_min": 10.0})
        );
    }
}
