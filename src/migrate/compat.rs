//! What a migration may not say to an older server, and what palmdb runs instead.
//!
//! The files are written for PostgreSQL 14 and later. On 13 one thing is missing: the
//! predefined role `pg_read_all_data` (new in 14), to which `V11` and the `sql/stats/`
//! functions grant read access. A `GRANT ... TO pg_read_all_data` is therefore skipped on 13:
//! the statement is blanked out in the text sent to the server (same length, same lines, so an
//! error position still points into the file), while the file, and so the checksum recorded
//! in the history, stays exactly what it is on every other major. Editing `V11` instead would
//! give databases migrated on 13 and on 15 different checksums for the same migration, and a
//! backup taken on 13 and restored on 18 would then look edited to `palmdb migrate`.

use std::borrow::Cow;

use anyhow::Result;
use tokio_postgres::Client;

use super::statements;

/// The first major that has `pg_read_all_data`.
pub const READ_ALL_DATA_SINCE: u32 = 14;

/// The server's major version (`server_version_num` 130023 → 13).
pub async fn server_major(client: &Client) -> Result<u32> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await?;
    Ok(crate::pg_tools::server_major(row.get(0)))
}

/// `sql` as it must run on a server of `major`: unchanged on 14+, without the grants to
/// `pg_read_all_data` on 13 and older.
pub fn adapt(sql: &str, major: u32) -> Cow<'_, str> {
    if major >= READ_ALL_DATA_SINCE {
        return Cow::Borrowed(sql);
    }
    let skipped: Vec<statements::Statement> = statements::split(sql)
        .into_iter()
        .filter(|s| grants_only_to_read_all_data(&s.text))
        .collect();
    if skipped.is_empty() {
        return Cow::Borrowed(sql);
    }
    let mut text = sql.to_string();
    for statement in skipped {
        let range = statement.offset..statement.offset + statement.text.len();
        let blank: String = sql[range.clone()]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        // Same byte length as long as the statement is ASCII; otherwise pad to keep offsets.
        let pad = range.len().saturating_sub(blank.len());
        text.replace_range(range, &format!("{blank}{}", " ".repeat(pad)));
    }
    Cow::Owned(text)
}

/// How many statements of `sql` [`adapt`] skips on a server of `major`.
pub fn skipped_count(sql: &str, major: u32) -> usize {
    if major >= READ_ALL_DATA_SINCE {
        return 0;
    }
    statements::split(sql)
        .iter()
        .filter(|s| grants_only_to_read_all_data(&s.text))
        .count()
}

/// `GRANT ... TO pg_read_all_data` (that role alone, any privileges on any objects).
fn grants_only_to_read_all_data(statement: &str) -> bool {
    let text = statements::without_leading_comments(statement);
    let words: Vec<&str> = text.split_whitespace().collect();
    matches!(words.first(), Some(w) if w.eq_ignore_ascii_case("GRANT"))
        && words.len() >= 3
        && words[words.len() - 2].eq_ignore_ascii_case("TO")
        && words[words.len() - 1]
            .trim_end_matches(';')
            .trim_matches('"')
            .eq_ignore_ascii_case("pg_read_all_data")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQL: &str = "CREATE VIEW v AS SELECT 1;\n-- why\nGRANT SELECT ON v\n  TO pg_read_all_data;\nGRANT SELECT ON v TO app;\nSELECT 'GRANT x TO pg_read_all_data';\n";

    #[test]
    fn fourteen_and_later_run_the_file_as_it_is() {
        assert_eq!(adapt(SQL, 14), SQL);
        assert_eq!(adapt(SQL, 18), SQL);
        assert_eq!(skipped_count(SQL, 15), 0);
    }

    #[test]
    fn thirteen_skips_only_the_grant_to_pg_read_all_data_keeping_offsets() {
        let adapted = adapt(SQL, 13);
        assert_eq!(adapted.len(), SQL.len());
        assert_eq!(adapted.lines().count(), SQL.lines().count());
        assert!(!adapted.contains("GRANT SELECT ON v\n  TO pg_read_all_data"));
        assert!(adapted.contains("GRANT SELECT ON v TO app;"));
        assert!(adapted.contains("SELECT 'GRANT x TO pg_read_all_data';"));
        assert!(adapted.contains("CREATE VIEW v AS SELECT 1;"));
        assert_eq!(skipped_count(SQL, 13), 1);
    }
}
