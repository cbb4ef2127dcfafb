//! Bearer tokens: where they come from and how a request's token is checked.
//!
//! Only the SHA-256 digest of each configured token is kept, so the token itself can never end
//! up in a log line, a panic message or a core dump of a long-running server. Comparing digests
//! of equal length with `subtle` takes the same time whether the first byte or the last one
//! differs, and whatever the presented token's length.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Failure;

/// Tokens shorter than this are refused: a guessable token is no better than none.
/// `openssl rand -hex 32` gives 64 characters.
pub const MIN_TOKEN_LEN: usize = 32;

/// Tokens with fewer different characters than this are refused: `aaaa...` or `abababab...`
/// is long but not secret. Hex has 16 symbols, so a random hex token has them all.
pub const MIN_DISTINCT_CHARS: usize = 8;

/// What every token hint says.
pub const TOKEN_HINT: &str = "generate one with: openssl rand -hex 32";

/// What a valid token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The read-only endpoints: health, backup list and status, metrics.
    Read,
    /// Everything, including the destructive `DELETE /backups/expired`.
    Admin,
}

/// A configured token, remembered only as its digest.
pub struct Secret([u8; 32]);

impl Secret {
    fn new(token: &str) -> Secret {
        Secret(Sha256::digest(token.as_bytes()).into())
    }

    fn matches(&self, presented: &[u8]) -> subtle::Choice {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Where the tokens come from: the command line / environment, or files.
#[derive(Debug, Default, Clone)]
pub struct TokenSources {
    pub admin_token: Option<String>,
    pub admin_token_file: Option<PathBuf>,
    pub read_token: Option<String>,
    pub read_token_file: Option<PathBuf>,
}

/// The tokens the server accepts. At least one is always present.
#[derive(Debug)]
pub struct Tokens {
    admin: Option<Secret>,
    read: Option<Secret>,
}

impl Tokens {
    /// Reads and validates the configured tokens; refuses to go on without any.
    pub fn load(sources: &TokenSources) -> Result<Tokens> {
        let admin = one_token(
            "admin",
            sources.admin_token.as_deref(),
            sources.admin_token_file.as_deref(),
            "PALMDB_ADMIN_TOKEN (or --admin-token)",
            "--token-file",
        )?;
        let read = one_token(
            "read",
            sources.read_token.as_deref(),
            sources.read_token_file.as_deref(),
            "PALMDB_READ_TOKEN (or --read-token)",
            "--read-token-file",
        )?;
        if admin.is_none() && read.is_none() {
            return Err(Failure::usage("no token configured: palmdb serve never runs without authentication")
                .with_hint("set PALMDB_ADMIN_TOKEN or pass --token-file FILE (e.g. a file made with: openssl rand -hex 32 > FILE; chmod 600 FILE)")
                .into());
        }
        if let (Some(a), Some(r)) = (&admin, &read) {
            if a == r {
                return Err(
                    Failure::usage("the read token and the admin token are the same")
                        .with_hint("use two different tokens, or only the admin token")
                        .into(),
                );
            }
        }
        Ok(Tokens {
            admin: admin.as_deref().map(Secret::new),
            read: read.as_deref().map(Secret::new),
        })
    }

    /// What the `Authorization` header's value grants, if anything. Both tokens are always
    /// compared, so the time taken does not say which one (if any) was close.
    pub fn access_of(&self, authorization: Option<&[u8]>) -> Option<Access> {
        self.access_of_token(authorization.and_then(bearer_token)?)
    }

    /// What a token presented some other way (a login form) grants, if anything; the same
    /// constant-time comparison as [`Tokens::access_of`].
    pub fn access_of_token(&self, presented: &[u8]) -> Option<Access> {
        if presented.is_empty() {
            return None;
        }
        let no = subtle::Choice::from(0);
        let is_admin = self.admin.as_ref().map_or(no, |s| s.matches(presented));
        let is_read = self.read.as_ref().map_or(no, |s| s.matches(presented));
        if bool::from(is_admin) {
            Some(Access::Admin)
        } else if bool::from(is_read) {
            Some(Access::Read)
        } else {
            None
        }
    }

    pub fn has_admin(&self) -> bool {
        self.admin.is_some()
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is case-insensitive
/// (RFC 7235); anything else (Basic, a bare token, an empty token) is no token.
fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

fn one_token(
    role: &str,
    value: Option<&str>,
    file: Option<&Path>,
    value_flag: &str,
    file_flag: &str,
) -> Result<Option<String>> {
    let token = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(Failure::usage(format!(
                "the {role} token is given twice: by {value_flag} and by {file_flag}"
            ))
            .with_hint("give it once")
            .into())
        }
        (Some(v), None) => v.trim().to_string(),
        (None, Some(path)) => read_token_file(role, path)?,
        (None, None) => return Ok(None),
    };
    check_strength(role, &token)?;
    Ok(Some(token))
}

fn read_token_file(role: &str, path: &Path) -> Result<String> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| Failure::usage(format!("cannot read the {role} token file {shown}: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(Failure::usage(format!(
                "the {role} token file {shown} can be read by other users"
            ))
            .with_hint(format!("chmod 600 {shown}"))
            .into());
        }
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read the {role} token file {shown}: {e}")))?;
    Ok(text.trim().to_string())
}

/// Refuses tokens that are empty, short, repetitive, or that cannot travel in an HTTP header.
/// The message names the role and the rule, never the token.
pub fn check_strength(role: &str, token: &str) -> Result<()> {
    let problem = if token.is_empty() {
        format!("the {role} token is empty")
    } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
        format!(
            "the {role} token has spaces, control or non-ASCII characters, which cannot be sent in an HTTP header"
        )
    } else if token.len() < MIN_TOKEN_LEN {
        format!("the {role} token is shorter than {MIN_TOKEN_LEN} characters")
    } else if distinct_bytes(token) < MIN_DISTINCT_CHARS {
        format!(
            "the {role} token has fewer than {MIN_DISTINCT_CHARS} different characters: it is guessable"
        )
    } else {
        return Ok(());
    };
    Err(Failure::usage(problem).with_hint(TOKEN_HINT).into())
}

fn distinct_bytes(token: &str) -> usize {
    let mut seen = [false; 256];
    for b in token.bytes() {
        seen[usize::from(b)] = true;
    }
    seen.iter().filter(|s| **s).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "admin-token-0123456789abcdef0123456789";
    const READ: &str = "read-token-0123456789abcdef0123456789";

    fn both() -> Tokens {
        Tokens::load(&TokenSources {
            admin_token: Some(ADMIN.into()),
            read_token: Some(READ.into()),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn each_token_grants_its_own_access() {
        let t = both();
        assert_eq!(
            t.access_of(Some(format!("Bearer {ADMIN}").as_bytes())),
            Some(Access::Admin)
        );
        assert_eq!(
            t.access_of(Some(format!("bearer {READ}").as_bytes())),
            Some(Access::Read)
        );
    }

    #[test]
    fn anything_else_grants_nothing() {
        let t = both();
        for header in [
            "".to_string(),
            "Bearer".to_string(),
            "Bearer ".to_string(),
            format!("Basic {ADMIN}"),
            ADMIN.to_string(),
            format!("Bearer {ADMIN}x"),
            format!("Bearer {}", &ADMIN[..ADMIN.len() - 1]),
        ] {
            assert_eq!(t.access_of(Some(header.as_bytes())), None, "{header:?}");
        }
        assert_eq!(t.access_of(None), None);
    }

    #[test]
    fn no_token_refuses_to_start() {
        let err = Tokens::load(&TokenSources::default()).unwrap_err();
        assert!(crate::error::one_line(&err).contains("no token configured"));
    }

    #[test]
    fn weak_tokens_are_refused_without_being_echoed() {
        for bad in [
            "",
            "xyzzy",
            "has a space in it ok, and it is long enough",
            "tab\there-0123456789-0123456789-0123456789",
        ] {
            let err = Tokens::load(&TokenSources {
                admin_token: Some(bad.into()),
                ..Default::default()
            })
            .unwrap_err();
            let text = crate::error::one_line(&err);
            assert!(
                bad.trim().is_empty() || !text.contains(bad.trim()),
                "{text}"
            );
        }
    }

    #[test]
    fn sixteen_repeated_letters_are_refused() {
        // The probe: accepted before, although anyone could guess it.
        for (weak, why) in [
            ("aaaaaaaaaaaaaaaa", "shorter than 32"),
            (&"a".repeat(64), "fewer than 8 different"),
            (&"abcdefg".repeat(10), "fewer than 8 different"),
            ("0123456789abcdef0123456789abcde", "shorter than 32"),
        ] {
            let err = check_strength("admin", weak).unwrap_err();
            let text = crate::error::one_line(&err);
            assert!(text.contains(why), "{weak}: {text}");
            assert!(!text.contains(weak), "{text}");
            assert_eq!(
                crate::error::failure_of(&err).and_then(|f| f.hint.as_deref()),
                Some(TOKEN_HINT)
            );
        }
        // What `openssl rand -hex 32` gives passes: 64 hex characters.
        check_strength("admin", &"0123456789abcdef".repeat(4)).unwrap();
        check_strength("admin", &"abcdefgh".repeat(4)).unwrap();
    }

    #[test]
    fn a_login_form_token_is_checked_like_a_header() {
        let t = both();
        assert_eq!(t.access_of_token(ADMIN.as_bytes()), Some(Access::Admin));
        assert_eq!(t.access_of_token(READ.as_bytes()), Some(Access::Read));
        assert_eq!(t.access_of_token(b""), None);
        assert_eq!(t.access_of_token(b"nope"), None);
    }

    #[test]
    fn a_token_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, format!("{ADMIN}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let sources = TokenSources {
            admin_token_file: Some(path.clone()),
            ..Default::default()
        };
        assert!(Tokens::load(&sources).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let t = Tokens::load(&sources).unwrap();
        assert_eq!(
            t.access_of(Some(format!("Bearer {ADMIN}").as_bytes())),
            Some(Access::Admin)
        );
    }

    #[test]
    fn the_same_token_for_both_roles_is_refused() {
        let err = Tokens::load(&TokenSources {
            admin_token: Some(ADMIN.into()),
            read_token: Some(ADMIN.into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(crate::error::one_line(&err).contains("same"));
    }
}
