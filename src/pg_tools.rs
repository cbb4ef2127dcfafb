//! PostgreSQL's own client tools, which palmdb runs for what they do best: `pg_dump` stores a
//! database's schema in a backup, `pg_restore` turns it back into SQL.
//!
//! Finding them: `--pg-dump PATH` / `--pg-restore PATH` first; else every candidate in
//! [`candidate_dirs`] is asked its version, and the one of the wanted major version wins, else
//! the newest that is newer. None, or only older ones: one error naming the Debian package.
//!
//! Connecting them: the connection settings go through the libpq environment (`PGHOST`,
//! `PGPASSWORD`...), never the command line, where `ps` would show a password to every user.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;
use tokio_postgres::config::Host;

use crate::connect::{ConnectSettings, SslMode};
use crate::error::Failure;

/// Which tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    PgDump,
    PgRestore,
}

impl Tool {
    pub fn program(self) -> &'static str {
        match self {
            Tool::PgDump => "pg_dump",
            Tool::PgRestore => "pg_restore",
        }
    }

    /// The command-line option that names the tool's path explicitly.
    pub fn option(self) -> &'static str {
        match self {
            Tool::PgDump => "--pg-dump",
            Tool::PgRestore => "--pg-restore",
        }
    }
}

/// A tool found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// Major version, e.g. 15.
    pub major: u32,
    /// What `--version` printed, e.g. `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`.
    pub version: String,
}

/// What the caller needs, and what to tell the user when it is not there.
#[derive(Debug, Clone)]
pub struct Need<'a> {
    pub tool: Tool,
    /// The path given with `--pg-dump` / `--pg-restore`, if any.
    pub explicit: Option<&'a Path>,
    /// Oldest usable major version.
    pub min_major: u32,
    /// Preferred major version (the server's, or the one that wrote an archive).
    pub preferred_major: u32,
    /// Why it is needed, completing "cannot ...", e.g. "back up the schema of PostgreSQL 15.8".
    pub purpose: String,
    /// Another way out, added to the hint (e.g. "pass --no-schema to back up the rows only").
    pub alternative: Option<&'a str>,
}

/// Where to look, in order, after an explicit path: Debian's side-by-side installations
/// (`/usr/lib/postgresql/<major>/bin`, newest first), the client tools that
/// `scripts/matrix-postgres.sh` caches (`<cache>/clients/<major>/bin`, newest first, in
/// `$PALMDB_CACHE_DIR`, `/var/cache/palmdb` and `~/.cache/palmdb`), then every folder on `PATH`.
pub fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = versioned_dirs(Path::new("/usr/lib/postgresql"));
    for cache in cache_dirs() {
        dirs.extend(versioned_dirs(&cache.join("clients")));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

/// palmdb's caches of PostgreSQL binaries (see `scripts/matrix-postgres.sh`).
fn cache_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("PALMDB_CACHE_DIR").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(PathBuf::from("/var/cache/palmdb"));
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        dirs.push(Path::new(&home).join(".cache/palmdb"));
    }
    dirs
}

/// `<root>/<major>/bin` for every major installed under `root`, newest first.
fn versioned_dirs(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let major = e.file_name().to_str()?.parse::<u32>().ok()?;
                    Some((major, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// Finds the tool `need` describes, or fails with one line saying what to install.
pub fn find(need: &Need<'_>) -> Result<Found> {
    let program = need.tool.program();
    if let Some(path) = need.explicit {
        let found = probe(path).ok_or_else(|| {
            Failure::usage(format!(
                "{} {} is not a {program} that runs",
                need.tool.option(),
                path.display()
            ))
            .with_hint(format!(
                "point {} at PostgreSQL's {program}",
                need.tool.option()
            ))
        })?;
        if found.major < need.min_major {
            return Err(too_old(need, std::slice::from_ref(&found)).into());
        }
        return Ok(found);
    }
    let mut candidates: Vec<Found> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in candidate_dirs() {
        let path = dir.join(program);
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if seen.contains(&real) || !path.is_file() {
            continue;
        }
        seen.push(real);
        if let Some(found) = probe(&path) {
            candidates.push(found);
        }
    }
    choose(candidates.clone(), need.min_major, need.preferred_major)
        .ok_or_else(|| too_old(need, &candidates).into())
}

/// The preferred major if present, else the newest at least `min_major`; first found wins ties.
fn choose(candidates: Vec<Found>, min_major: u32, preferred_major: u32) -> Option<Found> {
    if let Some(exact) = candidates.iter().find(|c| c.major == preferred_major) {
        return Some(exact.clone());
    }
    candidates
        .into_iter()
        .filter(|c| c.major >= min_major)
        .fold(None, |best: Option<Found>, c| match best {
            Some(b) if b.major >= c.major => Some(b),
            _ => Some(c),
        })
}

fn too_old(need: &Need<'_>, found: &[Found]) -> Failure {
    let program = need.tool.program();
    let seen = if found.is_empty() {
        format!(
            "none was found ({} or PATH)",
            if need.explicit.is_some() {
                "the given path"
            } else {
                "/usr/lib/postgresql/*/bin, palmdb's cache"
            }
        )
    } else {
        let list: Vec<String> = found
            .iter()
            .map(|f| format!("{program} {} ({})", f.major, f.path.display()))
            .collect();
        format!("found only {}", list.join(", "))
    };
    let mut hint = format!(
        "install it (Debian/Ubuntu: apt-get install postgresql-client-{major}, from \
         apt.postgresql.org for versions Debian lacks) or point {option} at one",
        major = need.min_major.max(need.preferred_major),
        option = need.tool.option()
    );
    if let Some(alternative) = need.alternative {
        hint.push_str(&format!(", or {alternative}"));
    }
    Failure::usage(format!(
        "cannot {}: it needs {program} {} or newer, and {seen}",
        need.purpose, need.min_major
    ))
    .with_hint(hint)
}

/// Runs `path --version`; `None` when it does not run or does not say a version.
fn probe(path: &Path) -> Option<Found> {
    let output = Command::new(path).arg("--version").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    Some(Found {
        path: path.to_path_buf(),
        major: major_of(&version)?,
        version,
    })
}

/// The major version in `pg_dump (PostgreSQL) 15.20 (Debian ...)` or `... 9.6.24`.
pub fn major_of(version_text: &str) -> Option<u32> {
    let number = version_text
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The major version of a server from `server_version_num` (150008 → 15, 90624 → 9).
pub fn server_major(server_version_num: i32) -> u32 {
    (server_version_num.max(0) / 10_000) as u32
}

/// libpq's environment for the connection `settings` describe. Variables that would send
/// the tool elsewhere (`PGSERVICE`, `PGOPTIONS`...) are cleared by [`command`].
pub fn libpq_environment(settings: &ConnectSettings) -> Vec<(&'static str, OsString)> {
    let config = settings.driver_config();
    let mut env: Vec<(&'static str, OsString)> = Vec::new();
    let hosts: Vec<OsString> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => OsString::from(name),
            Host::Unix(path) => path.clone().into_os_string(),
        })
        .collect();
    if !hosts.is_empty() {
        env.push(("PGHOST", join(&hosts)));
    }
    let addresses: Vec<OsString> = config
        .get_hostaddrs()
        .iter()
        .map(|a| OsString::from(a.to_string()))
        .collect();
    if !addresses.is_empty() {
        env.push(("PGHOSTADDR", join(&addresses)));
    }
    let ports: Vec<OsString> = config
        .get_ports()
        .iter()
        .map(|p| OsString::from(p.to_string()))
        .collect();
    if !ports.is_empty() {
        env.push(("PGPORT", join(&ports)));
    }
    env.push(("PGUSER", settings.user().into()));
    if let Some(password) = config.get_password() {
        env.push(("PGPASSWORD", OsString::from_vec(password.to_vec())));
    }
    env.push(("PGDATABASE", settings.database().into()));
    if let Some(name) = config.get_application_name() {
        env.push(("PGAPPNAME", name.into()));
    }
    if let Some(timeout) = config.get_connect_timeout() {
        env.push((
            "PGCONNECT_TIMEOUT",
            timeout.as_secs().max(1).to_string().into(),
        ));
    }
    let ssl_mode = match settings.ssl_mode() {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyCa => "verify-ca",
        SslMode::VerifyFull => "verify-full",
    };
    env.push(("PGSSLMODE", ssl_mode.into()));
    if let Some(root_cert) = settings.root_cert() {
        env.push(("PGSSLROOTCERT", root_cert.as_os_str().to_owned()));
    }
    env
}

fn join(parts: &[OsString]) -> OsString {
    let mut joined = OsString::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            joined.push(",");
        }
        joined.push(part);
    }
    joined
}

/// libpq variables that would make the tool connect differently from palmdb.
const CLEARED: &[&str] = &[
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGHOSTADDR",
    "PGTARGETSESSIONATTRS",
    "PGREQUIRESSL",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGPASSWORD",
];

/// A command for `found` that connects where `settings` say, through the environment.
pub fn command(found: &Found, settings: &ConnectSettings) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&found.path);
    for name in CLEARED {
        command.env_remove(name);
    }
    command.envs(libpq_environment(settings));
    // Never prompt for a password on a terminal: fail instead.
    command.arg("--no-password");
    command.kill_on_drop(true);
    command
}

/// The last lines a tool wrote to stderr, as one line for an error message.
pub fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(major: u32, path: &str) -> Found {
        Found {
            path: PathBuf::from(path),
            major,
            version: format!("pg_dump (PostgreSQL) {major}.1"),
        }
    }

    #[test]
    fn versions_are_read_from_what_the_tools_print() {
        assert_eq!(
            major_of("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(major_of("pg_restore (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(major_of("pg_dump (PostgreSQL) 18beta1"), Some(18));
        assert_eq!(major_of("something else"), None);
        assert_eq!(server_major(150008), 15);
        assert_eq!(server_major(90624), 9);
    }

    #[test]
    fn the_preferred_major_wins_else_the_newest_newer_one() {
        let all = vec![
            found(13, "/a"),
            found(17, "/b"),
            found(15, "/c"),
            found(16, "/d"),
        ];
        assert_eq!(
            choose(all.clone(), 15, 15).unwrap().path,
            PathBuf::from("/c")
        );
        assert_eq!(
            choose(all.clone(), 14, 14).unwrap().path,
            PathBuf::from("/b")
        );
        assert_eq!(choose(all.clone(), 18, 18), None);
        assert_eq!(choose(vec![found(13, "/a")], 15, 15), None);
        assert_eq!(choose(vec![], 15, 15), None);
    }

    #[test]
    fn a_missing_tool_names_the_package_and_the_way_out() {
        let need = Need {
            tool: Tool::PgDump,
            explicit: None,
            min_major: 16,
            preferred_major: 16,
            purpose: "back up the schema of PostgreSQL 16.4".into(),
            alternative: Some("pass --no-schema to back up the rows only"),
        };
        let failure = too_old(&need, &[found(15, "/usr/lib/postgresql/15/bin/pg_dump")]);
        assert!(
            failure.message.contains("pg_dump 16 or newer"),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("found only pg_dump 15"),
            "{}",
            failure.message
        );
        let hint = failure.hint.unwrap();
        assert!(hint.contains("postgresql-client-16"), "{hint}");
        assert!(hint.contains("--pg-dump"), "{hint}");
        assert!(hint.contains("--no-schema"), "{hint}");
    }

    #[test]
    fn connection_settings_go_to_the_environment_not_the_command_line() {
        let settings = crate::connect::ConnectSettings::resolve(
            Some("postgres://app:s3cret@db.example:6543/palm?sslmode=verify-full&sslrootcert=/ca.pem"),
            &|_| None,
        )
        .unwrap();
        let env = libpq_environment(&settings);
        let get = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("PGHOST").as_deref(), Some("db.example"));
        assert_eq!(get("PGPORT").as_deref(), Some("6543"));
        assert_eq!(get("PGUSER").as_deref(), Some("app"));
        assert_eq!(get("PGPASSWORD").as_deref(), Some("s3cret"));
        assert_eq!(get("PGDATABASE").as_deref(), Some("palm"));
        assert_eq!(get("PGSSLMODE").as_deref(), Some("verify-full"));
        assert_eq!(get("PGSSLROOTCERT").as_deref(), Some("/ca.pem"));
        let found = found(15, "/bin/true");
        let command = command(&found, &settings);
        let args: Vec<String> = command
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.iter().all(|a| !a.contains("s3cret")), "{args:?}");
    }
}
