//! HTTPS for `palmdb serve --tls-cert FILE --tls-key FILE`: tokens must not cross a network in
//! clear text, so a listener reachable from other machines needs TLS (or an explicit
//! `--insecure-listen`). The certificate chain and the PKCS#8 private key are PEM files, as
//! `openssl req -x509 -newkey ...` or an ACME client writes them; the key file must be private.

use std::path::Path;

use anyhow::Result;
use tokio_native_tls::TlsAcceptor;

use crate::error::Failure;

/// Reads the certificate and key and builds the acceptor; every problem is one clear error.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let cert_pem = read("certificate", cert)?;
    refuse_shared_key(key)?;
    let key_pem = read("private key", key)?;
    let identity = native_tls::Identity::from_pkcs8(&cert_pem, &key_pem).map_err(|e| {
        Failure::usage(format!(
            "cannot use {} and {} as a TLS certificate and key: {e}",
            cert.display(),
            key.display()
        ))
        .with_hint(
            "give a PEM certificate chain and a PEM PKCS#8 key (\"BEGIN PRIVATE KEY\"; convert with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8)",
        )
    })?;
    let acceptor = native_tls::TlsAcceptor::new(identity)
        .map_err(|e| Failure::usage(format!("cannot set up TLS: {e}")))?;
    Ok(TlsAcceptor::from(acceptor))
}

fn read(what: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Failure::usage(format!(
            "cannot read the TLS {what} {}: {e}",
            path.display()
        ))
        .into()
    })
}

/// A private key others can read is no longer private.
fn refuse_shared_key(key: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(key)
        .map_err(|e| {
            Failure::usage(format!(
                "cannot read the TLS private key {}: {e}",
                key.display()
            ))
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Failure::usage(format!(
            "the TLS private key {} can be read by other users",
            key.display()
        ))
        .with_hint(format!("chmod 600 {}", key.display()))
        .into());
    }
    Ok(())
}
