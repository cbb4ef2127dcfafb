//! Durations and sizes written by people — on the command line, in thresholds — parsed in one
//! place, and range-checked here, where the text is still at hand to quote, instead of turning
//! into an overflow or a server error later.
//!
//! - durations: `500ms`, `5s`, `90m`, `24h`, `7d` (a bare number means seconds), at most
//!   [`MAX_DURATION`] (100 years: more is a typo, and would overflow the dates it is added to);
//! - PostgreSQL timeouts (`statement_timeout`, `lock_timeout`): milliseconds in an `int`, so at
//!   most [`MAX_PG_TIMEOUT`] (24 days 20 h) — the issue's `--db-timeout 10000000000s` started,
//!   then every `/health` failed — and never a non-zero value under 1 ms, which would round to
//!   0, PostgreSQL's "no timeout";
//! - sizes: `8192`, `512kB`, `10MB`, `1.5GB`, `2TB` (PostgreSQL's 1024-based units, as
//!   `pg_size_pretty` prints them; `KiB`, `MiB`... are accepted too), at most `i64::MAX` bytes.

use std::time::Duration;

/// The longest duration any option accepts: 100 years.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// PostgreSQL's longest `statement_timeout` / `lock_timeout`: `INT_MAX` milliseconds.
pub const MAX_PG_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// Parses a human duration (a bare number means seconds), at most [`MAX_DURATION`].
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) if !numbers_are_small(text) => {
            return Err(format!(
                "\"{text}\" has numbers over {LARGEST_NUMBER} in all: use a larger unit (7d, not 604800000ms)"
            ))
        }
        Err(_) => humantime::parse_duration(text).map_err(|_| {
            format!("\"{text}\" is not a duration: use e.g. 500ms, 5s, 90m, 24h or 7d")
        })?,
    };
    if duration > MAX_DURATION {
        return Err(format!(
            "\"{text}\" is longer than 100 years (36500d), the longest duration palmdb accepts"
        ));
    }
    Ok(duration)
}

/// The most the numbers of one duration may add up to before humantime sees it. humantime
/// 2.4 panics (Duration::new overflows) when whole seconds near u64::MAX meet fractions that
/// add up to exactly one second, e.g. `18446744073709551615s 0.5s 0.5s` (found by
/// fuzz/fuzz_targets/duration.rs). Even in years this bound stays far from u64::MAX seconds,
/// and it is far above any sensible duration in any unit.
const LARGEST_NUMBER: u128 = 100_000_000_000;

/// Whether the integer parts of all the numbers in `text` add up to at most [`LARGEST_NUMBER`].
fn numbers_are_small(text: &str) -> bool {
    let mut total: u128 = 0;
    for number in text.split(|c: char| !c.is_ascii_digit() && c != '.') {
        let whole = number.split('.').next().unwrap_or("");
        let whole = whole.trim_start_matches('0');
        if whole.len() > 12 {
            return false;
        }
        total += whole.parse::<u128>().unwrap_or(0);
    }
    total <= LARGEST_NUMBER
}

/// Parses a duration that becomes a PostgreSQL timeout: 0 (no timeout) or 1 ms to
/// [`MAX_PG_TIMEOUT`].
pub fn parse_pg_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse(text)?;
    if duration > MAX_PG_TIMEOUT {
        return Err(format!(
            "\"{}\" is longer than {}, the longest timeout PostgreSQL takes",
            text.trim(),
            humantime::format_duration(MAX_PG_TIMEOUT)
        ));
    }
    if !duration.is_zero() && duration < Duration::from_millis(1) {
        return Err(format!(
            "\"{}\" is shorter than 1ms, which PostgreSQL would read as 0 (no timeout)",
            text.trim()
        ));
    }
    Ok(duration)
}

/// Parses a size in bytes: a whole number, or a number with a unit (`kB`, `MB`, `GB`, `TB`,
/// 1024-based as in PostgreSQL; `B`, `KiB`, `MiB`, `GiB`, `TiB` too), at most `i64::MAX`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("\"{text}\" is not a size: use e.g. 8192, 512kB, 10MB or 1.5GB");
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "kib" => 1 << 10,
        "mb" | "mib" => 1 << 20,
        "gb" | "gib" => 1 << 30,
        "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    let too_big = || format!("\"{text}\" is more than {} bytes", i64::MAX);
    let bytes = if number.contains('.') {
        let value: f64 = number.parse().map_err(|_| bad())?;
        let bytes = (value * factor as f64).round();
        // i64::MAX as f64 rounds up to 2^63, so compare with < rather than <=.
        if !(bytes.is_finite() && bytes < i64::MAX as f64) {
            return Err(too_big());
        }
        bytes as u64
    } else {
        let value: u64 = number.parse().map_err(|e: std::num::ParseIntError| {
            if *e.kind() == std::num::IntErrorKind::PosOverflow {
                too_big()
            } else {
                bad()
            }
        })?;
        value.checked_mul(factor).ok_or_else(too_big)?
    };
    if bytes > i64::MAX as u64 {
        return Err(too_big());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_numbers_are_an_error_not_a_panic_in_humantime() {
        // The fuzzer's reproducer (fuzz/artifacts/duration/) and its shortest form.
        let found = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/artifacts/duration/crash-09dd82fb12d0903aca002bd0494e69400069a66d"
        ))
        .unwrap();
        assert!(parse(&found).is_err());
        let err = parse("18446744073709551615s 0.5s 0.5s").unwrap_err();
        assert!(err.contains("use a larger unit"), "{err}");
        assert!(parse("9223372036854775807s 9223372036854775808s 0.5s 0.5s").is_err());
        // Long but sensible forms still parse.
        assert_eq!(
            parse("000000000000090m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse("100000000000ms").unwrap(),
            Duration::from_secs(100_000_000)
        );
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("90m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(parse("60").unwrap(), Duration::from_secs(60));
        assert!(parse("soon").is_err());
    }

    #[test]
    fn ten_billion_seconds_is_refused_at_parse_time() {
        // The issue's `serve --db-timeout 10000000000s`: 317 years.
        let err = parse("10000000000s").unwrap_err();
        assert!(err.contains("longer than 100 years"), "{err}");
        assert!(parse(&u64::MAX.to_string()).is_err());
        assert_eq!(parse("36500d").unwrap(), MAX_DURATION);
        let err = parse_pg_timeout("25d").unwrap_err();
        assert!(err.contains("longest timeout PostgreSQL takes"), "{err}");
        assert_eq!(parse_pg_timeout("2147483647ms").unwrap(), MAX_PG_TIMEOUT);
        assert_eq!(parse_pg_timeout("0").unwrap(), Duration::ZERO);
        let err = parse_pg_timeout("500us").unwrap_err();
        assert!(err.contains("shorter than 1ms"), "{err}");
    }

    #[test]
    fn sizes_in_postgres_units() {
        assert_eq!(parse_size("8192").unwrap(), 8192);
        assert_eq!(parse_size("512kB").unwrap(), 512 * 1024);
        assert_eq!(parse_size("10 MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_size("2TiB").unwrap(), 2 << 40);
        assert_eq!(parse_size(&i64::MAX.to_string()).unwrap(), i64::MAX as u64);
        for bad in ["", "MB", "-1", "1.2.3GB", "12 parsecs", "NaN", "1e3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        for huge in [
            "9223372036854775808",
            "99999999999999999999",
            "8388608TB",
            "9999999999999999999999.5TB",
        ] {
            let err = parse_size(huge).unwrap_err();
            assert!(
                err.contains("more than 9223372036854775807"),
                "{huge}: {err}"
            );
        }
    }
}
