//! Numbers as people read them on a terminal: counts (`48.0k`), rates (`48.0k rows/s,
//! 12.3 MB/s`), durations (`1m05s`) and sizes. Two size conventions, each where its readers
//! expect it: amounts moving (progress, rates) are decimal as disks and links count them
//! ([`bytes`]); sizes of things stored (backups, indexes) are PostgreSQL's, 1024-based, as
//! `pg_size_pretty` and psql users write them ([`pg_size`]).

use std::time::Duration;

/// `950`, `48.0k`, `1.2M`, `3.4G`.
pub fn count(n: f64) -> String {
    scaled(n, &["", "k", "M", "G", "T"], "")
}

/// `950 B`, `12.3 kB`, `45.6 MB`, `1.2 GB`.
pub fn bytes(n: u64) -> String {
    scaled(n as f64, &["B", "kB", "MB", "GB", "TB"], " ")
}

/// `512 bytes`, `1.5 kB`, `8.0 MB`: sizes counted in 1024s with PostgreSQL's unit names, as
/// `pg_size_pretty` and psql users write them (`backup list`, index sizes in `advise` and the
/// dashboard).
pub fn pg_size(bytes: i64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

/// `1 table`, `3 tables`: a count with its noun, singular for one.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Rows and bytes per second: `48.0k rows/s, 12.3 MB/s`.
pub fn rates(rows: u64, bytes: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return String::new();
    }
    format!(
        "{} rows/s, {}/s",
        count(rows as f64 / seconds),
        self::bytes((bytes as f64 / seconds) as u64)
    )
}

/// `0.4s`, `12.3s`, `1m05s`, `2h03m`.
pub fn duration(d: Duration) -> String {
    let seconds = d.as_secs_f64();
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let whole = d.as_secs();
    if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, whole % 3600 / 60)
    }
}

/// Time left, to the second (tenths would flicker): `12s`, `1m05s`, `2h03m`.
pub fn eta(d: Duration) -> String {
    match d.as_secs() {
        seconds if seconds < 60 => format!("{seconds}s"),
        _ => duration(d),
    }
}

/// Whole units below 1000, else one decimal and the next unit (1000 apart).
fn scaled(mut n: f64, units: &[&str], space: &str) -> String {
    if n < 1000.0 {
        return format!("{n:.0}{space}{}", units[0]);
    }
    let mut unit = 0;
    while n >= 999.95 && unit + 1 < units.len() {
        n /= 1000.0;
        unit += 1;
    }
    format!("{n:.1}{space}{}", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kib_sizes_read_like_psql() {
        assert_eq!(pg_size(512), "512 bytes");
        assert_eq!(pg_size(1536), "1.5 kB");
        assert_eq!(pg_size(8 * 1024 * 1024), "8.0 MB");
    }

    #[test]
    fn counts_sizes_and_rates_read_naturally() {
        assert_eq!(count(950.0), "950");
        assert_eq!(count(47_944.097_182_685), "47.9k");
        assert_eq!(count(48_000.0), "48.0k");
        assert_eq!(count(999_999.0), "1.0M");
        assert_eq!(count(1_234_567.0), "1.2M");
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(12_345_678), "12.3 MB");
        assert_eq!(
            rates(96_000, 24_600_000, Duration::from_secs(2)),
            "48.0k rows/s, 12.3 MB/s"
        );
        assert_eq!(rates(1, 1, Duration::ZERO), "");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(400)), "0.4s");
        assert_eq!(duration(Duration::from_secs(65)), "1m05s");
        assert_eq!(
            duration(Duration::from_secs(2 * 3600 + 3 * 60 + 9)),
            "2h03m"
        );
        assert_eq!(eta(Duration::from_millis(12_900)), "12s");
        assert_eq!(eta(Duration::from_secs(65)), "1m05s");
    }
}
