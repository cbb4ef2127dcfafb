//! Names inside the backup folder: backup ids, work-in-progress folders, table files.
//!
//! A backup is `<dir>/<id>/` where `<id>` is the UTC start time, `20261125T170501Z` (with
//! `-2`, `-3`... when two start in the same second), so names sort by time. Work in progress
//! lives in `<dir>/.partial-<id>-<pid>/`: the leading dot and the prefix make it something no
//! reader mistakes for a backup, and `prune` removes it once no process holds its lock (an
//! `flock` on the folder itself, taken by the writing process and released when it dies).

use chrono::{DateTime, Utc};

use super::compression::Codec;

pub const MANIFEST_FILE: &str = "manifest.json";

/// Prefix of work-in-progress folders.
pub const PARTIAL_PREFIX: &str = ".partial-";

/// The id for a backup started at `at`; `attempt` 1 is the plain timestamp.
pub fn backup_id(at: DateTime<Utc>, attempt: u32) -> String {
    let stamp = at.format("%Y%m%dT%H%M%SZ").to_string();
    if attempt <= 1 {
        stamp
    } else {
        format!("{stamp}-{attempt}")
    }
}

/// Whether a folder name has the shape of a backup id (not a partial or foreign folder).
pub fn is_backup_id(name: &str) -> bool {
    let (stamp, suffix) = match name.split_once('-') {
        Some((stamp, n)) => (stamp, Some(n)),
        None => (name, None),
    };
    let stamp_ok = stamp.len() == 16
        && stamp.is_char_boundary(15)
        && chrono::NaiveDateTime::parse_from_str(&stamp[..15], "%Y%m%dT%H%M%S").is_ok()
        && stamp.ends_with('Z');
    let suffix_ok = suffix.is_none_or(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    stamp_ok && suffix_ok
}

/// The work-in-progress folder name for backup `id` written by process `pid`.
pub fn partial_name(id: &str, pid: u32) -> String {
    format!("{PARTIAL_PREFIX}{id}-{pid}")
}

pub fn is_partial_name(name: &str) -> bool {
    name.starts_with(PARTIAL_PREFIX)
}

/// File name for a table: `schema.table.jsonl.zst`, with anything but ASCII letters, digits,
/// `_` and `-` replaced by `_` so that odd identifiers (slashes, dots, spaces, unicode) make
/// safe, portable names. `taken` holds names already used (compared case-insensitively, for
/// case-insensitive file systems); a clash gets a `~N` suffix.
pub fn table_file_name(schema: &str, table: &str, codec: Codec, taken: &[String]) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let stem = format!("{}.{}", clean(schema), clean(table));
    let suffix = codec.suffix();
    let mut candidate = format!("{stem}{suffix}");
    let mut n = 2;
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&candidate)) {
        candidate = format!("{stem}~{n}{suffix}");
        n += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_sort_by_time_and_are_recognised() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 17, 5, 1).unwrap();
        assert_eq!(backup_id(at, 1), "20261125T170501Z");
        assert_eq!(backup_id(at, 2), "20261125T170501Z-2");
        assert!(is_backup_id("20261125T170501Z"));
        assert!(is_backup_id("20261125T170501Z-12"));
        assert!(!is_backup_id(".partial-20261125T170501Z-77"));
        assert!(!is_backup_id("20261125T170501"));
        assert!(!is_backup_id("20261325T170501Z"));
        assert!(!is_backup_id("20261125T170501Z-"));
        assert!(!is_backup_id("notes"));
        assert!(is_partial_name(&partial_name("20261125T170501Z", 77)));
    }

    #[test]
    fn table_files_are_safe_and_unique() {
        let a = table_file_name("public", "users", Codec::Zstd, &[]);
        assert_eq!(a, "public.users.jsonl.zst");
        let odd = table_file_name("public", "we/ird ná.me", Codec::None, &[]);
        assert_eq!(odd, "public.we_ird_n__me.jsonl");
        let taken = vec!["public.Users.jsonl.zst".to_string()];
        assert_eq!(
            table_file_name("public", "users", Codec::Zstd, &taken),
            "public.users~2.jsonl.zst"
        );
    }
}
