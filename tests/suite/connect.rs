//! Connecting: libpq variables, TLS modes against the local server (ssl=on), and failures
//! that give one clear line — never the password — and exit code 3.

use crate::common;
use crate::common::role::TestRole;
use crate::common::{
    assert_exit, assert_success, block_on, palmdb_command, stderr, system_admin_url, TestDb,
};

/// The server's own certificate: self-signed, so it is its own root for verify-ca.
fn server_certificate() -> String {
    block_on(async {
        common::connect(&system_admin_url())
            .await
            .query_one("SELECT current_setting('ssl_cert_file')", &[])
            .await
            .unwrap()
            .get::<_, String>(0)
    })
}

/// Connects through palmdb's own connection code and asks the server whether TLS is in use.
fn tls_in_use(url: &str) -> anyhow::Result<bool> {
    let url = url.to_string();
    block_on(async move {
        let client = palmdb::connect::settings(Some(&url))?.connect().await?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?;
        Ok(row.get::<_, bool>(0))
    })
}

#[test]
fn sslmode_require_encrypts_the_connection() {
    let db = TestDb::on_system("connect_require");
    assert!(tls_in_use(&format!("{}?sslmode=require", db.url)).unwrap());
    assert!(!tls_in_use(&format!("{}?sslmode=disable", db.url)).unwrap());
    assert_success(
        &palmdb_command(&["migrate"])
            .env("DATABASE_URL", format!("{}?sslmode=require", db.url))
            .output()
            .unwrap(),
    );
}

#[test]
fn verify_ca_accepts_the_server_signed_by_the_given_root() {
    let db = TestDb::on_system("connect_verify_ca");
    let url = format!(
        "{}?sslmode=verify-ca&sslrootcert={}",
        db.url,
        server_certificate()
    );
    assert!(tls_in_use(&url).unwrap());
}

#[test]
fn verify_ca_rejects_a_server_not_signed_by_the_given_root() {
    let db = TestDb::on_system("connect_verify_ca_wrong");
    // Any other certificate will do as the "wrong" root: a system CA did not sign ours.
    let wrong_root = std::fs::read_dir("/etc/ssl/certs")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.extension().is_some_and(|x| x == "pem") && !p.to_string_lossy().contains("snakeoil")
        })
        .expect("a CA certificate in /etc/ssl/certs");
    let url = format!(
        "{}?sslmode=verify-ca&sslrootcert={}",
        db.url,
        wrong_root.display()
    );
    let out = palmdb_command(&["migrate", "status"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    let text = assert_exit(&out, 3);
    assert!(
        text.contains("cannot connect to") && text.to_lowercase().contains("certificate"),
        "{text}"
    );
}

#[test]
fn verify_full_checks_the_host_name() {
    let db = TestDb::on_system("connect_verify_full");
    // The certificate names a host, never the address 127.0.0.1: verify-full must refuse.
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        db.url,
        server_certificate()
    );
    assert!(tls_in_use(&url).is_err());
    let out = palmdb_command(&["migrate", "status"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_exit(&out, 3);
}

#[test]
fn verify_modes_without_a_root_certificate_say_what_to_set() {
    let out = palmdb_command(&["migrate", "status"])
        .env(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=verify-full",
        )
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let text = assert_exit(&out, 3);
    assert!(text.contains("sslrootcert"), "{text}");
}

#[test]
fn libpq_variables_are_used_without_a_url() {
    let db = TestDb::on_system("connect_pgvars");
    let out = palmdb_command(&["migrate", "status"])
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", "5432")
        .env("PGUSER", "postgres")
        .env("PGDATABASE", &db.name)
        .env("PGSSLMODE", "disable")
        .output()
        .unwrap();
    // A fresh database has pending migrations: exit 1, and it names the database.
    let text = assert_exit(&out, 1);
    assert!(text.contains(&db.name), "{text}");
}

/// A login role that must authenticate with a password (pg_hba: +palmdb_password_auth).
fn password_role(password: &str) -> TestRole {
    TestRole::create_on_system(
        "pw",
        &format!("PASSWORD '{password}' IN ROLE palmdb_password_auth"),
    )
}

#[test]
fn a_bad_password_gives_one_clean_line_without_the_password() {
    let role = password_role("right-horse-battery");
    let url = |password: &str| {
        format!(
            "postgres://{}:{password}@127.0.0.1:5432/postgres",
            role.name
        )
    };

    for args in [&["migrate", "status"][..], &["migrate"][..]] {
        let out = palmdb_command(args)
            .env("DATABASE_URL", url("Wr0ng-S3cret-xyzzy"))
            .output()
            .unwrap();
        let text = assert_exit(&out, 3);
        assert!(text.contains("password authentication failed"), "{text}");
        assert!(
            text.contains(&format!("{}@127.0.0.1:5432/postgres", role.name)),
            "{text}"
        );
        assert!(
            !text.contains("Wr0ng-S3cret-xyzzy"),
            "the password leaked: {text}"
        );
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 2, "one error line and one hint: {err}");
        assert!(err.lines().nth(1).unwrap().starts_with("HINT:"));
    }
    // PGPASSWORD fills in a URL without one, and the right password works.
    let ok = palmdb_command(&["migrate", "status"])
        .env(
            "DATABASE_URL",
            format!("postgres://{}@127.0.0.1:5432/postgres", role.name),
        )
        .env("PGPASSWORD", "right-horse-battery")
        .output()
        .unwrap();
    assert_ne!(ok.status.code(), Some(3), "{}", stderr(&ok));
}

#[test]
fn wrong_port_host_or_database_each_name_what_failed() {
    let cases = [
        (
            "postgres://postgres:pw-in-url@127.0.0.1:1/postgres",
            "127.0.0.1:1",
            "refused",
        ),
        (
            "postgres://postgres:pw-in-url@no-such-host.invalid:5432/postgres",
            "no-such-host.invalid",
            "no-such-host.invalid",
        ),
        (
            "postgres://postgres:pw-in-url@127.0.0.1:5432/no_such_db_palmdb",
            "no_such_db_palmdb",
            "does not exist",
        ),
    ];
    for (url, target, reason) in cases {
        let out = palmdb_command(&["migrate", "status"])
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        let text = assert_exit(&out, 3);
        assert!(
            text.contains(target) && text.contains(reason),
            "{url}: {text}"
        );
        assert!(!text.contains("pw-in-url"), "{text}");
        assert!(text.contains("HINT:"), "{text}");
    }
}

#[test]
fn a_malformed_url_is_a_clear_error() {
    let out = palmdb_command(&["migrate", "status"])
        .env("DATABASE_URL", "postgres://u:hunter2@host:notaport/db")
        .output()
        .unwrap();
    let text = assert_exit(&out, 3);
    assert!(
        text.contains("not valid") && !text.contains("hunter2"),
        "{text}"
    );
}

#[test]
fn verify_full_accepts_the_host_the_certificate_names() {
    let cert = server_certificate();
    let names = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
            "-in",
            &cert,
        ])
        .output()
        .expect("openssl is installed with PostgreSQL's ssl-cert");
    let names = String::from_utf8_lossy(&names.stdout);
    // Debian's snakeoil certificate names the machine; on this machine kind that is localhost.
    assert!(
        names.contains("localhost"),
        "test expects a certificate for localhost, got: {names}"
    );
    let db = TestDb::on_system("connect_verify_full_ok");
    let url = format!(
        "postgres://postgres@localhost:5432/{}?sslmode=verify-full&sslrootcert={cert}",
        db.name
    );
    assert!(tls_in_use(&url).unwrap());
}
