//! libpq's conveniences, against the real server: the password file (~/.pgpass, PGPASSFILE,
//! with its 0600 rule), services (PGSERVICE, PGSERVICEFILE, `service=`), PGOPTIONS,
//! PGAPPNAME, target_session_attrs and several hosts in one URL. The password is never on a
//! command line.

use std::os::unix::fs::PermissionsExt;

use crate::common::role::TestRole;
use crate::common::{
    assert_exit, assert_success, block_on, connect, palmdb_command, stderr, TestDb,
};

const PASSWORD: &str = "pgpass-horse-battery:staple";

/// A login role that must authenticate with a password (pg_hba: +palmdb_password_auth).
fn password_role(tag: &str) -> TestRole {
    TestRole::create_on_system(
        &format!("pw_{tag}"),
        &format!("PASSWORD '{PASSWORD}' IN ROLE palmdb_password_auth, pg_monitor"),
    )
}

fn write(path: &std::path::Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn the_password_comes_from_pgpass_only_when_it_is_private() {
    let role = password_role("pgpass");
    let db = TestDb::migrated_on_system("libpq_pgpass");
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join(".pgpass");
    // ':' in the password is escaped, as libpq requires; a comment and a non-matching line first.
    let line = format!(
        "# palm\nother:5432:*:*:wrong\n127.0.0.1:5432:{}:{}:{}\n",
        db.name,
        role.name,
        PASSWORD.replace(':', "\\:")
    );
    write(&pgpass, &line, 0o600);
    let url = format!(
        "postgres://{}@127.0.0.1:5432/{}?sslmode=disable",
        role.name, db.name
    );
    let health = |env: &[(&str, &str)]| {
        let mut cmd = palmdb_command(&["health", "--format", "nagios"]);
        cmd.env("DATABASE_URL", &url);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    // ~/.pgpass (HOME), then PGPASSFILE elsewhere.
    let out = health(&[("HOME", home.path().to_str().unwrap())]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let elsewhere = home.path().join("palm.pgpass");
    write(&elsewhere, &line, 0o400);
    let out = health(&[
        ("HOME", "/nonexistent"),
        ("PGPASSFILE", elsewhere.to_str().unwrap()),
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    // Readable by others: ignored with libpq's warning, so the login fails — and no password
    // is ever printed.
    write(&pgpass, &line, 0o644);
    let out = health(&[("HOME", home.path().to_str().unwrap())]);
    let text = assert_exit(&out, 3);
    assert!(
        text.contains("has group or world access; permissions should be u=rw (0600) or less"),
        "{text}"
    );
    assert!(
        text.contains("cannot connect") && text.contains("password missing"),
        "{text}"
    );
    assert!(!text.contains("horse"), "{text}");
    // No file at all: the same clean failure, no warning.
    let out = health(&[("HOME", "/nonexistent")]);
    let text = assert_exit(&out, 3);
    assert!(!text.contains("warning"), "{text}");
}

#[test]
fn a_service_gives_host_database_user_and_options() {
    let role = password_role("service");
    let db = TestDb::migrated_on_system("libpq_service");
    let dir = tempfile::tempdir().unwrap();
    let services = dir.path().join("pg_service.conf");
    write(
        &services,
        &format!(
            "[elsewhere]\nhost=127.0.0.1\nport=1\n\n[palm]\nhost=127.0.0.1\nport=5432\ndbname={}\nuser={}\nsslmode=disable\napplication_name=palm-nightly\n",
            db.name, role.name
        ),
        0o600,
    );
    let pgpass = dir.path().join("pgpass");
    write(
        &pgpass,
        &format!("*:*:*:{}:{}\n", role.name, PASSWORD.replace(':', "\\:")),
        0o600,
    );
    let base = |args: &[&str]| {
        let mut cmd = palmdb_command(args);
        cmd.env("PGSERVICEFILE", &services)
            .env("PGPASSFILE", &pgpass)
            .env("HOME", dir.path());
        cmd
    };
    // PGSERVICE alone; then service= as the connection string (the role is a pg_monitor).
    let out = base(&["health", "--format", "nagios"])
        .env("PGSERVICE", "palm")
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let out = base(&[
        "--database-url",
        "service=palm",
        "health",
        "--format",
        "nagios",
    ])
    .output()
    .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    // PGOPTIONS reaches the server: a 1 ms statement_timeout makes the health query fail.
    let out = base(&["health"])
        .env("PGSERVICE", "palm")
        .env("PGOPTIONS", "-c statement_timeout=1ms")
        .output()
        .unwrap();
    let text = assert_exit(&out, 3);
    assert!(text.contains("statement timeout"), "{text}");
    // A service that is not there is one clear line.
    let out = base(&["migrate", "status"])
        .env("PGSERVICE", "nope")
        .output()
        .unwrap();
    let text = assert_exit(&out, 3);
    assert!(
        text.contains("definition of service \"nope\" not found"),
        "{text}"
    );
    // The service's application_name is the sessions' name (not palmdb's per command):
    // seen while migrate waits for its lock, which the test holds.
    let mut command = base(&["migrate", "--lock-wait", "30s"]);
    command
        .env("PGSERVICE", "palm")
        .stdout(std::process::Stdio::null());
    let url = db.url.clone();
    let (seen, child) = block_on(async move {
        let holder = connect(&url).await;
        holder
            .batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .await
            .unwrap();
        let child = command
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut seen: Vec<String> = Vec::new();
        for _ in 0..200 {
            let rows = holder
                .query(
                    "SELECT application_name FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND usename <> 'postgres'",
                    &[],
                )
                .await
                .unwrap();
            seen = rows.iter().map(|r| r.get::<_, String>(0)).collect();
            if !seen.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // Dropping the holder's connection releases the lock.
        (seen, child)
    });
    // (It then stops: the role may not migrate a database postgres owns. Only its name counts.)
    let _ = child.wait_with_output().unwrap();
    assert!(
        !seen.is_empty() && seen.iter().all(|n| n == "palm-nightly"),
        "{seen:?}"
    );
}

/// palmdb's migration lock key (src/migrate/lock.rs).
const MIGRATION_LOCK_KEY: i64 = 0x7061_6c6d_6462;

#[test]
fn several_hosts_in_a_url_fall_through_to_one_that_answers_as_asked() {
    let db = TestDb::migrated_on_system("libpq_hosts");
    // Port 1 refuses; the second host is the server. read-write is what a primary is.
    let url = format!(
        "postgres://postgres@127.0.0.1:1,127.0.0.1:5432/{}?sslmode=disable&target_session_attrs=read-write",
        db.name
    );
    let out = palmdb_command(&["migrate", "status"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    // The URL's target_session_attrs wins over PGTARGETSESSIONATTRS, as in libpq.
    let out = palmdb_command(&["migrate", "status"])
        .env("DATABASE_URL", url.replace("read-write", "any"))
        .env("PGTARGETSESSIONATTRS", "read-only")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let only_primary = format!(
        "postgres://postgres@127.0.0.1:5432/{}?sslmode=disable",
        db.name
    );
    let out = palmdb_command(&["migrate", "status"])
        .env("DATABASE_URL", &only_primary)
        .env("PGTARGETSESSIONATTRS", "read-only")
        .output()
        .unwrap();
    let text = assert_exit(&out, 3);
    assert!(text.contains("127.0.0.1:5432"), "{text}");
    assert_success(
        &palmdb_command(&["migrate", "status"])
            .env("DATABASE_URL", &only_primary)
            .env("PGTARGETSESSIONATTRS", "read-write")
            .output()
            .unwrap(),
    );
}
