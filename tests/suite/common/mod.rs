//! Shared helpers for the integration tests: a fresh database per test, dropped afterwards,
//! and the real `palmdb` binary run against it.
//!
//! The server comes from `PALMDB_TEST_ADMIN_URL`, else `DATABASE_URL`, else the local one at
//! 127.0.0.1:5432 as `postgres` (what `scripts/ensure-postgres.sh` sets up). Databases left
//! by killed runs are dropped at the start of the next one (`sweep`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::{Client, NoTls};

pub mod admin;
pub mod garage;
pub mod role;
pub mod serve;
pub mod sweep;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A schema that is not Palm's: `tests/fixtures/foreign_schema.sql` (other schemas,
/// partitions, triggers, row-level security, domains, odd names) and its rows.
pub const FOREIGN_SCHEMA: &str = include_str!("../../fixtures/foreign_schema.sql");

/// URL of a database on the test server that may create and drop databases.
pub fn admin_url() -> String {
    std::env::var("PALMDB_TEST_ADMIN_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// Runs async work on its own runtime, in its own thread, from sync or async code alike.
pub fn block_on<F, T>(future: F) -> T
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(future)
    })
    .join()
    .expect("test helper thread panicked")
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"));
    tokio::spawn(connection);
    client
}

/// The admin URL of this machine's own server (5432), for the tests tied to it by design:
/// its TLS certificate, its password roles and the PgBouncer instances in front of it. In a
/// matrix pass (PALMDB_TEST_ADMIN_URL names another major's server) they still run there.
pub fn system_admin_url() -> String {
    std::env::var("PALMDB_SYSTEM_ADMIN_URL").unwrap_or_else(|_| {
        if std::env::var_os("PALMDB_TEST_ADMIN_URL").is_some() {
            "postgres://postgres@127.0.0.1:5432/postgres".to_string()
        } else {
            admin_url()
        }
    })
}

/// A database created for one test and dropped when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
    /// The server's admin URL, which created the database and drops it.
    pub admin: String,
}

impl TestDb {
    /// A new, empty database named after the test.
    pub fn new(tag: &str) -> TestDb {
        TestDb::new_on(&admin_url(), tag)
    }

    /// A new, empty database on the server `admin` (an admin URL, e.g. another major's),
    /// recording this process as its creator; the first one of a process first drops the
    /// databases that killed runs left behind ([`sweep`]).
    pub fn new_on(admin: &str, tag: &str) -> TestDb {
        sweep::sweep_once(admin);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let mut name = format!(
            "palmdb_t_{}_{}_{}",
            tag.to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id(),
            n
        );
        name.truncate(63);
        let create = format!("CREATE DATABASE \"{name}\"");
        let comment = format!(
            "COMMENT ON DATABASE \"{name}\" IS '{}'",
            sweep::Creator::this_process().comment().replace('\'', "''")
        );
        admin::execute(admin, &create).expect("create test database");
        admin::execute(admin, &comment).expect("record the test database's creator");
        let mut url = url::Url::parse(admin).expect("admin URL must be a postgres:// URL");
        url.set_path(&format!("/{name}"));
        TestDb {
            url: url.to_string(),
            name,
            admin: admin.to_string(),
        }
    }

    /// A new database with palmdb's migrations applied.
    pub fn migrated(tag: &str) -> TestDb {
        TestDb::new(tag).with_migrations()
    }

    /// A new, empty database on this machine's own server ([`system_admin_url`]).
    pub fn on_system(tag: &str) -> TestDb {
        TestDb::new_on(&system_admin_url(), tag)
    }

    /// [`TestDb::migrated`] on this machine's own server.
    pub fn migrated_on_system(tag: &str) -> TestDb {
        TestDb::on_system(tag).with_migrations()
    }

    fn with_migrations(self) -> TestDb {
        let out = self.palmdb(&["migrate"]);
        assert_success(&out);
        self
    }

    /// The server's major version (13, 14, ... 18).
    pub fn server_major(&self) -> u32 {
        self.scalar("current_setting('server_version_num')::int / 10000")
            .and_then(|v| v.parse().ok())
            .expect("server_version_num")
    }

    /// A new database that is not Palm's: [`FOREIGN_SCHEMA`], nothing of palmdb's.
    pub fn foreign(tag: &str) -> TestDb {
        let db = TestDb::new(tag);
        db.execute(FOREIGN_SCHEMA);
        db
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }

    /// Runs one SQL script against the database (from sync code).
    pub fn execute(&self, sql: &str) {
        let url = self.url.clone();
        let sql = sql.to_string();
        block_on(async move {
            connect(&url)
                .await
                .batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        });
    }

    /// The first column of the first row of a query, as text.
    pub fn scalar(&self, sql: &str) -> Option<String> {
        let url = self.url.clone();
        let sql = format!("SELECT ({sql})::text");
        block_on(async move {
            connect(&url)
                .await
                .query_one(&sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
                .get::<_, Option<String>>(0)
        })
    }

    /// `palmdb` with `DATABASE_URL` pointing at this database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = palmdb_command(args);
        cmd.env("DATABASE_URL", &self.url);
        cmd
    }

    /// Runs `palmdb` against this database and waits for it.
    pub fn palmdb(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run palmdb {args:?}: {e:?}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let drop_sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = admin::execute(&self.admin, &drop_sql) {
            eprintln!("could not drop test database: {e}");
        }
    }
}

/// The built `palmdb` binary, with no PG* or DATABASE_URL leaking in from the environment.
pub fn palmdb_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palmdb"));
    for var in [
        "DATABASE_URL",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGDATABASE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGPASSFILE",
        "PGSERVICE",
        "PGSERVICEFILE",
        "PGOPTIONS",
        "PGAPPNAME",
        "PGTARGETSESSIONATTRS",
        "DIRECT_URL",
        "BACKUP_DIR",
        "PALMDB_ADMIN_TOKEN",
        "PALMDB_REPO",
        "PALMDB_AGE_RECIPIENTS",
        "PALMDB_AGE_IDENTITY",
        "PALMDB_STORE_RETRY_TIMEOUT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ALLOW_HTTP",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(args);
    cmd
}

/// What `palmdb backup create --json` said of the backup it took.
pub struct Backup {
    pub id: String,
    /// The backup's folder (its place in the repository).
    pub path: PathBuf,
    /// Its stderr: warnings, if any.
    pub stderr: String,
}

/// Takes a backup of `db` into the folder `dir` with the real `palmdb backup create`, plus
/// `extra` options; fails the test unless it succeeds. Returns the backup's folder.
pub fn take_backup(db: &TestDb, dir: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["backup", "create", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    take_backup_with(db.command(&args)).path
}

/// Runs `command`, a `palmdb backup create ...` ready to go (another repository, more
/// variables), with `--json`; fails the test unless it succeeds.
pub fn take_backup_with(mut command: Command) -> Backup {
    let out = command
        .arg("--json")
        .output()
        .expect("cannot run palmdb backup create");
    assert_success(&out);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "backup create --json printed no JSON ({e}): {}",
            stdout(&out)
        )
    });
    Backup {
        id: summary["id"]
            .as_str()
            .expect("backup summary has an id")
            .to_string(),
        path: PathBuf::from(summary["path"].as_str().expect("backup summary has a path")),
        stderr: stderr(&out),
    }
}

/// A copy of the backup folder `source` in `folder`, named `id` (as `cp -a` makes it: the
/// manifest still says the old id).
pub fn copy_backup_to(source: &Path, folder: &Path, id: &str) -> PathBuf {
    let target = folder.join(id);
    let status = Command::new("cp")
        .arg("-a")
        .arg(source)
        .arg(&target)
        .status()
        .expect("cannot run cp");
    assert!(
        status.success(),
        "cp -a {} {}",
        source.display(),
        target.display()
    );
    target
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "palmdb failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// Asserts the exit code and returns stdout + stderr for further checks.
pub fn assert_exit(out: &Output, code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    format!("{}{}", stdout(out), stderr(out))
}
