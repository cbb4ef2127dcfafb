//! The session settings under which PostgreSQL's text form of every value is the one the row
//! encoding stores. Backups are written, restored and restore-tested under exactly these, so a
//! value read back is the value written: dates in ISO order, intervals in `postgres` style,
//! shortest exact floats, hex bytea, timestamps in UTC, UTF-8.
//!
//! This is part of the format (like the row codec), declared once so that the writer and the
//! readers can never drift apart. The module still knows no database: it only renders SQL.

/// `(setting, value)` pairs, values already quoted as SQL literals where needed.
pub const SETTINGS: &[(&str, &str)] = &[
    ("DateStyle", "'ISO, YMD'"),
    ("IntervalStyle", "'postgres'"),
    ("extra_float_digits", "1"),
    ("bytea_output", "'hex'"),
    ("TimeZone", "'UTC'"),
    ("client_encoding", "'UTF8'"),
    ("standard_conforming_strings", "on"),
];

/// The settings as `SET` statements for a session, or `SET LOCAL` for one transaction.
pub fn set_sql(local: bool) -> String {
    let scope = if local { "SET LOCAL" } else { "SET" };
    SETTINGS
        .iter()
        .map(|(name, value)| format!("{scope} {name} = {value};\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_setting_in_the_chosen_scope() {
        let session = set_sql(false);
        let local = set_sql(true);
        assert_eq!(session.lines().count(), SETTINGS.len());
        assert!(session.contains("SET DateStyle = 'ISO, YMD';"));
        assert!(local.lines().all(|l| l.starts_with("SET LOCAL ")));
    }
}
