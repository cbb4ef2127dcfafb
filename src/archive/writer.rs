//! Writing a table file: bytes go through zstd (unless `--compress none`) into a private file,
//! and are counted and hashed (SHA-256) on their way to disk, so the manifest's size and hash
//! describe exactly the file that was written, without reading it again.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::compression::Compression;

/// Size of the buffer in front of the compressor: large enough that zstd sees big blocks.
const BUFFER_BYTES: usize = 256 * 1024;

/// Size and SHA-256 of a file as it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub bytes: u64,
    pub sha256: String,
}

/// A writer that counts and hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Sink {
    Plain(BufWriter<HashingWriter<File>>),
    Zstd(BufWriter<zstd::Encoder<'static, HashingWriter<File>>>),
}

/// One table file being written. Call [`TableWriter::finish`]; dropping it leaves a partial
/// file that the caller's work-in-progress folder cleanup removes.
pub struct TableWriter {
    sink: Sink,
    path: PathBuf,
}

impl TableWriter {
    /// Creates `path` (which must not exist) with mode 0600.
    pub fn create(path: &Path, compression: Compression) -> Result<TableWriter> {
        let file = create_private_file(path)?;
        let hashing = HashingWriter {
            inner: file,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let sink = match compression {
            Compression::None => Sink::Plain(BufWriter::with_capacity(BUFFER_BYTES, hashing)),
            Compression::Zstd { level, min_match } => {
                let start = || -> std::io::Result<zstd::Encoder<'static, HashingWriter<File>>> {
                    let mut encoder = zstd::Encoder::new(hashing, level)?;
                    // A checksum per frame, so `zstd -t` alone detects a damaged file.
                    encoder.include_checksum(true)?;
                    if let Some(min_match) = min_match {
                        encoder
                            .set_parameter(zstd::stream::raw::CParameter::MinMatch(min_match))?;
                    }
                    Ok(encoder)
                };
                let encoder =
                    start().with_context(|| format!("cannot start zstd for {}", path.display()))?;
                Sink::Zstd(BufWriter::with_capacity(BUFFER_BYTES, encoder))
            }
        };
        Ok(TableWriter {
            sink,
            path: path.to_path_buf(),
        })
    }

    /// Appends bytes (whole lines, as the caller builds them).
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let result = match &mut self.sink {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Zstd(w) => w.write_all(bytes),
        };
        result.with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Ends the compressed stream, syncs the file to disk and returns its size and hash.
    pub fn finish(self) -> Result<FileDigest> {
        let path = self.path;
        let context = || format!("cannot write {}", path.display());
        let hashing = match self.sink {
            Sink::Plain(w) => w
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(context)?,
            Sink::Zstd(w) => w
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|encoder| encoder.finish())
                .with_context(context)?,
        };
        let HashingWriter {
            inner: mut file,
            hasher,
            bytes,
        } = hashing;
        file.flush()
            .and_then(|_| file.sync_all())
            .with_context(context)?;
        Ok(FileDigest {
            bytes,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// Creates a new file readable and writable by its owner only; fails if it exists.
pub fn create_private_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Creates a folder with mode 0700 (whatever the umask); fails if it exists.
pub fn create_private_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create folder {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set the permissions of {}", path.display()))
}

/// Syncs a folder, so that the names created or renamed in it survive a crash.
pub fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot sync folder {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn digest_matches_the_file_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        for compression in [Compression::None, Compression::default()] {
            let path = dir.path().join(format!("t-{compression}"));
            let mut writer = TableWriter::create(&path, compression).unwrap();
            for i in 0..1000 {
                writer
                    .write_all(format!("{{\"id\":{i}}}\n").as_bytes())
                    .unwrap();
            }
            let digest = writer.finish().unwrap();
            let on_disk = fs::read(&path).unwrap();
            assert_eq!(digest.bytes, on_disk.len() as u64);
            assert_eq!(digest.sha256, hex::encode(Sha256::digest(&on_disk)));
            assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        fs::write(&path, b"x").unwrap();
        assert!(TableWriter::create(&path, Compression::None).is_err());
    }

    #[test]
    fn private_dir_is_0700() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        create_private_dir(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o700);
    }
}
