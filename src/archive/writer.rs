//! Writing a table file: bytes go through zstd (unless `--compress none`), then age (with
//! `--encrypt-to`), and are counted and hashed (SHA-256) on their way to the repository, so the
//! manifest's size and hash describe exactly the bytes stored, without reading them again.
//! Where they go — a private file on disk or a multipart upload — is the repository's
//! business ([`FileSink`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::compression::Compression;
use super::encryption::Recipients;
use super::repository::FileSink;

/// Size of the buffer in front of the compressor: large enough that zstd sees big blocks.
const BUFFER_BYTES: usize = 256 * 1024;

/// Size and SHA-256 of a file as it is stored.
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

type Hashed = HashingWriter<Box<dyn FileSink>>;

/// What the compressor writes into: the hashed sink, through age when encrypting.
enum Layer {
    Plain(Hashed),
    Age(age::stream::StreamWriter<Hashed>),
}

impl Write for Layer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Layer::Plain(w) => w.write(buf),
            Layer::Age(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Layer::Plain(w) => w.flush(),
            Layer::Age(w) => w.flush(),
        }
    }
}

impl Layer {
    /// Ends the encrypted stream (its last chunk) and gives back the hashed sink.
    fn finish(self) -> io::Result<Hashed> {
        match self {
            Layer::Plain(w) => Ok(w),
            Layer::Age(w) => w.finish(),
        }
    }
}

enum Sink {
    Plain(BufWriter<Layer>),
    Zstd(BufWriter<zstd::Encoder<'static, Layer>>),
}

/// One table file being written. Call [`TableWriter::finish`]; dropping it leaves nothing
/// that counts (the unpublished backup's cleanup removes what was written).
pub struct TableWriter {
    sink: Sink,
    label: String,
}

impl TableWriter {
    /// A writer into `sink`, named `label` in messages, compressed and (with `recipients`)
    /// encrypted.
    pub fn new(
        sink: Box<dyn FileSink>,
        label: impl Into<String>,
        compression: Compression,
        recipients: Option<&Recipients>,
    ) -> Result<TableWriter> {
        let label = label.into();
        let hashing = HashingWriter {
            inner: sink,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let layer = match recipients {
            None => Layer::Plain(hashing),
            Some(recipients) => Layer::Age(
                recipients
                    .encrypt(hashing)
                    .with_context(|| format!("cannot start the encryption of {label}"))?,
            ),
        };
        let sink = match compression {
            Compression::None => Sink::Plain(BufWriter::with_capacity(BUFFER_BYTES, layer)),
            Compression::Zstd { level, min_match } => {
                let start = || -> std::io::Result<zstd::Encoder<'static, Layer>> {
                    let mut encoder = zstd::Encoder::new(layer, level)?;
                    // A checksum per frame, so `zstd -t` alone detects a damaged file.
                    encoder.include_checksum(true)?;
                    if let Some(min_match) = min_match {
                        encoder
                            .set_parameter(zstd::stream::raw::CParameter::MinMatch(min_match))?;
                    }
                    Ok(encoder)
                };
                let encoder = start().with_context(|| format!("cannot start zstd for {label}"))?;
                Sink::Zstd(BufWriter::with_capacity(BUFFER_BYTES, encoder))
            }
        };
        Ok(TableWriter { sink, label })
    }

    /// Creates `path` (which must not exist) with mode 0600 and writes to it, unencrypted.
    pub fn create(path: &Path, compression: Compression) -> Result<TableWriter> {
        let file = PrivateFile::create(path)?;
        TableWriter::new(
            Box::new(file),
            path.display().to_string(),
            compression,
            None,
        )
    }

    /// Appends bytes (whole lines, as the caller builds them).
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let result = match &mut self.sink {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Zstd(w) => w.write_all(bytes),
        };
        result.with_context(|| format!("cannot write {}", self.label))
    }

    /// Ends the compressed (and encrypted) stream, makes the file durable and returns its
    /// size and hash.
    pub fn finish(self) -> Result<FileDigest> {
        let label = self.label;
        let context = || format!("cannot write {label}");
        let layer = match self.sink {
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
            inner: mut sink,
            hasher,
            bytes,
        } = layer.finish().with_context(context)?;
        sink.flush()
            .and_then(|_| sink.finish())
            .with_context(context)?;
        Ok(FileDigest {
            bytes,
            sha256: hex::encode(hasher.finalize()),
        })
    }
}

/// A new private file (0600) on disk, synced to disk by `finish`.
pub struct PrivateFile {
    file: File,
    path: PathBuf,
}

impl PrivateFile {
    /// Creates `path`; fails if it exists.
    pub fn create(path: &Path) -> Result<PrivateFile> {
        Ok(PrivateFile {
            file: create_private_file(path)?,
            path: path.to_path_buf(),
        })
    }
}

impl Write for PrivateFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl FileSink for PrivateFile {
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.file.flush()?;
        self.file.sync_all().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot sync {}: {e}", self.path.display()),
            )
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
