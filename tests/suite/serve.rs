//! `palmdb serve` end to end: the real binary on a free loopback port, against a real database,
//! called over real HTTP. Faults are real too: a closed port, a dropped database, a "database"
//! that accepts connections and never answers, a client that never finishes its request.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::serve::ServeProcess;
use crate::common::{palmdb_command, take_backup, TestDb};
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;
use serde_json::Value;

const ADMIN: &str = "test-admin-token-5f2c9a41e0b7d3c8";
const READ: &str = "test-read-token-9a8b7c6d5e4f3a2b";

/// A running `palmdb serve`; killed on drop if the test did not stop it.
struct Server {
    process: ServeProcess,
    _backups: tempfile::TempDir,
    backup_dir: std::path::PathBuf,
}

impl Server {
    /// Starts the server against `database_url` with both tokens and a fresh backup folder
    /// (unless `extra` names another with `--dir`), logging at the most verbose level.
    fn start(database_url: &str, extra: &[&str]) -> Server {
        Server::start_logging(database_url, extra, "trace")
    }

    fn start_logging(database_url: &str, extra: &[&str], log_level: &str) -> Server {
        Server::start_with_env(database_url, extra, log_level, &[])
    }

    /// The same, with more variables in the server's environment.
    fn start_with_env(
        database_url: &str,
        extra: &[&str],
        log_level: &str,
        vars: &[(&str, &str)],
    ) -> Server {
        let backups = tempfile::tempdir().unwrap();
        let backup_dir = backups.path().to_path_buf();
        let dir = backup_dir.to_str().unwrap().to_string();
        let mut args = vec!["serve", "--read-token", READ];
        if !extra.contains(&"--listen") {
            args.extend_from_slice(&["--listen", "127.0.0.1:0"]);
        }
        if !extra.contains(&"--dir") {
            args.extend_from_slice(&["--dir", &dir]);
        }
        args.extend_from_slice(extra);
        let mut cmd = palmdb_command(&args);
        cmd.env("DATABASE_URL", database_url)
            .env("PALMDB_ADMIN_TOKEN", ADMIN)
            // At the most verbose logging there is, the tokens must not show up either.
            .env("PALMDB_LOG", log_level)
            .envs(vars.iter().copied());
        Server {
            process: ServeProcess::spawn(cmd, |_| {}),
            _backups: backups,
            backup_dir,
        }
    }

    fn url(&self, path: &str) -> String {
        self.process.url(path)
    }

    fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = client().get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().expect("GET")
    }

    fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = client().delete(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().expect("DELETE")
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.process.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.process.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "palmdb serve did not exit in {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        self.process.log()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.process.stop();
        let log = self.log();
        if !std::thread::panicking() {
            assert!(
                !log.contains(ADMIN) && !log.contains(READ),
                "a token was logged:\n{log}"
            );
        }
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn json(response: Response) -> Value {
    let text = response.text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A URL for a port where nothing listens.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable")
}

/// A "database" that accepts connections and never says a word; returns its URL.
fn silent_database_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().map_while(Result::ok) {
            held.push(stream);
        }
    });
    format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable")
}

// ----- starting -------------------------------------------------------------------------------

#[test]
fn serve_refuses_to_start_without_a_token() {
    let out = palmdb_command(&["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let text = common::assert_exit(&out, 1);
    assert!(text.contains("no token configured"), "{text}");
    assert!(text.contains("HINT:"), "{text}");
    assert!(out.stdout.is_empty());
}

#[test]
fn serve_refuses_weak_or_exposed_tokens_without_echoing_them() {
    let out = palmdb_command(&["serve", "--listen", "127.0.0.1:0"])
        .env("PALMDB_ADMIN_TOKEN", "hunter2")
        .output()
        .unwrap();
    let text = common::assert_exit(&out, 1);
    assert!(text.contains("shorter than 32"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, ADMIN).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = palmdb_command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--token-file",
        file.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let text = common::assert_exit(&out, 1);
    assert!(
        text.contains("can be read by other users") && text.contains("chmod 600"),
        "{text}"
    );
    assert!(!text.contains(ADMIN), "{text}");
}

#[test]
fn a_request_deadline_shorter_than_the_database_timeout_is_refused() {
    let out = palmdb_command(&["serve", "--db-timeout", "10s", "--request-timeout", "5s"])
        .env("PALMDB_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    let text = common::assert_exit(&out, 1);
    assert!(
        text.contains("--request-timeout (5s) must be longer than --db-timeout (10s)"),
        "{text}"
    );
}

#[test]
fn a_token_file_is_accepted_and_its_token_works() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "file-token-0123456789abcdef0123456789\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let backups = tempfile::tempdir().unwrap();
    let mut cmd = palmdb_command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--dir",
        backups.path().to_str().unwrap(),
        "--token-file",
        file.to_str().unwrap(),
    ]);
    cmd.env("DATABASE_URL", closed_port_url());
    let server = ServeProcess::spawn(cmd, |_| {});
    let status = |token: &str| {
        client()
            .get(server.url("/backups"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(
        status("file-token-0123456789abcdef0123456789"),
        StatusCode::OK
    );
    assert_eq!(status(ADMIN), StatusCode::UNAUTHORIZED);
}

// ----- authentication -------------------------------------------------------------------------

#[test]
fn every_protected_endpoint_answers_401_without_detail_to_a_bad_token() {
    let server = Server::start(&closed_port_url(), &[]);
    let endpoints = [
        ("GET", "/health"),
        ("GET", "/backups"),
        ("GET", "/backups/status"),
        ("GET", "/metrics"),
        ("DELETE", "/backups/expired?keep_days=7"),
        ("GET", "/no/such/path"),
    ];
    let bad_headers: [Option<String>; 6] = [
        None,                                    // no header
        Some(format!("Basic {ADMIN}")),          // wrong scheme
        Some(ADMIN.to_string()),                 // no scheme
        Some(format!("Bearer {ADMIN}0")),        // wrong token
        Some("Bearer ".to_string()),             // empty token
        Some(format!("Bearer {}", &ADMIN[1..])), // wrong token, same prefix
    ];
    for (method, path) in endpoints {
        for header in &bad_headers {
            let mut request = client().request(method.parse().unwrap(), server.url(path));
            if let Some(value) = header {
                request = request.header("Authorization", value);
            }
            let response = request.send().unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {header:?}"
            );
            assert_eq!(
                response.headers().get("www-authenticate").unwrap(),
                "Bearer realm=\"palmdb\""
            );
            assert_eq!(
                response.text().unwrap(),
                "",
                "{method} {path}: a 401 says nothing more"
            );
        }
    }
}

#[test]
fn the_read_token_reads_but_cannot_delete() {
    let server = Server::start(&closed_port_url(), &[]);
    for path in ["/backups", "/backups/status", "/metrics"] {
        assert_ne!(
            server.get(path, Some(READ)).status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_ne!(
            server.get(path, Some(ADMIN)).status(),
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    let response = server.delete("/backups/expired?keep_days=7", Some(READ));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.text().unwrap(), "");
    let response = server.delete("/backups/expired?keep_days=7&dry_run=true", Some(ADMIN));
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn livez_needs_no_token_and_no_database() {
    let server = Server::start(&closed_port_url(), &[]);
    let response = server.get("/livez", None);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().unwrap(), "ok\n");
}

#[test]
fn metrics_public_opens_metrics_and_nothing_else() {
    let server = Server::start(&closed_port_url(), &["--metrics-public"]);
    let response = server.get("/metrics", None);
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().unwrap().contains("palmdb_up 0"));
    assert_eq!(
        server.get("/health", None).status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get("/backups", None).status(),
        StatusCode::UNAUTHORIZED
    );
}

// ----- limits ---------------------------------------------------------------------------------

#[test]
fn a_large_body_is_refused() {
    let server = Server::start(&closed_port_url(), &[]);
    let response = client()
        .delete(server.url("/backups/expired?keep_days=7&dry_run=true"))
        .bearer_auth(ADMIN)
        .body(vec![b'x'; 64 * 1024])
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn a_bad_query_string_is_a_400_with_a_reason() {
    let server = Server::start(&closed_port_url(), &[]);
    let response = server.delete("/backups/expired?keep_days=soon", Some(ADMIN));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(json(response)["error"]
        .as_str()
        .unwrap()
        .contains("keep_days"));
}

#[test]
fn a_client_that_never_finishes_its_request_is_cut_off() {
    let server = Server::start(&closed_port_url(), &[]);
    let addr = server
        .process
        .base
        .trim_start_matches("http://")
        .to_string();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Meanwhile others are served.
    assert_eq!(server.get("/livez", None).status(), StatusCode::OK);
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(10),
        "the slow client was held {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&rest).contains("ok\n"));
}

// ----- health and metrics ---------------------------------------------------------------------

/// The parts of a health report that do not move between two runs a moment apart (values such
/// as the connection count do: the server itself holds connections).
fn stable_checks(report: &Value) -> Vec<(String, String, String, String)> {
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {report}"))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["threshold"].to_string(),
                c["remedy"].to_string(),
            )
        })
        .collect()
}

#[test]
fn health_is_the_cli_json_200_when_fine_and_503_when_critical() {
    let db = TestDb::migrated("serve_health");
    db.execute("CREATE TABLE t (id bigint PRIMARY KEY); CREATE SEQUENCE near_the_end");
    let server = Server::start(&db.url, &["--cache-ttl", "100ms"]);

    let response = server.get("/health", Some(READ));
    let status = response.status();
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = json(response);
    let cli = db.palmdb(&["health", "--format", "json"]);
    let cli_code = cli.status.code().unwrap();
    let cli_json: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert!(cli_code <= 1, "{}", common::stdout(&cli));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], cli_json["status"]);
    assert_eq!(stable_checks(&body), stable_checks(&cli_json));
    let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["status", "checks"]);

    db.execute("SELECT setval('near_the_end', 9223372036854775000)");
    std::thread::sleep(Duration::from_millis(150));
    let response = server.get("/health", Some(READ));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(response);
    assert_eq!(body["status"], "critical");
    let cli = db.palmdb(&["health", "--format", "json"]);
    common::assert_exit(&cli, 2);
    let cli_json: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(stable_checks(&body), stable_checks(&cli_json));
}

/// Checks the Prometheus text format: HELP and TYPE once per metric, before its samples, and
/// every sample `name{labels} number`. Returns the samples.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().unwrap();
            assert!(
                typed.insert(name.to_string()),
                "TYPE {name} twice in\n{text}"
            );
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(typed.contains(name), "sample before its TYPE: {line:?}");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        samples.push((series.to_string(), value));
    }
    samples
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .unwrap_or_else(|| panic!("no {series} in {samples:?}"))
        .1
}

#[test]
fn metrics_carry_health_figures_pool_and_scrape_time() {
    let db = TestDb::migrated("serve_metrics");
    let server = Server::start(&db.url, &["--pool-size", "3"]);
    let response = server.get("/metrics", Some(READ));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let samples = parse_prometheus(&response.text().unwrap());
    assert_eq!(sample(&samples, "palmdb_up"), 1.0);
    assert!(sample(&samples, "palmdb_health_status") <= 1.0);
    assert_eq!(
        sample(
            &samples,
            "palmdb_health_check_status{check=\"invalid_indexes\"}"
        ),
        0.0
    );
    assert!(sample(&samples, "palmdb_health_check_value{check=\"connections\"}") > 0.0);
    assert_eq!(sample(&samples, "palmdb_serve_pool_max_connections"), 3.0);
    assert!(sample(&samples, "palmdb_scrape_duration_seconds") >= 0.0);
    assert!(sample(&samples, "palmdb_health_collect_duration_seconds") > 0.0);
    // No backup yet: status critical, count zero, no age.
    assert_eq!(sample(&samples, "palmdb_backup_status"), 2.0);
    assert_eq!(sample(&samples, "palmdb_backups"), 0.0);
    assert!(!samples
        .iter()
        .any(|(s, _)| s == "palmdb_backup_last_age_seconds"));
}

// ----- backups ---------------------------------------------------------------------------------

/// Takes a real backup of `db` into `dir` and returns its id.
fn backup_id(db: &TestDb, dir: &std::path::Path) -> String {
    let path = take_backup(db, dir, &[]);
    path.file_name().unwrap().to_str().unwrap().to_string()
}

/// Moves a backup's `completed_at` back by `days`, as if it had been taken then.
fn age_backup(dir: &std::path::Path, id: &str, days: i64) {
    let path = dir.join(id).join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let completed: chrono::DateTime<chrono::Utc> =
        manifest["completed_at"].as_str().unwrap().parse().unwrap();
    let then = completed - chrono::Duration::days(days);
    manifest["completed_at"] = Value::String(then.to_rfc3339());
    manifest["created_at"] = Value::String(then.to_rfc3339());
    palmdb::archive::manifest::seal(&mut manifest);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

fn backup_cli(server: &Server, args: &[&str]) -> std::process::Output {
    let dir = server.backup_dir.to_str().unwrap();
    let mut all = vec!["backup"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--dir", dir, "--json"]);
    palmdb_command(&all).output().unwrap()
}

#[test]
fn backups_and_status_are_the_cli_json() {
    let db = TestDb::migrated("serve_backups");
    db.execute("CREATE TABLE notes (id bigint PRIMARY KEY, body text); INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 50) g");
    let server = Server::start(&db.url, &["--cache-ttl", "100ms", "--max-age", "1h"]);

    // No backup yet: status is critical, so 503, with the CLI's document.
    let response = server.get("/backups/status", Some(READ));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = response.text().unwrap();
    let cli = backup_cli(&server, &["status", "--max-age", "1h"]);
    common::assert_exit(&cli, 2);
    assert_eq!(body, common::stdout(&cli));
    assert_eq!(server.get("/backups", Some(READ)).text().unwrap(), "[]\n");

    let id = backup_id(&db, &server.backup_dir);
    std::thread::sleep(Duration::from_millis(150));
    let response = server.get("/backups", Some(READ));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = response.text().unwrap();
    let cli = backup_cli(&server, &["list"]);
    common::assert_success(&cli);
    assert_eq!(
        body,
        common::stdout(&cli),
        "GET /backups differs from backup list --json"
    );
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["id"], id.as_str());

    let response = server.get("/backups/status", Some(READ));
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = json(response);
    let cli = backup_cli(&server, &["status", "--max-age", "1h"]);
    common::assert_exit(&cli, 0);
    let mut cli_json: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(body["status"], "ok");
    // The age moves on between the two calls; everything else is the same.
    for doc in [&mut body, &mut cli_json] {
        let age = doc["age_seconds"].take().as_i64().unwrap();
        assert!((0..5).contains(&age), "{age}");
        doc["message"].take();
    }
    assert_eq!(body, cli_json);

    let samples = parse_prometheus(&server.get("/metrics", Some(READ)).text().unwrap());
    assert_eq!(sample(&samples, "palmdb_backup_status"), 0.0);
    assert_eq!(sample(&samples, "palmdb_backups"), 1.0);
    assert_eq!(
        sample(&samples, "palmdb_backup_last_rows"),
        list[0]["rows"].as_f64().unwrap()
    );
    assert_eq!(
        sample(&samples, "palmdb_backup_last_size_bytes"),
        list[0]["bytes"].as_f64().unwrap()
    );
    assert!(sample(&samples, "palmdb_backup_last_age_seconds") < 10.0);

    // Older than --max-age: a warning, still 200.
    age_backup(&server.backup_dir, &id, 1);
    std::thread::sleep(Duration::from_millis(150));
    let response = server.get("/backups/status", Some(READ));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response)["status"], "warning");
}

#[test]
fn a_store_that_does_not_answer_is_unknown_within_the_deadline_and_the_others_still_show() {
    let db = TestDb::migrated("serve_dead_store");
    db.execute("CREATE TABLE notes (id bigint PRIMARY KEY); INSERT INTO notes VALUES (1)");
    let folder = tempfile::tempdir().unwrap();
    let local = folder.path().to_str().unwrap().to_string();
    backup_id(&db, folder.path());
    // An S3 repository whose endpoint refuses every connection: palmdb retries that as a
    // transient error, for minutes in a backup — serve must not wait that long.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    drop(listener);
    let secret = "dead-store-secret-4f1b9c7e2a";
    let s3 = "s3://palm-backups/prod";
    let server = Server::start_with_env(
        &db.url,
        &["--dir", &local, "--repo", s3, "--request-timeout", "15s"],
        "info",
        &[
            ("AWS_ACCESS_KEY_ID", "GKdeadstore"),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_REGION", "garage"),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ALLOW_HTTP", "true"),
        ],
    );

    let started = Instant::now();
    let response = server.get("/metrics", Some(READ));
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(took < Duration::from_secs(15), "/metrics took {took:?}");
    let text = response.text().unwrap();
    let samples = parse_prometheus(&text);
    // The local folder's backup is there, the store is unreadable (3), and the rest of
    // the scrape (health) did not wait for it.
    assert!(
        sample(
            &samples,
            &format!("palmdb_backup_age_seconds{{repo=\"{local}\"}}")
        ) >= 0.0
    );
    assert_eq!(
        sample(
            &samples,
            &format!("palmdb_backup_repository_status{{repo=\"{local}\"}}")
        ),
        0.0
    );
    assert_eq!(
        sample(
            &samples,
            &format!("palmdb_backup_repository_status{{repo=\"{s3}\"}}")
        ),
        3.0
    );
    assert!(!text.contains(&format!("palmdb_backup_age_seconds{{repo=\"{s3}\"}}")));
    assert!(sample(&samples, "palmdb_health_check_value{check=\"connections\"}") > 0.0);

    // /backups/status judges both: unknown for the store, naming its bucket and endpoint.
    let status = json(server.get("/backups/status", Some(READ)));
    let repos = status["repositories"].as_array().unwrap();
    assert_eq!(repos.len(), 2, "{status}");
    let dead = repos.iter().find(|r| r["repo"] == s3).unwrap();
    assert_eq!(dead["status"], "unknown", "{status}");
    let message = dead["message"].as_str().unwrap();
    assert!(
        message.contains("palm-backups") && message.contains(&endpoint),
        "{message}"
    );
    let ok = repos.iter().find(|r| r["repo"] == local.as_str()).unwrap();
    assert_eq!(ok["status"], "ok", "{status}");
    // /backups still lists the folder's backup.
    let list = json(server.get("/backups", Some(READ)));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert!(!server.log().contains(secret));
    assert!(!status.to_string().contains(secret));
}

#[test]
fn delete_expired_prunes_like_the_cli_and_only_for_the_admin() {
    let db = TestDb::migrated("serve_prune");
    let server = Server::start(&db.url, &["--cache-ttl", "100ms"]);
    let old = backup_id(&db, &server.backup_dir);
    let new = backup_id(&db, &server.backup_dir);
    assert_ne!(old, new);
    age_backup(&server.backup_dir, &old, 30);

    // Required parameter: a destructive call says how much it keeps.
    let response = server.delete("/backups/expired", Some(ADMIN));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    assert_eq!(
        server
            .delete("/backups/expired?keep_days=7", Some(READ))
            .status(),
        StatusCode::FORBIDDEN
    );
    assert!(server.backup_dir.join(&old).exists());

    let response = server.delete("/backups/expired?keep_days=7&dry_run=true", Some(ADMIN));
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().unwrap();
    let cli = backup_cli(&server, &["prune", "--keep-days", "7", "--dry-run"]);
    common::assert_success(&cli);
    assert_eq!(
        body,
        common::stdout(&cli),
        "dry run differs from backup prune --dry-run --json"
    );
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["deleted"][0]["name"], old.as_str());
    assert!(
        server.backup_dir.join(&old).exists(),
        "a dry run deleted something"
    );

    let response = server.delete("/backups/expired?keep_days=7", Some(ADMIN));
    assert_eq!(response.status(), StatusCode::OK);
    let report = json(response);
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["deleted"][0]["name"], old.as_str());
    assert_eq!(report["kept"], serde_json::json!([new]));
    assert!(!server.backup_dir.join(&old).exists());
    assert!(server.backup_dir.join(&new).exists());
    // The list reflects the prune at once (the cache is emptied).
    let list = json(server.get("/backups", Some(READ)));
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn an_unreadable_backup_folder_is_an_error_not_an_empty_list() {
    let not_a_folder = tempfile::NamedTempFile::new().unwrap();
    let path = not_a_folder.path().to_str().unwrap();
    let server = Server::start(&closed_port_url(), &["--dir", path]);
    let response = server.get("/backups", Some(READ));
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(json(response)["error"]
        .as_str()
        .unwrap()
        .contains("cannot read the backup folder"));
    let response = server.get("/backups/status", Some(READ));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(response)["status"], "unknown");
    let samples = parse_prometheus(&server.get("/metrics", Some(READ)).text().unwrap());
    assert_eq!(sample(&samples, "palmdb_backup_status"), 3.0);
}

// ----- the database is not there ---------------------------------------------------------------

#[test]
fn health_is_503_unknown_when_nothing_listens_on_the_database_port() {
    let server = Server::start(&closed_port_url(), &[]);
    let started = Instant::now();
    let response = server.get("/health", Some(READ));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(response);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(body["status"], "unknown");
    assert!(
        body["error"].as_str().unwrap().contains("cannot connect"),
        "{body}"
    );
    let metrics = server.get("/metrics", Some(READ));
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.text().unwrap().contains("\npalmdb_up 0\n"));
}

#[test]
fn health_is_503_unknown_with_a_hint_on_a_database_never_migrated() {
    let db = TestDb::new("serve_unmigrated");
    let server = Server::start(&db.url, &[]);
    let response = server.get("/health", Some(READ));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(response);
    assert_eq!(body["status"], "unknown");
    assert!(
        body["error"].as_str().unwrap().contains("palmdb.checks()"),
        "{body}"
    );
    assert!(
        body["hint"].as_str().unwrap().contains("palmdb migrate"),
        "{body}"
    );
}

#[test]
fn health_on_a_foreign_database_hints_at_the_monitoring_install_then_answers() {
    let db = TestDb::foreign("serve_foreign");
    let server = Server::start(&db.url, &["--cache-ttl", "100ms"]);
    let response = server.get("/health", Some(READ));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(response);
    assert_eq!(body["status"], "unknown");
    assert!(
        body["hint"]
            .as_str()
            .unwrap()
            .starts_with("run palmdb migrate --monitoring-only"),
        "{body}"
    );

    common::assert_success(&db.palmdb(&["migrate", "--monitoring-only"]));
    std::thread::sleep(Duration::from_millis(150));
    let response = server.get("/health", Some(READ));
    // The fixture has tables without a primary key: a warning, still 200.
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response);
    assert_eq!(body["status"], "warning", "{body}");
    assert_eq!(
        body["checks"].as_array().unwrap().len(),
        palmdb::health::catalog::bundled().len(),
        "{body}"
    );
    let metrics = server.get("/metrics", Some(READ));
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.text().unwrap().contains("\npalmdb_up 1\n"));
}

#[test]
fn health_is_503_unknown_within_the_timeout_when_the_database_hangs() {
    let server = Server::start(&silent_database_url(), &["--db-timeout", "1s"]);
    let started = Instant::now();
    let response = server.get("/health", Some(READ));
    let waited = started.elapsed();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(response)["status"], "unknown");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    // The other endpoints do not need the database and still answer.
    assert_eq!(server.get("/backups", Some(READ)).status(), StatusCode::OK);
}

#[test]
fn health_turns_503_when_the_database_goes_away_and_back_to_200_when_it_returns() {
    let db = TestDb::migrated("serve_goes_away");
    let server = Server::start(&db.url, &["--cache-ttl", "100ms"]);
    let first = server.get("/health", Some(READ));
    assert_ne!(
        first.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        first.text().unwrap()
    );
    // Take the database away under the server's pooled connections.
    let name = db.name.clone();
    common::block_on(async move {
        let admin = common::connect(&common::admin_url()).await;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
            ))
            .await
            .unwrap();
        admin
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .await
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(200));
    let down = server.get("/health", Some(READ));
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(down)["status"], "unknown");
    let metrics = server.get("/metrics", Some(READ)).text().unwrap();
    assert!(metrics.contains("\npalmdb_up 0\n"), "{metrics}");

    let name = db.name.clone();
    common::block_on(async move {
        let admin = common::connect(&common::admin_url()).await;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true"
            ))
            .await
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(200));
    let back = server.get("/health", Some(READ));
    assert_ne!(back.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(server
        .get("/metrics", Some(READ))
        .text()
        .unwrap()
        .contains("\npalmdb_up 1\n"));
}

// ----- load and pool --------------------------------------------------------------------------

#[test]
fn concurrent_scrapes_stay_within_the_pool() {
    let db = TestDb::migrated("serve_pool");
    let server = Server::start(&db.url, &["--pool-size", "2", "--cache-ttl", "50ms"]);
    let base = server.process.base.clone();
    let workers: Vec<_> = (0..16)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || {
                let client = client();
                let path = if i % 2 == 0 { "/health" } else { "/metrics" };
                (0..10)
                    .map(|_| {
                        client
                            .get(format!("{base}{path}"))
                            .bearer_auth(READ)
                            .send()
                            .unwrap()
                            .status()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let sessions_during = db.scalar(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'palmdb serve'",
        db.name
    ));
    for worker in workers {
        for status in worker.join().unwrap() {
            assert_ne!(status, StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    let sessions_after = db.scalar(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'palmdb serve'",
        db.name
    ));
    for sessions in [sessions_during, sessions_after] {
        let n: u32 = sessions.unwrap().parse().unwrap();
        assert!(n <= 2, "{n} sessions with a pool of 2");
    }
}

#[test]
fn concurrent_requests_share_one_health_query() {
    let db = TestDb::migrated("serve_single_flight");
    let server = Server::start(&db.url, &["--cache-ttl", "60s"]);
    let base = server.process.base.clone();
    let barrier = Arc::new(std::sync::Barrier::new(24));
    let workers: Vec<_> = (0..24)
        .map(|i| {
            let (base, barrier) = (base.clone(), barrier.clone());
            std::thread::spawn(move || {
                let client = client();
                barrier.wait();
                let path = if i % 2 == 0 { "/health" } else { "/metrics" };
                client
                    .get(format!("{base}{path}"))
                    .bearer_auth(READ)
                    .send()
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for worker in workers {
        assert_eq!(worker.join().unwrap(), StatusCode::OK);
    }
    let samples = parse_prometheus(&server.get("/metrics", Some(READ)).text().unwrap());
    assert_eq!(sample(&samples, "palmdb_health_collections_total"), 1.0);
}

// ----- stopping -------------------------------------------------------------------------------

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let mut server = Server::start(&silent_database_url(), &["--db-timeout", "2s"]);
    let url = server.url("/health");
    let in_flight = std::thread::spawn(move || {
        let response = client().get(url).bearer_auth(READ).send().unwrap();
        (response.status(), json(response))
    });
    std::thread::sleep(Duration::from_millis(500));
    server.signal("TERM");
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unknown");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    let log = server.log();
    assert!(
        log.contains("SIGTERM received") && log.contains("stopped"),
        "{log}"
    );
    assert!(TcpStream::connect(server.process.base.trim_start_matches("http://")).is_err());
}

#[test]
fn sigint_stops_an_idle_server_with_exit_0() {
    let mut server = Server::start(&closed_port_url(), &[]);
    assert_eq!(server.get("/livez", None).status(), StatusCode::OK);
    server.signal("INT");
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(server.log().contains("SIGINT received"));
}

// ----- hardening: weak tokens, exposed listeners, error bodies, many slow clients -------------

#[test]
fn a_token_of_sixteen_repeated_letters_is_refused() {
    for (token, why) in [
        ("aaaaaaaaaaaaaaaa", "shorter than 32 characters"),
        (&"a".repeat(64)[..], "fewer than 8 different characters"),
    ] {
        let out = palmdb_command(&["serve", "--listen", "127.0.0.1:0"])
            .env("PALMDB_ADMIN_TOKEN", token)
            .output()
            .unwrap();
        let text = common::assert_exit(&out, 1);
        assert!(text.contains(why), "{text}");
        assert!(
            text.contains("HINT: generate one with: openssl rand -hex 32"),
            "{text}"
        );
        assert!(!text.contains(token), "{text}");
    }
}

#[test]
fn listening_on_all_interfaces_without_tls_is_refused_unless_insecure_listen() {
    let out = palmdb_command(&["serve", "--listen", "0.0.0.0:0"])
        .env("PALMDB_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    let text = common::assert_exit(&out, 1);
    assert!(
        text.contains("--listen 0.0.0.0:0 can be reached from other machines"),
        "{text}"
    );
    assert!(text.contains("--insecure-listen") && text.contains("--tls-cert"));

    let mut server = Server::start(
        &closed_port_url(),
        &["--listen", "0.0.0.0:0", "--insecure-listen"],
    );
    let port = server.process.base.rsplit(':').next().unwrap().to_string();
    let local = format!("http://127.0.0.1:{port}/livez");
    assert_eq!(client().get(local).send().unwrap().status(), StatusCode::OK);
    assert!(server.log().contains("warning: --insecure-listen"));
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}

/// A self-signed certificate and its private key (PKCS#8) in `dir`.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    (cert, key)
}

/// One HTTPS GET through native-tls (trusting any certificate); returns the raw response.
fn https_get(addr: &str, path: &str, token: &str) -> String {
    let connector = native_tls::TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = connector.connect("localhost", tcp).unwrap();
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    response
}

#[test]
fn tls_serves_https_on_any_address_and_refuses_a_shared_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());

    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = palmdb_command(&["serve", "--listen", "0.0.0.0:0", "--tls-cert", cert])
        .args(["--tls-key", key])
        .env("PALMDB_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap();
    let text = common::assert_exit(&out, 1);
    assert!(text.contains("can be read by other users"), "{text}");
    assert!(text.contains(&format!("HINT: chmod 600 {key}")), "{text}");

    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = palmdb_command(&["serve", "--listen", "0.0.0.0:0", "--tls-cert", cert]);
    cmd.args(["--tls-key", key])
        .env("PALMDB_ADMIN_TOKEN", ADMIN)
        .env("DATABASE_URL", closed_port_url());
    let server = ServeProcess::spawn(cmd, |_| {});
    assert!(
        server.base.starts_with("https://0.0.0.0:"),
        "{}",
        server.base
    );
    let addr = format!("127.0.0.1:{}", server.port());

    let response = https_get(&addr, "/backups/status", ADMIN);
    assert!(response.starts_with("HTTP/1.1 "), "{response}");
    assert!(response.contains("\"status\""), "{response}");
    let response = https_get(&addr, "/health", "not-the-token");
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    // Plain HTTP on the TLS port gets no answer.
    let mut plain = TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("ok\n"));
}

#[test]
fn delete_expired_with_keep_days_4294967295_is_a_400_not_a_panic() {
    let server = Server::start(&closed_port_url(), &[]);
    for query in ["keep_days=4294967295", "keep_days=36501", "keep_days=-1"] {
        let response = server.delete(&format!("/backups/expired?{query}"), Some(ADMIN));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body = json(response);
        assert_eq!(body["code"], "bad_query", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("keep_days"),
            "{body}"
        );
        assert!(!body.to_string().contains("panic"), "{body}");
    }
    let response = server.delete("/backups/expired?keep_days=36500&dry_run=true", Some(ADMIN));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.get("/livez", None).status(), StatusCode::OK);
}

#[test]
fn error_bodies_show_a_code_and_no_path_or_connection_target() {
    let not_a_folder = tempfile::NamedTempFile::new().unwrap();
    let path = not_a_folder.path().to_str().unwrap().to_string();
    let database = closed_port_url();
    let server = Server::start(&database, &["--dir", &path]);
    let port = database
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    for (endpoint, status, code) in [
        (
            "/health",
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
        ),
        (
            "/backups",
            StatusCode::INTERNAL_SERVER_ERROR,
            "backup_folder_unreadable",
        ),
        (
            "/backups/status",
            StatusCode::SERVICE_UNAVAILABLE,
            "backup_folder_unreadable",
        ),
    ] {
        let response = server.get(endpoint, Some(READ));
        assert_eq!(response.status(), status, "{endpoint}");
        let body = json(response);
        assert_eq!(body["code"], code, "{endpoint}: {body}");
        let text = body.to_string();
        for secret in [&path[..], "postgres@", "127.0.0.1", port, "/tmp"] {
            assert!(!text.contains(secret), "{endpoint} shows {secret}: {text}");
        }
        assert!(body["error"].as_str().unwrap().len() < 80, "{text}");
    }
    // The details are in the server's log, for the operator.
    let log = server.log();
    assert!(
        log.contains(&path) && log.contains("postgres@127.0.0.1"),
        "{log}"
    );
}

/// Connects from `source` (a loopback address) to `server` and sends a request head one
/// header line per second, never finishing it; reconnects when the server hangs up.
async fn slow_client(source: std::net::IpAddr, server: std::net::SocketAddr, until: Instant) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    while Instant::now() < until {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind((source, 0).into()).unwrap();
        let Ok(mut stream) = socket.connect(server).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let _ = stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            .await;
        let mut buf = [0u8; 64];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        break;
                    }
                }
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        break;
                    }
                }
            }
            if Instant::now() >= until {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn six_hundred_slow_clients_from_one_address_do_not_starve_health_from_another() {
    let db = TestDb::migrated("serve_slow_clients");
    let server = Server::start_logging(&db.url, &[], "warn");
    let addr: std::net::SocketAddr = server
        .process
        .base
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(9);
    let attacker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let source = "127.0.0.2".parse().unwrap();
            let clients: Vec<_> = (0..600)
                .map(|_| tokio::spawn(slow_client(source, addr, until)))
                .collect();
            for c in clients {
                let _ = c.await;
            }
        });
    });
    std::thread::sleep(Duration::from_secs(2));
    let log_before = server.log().len();
    let monitor = Client::builder()
        .timeout(Duration::from_secs(10))
        .local_address("127.0.0.3".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut answered = 0;
    for _ in 0..25 {
        let response = monitor.get(server.url("/health")).bearer_auth(READ).send();
        if response.is_ok_and(|r| r.status() == StatusCode::OK) {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    attacker.join().unwrap();
    assert_eq!(answered, 25, "legitimate /health calls starved");
    let log = server.log();
    let during = &log[log_before..];
    let refusals = log.matches("already has 64 connections open").count();
    assert!(
        (1..=2).contains(&refusals),
        "the refusals are one rate-limited line, not one per connection:\n{log}"
    );
    assert!(
        during.len() < 4096,
        "{} bytes of log:\n{during}",
        during.len()
    );
}
