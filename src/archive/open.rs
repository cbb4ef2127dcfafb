//! Opening what a backup folder holds without trusting whoever else can write to the disk.
//!
//! - A table file or manifest is opened with `O_NOFOLLOW` and must be a regular file: a symlink
//!   planted in a backup (to `/etc/shadow`, to another user's data) is refused, never read, and
//!   a FIFO cannot hang a reader (`O_NONBLOCK` on the open, checked with `fstat` after it).
//! - A folder writable by group or others is refused with the `chmod` to run: another local
//!   user could swap a backup in it.
//! - Folders palmdb creates are 0700, the missing parents included, whatever the umask.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

use crate::error::Failure;

/// Opens an existing regular file for reading; a symlink or anything but a regular file is an
/// error that says so.
pub fn open_regular_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::other(
                "it is a symbolic link: a backup's files must be regular files inside its folder",
            ),
            _ => e,
        })?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::other(
            "it is not a regular file: a backup's files must be regular files inside its folder",
        ));
    }
    Ok(file)
}

/// Refuses a folder that users other than its owner can write to.
pub fn refuse_writable_by_others(folder: &Path) -> Result<()> {
    let mode = match fs::metadata(folder) {
        Ok(meta) => meta.permissions().mode(),
        // A missing folder is for the caller to report in its own words.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", folder.display())),
    };
    if mode & 0o022 != 0 {
        return Err(Failure::usage(format!(
            "{} is writable by {}: another local user could replace backups in it",
            folder.display(),
            if mode & 0o002 != 0 {
                "every user"
            } else {
                "its group"
            }
        ))
        .with_hint(format!("chmod go-w {}", shell_quote(folder)))
        .into());
    }
    Ok(())
}

/// Creates `path` and its missing parents, each with mode 0700 whatever the umask. Folders
/// that exist are left as they are.
pub fn create_private_dirs(path: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut next = Some(path);
    while let Some(folder) = next {
        if folder.as_os_str().is_empty() || folder.symlink_metadata().is_ok() {
            break;
        }
        missing.push(folder);
        next = folder.parent();
    }
    for folder in missing.into_iter().rev() {
        match fs::DirBuilder::new().mode(0o700).create(folder) {
            Ok(()) => fs::set_permissions(folder, fs::Permissions::from_mode(0o700))?,
            // Another process created it in the meantime: not ours to change.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A path as a shell word, for hints meant to be pasted.
fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%".contains(&b))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_symlink_or_a_fifo_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::write(&real, b"x").unwrap();
        assert!(open_regular_file(&real).is_ok());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = open_regular_file(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = open_regular_file(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(open_regular_file(dir.path()).is_err());
    }

    #[test]
    fn parents_are_created_0700_and_existing_ones_left_alone() {
        // The umask is process-wide, so `umask 000` is tested on the binary (tests/suite/hardening.rs).
        let dir = tempfile::tempdir().unwrap();
        let before = fs::metadata(dir.path()).unwrap().mode();
        let deep = dir.path().join("a/b/c");
        create_private_dirs(&deep).unwrap();
        for folder in ["a", "a/b", "a/b/c"] {
            let mode = fs::metadata(dir.path().join(folder)).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o700, "{folder}");
        }
        assert_eq!(fs::metadata(dir.path()).unwrap().mode(), before);
        create_private_dirs(&deep).unwrap();
    }

    #[test]
    fn a_folder_others_can_write_is_refused_with_the_chmod() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("it's shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
        let err = refuse_writable_by_others(&shared).unwrap_err();
        assert!(crate::error::one_line(&err).contains("every user"));
        let hint = crate::error::failure_of(&err)
            .unwrap()
            .hint
            .clone()
            .unwrap();
        assert_eq!(
            hint,
            format!("chmod go-w '{}/it'\\''s shared'", dir.path().display())
        );
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o770)).unwrap();
        assert!(refuse_writable_by_others(&shared).is_err());
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o750)).unwrap();
        assert!(refuse_writable_by_others(&shared).is_ok());
    }
}
