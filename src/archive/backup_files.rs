//! A published backup's files, opened as its manifest says: decompressed, and decrypted when
//! the backup is encrypted and an identity was given. What `verify`, `restore`, the restore
//! test and `copy` read through, wherever the backup is stored.

use std::io;
use std::sync::Arc;

use anyhow::Result;

use super::compression::Codec;
use super::encryption::Identities;
use super::repository::{Backup, FileSource};
use super::{LineReader, Manifest};
use crate::error::Failure;

#[derive(Clone)]
pub struct BackupFiles {
    backup: Backup,
    codec: Codec,
    encrypted: bool,
    identities: Option<Arc<Identities>>,
}

/// `backup verify --jobs N` reads several files of one backup at once, from threads that share
/// one `BackupFiles`: it must stay `Send + Sync` (a folder, a store client, age keys).
const _: fn() = || {
    fn shared_between_threads<T: Send + Sync>() {}
    shared_between_threads::<BackupFiles>();
};

impl BackupFiles {
    /// The files of `backup`, described by `manifest`. `identities` may be `None` for an
    /// encrypted backup: only the stored bytes (sizes, hashes) can then be read.
    pub fn new(
        backup: Backup,
        manifest: &Manifest,
        identities: Option<Arc<Identities>>,
    ) -> BackupFiles {
        BackupFiles {
            backup,
            codec: manifest.compression,
            encrypted: manifest.encryption.is_some(),
            identities,
        }
    }

    /// The files of `backup`, refusing (before anything is read) an encrypted backup without
    /// an identity, or with one that is not among its recipients.
    pub fn readable(
        backup: Backup,
        manifest: &Manifest,
        identities: Option<Arc<Identities>>,
    ) -> Result<BackupFiles> {
        if let Some(entry) = &manifest.encryption {
            match &identities {
                None => return Err(Failure::usage(format!(
                    "backup {} is encrypted (to {}): its rows cannot be read without the key",
                    manifest.id,
                    entry.recipients.join(", ")
                ))
                .with_hint(
                    "pass --identity KEYFILE (or set PALMDB_AGE_IDENTITY) with the private key \
                         of one of its recipients",
                )
                .into()),
                Some(identities) => identities.check_can_decrypt(entry, &manifest.id)?,
            }
        }
        Ok(BackupFiles::new(backup, manifest, identities))
    }

    pub fn backup(&self) -> &Backup {
        &self.backup
    }

    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// Whether rows can be read (not encrypted, or an identity is at hand).
    pub fn can_read_rows(&self) -> bool {
        !self.encrypted || self.identities.is_some()
    }

    /// How a file is named in messages: `<backup>/<file>`.
    pub fn label(&self, file: &str) -> String {
        format!("{}/{file}", self.backup.describe())
    }

    /// The stored bytes of a file, as they are (compressed, encrypted).
    pub fn stored(&self, file: &str) -> io::Result<FileSource> {
        self.backup.open(file)
    }

    /// A table file's lines, decrypted and decompressed, hashed as they are read.
    pub fn lines(&self, file: &str) -> Result<LineReader> {
        self.reader(file, self.codec)
    }

    /// A file's plaintext (decrypted, not decompressed): the stored schema.
    pub fn plaintext(&self, file: &str) -> Result<LineReader> {
        self.reader(file, Codec::None)
    }

    fn reader(&self, file: &str, codec: Codec) -> Result<LineReader> {
        let identities = match (self.encrypted, &self.identities) {
            (false, _) => None,
            (true, Some(identities)) => Some(identities.as_ref()),
            (true, None) => {
                return Err(Failure::usage(format!(
                    "{} is encrypted: pass --identity to read it",
                    self.label(file)
                ))
                .into())
            }
        };
        let source = self.backup.open(file).map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot open {}", self.label(file)))
        })?;
        LineReader::new(source, self.label(file), codec, identities)
    }
}
