//! Where palmdb connects and how: `--database-url` / `DATABASE_URL` (a URL, with several
//! hosts if wanted, or a libpq `key=value` string), then what libpq itself would use — a
//! service from `pg_service.conf` (`service=` / `PGSERVICE`, `PGSERVICEFILE`), the
//! variables `PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGAPPNAME PGOPTIONS PGSSLMODE
//! PGSSLROOTCERT PGCONNECT_TIMEOUT PGTARGETSESSIONATTRS`, and the password file
//! (`~/.pgpass`, `PGPASSFILE`, ignored unless mode 0600 or stricter) — in libpq's order:
//! the connection string wins, then the service, then the environment, then the file.
//!
//! tokio-postgres understands only `sslmode=disable|prefer|require`, so the TLS settings are
//! taken out of the URL here and turned into a native-tls connector that behaves like libpq's
//! `require`, `verify-ca` and `verify-full`. Nothing in this module ever prints the password.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use native_tls::{Certificate, TlsConnector};
use postgres_native_tls::MakeTlsConnector;
use tokio_postgres::config::{Host, SslMode as DriverSslMode, TargetSessionAttrs};
use tokio_postgres::{Client, Config};

use crate::error::Failure;

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = Failure;
    fn from_str(s: &str) -> Result<Self, Failure> {
        match s {
            "disable" | "allow" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(Failure::usage(format!(
                "unknown sslmode \"{other}\": use disable, prefer, require, verify-ca or verify-full"
            ))),
        }
    }
}

/// Everything needed to open connections to one database.
#[derive(Clone)]
pub struct ConnectSettings {
    config: Config,
    ssl_mode: SslMode,
    root_cert: Option<PathBuf>,
    /// The user chose the application_name (URL, service, `PGAPPNAME`): palmdb keeps it
    /// instead of naming its sessions per command.
    user_application_name: bool,
}

/// Connection settings from a URL (or libpq key=value string); `None` means "use PG* env".
pub fn settings(database_url: Option<&str>) -> Result<ConnectSettings> {
    ConnectSettings::resolve(database_url, &|name| std::env::var(name).ok())
}

impl ConnectSettings {
    /// Resolves settings the way libpq does: the connection string wins, then the service
    /// file's section, then the environment, then the password file.
    pub fn resolve(
        database_url: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnectSettings> {
        let parsed = match database_url {
            Some(url) if !url.trim().is_empty() => parse_connection_string(url)?,
            _ => Parsed::default(),
        };
        let mut config = parsed.config;
        let service = match parsed.service.clone().or_else(|| env("PGSERVICE")) {
            Some(name) => service::load(&name, env)?,
            None => HashMap::new(),
        };
        // A setting the connection string left out: the service's, else the variable's.
        let var = |name: &str| -> Option<String> {
            service::keyword_of(name)
                .and_then(|keyword| service.get(keyword).cloned())
                .or_else(|| env(name))
                .filter(|value| !value.is_empty())
        };
        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            for host in var("PGHOST")
                .unwrap_or_else(|| "localhost".to_string())
                .split(',')
            {
                config.host(host.trim());
            }
        }
        if config.get_ports().is_empty() {
            if let Some(ports) = var("PGPORT") {
                for port in ports.split(',') {
                    let port: u16 = port.trim().parse().map_err(|_| {
                        Failure::usage(format!("PGPORT \"{ports}\" is not a port number"))
                    })?;
                    config.port(port);
                }
            }
        }
        if config.get_user().is_none() {
            let user = var("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".to_string());
            config.user(&user);
        }
        if config.get_dbname().is_none() {
            let database = var("PGDATABASE")
                .unwrap_or_else(|| config.get_user().unwrap_or("postgres").to_string());
            config.dbname(&database);
        }
        if config.get_password().is_none() {
            if let Some(password) = var("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_options().is_none() {
            if let Some(options) = var("PGOPTIONS") {
                config.options(&options);
            }
        }
        if !parsed.target_session_attrs {
            if let Some(attrs) = var("PGTARGETSESSIONATTRS") {
                config.target_session_attrs(target_session_attrs(&attrs)?);
            }
        }
        let ssl_mode = match parsed.ssl_mode {
            Some(mode) => Some(mode),
            None => var("PGSSLMODE").map(|m| m.parse()).transpose()?,
        };
        let root_cert = parsed
            .root_cert
            .or_else(|| var("PGSSLROOTCERT").map(PathBuf::from));
        if config.get_connect_timeout().is_none() {
            let secs = var("PGCONNECT_TIMEOUT")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(10);
            config.connect_timeout(Duration::from_secs(secs.max(1)));
        }
        if config.get_application_name().is_none() {
            if let Some(name) = var("PGAPPNAME") {
                config.application_name(&name);
            }
        }
        let user_application_name = config.get_application_name().is_some();
        if !user_application_name {
            config.application_name("palmdb");
        }
        if config.get_password().is_none() {
            let file = parsed
                .passfile
                .or_else(|| var("PGPASSFILE").map(PathBuf::from))
                .or_else(|| env("HOME").map(|home| Path::new(&home).join(".pgpass")));
            if let Some(file) = file {
                if let Some(password) = passfile::lookup(&file, &config) {
                    config.password(password);
                }
            }
        }
        let ssl_mode = ssl_mode.unwrap_or(SslMode::Prefer);
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            _ => DriverSslMode::Require,
        });
        Ok(ConnectSettings {
            config,
            ssl_mode,
            root_cert,
            user_application_name,
        })
    }

    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The driver's settings (host, port, user, password, database), for handing them to the
    /// PostgreSQL client tools through the libpq environment (`pg_tools`).
    pub fn driver_config(&self) -> &Config {
        &self.config
    }

    /// `sslrootcert`, when given.
    pub fn root_cert(&self) -> Option<&std::path::Path> {
        self.root_cert.as_deref()
    }

    pub fn database(&self) -> &str {
        self.config.get_dbname().unwrap_or("postgres")
    }

    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or("postgres")
    }

    /// The same server and credentials, another database (for scratch and test databases).
    pub fn with_database(&self, database: &str) -> ConnectSettings {
        let mut other = self.clone();
        other.config.dbname(database);
        other
    }

    /// The same settings with another application_name, so sessions can be told apart —
    /// unless the user named them (URL, service, `PGAPPNAME`): their name is kept.
    pub fn with_application_name(&self, name: &str) -> ConnectSettings {
        let mut other = self.clone();
        if !self.user_application_name {
            other.config.application_name(name);
        }
        other
    }

    /// `user@host:port/database` (`host1:port1,host2:port2` with several hosts), for
    /// messages: never the password.
    pub fn describe(&self) -> String {
        let ports = self.config.get_ports();
        let port_of = |i: usize| match ports.len() {
            0 => 5432,
            1 => ports[0],
            _ => ports.get(i).copied().unwrap_or(5432),
        };
        let mut hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| match host {
                Host::Tcp(h) => format!("{h}:{}", port_of(i)),
                #[cfg(unix)]
                Host::Unix(p) => format!("{}:{}", p.display(), port_of(i)),
            })
            .collect();
        if hosts.is_empty() {
            hosts.push(format!("localhost:{}", port_of(0)));
        }
        format!("{}@{}/{}", self.user(), hosts.join(","), self.database())
    }

    /// The driver's configuration and the TLS connector that goes with it, for a connection
    /// pool that opens its connections itself (`palmdb serve`).
    pub fn driver_parts(&self) -> Result<(Config, MakeTlsConnector)> {
        Ok((self.config.clone(), self.tls_connector()?))
    }

    /// Opens a connection and drives it on a background task.
    pub async fn connect(&self) -> Result<Client> {
        let tls = self.tls_connector()?;
        let (client, connection) = self
            .config
            // Bounded reads: TLS must not zero the driver's whole buffer on every read.
            .connect(crate::tls_read::BoundedReads(tls))
            .await
            .map_err(|e| self.explain_connect_error(e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed: {e}");
            }
        });
        Ok(client)
    }

    /// Refuses, in one line, a connection that does not keep one server session from one
    /// transaction to the next (a pooler in transaction or statement mode: PgBouncer's
    /// `pool_mode = transaction`, Supavisor on 6543). `what` says what needs the session and
    /// why, e.g. "migrate: its advisory lock is held by the session".
    pub async fn require_session(&self, command: &str, why: &str) -> Result<()> {
        if self.pooling().await? == Pooling::Transaction {
            return Err(Failure::usage(format!(
                "cannot run {command} through {}: it goes through a pooler in transaction mode, and {why}",
                self.describe()
            ))
            .with_hint(
                "give a direct or session-mode URL with --direct-url or DIRECT_URL (Supabase: the direct connection, or the session pooler on port 5432)",
            )
            .into());
        }
        Ok(())
    }

    /// Whether consecutive transactions of one connection run in one server session.
    ///
    /// Asked of the server, not guessed from the port: connection 1 reads its backend's pid
    /// (and leaves the transaction, so a transaction pooler returns that server to its pool);
    /// connection 2 opens a transaction and reads its pid; connection 1 reads its pid again. A
    /// direct connection or a session pooler answers the same pid twice on connection 1 and
    /// another on connection 2; a transaction pooler hands connection 1's idle server to
    /// connection 2 (PgBouncer reuses the most recently released server first) or another
    /// server to connection 1. When connection 2 gets no server within 3 s, the pool is full
    /// of sessions: not a transaction pooler, which had connection 1's server idle.
    pub async fn pooling(&self) -> Result<Pooling> {
        let probe = self.with_application_name("palmdb session check");
        let first = probe.connect().await?;
        let a = backend_pid(&first, "SELECT pg_backend_pid()").await?;
        let second = probe.connect().await?;
        let b = match tokio::time::timeout(
            Duration::from_secs(3),
            backend_pid(&second, "BEGIN; SELECT pg_backend_pid()"),
        )
        .await
        {
            Ok(pid) => Some(pid?),
            Err(_) => None,
        };
        let c = backend_pid(&first, "SELECT pg_backend_pid()").await?;
        if b.is_some() {
            let _ = second.batch_execute("ROLLBACK").await;
        }
        Ok(if b == Some(a) || c != a {
            Pooling::Transaction
        } else {
            Pooling::Session
        })
    }

    fn tls_connector(&self) -> Result<MakeTlsConnector> {
        let mut builder = TlsConnector::builder();
        let root_cert = self.root_cert.clone().or_else(default_root_cert);
        let verify = match self.ssl_mode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            // libpq: with `require`, a root certificate that is present is used as for verify-ca.
            SslMode::Require => self.root_cert.is_some(),
            SslMode::Disable | SslMode::Prefer => false,
        };
        if verify {
            let path = root_cert.ok_or_else(|| {
                Failure::usage(format!(
                    "sslmode={} needs a root certificate to check the server against",
                    self.ssl_mode_name()
                ))
                .with_hint("set sslrootcert=FILE in the URL or PGSSLROOTCERT")
            })?;
            if path.as_os_str() != "system" {
                let pem = std::fs::read(&path)
                    .with_context(|| format!("cannot read sslrootcert {}", path.display()))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    Failure::usage(format!(
                        "sslrootcert {} is not a PEM certificate: {e}",
                        path.display()
                    ))
                })?;
                builder.disable_built_in_roots(true);
                builder.add_root_certificate(cert);
            }
            builder.danger_accept_invalid_hostnames(self.ssl_mode != SslMode::VerifyFull);
        } else {
            // prefer/require encrypt without authenticating the server, exactly as libpq does.
            builder.danger_accept_invalid_certs(true);
            builder.danger_accept_invalid_hostnames(true);
        }
        let connector = builder
            .build()
            .map_err(|e| Failure::operation(format!("cannot set up TLS: {e}")))?;
        Ok(MakeTlsConnector::new(connector))
    }

    fn ssl_mode_name(&self) -> &'static str {
        match self.ssl_mode {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn explain_connect_error(&self, err: tokio_postgres::Error) -> anyhow::Error {
        let target = self.describe();
        let reason = crate::error::describe_pg_error(&err);
        let hint = match err.as_db_error().map(|db| db.code().code()) {
            Some("28P01") | Some("28000") => {
                "check the user name and password (PGUSER/PGPASSWORD or the URL) and pg_hba.conf"
            }
            Some("3D000") => "create the database first, or fix the database name in the URL or PGDATABASE",
            Some(_) if reason.contains("unsupported startup parameter") => {
                "a pooler (PgBouncer) refuses startup parameters it does not know: unset PGOPTIONS \
                 (or options= in the URL), or list it in PgBouncer's ignore_startup_parameters"
            }
            Some(_) => "see PostgreSQL's message above",
            None if reason.contains("TLS") || reason.contains("certificate") || reason.contains("ssl") => {
                "check sslmode and sslrootcert, and that the server has ssl=on"
            }
            None => "check that PostgreSQL is running and that --database-url / DATABASE_URL or PGHOST/PGPORT point at it",
        };
        Failure::connect(
            format!("cannot connect to {target}: {reason}"),
            Some(hint.to_string()),
        )
        .into()
    }
}

/// What a connection's transactions share: one server session (a direct connection, a
/// session pooler) or not (a pooler in transaction or statement mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Session,
    Transaction,
}

/// The pid of the backend that answered the last statement of `sql` (simple protocol: a
/// transaction pooler cannot move a one-message query between servers).
async fn backend_pid(client: &Client, sql: &str) -> Result<i32> {
    let messages = client
        .simple_query(sql)
        .await
        .context("cannot check whether the connection keeps its session")?;
    messages
        .iter()
        .rev()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("pg_backend_pid() returned no row"))
}

/// What to say when a connection string given on the command line holds a password: any local
/// user reads command lines (`ps`, `/proc/PID/cmdline`). The password itself is never repeated.
pub fn password_warning(connection_string: &str) -> Option<&'static str> {
    let has_password = if connection_string.starts_with("postgres://")
        || connection_string.starts_with("postgresql://")
    {
        // By hand, not url::Url: a URL with several hosts is not a URL to it.
        let rest = connection_string.split_once("://").map_or("", |(_, r)| r);
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        authority.rsplit_once('@').is_some_and(|(userinfo, _)| {
            userinfo
                .split_once(':')
                .is_some_and(|(_, password)| !password.is_empty())
        })
    } else {
        connection_string
            .split_whitespace()
            .any(|word| word.starts_with("password="))
    };
    has_password.then_some(
        "the password in --database-url can be read by every local user (ps, /proc/PID/cmdline): \
         put it in PGPASSWORD or ~/.pgpass instead",
    )
}

fn default_root_cert() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".postgresql/root.crt");
    path.exists().then_some(path)
}

/// What the connection string said, with the settings the driver does not take out of it.
#[derive(Default)]
struct Parsed {
    config: Config,
    ssl_mode: Option<SslMode>,
    root_cert: Option<PathBuf>,
    service: Option<String>,
    passfile: Option<PathBuf>,
    /// `target_session_attrs` was in the string (so `PGTARGETSESSIONATTRS` is not used).
    target_session_attrs: bool,
}

/// Splits what tokio-postgres does not understand (TLS files and modes it lacks, `service`,
/// `passfile`) out of a URL or key=value string. A URL may name several hosts
/// (`postgres://h1:5432,h2:5433/db`), which is why it is not parsed as a URL here.
fn parse_connection_string(input: &str) -> Result<Parsed> {
    let invalid = |e: &dyn std::fmt::Display| {
        Failure::usage(format!("the database URL is not valid: {e}"))
            .with_hint("use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]")
    };
    let mut parsed = Parsed::default();
    let take = |key: &str, value: &str, parsed: &mut Parsed| -> Result<bool> {
        match key {
            "sslmode" => parsed.ssl_mode = Some(value.parse::<SslMode>()?),
            "sslrootcert" => parsed.root_cert = Some(PathBuf::from(value)),
            "service" => parsed.service = Some(value.to_string()),
            "passfile" => parsed.passfile = Some(PathBuf::from(value)),
            "target_session_attrs" => {
                parsed.target_session_attrs = true;
                // Checked here for the clearer message; the driver reads it again.
                target_session_attrs(value)?;
                return Ok(false);
            }
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if input.starts_with("postgres://") || input.starts_with("postgresql://") {
        let (base, query) = input.split_once('?').unwrap_or((input, ""));
        let mut kept = url::form_urlencoded::Serializer::new(String::new());
        let mut any = false;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !take(&key, &value, &mut parsed)? {
                kept.append_pair(&key, &value);
                any = true;
            }
        }
        if any {
            format!("{base}?{}", kept.finish())
        } else {
            base.to_string()
        }
    } else {
        let mut kept = Vec::new();
        for token in input.split_whitespace() {
            let taken = match token.split_once('=') {
                Some((key, value)) => take(key, value, &mut parsed)?,
                None => false,
            };
            if !taken {
                kept.push(token);
            }
        }
        kept.join(" ")
    };
    // "postgres://" alone, or a string that was only `service=...`: the rest comes from the
    // service and the environment.
    let empty = rest.trim().is_empty() || rest == "postgres://" || rest == "postgresql://";
    if !empty {
        // The driver's own message may echo the input; say only that it is invalid and why.
        parsed.config = Config::from_str(&rest).map_err(|e| invalid(&e))?;
    }
    Ok(parsed)
}

/// `target_session_attrs` / `PGTARGETSESSIONATTRS`, as far as the driver supports it.
fn target_session_attrs(value: &str) -> Result<TargetSessionAttrs> {
    match value {
        "any" => Ok(TargetSessionAttrs::Any),
        "read-write" => Ok(TargetSessionAttrs::ReadWrite),
        "read-only" => Ok(TargetSessionAttrs::ReadOnly),
        other => Err(Failure::usage(format!(
            "target_session_attrs \"{other}\" is not supported: palmdb's driver knows any, \
             read-write and read-only (not primary, standby or prefer-standby)"
        ))
        .into()),
    }
}

/// `pg_service.conf`: named sections of libpq keywords.
mod service {
    use super::*;

    /// The service file keyword behind a libpq variable.
    pub fn keyword_of(variable: &str) -> Option<&'static str> {
        Some(match variable {
            "PGHOST" => "host",
            "PGPORT" => "port",
            "PGUSER" => "user",
            "PGPASSWORD" => "password",
            "PGDATABASE" => "dbname",
            "PGAPPNAME" => "application_name",
            "PGOPTIONS" => "options",
            "PGSSLMODE" => "sslmode",
            "PGSSLROOTCERT" => "sslrootcert",
            "PGCONNECT_TIMEOUT" => "connect_timeout",
            "PGTARGETSESSIONATTRS" => "target_session_attrs",
            "PGPASSFILE" => "passfile",
            _ => return None,
        })
    }

    const KEYWORDS: &[&str] = &[
        "host",
        "port",
        "user",
        "password",
        "dbname",
        "application_name",
        "options",
        "sslmode",
        "sslrootcert",
        "connect_timeout",
        "target_session_attrs",
        "passfile",
    ];

    /// The section `name` of the user's service file (`PGSERVICEFILE`, else
    /// `~/.pg_service.conf`), else of the system's (`PGSYSCONFDIR/pg_service.conf`, else
    /// Debian's `/etc/postgresql-common/pg_service.conf`), as libpq looks them up.
    pub fn load(
        name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HashMap<String, String>> {
        let user_file = env("PGSERVICEFILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| Path::new(&home).join(".pg_service.conf")));
        let system_file =
            Path::new(&env("PGSYSCONFDIR").unwrap_or_else(|| "/etc/postgresql-common".to_string()))
                .join("pg_service.conf");
        for file in user_file.iter().chain(std::iter::once(&system_file)) {
            let text = match std::fs::read_to_string(file) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(Failure::usage(format!(
                        "cannot read the service file {}: {e}",
                        file.display()
                    ))
                    .into())
                }
            };
            if let Some(section) = section(&text, name, file)? {
                return Ok(section);
            }
        }
        Err(
            Failure::usage(format!("definition of service \"{name}\" not found"))
                .with_hint(format!(
                    "add a [{name}] section to {} (PGSERVICEFILE) or {}",
                    user_file
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "~/.pg_service.conf".into()),
                    system_file.display()
                ))
                .into(),
        )
    }

    pub fn section(text: &str, name: &str, file: &Path) -> Result<Option<HashMap<String, String>>> {
        let mut found: Option<HashMap<String, String>> = None;
        let mut inside = false;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(header) = line.strip_prefix('[') {
                if found.is_some() {
                    break;
                }
                inside = header.trim_end_matches(']').trim() == name;
                if inside {
                    found = Some(HashMap::new());
                }
                continue;
            }
            if !inside {
                continue;
            }
            let bad = |what: String| {
                Failure::usage(format!(
                    "service file {} line {}: {what}",
                    file.display(),
                    number + 1
                ))
            };
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| bad("not keyword=value".into()))?;
            let key = key.trim();
            if !KEYWORDS.contains(&key) {
                return Err(bad(format!(
                    "\"{key}\" is not a setting palmdb supports ({})",
                    KEYWORDS.join(", ")
                ))
                .into());
            }
            if let Some(section) = found.as_mut() {
                section.insert(key.to_string(), value.trim().to_string());
            }
        }
        Ok(found)
    }
}

/// `~/.pgpass` / `PGPASSFILE`: `hostname:port:database:username:password`, `*` matches
/// anything, `\:` and `\\` escape. Like libpq, a file that group or others may read is
/// ignored with a warning, and the first line that matches the first host wins.
pub mod passfile {
    use super::*;

    pub fn lookup(file: &Path, config: &Config) -> Option<String> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(file).ok()?;
        if !meta.is_file() {
            eprintln!(
                "palmdb: warning: password file \"{}\" is not a plain file",
                file.display()
            );
            return None;
        }
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "palmdb: warning: password file \"{}\" has group or world access; permissions \
                 should be u=rw (0600) or less (it is ignored)",
                file.display()
            );
            return None;
        }
        let text = std::fs::read_to_string(file).ok()?;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            _ => "localhost".to_string(),
        };
        let port = config
            .get_ports()
            .first()
            .copied()
            .unwrap_or(5432)
            .to_string();
        let database = config.get_dbname().unwrap_or("");
        let user = config.get_user().unwrap_or("");
        find(&text, [&host, &port, database, user])
    }

    /// The password of the first line whose four fields match `wanted`.
    pub fn find(text: &str, wanted: [&str; 4]) -> Option<String> {
        for line in text.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let fields = split(line);
            if fields.len() < 5 {
                continue;
            }
            let matches = fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field == "*" || field == want);
            if matches {
                return Some(fields[4..].join(":"));
            }
        }
        None
    }

    fn split(line: &str) -> Vec<String> {
        let mut fields = vec![String::new()];
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        fields.last_mut().unwrap().push(next);
                    }
                }
                ':' if fields.len() < 5 => fields.push(String::new()),
                _ => fields.last_mut().unwrap().push(c),
            }
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn url_tls_settings_are_taken_out_for_the_driver() {
        let s = ConnectSettings::resolve(
            Some("postgres://app:secret@db.example:6543/palm?sslmode=verify-full&sslrootcert=/tmp/ca.pem&application_name=x"),
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(s.ssl_mode(), SslMode::VerifyFull);
        assert_eq!(
            s.root_cert.as_deref(),
            Some(std::path::Path::new("/tmp/ca.pem"))
        );
        assert_eq!(s.describe(), "app@db.example:6543/palm");
        assert_eq!(s.config.get_application_name(), Some("x"));
    }

    #[test]
    fn environment_fills_what_the_url_leaves_out() {
        let s = ConnectSettings::resolve(
            Some("postgres://app@db/palm"),
            &env_of(&[("PGPASSWORD", "pw"), ("PGSSLMODE", "require")]),
        )
        .unwrap();
        assert_eq!(s.config.get_password(), Some(&b"pw"[..]));
        assert_eq!(s.ssl_mode(), SslMode::Require);
    }

    #[test]
    fn libpq_variables_are_used_without_a_url() {
        let s = ConnectSettings::resolve(
            None,
            &env_of(&[
                ("PGHOST", "127.0.0.1"),
                ("PGPORT", "5433"),
                ("PGUSER", "dba"),
                ("PGDATABASE", "palm"),
            ]),
        )
        .unwrap();
        assert_eq!(s.describe(), "dba@127.0.0.1:5433/palm");
        assert_eq!(s.ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn a_bad_url_is_a_usage_error_without_the_password() {
        let err =
            ConnectSettings::resolve(Some("postgres://u:hunter2@h:notaport/db"), &env_of(&[]))
                .err()
                .unwrap();
        let text = crate::error::one_line(&err);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("not valid"), "{text}");
    }

    #[test]
    fn a_password_in_the_url_is_noticed_and_never_repeated() {
        for with in [
            "postgres://app:hunter2@db/palm",
            "postgresql://app:hunter2@db:5432/palm?sslmode=require",
            "host=db user=app password=hunter2 dbname=palm",
        ] {
            let warning = password_warning(with).unwrap_or_else(|| panic!("{with}"));
            assert!(!warning.contains("hunter2"));
            assert!(warning.contains("PGPASSWORD") && warning.contains(".pgpass"));
        }
        for without in [
            "postgres://app@db/palm",
            "postgres://app:@db/palm",
            "host=db user=app dbname=palm",
        ] {
            assert_eq!(password_warning(without), None, "{without}");
        }
    }

    #[test]
    fn unknown_sslmode_names_the_allowed_values() {
        let err = ConnectSettings::resolve(Some("postgres://h/db?sslmode=maybe"), &env_of(&[]))
            .err()
            .unwrap();
        assert!(crate::error::one_line(&err).contains("verify-full"));
    }

    #[test]
    fn several_hosts_in_a_url_are_kept_and_described() {
        let s = ConnectSettings::resolve(
            Some("postgres://app@db1:5432,db2:5433/palm?target_session_attrs=read-write&sslmode=disable"),
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(s.describe(), "app@db1:5432,db2:5433/palm");
        assert_eq!(s.config.get_hosts().len(), 2);
        assert_eq!(
            s.config.get_target_session_attrs(),
            TargetSessionAttrs::ReadWrite
        );
        assert_eq!(s.ssl_mode(), SslMode::Disable);
        assert!(password_warning("postgres://app:pw@db1:5432,db2:5433/palm").is_some());
        assert!(password_warning("postgres://app@db1:5432,db2:5433/palm").is_none());
    }

    #[test]
    fn pgtargetsessionattrs_and_pgoptions_and_pgappname_are_used() {
        let s = ConnectSettings::resolve(
            Some("postgres://app@db/palm"),
            &env_of(&[
                ("PGTARGETSESSIONATTRS", "read-only"),
                ("PGOPTIONS", "-c statement_timeout=5s"),
                ("PGAPPNAME", "nightly-check"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.config.get_target_session_attrs(),
            TargetSessionAttrs::ReadOnly
        );
        assert_eq!(s.config.get_options(), Some("-c statement_timeout=5s"));
        // The user's name wins over palmdb's per-command names.
        let named = s.with_application_name("palmdb health");
        assert_eq!(named.config.get_application_name(), Some("nightly-check"));
        let plain = ConnectSettings::resolve(Some("postgres://app@db/palm"), &env_of(&[]))
            .unwrap()
            .with_application_name("palmdb health");
        assert_eq!(plain.config.get_application_name(), Some("palmdb health"));
        let err = ConnectSettings::resolve(
            Some("postgres://app@db/palm"),
            &env_of(&[("PGTARGETSESSIONATTRS", "standby")]),
        )
        .err()
        .unwrap();
        assert!(crate::error::one_line(&err).contains("read-write"));
    }

    #[test]
    fn a_service_section_fills_what_the_string_leaves_out() {
        let text = "# services\n[other]\nhost=elsewhere\n\n[palm]\nhost=db.example\nport=6543\ndbname=palm\nuser=app\nsslmode=require\n[after]\nhost=x\n";
        let section = service::section(text, "palm", Path::new("f"))
            .unwrap()
            .unwrap();
        assert_eq!(section["host"], "db.example");
        assert_eq!(section["port"], "6543");
        assert_eq!(section.len(), 5);
        assert!(service::section(text, "missing", Path::new("f"))
            .unwrap()
            .is_none());
        let err = service::section("[palm]\nsslcert=x\n", "palm", Path::new("f"))
            .err()
            .unwrap();
        assert!(crate::error::one_line(&err).contains("sslcert"));
    }

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let text =
            "# comment\nother:5432:*:app:no\ndb:5432:palm:app:s\\:e\\\\cret\n*:*:*:app:fallback\n";
        assert_eq!(
            passfile::find(text, ["db", "5432", "palm", "app"]).as_deref(),
            Some("s:e\\cret")
        );
        assert_eq!(
            passfile::find(text, ["db", "6432", "palm", "app"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(passfile::find(text, ["db", "5432", "palm", "dba"]), None);
    }
}
