//! Reading a table file back line by line, decompressing and re-hashing the bytes as they are
//! read, so restore and verify check the SHA-256 in one pass with constant memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::compression::Codec;
use super::writer::FileDigest;

const BUFFER_BYTES: usize = 256 * 1024;

/// A reader that counts and hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

type Raw = BufReader<HashingReader<File>>;

enum Source {
    Plain(Raw),
    Zstd(BufReader<zstd::Decoder<'static, Raw>>),
}

/// The lines of one table file, without their `\n`.
pub struct LineReader {
    source: Source,
    line: Vec<u8>,
    lines: u64,
    path: PathBuf,
}

impl LineReader {
    pub fn open(path: &Path, codec: Codec) -> Result<LineReader> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let raw = BufReader::with_capacity(
            BUFFER_BYTES,
            HashingReader {
                inner: file,
                hasher: Sha256::new(),
                bytes: 0,
            },
        );
        let source = match codec {
            Codec::None => Source::Plain(raw),
            Codec::Zstd => {
                let decoder = zstd::Decoder::with_buffer(raw)
                    .with_context(|| format!("cannot start zstd for {}", path.display()))?;
                Source::Zstd(BufReader::with_capacity(BUFFER_BYTES, decoder))
            }
        };
        Ok(LineReader {
            source,
            line: Vec::with_capacity(4096),
            lines: 0,
            path: path.to_path_buf(),
        })
    }

    /// The next line without its `\n`, or `None` at the end. A last line without `\n` means
    /// the file was cut short, and is an error.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>> {
        self.line.clear();
        let read = match &mut self.source {
            Source::Plain(r) => r.read_until(b'\n', &mut self.line),
            Source::Zstd(r) => r.read_until(b'\n', &mut self.line),
        };
        let n = read.with_context(|| format!("cannot read {}", self.path.display()))?;
        if n == 0 {
            return Ok(None);
        }
        self.lines += 1;
        if self.line.last() != Some(&b'\n') {
            bail!(
                "{} is truncated: line {} has no end",
                self.path.display(),
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
            .with_context(|| format!("cannot read {}", self.path.display()))?;
            if buffer.is_empty() {
                if !started {
                    return Ok(None);
                }
                bail!(
                    "{} is truncated: line {} has no end",
                    self.path.display(),
                    self.lines
                );
            }
            if !started {
                started = true;
                self.lines += 1;
            }
            let (part, used, done) = match buffer.iter().position(|&b| b == b'\n') {
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
        copied.with_context(|| format!("cannot read {}", self.path.display()))
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.lines
    }

    /// Reads whatever is left of the file and returns its size and SHA-256 (of the bytes on
    /// disk), to compare with the manifest.
    pub fn finish(self) -> Result<FileDigest> {
        let context = || format!("cannot read {}", self.path.display());
        let mut raw = match self.source {
            Source::Plain(r) => r,
            Source::Zstd(r) => {
                let mut decoder = r.into_inner();
                io::copy(&mut decoder, &mut io::sink()).with_context(context)?;
                decoder.finish()
            }
        };
        io::copy(&mut raw, &mut io::sink()).with_context(context)?;
        let hashing = raw.into_inner();
        Ok(FileDigest {
            bytes: hashing.bytes,
            sha256: hex::encode(hashing.hasher.finalize()),
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
