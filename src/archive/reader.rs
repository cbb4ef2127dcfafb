//! Reading a table file back line by line, decrypting (for an encrypted backup),
//! decompressing and re-hashing the stored bytes as they are read, so restore and verify check
//! the SHA-256 in one pass with constant memory, wherever the file is stored.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::compression::Codec;
use super::encryption::Identities;
use super::open::open_regular_file;
use super::repository::FileSource;
use super::writer::FileDigest;

const BUFFER_BYTES: usize = 256 * 1024;

/// What has been read of the stored bytes so far.
#[derive(Default)]
struct Hashed {
    hasher: Sha256,
    bytes: u64,
}

/// A reader that counts and hashes what passes through it, into a state the line reader
/// keeps (age's reader does not give back what it reads from).
struct HashingReader {
    inner: FileSource,
    state: Arc<Mutex<Hashed>>,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.state.lock().expect("hash state");
        state.hasher.update(&buf[..n]);
        state.bytes += n as u64;
        Ok(n)
    }
}

type Raw = BufReader<HashingReader>;

/// The compressed bytes: the stored ones, or what age decrypts from them.
enum Plain {
    Raw(Raw),
    Age(BufReader<age::stream::StreamReader<Raw>>),
}

impl Read for Plain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Plain::Raw(r) => r.read(buf),
            Plain::Age(r) => r.read(buf),
        }
    }
}

impl BufRead for Plain {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Plain::Raw(r) => r.fill_buf(),
            Plain::Age(r) => r.fill_buf(),
        }
    }

    fn consume(&mut self, amount: usize) {
        match self {
            Plain::Raw(r) => r.consume(amount),
            Plain::Age(r) => r.consume(amount),
        }
    }
}

enum Source {
    Plain(Plain),
    Zstd(BufReader<zstd::Decoder<'static, Plain>>),
}

/// The lines of one table file, without their `\n`.
pub struct LineReader {
    source: Source,
    line: Vec<u8>,
    lines: u64,
    label: String,
    hashed: Arc<Mutex<Hashed>>,
}

impl LineReader {
    /// Reads `file` (named `label` in messages), decrypting it with `identities` when given.
    pub fn new(
        file: FileSource,
        label: impl Into<String>,
        codec: Codec,
        identities: Option<&Identities>,
    ) -> Result<LineReader> {
        let label = label.into();
        let hashed = Arc::new(Mutex::new(Hashed::default()));
        let raw = BufReader::with_capacity(
            BUFFER_BYTES,
            HashingReader {
                inner: file,
                state: hashed.clone(),
            },
        );
        let plain = match identities {
            None => Plain::Raw(raw),
            Some(identities) => Plain::Age(BufReader::with_capacity(
                BUFFER_BYTES,
                identities
                    .decrypt(raw)
                    .with_context(|| format!("cannot decrypt {label}"))?,
            )),
        };
        let source = match codec {
            Codec::None => Source::Plain(plain),
            Codec::Zstd => {
                let decoder = zstd::Decoder::with_buffer(plain)
                    .with_context(|| format!("cannot start zstd for {label}"))?;
                Source::Zstd(BufReader::with_capacity(BUFFER_BYTES, decoder))
            }
        };
        Ok(LineReader {
            source,
            line: Vec::with_capacity(4096),
            lines: 0,
            label,
            hashed,
        })
    }

    /// Opens an unencrypted file on disk: a regular file, never through a symlink (see
    /// `archive::open`).
    pub fn open(path: &Path, codec: Codec) -> Result<LineReader> {
        let file =
            open_regular_file(path).with_context(|| format!("cannot open {}", path.display()))?;
        LineReader::new(Box::new(file), path.display().to_string(), codec, None)
    }

    /// The next line without its `\n`, or `None` at the end. A last line without `\n` means
    /// the file was cut short, and is an error.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>> {
        self.line.clear();
        let read = match &mut self.source {
            Source::Plain(r) => r.read_until(b'\n', &mut self.line),
            Source::Zstd(r) => r.read_until(b'\n', &mut self.line),
        };
        let n = read.with_context(|| format!("cannot read {}", self.label))?;
        if n == 0 {
            return Ok(None);
        }
        self.lines += 1;
        if self.line.last() != Some(&b'\n') {
            bail!(
                "{} is truncated: line {} has no end",
                self.label,
                self.lines
            );
        }
        self.line.pop();
        Ok(Some(&self.line))
    }

    /// Streams the next line, without its `\n`, to `piece` in pieces of at most the read
    /// buffer's size, so a line of any length is read in constant memory. Returns the line's
    /// length, or `None` at the end of the file. A last line without `\n` is an error.
    pub fn stream_line(
        &mut self,
        mut piece: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<Option<u64>> {
        let mut length: u64 = 0;
        let mut started = false;
        loop {
            let buffer = match &mut self.source {
                Source::Plain(r) => r.fill_buf(),
                Source::Zstd(r) => r.fill_buf(),
            }
            .with_context(|| format!("cannot read {}", self.label))?;
            if buffer.is_empty() {
                if !started {
                    return Ok(None);
                }
                bail!(
                    "{} is truncated: line {} has no end",
                    self.label,
                    self.lines
                );
            }
            if !started {
                started = true;
                self.lines += 1;
            }
            let (part, used, done) = match memchr::memchr(b'\n', buffer) {
                Some(end) => (&buffer[..end], end + 1, true),
                None => (buffer, buffer.len(), false),
            };
            length += part.len() as u64;
            piece(part)?;
            match &mut self.source {
                Source::Plain(r) => r.consume(used),
                Source::Zstd(r) => r.consume(used),
            }
            if done {
                return Ok(Some(length));
            }
        }
    }

    /// Copies everything not read yet to `sink`, in constant memory.
    pub fn copy_to(&mut self, sink: &mut impl io::Write) -> Result<u64> {
        let copied = match &mut self.source {
            Source::Plain(r) => io::copy(r, sink),
            Source::Zstd(r) => io::copy(r, sink),
        };
        copied.with_context(|| format!("cannot read {}", self.label))
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.lines
    }

    /// Reads whatever is left of the file and returns its size and SHA-256 (of the bytes
    /// stored), to compare with the manifest. For an encrypted file this also checks its last
    /// chunk: a file cut short or changed does not decrypt.
    pub fn finish(self) -> Result<FileDigest> {
        let label = self.label;
        let context = || format!("cannot read {label}");
        let mut plain = match self.source {
            Source::Plain(r) => r,
            Source::Zstd(r) => {
                let mut decoder = r.into_inner();
                io::copy(&mut decoder, &mut io::sink()).with_context(context)?;
                decoder.finish()
            }
        };
        io::copy(&mut plain, &mut io::sink()).with_context(context)?;
        let hashed = std::mem::take(&mut *self.hashed.lock().expect("hash state"));
        Ok(FileDigest {
            bytes: hashed.bytes,
            sha256: hex::encode(hashed.hasher.finalize()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Compression, TableWriter};

    #[test]
    fn reads_back_what_was_written_with_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        for compression in [Compression::None, Compression::default()] {
            let path = dir.path().join(format!("t-{compression}"));
            let mut writer = TableWriter::create(&path, compression).unwrap();
            let long = "x".repeat(300_000);
            writer.write_all(b"{\"a\":1}\n\n").unwrap();
            writer
                .write_all(format!("{{\"b\":\"{long}\"}}\n").as_bytes())
                .unwrap();
            let written = writer.finish().unwrap();

            let mut reader = LineReader::open(&path, compression.codec()).unwrap();
            assert_eq!(reader.next_line().unwrap().unwrap(), b"{\"a\":1}");
            assert_eq!(reader.next_line().unwrap().unwrap(), b"");
            assert_eq!(reader.next_line().unwrap().unwrap().len(), long.len() + 8);
            assert!(reader.next_line().unwrap().is_none());
            assert_eq!(reader.lines_read(), 3);
            assert_eq!(reader.finish().unwrap(), written);
        }
    }

    #[test]
    fn long_lines_stream_in_pieces_of_bounded_size() {
        let dir = tempfile::tempdir().unwrap();
        for compression in [Compression::None, Compression::default()] {
            let path = dir.path().join(format!("t-{compression}"));
            let mut writer = TableWriter::create(&path, compression).unwrap();
            let long = "y".repeat(3 * BUFFER_BYTES + 17);
            writer
                .write_all(format!("{long}\n\nab\n").as_bytes())
                .unwrap();
            let written = writer.finish().unwrap();

            let mut reader = LineReader::open(&path, compression.codec()).unwrap();
            let mut pieces = Vec::new();
            let length = reader
                .stream_line(|piece| {
                    pieces.push(piece.to_vec());
                    Ok(())
                })
                .unwrap();
            assert_eq!(length, Some(long.len() as u64));
            assert!(pieces.len() > 1 && pieces.iter().all(|p| p.len() <= BUFFER_BYTES));
            assert_eq!(pieces.concat(), long.as_bytes());
            assert_eq!(reader.stream_line(|_| Ok(())).unwrap(), Some(0));
            let mut last = Vec::new();
            reader
                .stream_line(|p| {
                    last.extend_from_slice(p);
                    Ok(())
                })
                .unwrap();
            assert_eq!(last, b"ab");
            assert_eq!(reader.stream_line(|_| Ok(())).unwrap(), None);
            assert_eq!(reader.lines_read(), 3);
            assert_eq!(reader.finish().unwrap(), written);
        }
        let path = dir.path().join("cut");
        std::fs::write(&path, b"{}\n{\"a\"").unwrap();
        let mut reader = LineReader::open(&path, Codec::None).unwrap();
        assert!(reader.stream_line(|_| Ok(())).unwrap().is_some());
        assert!(reader.stream_line(|_| Ok(())).is_err());
    }

    #[test]
    fn an_encrypted_file_reads_back_with_its_key_and_a_changed_byte_is_caught() {
        use crate::archive::encryption::{Identities, Recipients};
        use crate::archive::writer::PrivateFile;
        use age::secrecy::ExposeSecret;
        let key = age::x25519::Identity::generate();
        let recipients = Recipients::parse(&key.to_public().to_string(), "r").unwrap();
        let identities = Identities::parse(key.to_string().expose_secret(), "k").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let sink = Box::new(PrivateFile::create(&path).unwrap());
        let mut writer =
            TableWriter::new(sink, "t", Compression::default(), Some(&recipients)).unwrap();
        let rows: Vec<String> = (0..20_000).map(|i| format!("{{\"id\":{i}}}")).collect();
        for row in &rows {
            writer.write_all(format!("{row}\n").as_bytes()).unwrap();
        }
        let written = writer.finish().unwrap();
        let stored = std::fs::read(&path).unwrap();
        assert!(stored.starts_with(b"age-encryption.org/v1"));
        assert_eq!(written.sha256, hex::encode(Sha256::digest(&stored)));

        let open = |p: &Path| -> FileSource { Box::new(std::fs::File::open(p).unwrap()) };
        let mut reader = LineReader::new(open(&path), "t", Codec::Zstd, Some(&identities)).unwrap();
        let mut back = Vec::new();
        while let Some(line) = reader.next_line().unwrap() {
            back.push(String::from_utf8(line.to_vec()).unwrap());
        }
        assert_eq!(back, rows);
        assert_eq!(reader.finish().unwrap(), written);

        let mut damaged = stored.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let result = (|| -> Result<()> {
            let mut reader = LineReader::new(open(&path), "t", Codec::Zstd, Some(&identities))?;
            while reader.next_line()?.is_some() {}
            reader.finish()?;
            Ok(())
        })();
        assert!(result.is_err(), "a changed byte must not read back");
    }

    #[test]
    fn a_flipped_byte_changes_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut writer = TableWriter::create(&path, Compression::None).unwrap();
        writer.write_all(b"{\"a\":1}\n").unwrap();
        let written = writer.finish().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[5] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let mut reader = LineReader::open(&path, Codec::None).unwrap();
        while reader.next_line().unwrap().is_some() {}
        assert_ne!(reader.finish().unwrap().sha256, written.sha256);
    }

    #[test]
    fn a_cut_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, b"{\"a\":1}\n{\"a\"").unwrap();
        let mut reader = LineReader::open(&path, Codec::None).unwrap();
        assert!(reader.next_line().unwrap().is_some());
        assert!(reader.next_line().is_err());
    }
}
