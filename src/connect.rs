//! Where palmdb connects and how: `--database-url` / `DATABASE_URL`, else the libpq
//! variables (`PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE PGSSLMODE PGSSLROOTCERT`).
//!
//! tokio-postgres understands only `sslmode=disable|prefer|require`, so the TLS settings are
//! taken out of the URL here and turned into a native-tls connector that behaves like libpq's
//! `require`, `verify-ca` and `verify-full`. Nothing in this module ever prints the password.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use native_tls::{Certificate, TlsConnector};
use postgres_native_tls::MakeTlsConnector;
use tokio_postgres::config::{Host, SslMode as DriverSslMode};
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
}

/// Connection settings from a URL (or libpq key=value string); `None` means "use PG* env".
pub fn settings(database_url: Option<&str>) -> Result<ConnectSettings> {
    ConnectSettings::resolve(database_url, &|name| std::env::var(name).ok())
}

impl ConnectSettings {
    /// Resolves settings the way libpq does: the URL wins, the environment fills the gaps.
    pub fn resolve(
        database_url: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnectSettings> {
        let (mut config, mut ssl_mode, mut root_cert) = match database_url {
            Some(url) if !url.trim().is_empty() => parse_connection_string(url)?,
            _ => (config_from_env(env)?, None, None),
        };
        if config.get_password().is_none() {
            if let Some(password) = env("PGPASSWORD") {
                config.password(password);
            }
        }
        if ssl_mode.is_none() {
            ssl_mode = env("PGSSLMODE").map(|m| m.parse()).transpose()?;
        }
        if root_cert.is_none() {
            root_cert = env("PGSSLROOTCERT").map(PathBuf::from);
        }
        if config.get_connect_timeout().is_none() {
            let secs = env("PGCONNECT_TIMEOUT")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(10);
            config.connect_timeout(Duration::from_secs(secs.max(1)));
        }
        if config.get_application_name().is_none() {
            config.application_name("palmdb");
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

    /// The same settings with another application_name, so sessions can be told apart.
    pub fn with_application_name(&self, name: &str) -> ConnectSettings {
        let mut other = self.clone();
        other.config.application_name(name);
        other
    }

    /// `user@host:port/database`, for messages: never the password.
    pub fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_string(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{}@{}:{}/{}", self.user(), host, port, self.database())
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

/// What to say when a connection string given on the command line holds a password: any local
/// user reads command lines (`ps`, `/proc/PID/cmdline`). The password itself is never repeated.
pub fn password_warning(connection_string: &str) -> Option<&'static str> {
    let has_password = if connection_string.starts_with("postgres://")
        || connection_string.starts_with("postgresql://")
    {
        url::Url::parse(connection_string)
            .ok()
            .is_some_and(|url| url.password().is_some_and(|p| !p.is_empty()))
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

type Parsed = (Config, Option<SslMode>, Option<PathBuf>);

/// Splits the TLS settings tokio-postgres does not understand out of a URL or key=value string.
fn parse_connection_string(input: &str) -> Result<Parsed> {
    let invalid = |e: &dyn std::fmt::Display| {
        Failure::usage(format!("the database URL is not valid: {e}"))
            .with_hint("use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]")
    };
    let mut ssl_mode = None;
    let mut root_cert = None;
    let rest = if input.starts_with("postgres://") || input.starts_with("postgresql://") {
        let mut url = url::Url::parse(input).map_err(|e| invalid(&e))?;
        let mut kept: Vec<(String, String)> = Vec::new();
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" => ssl_mode = Some(value.parse::<SslMode>()?),
                "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        url.to_string()
    } else {
        let mut kept = Vec::new();
        for token in input.split_whitespace() {
            if let Some(v) = token.strip_prefix("sslmode=") {
                ssl_mode = Some(v.parse::<SslMode>()?);
            } else if let Some(v) = token.strip_prefix("sslrootcert=") {
                root_cert = Some(PathBuf::from(v));
            } else {
                kept.push(token);
            }
        }
        kept.join(" ")
    };
    // The driver's own message may echo the input; say only that it is invalid and why.
    let config = Config::from_str(&rest).map_err(|e| invalid(&e))?;
    Ok((config, ssl_mode, root_cert))
}

fn config_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
    let mut config = Config::new();
    let user = env("PGUSER")
        .or_else(|| env("USER"))
        .unwrap_or_else(|| "postgres".to_string());
    config.user(&user);
    config.dbname(env("PGDATABASE").unwrap_or_else(|| user.clone()));
    for host in env("PGHOST")
        .unwrap_or_else(|| "localhost".to_string())
        .split(',')
    {
        config.host(host);
    }
    if let Some(port) = env("PGPORT") {
        let port: u16 = port
            .parse()
            .map_err(|_| Failure::usage(format!("PGPORT \"{port}\" is not a port number")))?;
        config.port(port);
    }
    if let Some(name) = env("PGAPPNAME") {
        config.application_name(&name);
    }
    Ok(config)
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
}
