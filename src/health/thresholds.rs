//! Threshold overrides: `--threshold long_query_warning=2s`. The names are the parameters of
//! `palmdb.checks()`, declared here with their kind so that a value is checked before it is
//! sent, and bound with the right type (an interval as seconds, a ratio as a float, a count
//! or a size as an integer).

use std::fmt;
use std::time::Duration;

/// What a threshold measures, which decides how its value is written and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A duration: `500ms`, `2s`, `5m`.
    Interval,
    /// A share between 0 and 1, e.g. `0.8`.
    Ratio,
    /// A whole number (rows, blocks, calls, transaction IDs).
    Count,
    /// A size in bytes.
    Bytes,
}

/// Every threshold `palmdb.checks()` takes, with its default (as documented).
pub const THRESHOLDS: &[(&str, Kind, &str)] = &[
    ("connections_warning", Kind::Ratio, "0.8"),
    ("connections_critical", Kind::Ratio, "0.9"),
    ("long_query_warning", Kind::Interval, "1m"),
    ("long_query_critical", Kind::Interval, "5m"),
    ("idle_in_transaction_warning", Kind::Interval, "1m"),
    ("idle_in_transaction_critical", Kind::Interval, "10m"),
    ("blocked_warning", Kind::Interval, "10s"),
    ("blocked_critical", Kind::Interval, "1m"),
    ("cache_hit_warning", Kind::Ratio, "0.99"),
    ("cache_hit_critical", Kind::Ratio, "0.95"),
    ("cache_min_blocks", Kind::Count, "10000"),
    ("dead_ratio_warning", Kind::Ratio, "0.2"),
    ("dead_ratio_critical", Kind::Ratio, "0.5"),
    ("dead_rows_min", Kind::Count, "1000"),
    ("stale_ratio_warning", Kind::Ratio, "0.2"),
    ("stale_rows_min", Kind::Count, "1000"),
    ("unused_index_min_bytes", Kind::Bytes, "10485760"),
    ("xid_age_warning", Kind::Count, "1300000000"),
    ("xid_age_critical", Kind::Count, "1400000000"),
    ("sequence_warning", Kind::Ratio, "0.8"),
    ("sequence_critical", Kind::Ratio, "0.9"),
    ("replication_lag_warning", Kind::Interval, "30s"),
    ("replication_lag_critical", Kind::Interval, "5m"),
    ("slot_wal_critical_bytes", Kind::Bytes, "1073741824"),
    ("slow_query_mean", Kind::Interval, "100ms"),
    ("slow_query_calls", Kind::Count, "100"),
];

/// A parsed threshold value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Interval(Duration),
    Ratio(f64),
    Count(i64),
}

/// One `NAME=VALUE` override.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub name: &'static str,
    pub value: Value,
}

impl Threshold {
    /// Parses `NAME=VALUE` (the `--threshold` argument).
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| format!("\"{text}\" is not NAME=VALUE, e.g. long_query_warning=30s"))?;
        let (name, kind, _) = THRESHOLDS
            .iter()
            .find(|(n, _, _)| *n == name.trim())
            .ok_or_else(|| {
                format!(
                    "unknown threshold \"{}\"; known: {}",
                    name.trim(),
                    THRESHOLDS
                        .iter()
                        .map(|t| t.0)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        Ok(Threshold {
            name,
            value: parse_value(*kind, value.trim()).map_err(|e| format!("{name}: {e}"))?,
        })
    }
}

fn parse_value(kind: Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Interval => crate::duration::parse(text).map(Value::Interval),
        Kind::Ratio => match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Value::Ratio(v)),
            _ => Err(format!("\"{text}\" is not a ratio such as 0.8")),
        },
        Kind::Count => match text.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(Value::Count(v)),
            _ => Err(format!("\"{text}\" is not a whole number")),
        },
        // At most i64::MAX, so the cast is exact.
        Kind::Bytes => crate::duration::parse_size(text).map(|bytes| Value::Count(bytes as i64)),
    }
}

impl Value {
    /// The SQL expression that turns bound parameter `$n` into the parameter's type.
    pub fn sql_cast(&self, n: usize) -> String {
        match self {
            Value::Interval(_) => format!("make_interval(secs => ${n}::float8)"),
            Value::Ratio(_) => format!("${n}::float8"),
            Value::Count(_) => format!("${n}::int8"),
        }
    }

    /// The value to bind for that parameter.
    pub fn to_param(&self) -> Box<dyn tokio_postgres::types::ToSql + Sync + Send> {
        match *self {
            Value::Interval(d) => Box::new(d.as_secs_f64()),
            Value::Ratio(v) => Box::new(v),
            Value::Count(v) => Box::new(v),
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Value::Interval(d) => write!(f, "{}={}", self.name, humantime::format_duration(d)),
            Value::Ratio(v) => write!(f, "{}={v}", self.name),
            Value::Count(v) => write!(f, "{}={v}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        assert_eq!(
            Threshold::parse("long_query_warning=2s").unwrap().value,
            Value::Interval(Duration::from_secs(2))
        );
        assert_eq!(
            Threshold::parse("sequence_warning=0.5").unwrap().value,
            Value::Ratio(0.5)
        );
        assert_eq!(
            Threshold::parse("dead_rows_min=10").unwrap().value,
            Value::Count(10)
        );
    }

    #[test]
    fn rejects_unknown_names_and_bad_values() {
        assert!(Threshold::parse("nope=1")
            .unwrap_err()
            .contains("unknown threshold"));
        assert!(Threshold::parse("dead_rows_min=-1").is_err());
        assert!(Threshold::parse("long_query_warning=soon").is_err());
        assert!(Threshold::parse("long_query_warning").is_err());
    }
}
