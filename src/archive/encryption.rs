//! Client-side encryption of a backup's files with age (X25519 recipients; the format rage,
//! age and sops use), so a backup stored off-site is readable only with a private key that
//! never leaves its owner.
//!
//! Each table file and the schema are encrypted after compression, as a stream: `zstd → age →
//! SHA-256 → storage`. The manifest stays plaintext so `list`, `status`, `prune` and
//! hash-only `verify` work without the key; it records that the backup is encrypted and the
//! recipients' public keys, never a secret. The SHA-256 in the manifest is of the encrypted
//! bytes (what is stored), and age authenticates every 64 KiB chunk: a changed byte is caught
//! by either.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::str::FromStr;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error::Failure;

/// The `format` of the manifest's `encryption` entry.
pub const AGE_FORMAT: &str = "age";

/// The manifest's `encryption` entry: how the files are encrypted, and to whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionEntry {
    /// Always `age`.
    pub format: String,
    /// The recipients' public keys (`age1...`).
    pub recipients: Vec<String>,
}

/// The public keys a backup is encrypted to (`--encrypt-to FILE`).
#[derive(Clone)]
pub struct Recipients {
    keys: Vec<age::x25519::Recipient>,
}

/// The private keys that decrypt a backup (`--identity FILE`). Never printed.
pub struct Identities {
    keys: Vec<age::x25519::Identity>,
    source: String,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({} from {})", self.keys.len(), self.source)
    }
}

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipients({:?})", self.public_keys())
    }
}

impl Recipients {
    /// Reads a recipients file: one `age1...` public key per line; `#` comments and blank
    /// lines are ignored (the format of `age -R`).
    pub fn from_file(path: &Path) -> Result<Recipients> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read the recipients file {}: {e}",
                path.display()
            ))
            .with_hint("--encrypt-to (PALMDB_AGE_RECIPIENTS) names a file of age1... public keys")
        })?;
        Recipients::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source: &str) -> Result<Recipients> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-SECRET-KEY-") {
                return Err(Failure::usage(format!(
                    "{source} line {}: this is a private key, not a recipient",
                    n + 1
                ))
                .with_hint(
                    "give --encrypt-to the public key (`age-keygen -y KEYFILE` prints it); keep \
                     the private key off the database server",
                )
                .into());
            }
            let key = age::x25519::Recipient::from_str(line).map_err(|_| {
                Failure::usage(format!(
                    "{source} line {}: not an age X25519 recipient (age1...)",
                    n + 1
                ))
                .with_hint("create a key pair with `age-keygen -o key.txt`; its public key starts with age1")
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(Failure::usage(format!("{source} holds no recipient"))
                .with_hint("put at least one age1... public key in it, one per line")
                .into());
        }
        Ok(Recipients { keys })
    }

    pub fn public_keys(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.to_string()).collect()
    }

    /// What the manifest records.
    pub fn entry(&self) -> EncryptionEntry {
        EncryptionEntry {
            format: AGE_FORMAT.to_string(),
            recipients: self.public_keys(),
        }
    }

    /// Wraps `output` so that what is written to it is encrypted to every recipient. The
    /// returned writer's `finish` must be called to write the last chunk.
    pub fn encrypt<W: Write>(&self, output: W) -> io::Result<age::stream::StreamWriter<W>> {
        let encryptor =
            age::Encryptor::with_recipients(self.keys.iter().map(|k| k as &dyn age::Recipient))
                .map_err(|e| io::Error::other(format!("cannot start the encryption: {e}")))?;
        encryptor.wrap_output(output)
    }
}

impl Identities {
    /// Reads an identity file (age's format: `AGE-SECRET-KEY-1...` lines, `#` comments). The
    /// file must be readable by its owner only.
    pub fn from_file(path: &Path) -> Result<Identities> {
        let hint = "--identity (PALMDB_AGE_IDENTITY) names the age key file the backup was \
                    encrypted for";
        let meta = std::fs::metadata(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read the identity file {}: {e}",
                path.display()
            ))
            .with_hint(hint)
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(Failure::usage(format!(
                "the identity file {} can be read by other users",
                path.display()
            ))
            .with_hint(format!(
                "it holds a private key: chmod 600 {}",
                path.display()
            ))
            .into());
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read the identity file {}: {e}",
                path.display()
            ))
            .with_hint(hint)
        })?;
        Identities::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, source: &str) -> Result<Identities> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // The parse error would repeat the line: never show a private key.
            let key = age::x25519::Identity::from_str(line).map_err(|_| {
                Failure::usage(format!(
                    "{source} line {}: not an age X25519 identity (AGE-SECRET-KEY-1...)",
                    n + 1
                ))
                .with_hint("pass the key file `age-keygen` wrote")
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(Failure::usage(format!("{source} holds no identity"))
                .with_hint("pass the key file `age-keygen` wrote (AGE-SECRET-KEY-1... lines)")
                .into());
        }
        Ok(Identities {
            keys,
            source: source.to_string(),
        })
    }

    /// The public keys of these identities.
    pub fn public_keys(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    /// Refuses, before anything is read or changed, identities that cannot decrypt a backup
    /// encrypted as `entry` says.
    pub fn check_can_decrypt(&self, entry: &EncryptionEntry, backup: &str) -> Result<()> {
        let mine = self.public_keys();
        if entry.recipients.iter().any(|r| mine.contains(r)) {
            return Ok(());
        }
        Err(Failure::usage(format!(
            "the identity in {} cannot decrypt backup {backup}: it is encrypted to {}",
            self.source,
            entry.recipients.join(", ")
        ))
        .with_hint("pass --identity with the private key of one of those recipients")
        .into())
    }

    /// Wraps `input` (an age file) so that reading it gives the plaintext. A wrong key, a
    /// damaged header or (later, while reading) a changed chunk is an error.
    pub fn decrypt<R: Read>(&self, input: R) -> io::Result<age::stream::StreamReader<R>> {
        let decryptor = age::Decryptor::new(input).map_err(decrypt_error)?;
        decryptor
            .decrypt(self.keys.iter().map(|k| k as &dyn age::Identity))
            .map_err(decrypt_error)
    }
}

fn decrypt_error(err: age::DecryptError) -> io::Error {
    match err {
        age::DecryptError::Io(e) => e,
        age::DecryptError::NoMatchingKeys => {
            io::Error::other("the identity does not match any recipient of the file")
        }
        other => io::Error::other(format!(
            "cannot decrypt: {other} (the file is damaged or not an age file)"
        )),
    }
}

/// Whether a manifest's `encryption` entry is one this palmdb reads.
pub fn check_entry(entry: &EncryptionEntry) -> Result<(), String> {
    if entry.format != AGE_FORMAT {
        return Err(format!(
            "encryption format \"{}\" is not one this palmdb reads (age)",
            entry.format
        ));
    }
    if entry.recipients.is_empty() {
        return Err("encryption lists no recipient".to_string());
    }
    for (i, recipient) in entry.recipients.iter().enumerate() {
        // Not echoed: a key pasted in the wrong place may be a private one.
        if age::x25519::Recipient::from_str(recipient).is_err() {
            return Err(format!(
                "encryption recipient #{} is not an age X25519 public key",
                i + 1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn key_pair() -> (String, String) {
        let identity = age::x25519::Identity::generate();
        (
            identity.to_string().expose_secret().to_string(),
            identity.to_public().to_string(),
        )
    }

    #[test]
    fn encrypts_and_decrypts_a_stream_and_refuses_the_wrong_key_and_a_changed_byte() {
        let (secret, public) = key_pair();
        let (other_secret, _) = key_pair();
        let recipients = Recipients::parse(&format!("# ops team\n\n{public}\n"), "r").unwrap();
        assert_eq!(recipients.entry().recipients, vec![public.clone()]);
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut writer = recipients.encrypt(Vec::new()).unwrap();
        writer.write_all(&plain).unwrap();
        let sealed = writer.finish().unwrap();
        assert_ne!(&sealed[..plain.len().min(sealed.len())], &plain[..]);

        let identities = Identities::parse(&secret, "k").unwrap();
        identities
            .check_can_decrypt(&recipients.entry(), "b")
            .unwrap();
        let mut back = Vec::new();
        identities
            .decrypt(&sealed[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plain);

        let wrong = Identities::parse(&other_secret, "k2").unwrap();
        let err = wrong
            .check_can_decrypt(&recipients.entry(), "b")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&public), "{err}");
        assert!(wrong.decrypt(&sealed[..]).is_err());

        let mut tampered = sealed.clone();
        let middle = tampered.len() / 2;
        tampered[middle] ^= 1;
        let mut sink = Vec::new();
        let read = identities
            .decrypt(&tampered[..])
            .and_then(|mut r| r.read_to_end(&mut sink));
        assert!(read.is_err(), "a changed byte must not decrypt");
    }

    #[test]
    fn refuses_bad_recipients_and_never_echoes_a_private_key() {
        let (secret, _) = key_pair();
        let err = Recipients::parse(&secret, "r").unwrap_err().to_string();
        assert!(
            err.contains("private key") && !err.contains(&secret),
            "{err}"
        );
        assert!(Recipients::parse("# nothing\n", "r").is_err());
        assert!(Recipients::parse("ssh-ed25519 AAAA", "r").is_err());
        let broken = format!("{}x", &secret[..secret.len() - 1]);
        let err = Identities::parse(&broken, "k").unwrap_err().to_string();
        assert!(!err.contains(&broken), "{err}");
        assert!(check_entry(&EncryptionEntry {
            format: "gpg".into(),
            recipients: vec![]
        })
        .is_err());
    }
}
