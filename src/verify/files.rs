//! Re-reading a backup's table files, `--jobs N` at a time: each file is decrypted,
//! decompressed, parsed and hashed on a thread of its own (it is CPU work: zstd, the row
//! decoder, SHA-256), the biggest files first so the longest one does not start last. The
//! verdicts come back in the manifest's order, whatever order the files finished in, so the
//! report reads the same at any `--jobs`.
//!
//! Memory stays bounded: a file streams through its reader, and at most `jobs` files are open.

use std::cmp::Reverse;
use std::sync::Mutex;

use crate::archive::backup_files::BackupFiles;
use crate::archive::integrity::{self, FileCheck};
use crate::archive::TableEntry;
use crate::ui::progress::{Progress, Total};

/// `--jobs` when not given, as for `backup create`.
pub const DEFAULT_JOBS: usize = 2;

/// Checks every file of `tables` (see [`integrity::check_file`]), `jobs` at a time; the
/// verdicts in the order of `tables`. A bar per file while its lines are re-read.
pub fn check_files(
    files: &BackupFiles,
    tables: &[TableEntry],
    jobs: usize,
    progress: &Progress,
) -> Vec<FileCheck> {
    let mut biggest_first: Vec<usize> = (0..tables.len()).collect();
    biggest_first.sort_by_key(|&i| Reverse(tables[i].bytes));
    let queue = Mutex::new(biggest_first.into_iter());
    let checks: Mutex<Vec<Option<FileCheck>>> = Mutex::new(vec![None; tables.len()]);
    let worker = || loop {
        let next = queue.lock().expect("verify queue").next();
        let Some(i) = next else { return };
        let check = check_one(files, &tables[i], progress);
        checks.lock().expect("verify results")[i] = Some(check);
    };
    let jobs = jobs.clamp(1, tables.len().max(1));
    std::thread::scope(|scope| {
        for _ in 1..jobs {
            // A thread that cannot be started leaves its share to the others (this one
            // included), so the check still covers every file.
            let _ = std::thread::Builder::new()
                .name("palmdb-verify".to_string())
                .spawn_scoped(scope, worker);
        }
        worker();
    });
    checks
        .into_inner()
        .expect("verify results")
        .into_iter()
        .map(|check| check.expect("every file is checked"))
        .collect()
}

fn check_one(files: &BackupFiles, entry: &TableEntry, progress: &Progress) -> FileCheck {
    if !files.can_read_rows() {
        return integrity::check_file(files, entry);
    }
    let bar = progress.bar(&entry.qualified_name(), Total::Exact(entry.rows));
    let check =
        integrity::check_file_watched(files, entry, &mut |rows, bytes| bar.set(rows, bytes));
    bar.finish();
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::encryption::{Identities, Recipients};
    use crate::archive::repository::Repository;
    use crate::archive::writer::PrivateFile;
    use crate::archive::{Compression, TableWriter};
    use std::sync::Arc;

    /// A folder backup of tables of one text column, table `i` holding `rows[i]` lines,
    /// encrypted to `recipients` when given: its manifest's table entries, and its files
    /// readable with `identities`.
    fn encrypted_backup(
        dir: &std::path::Path,
        rows: &[usize],
        recipients: Option<&Recipients>,
        identities: Option<Arc<Identities>>,
    ) -> (BackupFiles, Vec<TableEntry>) {
        let folder = dir.join("20260101T000000Z");
        std::fs::create_dir(&folder).unwrap();
        let mut tables = Vec::new();
        for (i, &count) in rows.iter().enumerate() {
            let file = format!("public.t{i}.jsonl.zst");
            let sink = Box::new(PrivateFile::create(&folder.join(&file)).unwrap());
            let mut writer =
                TableWriter::new(sink, &file, Compression::default(), recipients).unwrap();
            for row in 0..count {
                writer
                    .write_all(format!("{{\"v\":\"row {row} of t{i}\"}}\n").as_bytes())
                    .unwrap();
            }
            let digest = writer.finish().unwrap();
            tables.push(serde_json::json!({
                "schema": "public", "name": format!("t{i}"),
                "columns": [{"name": "v", "type": "text"}],
                "rows": count, "file": file, "bytes": digest.bytes, "sha256": digest.sha256,
            }));
        }
        let manifest: crate::archive::Manifest = serde_json::from_value(serde_json::json!({
            "format_version": 2, "id": "b", "created_at": "2026-01-01T00:00:00Z",
            "completed_at": "2026-01-01T00:00:00Z", "database": "d", "server_version": "15",
            "server_version_num": 150000, "schema_version": null, "schema_version_name": null,
            "tool_version": "t", "snapshot_id": "s", "masked": false, "compression": "zstd",
            "tables": tables, "total_rows": 0, "total_bytes": 0,
            "encryption": recipients.map(Recipients::entry),
        }))
        .unwrap();
        let repo = Repository::folder(dir);
        let backup = repo.locate(folder.to_str().unwrap()).unwrap();
        let tables = manifest.tables.clone();
        (BackupFiles::new(backup, &manifest, identities), tables)
    }

    fn backup(dir: &std::path::Path, rows: &[usize]) -> (BackupFiles, Vec<TableEntry>) {
        encrypted_backup(dir, rows, None, None)
    }

    fn summary(checks: &[FileCheck]) -> Vec<(String, bool, u64, Vec<String>)> {
        checks
            .iter()
            .map(|c| (c.file.clone(), c.ok, c.rows, c.problems.clone()))
            .collect()
    }

    #[test]
    fn any_number_of_jobs_gives_the_same_verdicts_in_manifest_order() {
        let dir = tempfile::tempdir().unwrap();
        let (files, mut tables) = backup(dir.path(), &[3, 2000, 0, 700, 1, 50]);
        tables[3].rows += 1;
        let one = check_files(&files, &tables, 1, &Progress::hidden());
        assert_eq!(
            one.iter().map(|c| c.file.as_str()).collect::<Vec<_>>(),
            tables.iter().map(|t| t.file.as_str()).collect::<Vec<_>>()
        );
        assert!(!one[3].ok && one.iter().filter(|c| c.ok).count() == 5);
        for jobs in [2, 3, 6, 64] {
            let many = check_files(&files, &tables, jobs, &Progress::hidden());
            assert_eq!(summary(&many), summary(&one), "--jobs {jobs}");
        }
    }

    #[test]
    fn encrypted_files_are_read_from_several_threads_with_or_without_the_key() {
        use age::secrecy::ExposeSecret;
        let key = age::x25519::Identity::generate();
        let recipients = Recipients::parse(&key.to_public().to_string(), "r").unwrap();
        let identities = Arc::new(Identities::parse(key.to_string().expose_secret(), "k").unwrap());
        let rows = [300usize, 4000, 20, 1500];
        let dir = tempfile::tempdir().unwrap();
        let (files, tables) =
            encrypted_backup(dir.path(), &rows, Some(&recipients), Some(identities));
        assert!(files.is_encrypted() && files.can_read_rows());
        let one = check_files(&files, &tables, 1, &Progress::hidden());
        let three = check_files(&files, &tables, 3, &Progress::hidden());
        assert_eq!(summary(&three), summary(&one));
        assert!(three.iter().all(|c| c.ok && c.lines_checked), "{three:?}");
        assert_eq!(
            three.iter().map(|c| c.rows as usize).collect::<Vec<_>>(),
            rows
        );

        // Without the key: only the stored bytes, still on several threads; a changed byte
        // is named.
        let dir = tempfile::tempdir().unwrap();
        let (files, tables) = encrypted_backup(dir.path(), &rows, Some(&recipients), None);
        assert!(!files.can_read_rows());
        let path = dir.path().join("20260101T000000Z").join(&tables[2].file);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let one = check_files(&files, &tables, 1, &Progress::hidden());
        let three = check_files(&files, &tables, 3, &Progress::hidden());
        assert_eq!(summary(&three), summary(&one));
        let bad: Vec<bool> = three.iter().map(|c| c.ok).collect();
        assert_eq!(bad, [true, true, false, true]);
        assert!(three.iter().all(|c| !c.lines_checked));
    }

    #[test]
    fn no_tables_no_verdicts() {
        let dir = tempfile::tempdir().unwrap();
        let (files, tables) = backup(dir.path(), &[]);
        assert!(check_files(&files, &tables, 4, &Progress::hidden()).is_empty());
    }
}
