//! The dashboard end to end, in a real browser: Debian's chromium, headless, driven through
//! chromedriver (WebDriver), against the real `palmdb serve` on a real database. It logs in,
//! loads every page, checks the DOM against the figures the JSON API (and the CLI) give,
//! verifies and prunes a backup through the forms, logs out, and saves a screenshot of each
//! page. The HTTP-level rules (redirects, cookies, CSRF, roles, headers) are checked with a
//! plain HTTP client alongside.
//!
//! Screenshots go to `target/dashboard-screenshots/`, or to `$PALMDB_SCREENSHOTS_DIR`
//! (`PALMDB_SCREENSHOTS_DIR=docs/images cargo test --test suite -- dashboard::` refreshes the ones in
//! docs/insights.md): written by every run, they would otherwise change tracked files in
//! every engineer's checkout.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::serve::ServeProcess;
use crate::common::{assert_success, palmdb_command, stdout, TestDb};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::blocking::Client as Http;
use reqwest::StatusCode;
use serde_json::Value;

const ADMIN: &str = "dashboard-admin-token-4f8a2c9e1b7d3a6f";
const READ: &str = "dashboard-read-token-9e3b7a1c5d2f8e4b";

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `palmdb serve` on a free port, with both tokens; no token may show up in its log.
fn start_serve(db: &TestDb, backup_dir: &Path) -> ServeProcess {
    let mut cmd = palmdb_command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--dir",
        backup_dir.to_str().unwrap(),
    ]);
    cmd.env("DATABASE_URL", &db.url)
        .env("PALMDB_ADMIN_TOKEN", ADMIN)
        .env("PALMDB_READ_TOKEN", READ);
    ServeProcess::spawn(cmd, |line| {
        assert!(
            !line.contains(ADMIN) && !line.contains(READ),
            "a token was logged: {line}"
        );
    })
}

/// chromedriver on a free port, ready for sessions.
fn start_chromedriver() -> (Running, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver (bash scripts/ensure-chromium.sh installs it)");
    let running = Running(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = Http::new()
            .get(format!("{url}/status"))
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .is_some_and(|v| v["value"]["ready"] == true);
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "chromedriver did not get ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    (running, url)
}

/// A headless chromium with the flags that work on a shared CI machine.
async fn browser(driver: &str, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    ClientBuilder::native()
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("start a chromium session")
}

fn screenshots_dir() -> PathBuf {
    let dir = match std::env::var_os("PALMDB_SCREENSHOTS_DIR") {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots"),
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    // The page's full height, so the screenshot shows all of it (measured in a small window:
    // a page is never shorter than the window it is in).
    client.set_window_size(1280, 600).await.unwrap();
    let height = client
        .execute("return document.documentElement.scrollHeight", vec![])
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(1000)
        .clamp(600, 4000);
    client.set_window_size(1280, height as u32).await.unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(screenshots_dir().join(format!("dashboard-{name}.png")), png).unwrap();
}

/// Waits until an element matching `css` is on the page (after a form posted back to the
/// page the browser was already on).
async fn wait_for_element(client: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.find(Locator::Css(css)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "no {css} on {}",
            path_of(client).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn attr(client: &Client, css: &str, name: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .attr(name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{css} has no {name}"))
}

async fn text(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn path_of(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_string()
}

/// Waits until the browser shows `path` and the page is loaded: a click or a form submit
/// returns before the navigation it starts has finished.
async fn wait_for(client: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = client
            .execute("return document.readyState", vec![])
            .await
            .ok()
            .is_some_and(|v| v == "complete");
        if ready && path_of(client).await == path {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the browser is at {} instead of {path}",
            path_of(client).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn log_in(client: &Client, base: &str, token: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    let form = client.form(Locator::Css("form.login")).await.unwrap();
    form.set_by_name("token", token).await.unwrap();
    form.submit().await.unwrap();
}

fn api(base: &str, path: &str) -> Value {
    let response = Http::new()
        .get(format!("{base}{path}"))
        .bearer_auth(READ)
        .send()
        .unwrap();
    response.json().unwrap()
}

/// A database with Palm's data, a missing index and a workload (so there is advice to show),
/// a week of recorded snapshots, and two backups.
fn prepare(tag: &str) -> (TestDb, tempfile::TempDir) {
    let db = TestDb::migrated(tag);
    assert_success(&db.palmdb(&["demo-data", "--users", "10000"]));
    db.execute(
        "CREATE EXTENSION pg_stat_statements;
         CREATE EXTENSION hypopg;
         DROP INDEX users_role_created_at_idx;
         ANALYZE users;
         SELECT palmdb.record_health_snapshot();
         -- Six earlier days, each table a little smaller the further back.
         INSERT INTO palmdb.health_snapshots
         SELECT s.taken_at - d * interval '1 day', s.schema_name, s.table_name,
                greatest(s.live_rows - d * 400, 0), s.dead_rows,
                greatest(s.table_bytes - d * 65536, 0), s.index_bytes, s.toast_bytes,
                greatest(s.total_bytes - d * 98304, 0), s.seq_scans, s.index_scans
         FROM palmdb.health_snapshots AS s, generate_series(1, 6) AS d;",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workload/users_by_role.sql");
    let out = Command::new("pgbench")
        .args(["-n", "-t", "30", "-f"])
        .arg(&script)
        .arg(&db.url)
        .output()
        .expect("run pgbench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backups = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        assert_success(&db.palmdb(&[
            "backup",
            "create",
            "--dir",
            backups.path().to_str().unwrap(),
        ]));
        std::thread::sleep(Duration::from_millis(1100)); // backup ids have a one-second clock
    }
    (db, backups)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_a_real_browser_shows_what_the_json_api_says() {
    let (db, backups) = tokio::task::spawn_blocking(|| prepare("dashboard_browser"))
        .await
        .unwrap();
    let (db, backups, _serve, base) = tokio::task::spawn_blocking(move || {
        let serve = start_serve(&db, backups.path());
        let base = serve.base.clone();
        (db, backups, serve, base)
    })
    .await
    .unwrap();
    let (_driver, driver_url) = tokio::task::spawn_blocking(start_chromedriver)
        .await
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver_url, profile.path()).await;

    // Not logged in: every page sends the browser to the login form.
    for page in ["/", "/queries", "/space", "/backups", "/connections"] {
        client.goto(&format!("{base}{page}")).await.unwrap();
        assert_eq!(path_of(&client).await, "/login", "{page}");
    }
    screenshot(&client, "login").await;
    log_in(&client, &base, "not-the-token-at-all-0123456789abc").await;
    wait_for_element(&client, ".problem").await;
    assert_eq!(path_of(&client).await, "/login");
    assert!(text(&client, ".problem")
        .await
        .contains("not the read or the admin token"));
    log_in(&client, &base, ADMIN).await;
    wait_for(&client, "/").await;
    assert_eq!(attr(&client, ".role", "data-role").await, "admin");

    // Overview: every check's status as GET /health gives it.
    let base2 = base.clone();
    let health = tokio::task::spawn_blocking(move || api(&base2, "/health"))
        .await
        .unwrap();
    client.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(
        attr(&client, "#overall", "data-status").await,
        health["status"].as_str().unwrap()
    );
    for check in health["checks"].as_array().unwrap() {
        let name = check["name"].as_str().unwrap();
        assert_eq!(
            attr(
                &client,
                &format!("tr[data-check=\"{name}\"]"),
                "data-status"
            )
            .await,
            check["status"].as_str().unwrap(),
            "{name}"
        );
    }
    screenshot(&client, "overview").await;

    // Queries: the statements `palmdb queries` lists, and the advice `palmdb advise` gives.
    client.goto(&format!("{base}/queries")).await.unwrap();
    let rows = client
        .find_all(Locator::Css("tr[data-query-id]"))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    let db_url = db.url.clone();
    let cli = tokio::task::spawn_blocking(move || {
        let out = palmdb_command(&["queries", "--limit", "1000", "--json"])
            .env("DATABASE_URL", &db_url)
            .output()
            .unwrap();
        serde_json::from_str::<Value>(&stdout(&out)).unwrap()
    })
    .await
    .unwrap();
    // The workload's statement (many calls, so never evicted from the cluster-wide
    // pg_stat_statements by other tests' churn) is on the page with its CLI figures.
    let workload = cli["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["query"].as_str().unwrap().contains("u.role = $1"))
        .expect("the workload's statement in palmdb queries");
    let row = format!("tr[data-query-id=\"{}\"]", workload["query_id"]);
    let page_calls: i64 = attr(&client, &row, "data-calls").await.parse().unwrap();
    assert_eq!(page_calls, workload["calls"].as_i64().unwrap());
    assert!(rows.len() <= 20);
    let advice = client
        .find(Locator::Css("section.advice[data-table=\"public.users\"]"))
        .await
        .expect("the advice for the dropped index");
    assert_eq!(
        advice.attr("data-columns").await.unwrap().as_deref(),
        Some("role,created_at,id")
    );
    assert!(advice
        .text()
        .await
        .unwrap()
        .contains("CREATE INDEX CONCURRENTLY"));
    screenshot(&client, "queries").await;

    // Space: today's sizes as palmdb.table_stats has them, a week of growth as charts.
    client.goto(&format!("{base}/space")).await.unwrap();
    assert_eq!(
        Some(attr(&client, "tr[data-table=\"public.users\"]", "data-total-bytes").await),
        db.scalar("SELECT total_bytes FROM palmdb.table_stats WHERE schema_name = 'public' AND table_name = 'users'")
    );
    assert_eq!(attr(&client, "#growth-total", "data-days").await, "7");
    assert_eq!(attr(&client, "#growth-total svg", "data-points").await, "7");
    assert_eq!(
        client
            .find_all(Locator::Css("section.table-growth svg circle"))
            .await
            .unwrap()
            .len()
            % 7,
        0
    );
    screenshot(&client, "space").await;

    // Backups: each one as GET /backups lists it, the status as GET /backups/status says.
    let base2 = base.clone();
    let (list, status) = tokio::task::spawn_blocking(move || {
        (api(&base2, "/backups"), api(&base2, "/backups/status"))
    })
    .await
    .unwrap();
    client.goto(&format!("{base}/backups")).await.unwrap();
    assert_eq!(
        attr(&client, "#backup-status", "data-status").await,
        status["status"].as_str().unwrap()
    );
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    for backup in list {
        let id = backup["id"].as_str().unwrap();
        let row = format!("tr[data-backup=\"{id}\"]");
        assert_eq!(
            attr(&client, &row, "data-rows").await,
            backup["rows"].to_string()
        );
        assert_eq!(
            attr(&client, &row, "data-bytes").await,
            backup["bytes"].to_string()
        );
    }
    // Verify the newest through its form; the page then shows its verify state.
    let newest = list[0]["id"].as_str().unwrap().to_string();
    let row = format!("tr[data-backup=\"{newest}\"]");
    client
        .find(Locator::Css(&format!("{row} form button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_element(&client, &format!("{row} td.verified .status")).await;
    wait_for(&client, "/backups").await;
    assert_eq!(
        attr(
            &client,
            &format!("{row} td.verified .status"),
            "data-status"
        )
        .await,
        "ok"
    );
    screenshot(&client, "backups").await;
    // Prune, as a dry run (the form's default): nothing goes.
    client
        .find(Locator::Css("form.prune button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "/backups/prune").await;
    assert!(
        text(&client, "#prune-report").await.contains("would"),
        "{}",
        text(&client, "#prune-report").await
    );
    assert_eq!(std::fs::read_dir(backups.path()).unwrap().count(), 2);

    // Connections: max_connections as the server has it.
    client.goto(&format!("{base}/connections")).await.unwrap();
    assert_eq!(
        Some(text(&client, "#max-connections").await),
        db.scalar("current_setting('max_connections')")
    );
    let total: i64 = text(&client, "#total-connections").await.parse().unwrap();
    assert!(total >= 1);
    screenshot(&client, "connections").await;

    // Log out: the session is gone.
    client
        .find(Locator::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "/login").await;
    client.goto(&format!("{base}/queries")).await.unwrap();
    assert_eq!(path_of(&client).await, "/login");

    // The read token reads, but is offered neither prune nor verify.
    log_in(&client, &base, READ).await;
    wait_for(&client, "/").await;
    assert_eq!(attr(&client, ".role", "data-role").await, "read");
    client.goto(&format!("{base}/backups")).await.unwrap();
    assert!(client.find(Locator::Css("form.prune")).await.is_err());
    assert!(client
        .find(Locator::Css("form[action=\"/backups/verify\"]"))
        .await
        .is_err());
    client.close().await.unwrap();
}

/// The session id in a response's Set-Cookie, and the whole header.
fn session_cookie(response: &reqwest::blocking::Response) -> (String, String) {
    let header = response
        .headers()
        .get("set-cookie")
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_string();
    let id = header
        .strip_prefix("palmdb_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_string();
    (id, header)
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_string()
}

#[test]
fn sessions_cookies_csrf_roles_and_headers() {
    let db = TestDb::migrated("dashboard_http");
    let backups = tempfile::tempdir().unwrap();
    assert_success(&db.palmdb(&[
        "backup",
        "create",
        "--dir",
        backups.path().to_str().unwrap(),
    ]));
    let serve = start_serve(&db, backups.path());
    let base = serve.base.clone();
    let http = Http::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, cookie: Option<&str>| {
        let mut request = http
            .get(format!("{base}{path}"))
            .header("accept", "text/html");
        if let Some(id) = cookie {
            request = request.header("cookie", format!("palmdb_session={id}"));
        }
        request.send().unwrap()
    };

    // No cookie, a forged one: the login page, with the strict headers.
    for cookie in [None, Some("forged")] {
        let response = get("/", cookie);
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()["location"], "/login");
    }
    let login = get("/login", None);
    assert_eq!(login.status(), StatusCode::OK);
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(login.headers()["x-frame-options"], "DENY");
    let body = login.text().unwrap();
    assert!(!body.contains("<script"), "{body}");

    // A wrong token: 401, not echoed; no cookie.
    let wrong = http
        .post(format!("{base}/login"))
        .form(&[("token", "wrong-token-that-is-long-enough-1234")])
        .send()
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(!wrong.text().unwrap().contains("wrong-token-that"));

    // The right one: a strict, HttpOnly cookie; Secure when a TLS proxy says so.
    let admin = http
        .post(format!("{base}/login"))
        .form(&[("token", ADMIN)])
        .send()
        .unwrap();
    assert_eq!(admin.status(), StatusCode::SEE_OTHER);
    let (admin_id, header) = session_cookie(&admin);
    assert!(
        header.contains("HttpOnly")
            && header.contains("SameSite=Strict")
            && header.contains("Max-Age="),
        "{header}"
    );
    assert!(!header.contains("Secure"), "{header}");
    let proxied = http
        .post(format!("{base}/login"))
        .header("x-forwarded-proto", "https")
        .form(&[("token", ADMIN)])
        .send()
        .unwrap();
    assert!(session_cookie(&proxied).1.ends_with("; Secure"));
    let page = get("/backups", Some(&admin_id));
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let admin_csrf = csrf_of(&page.text().unwrap());

    // The JSON API keeps its bearer token: /backups is JSON for it, 401 without it.
    let api = http
        .get(format!("{base}/backups"))
        .bearer_auth(READ)
        .send()
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    assert!(api.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        http.get(format!("{base}/backups")).send().unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        http.get(format!("{base}/health"))
            .header("cookie", format!("palmdb_session={admin_id}"))
            .send()
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Prune: a forged or missing CSRF token is refused, so is the read token.
    let prune = |cookie: &str, csrf: &str| {
        http.post(format!("{base}/backups/prune"))
            .header("cookie", format!("palmdb_session={cookie}"))
            .form(&[("csrf", csrf), ("keep_days", "0"), ("keep_last", "1")])
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(
        prune(&admin_id, "not-the-csrf-token"),
        StatusCode::FORBIDDEN
    );
    let read = http
        .post(format!("{base}/login"))
        .form(&[("token", READ)])
        .send()
        .unwrap();
    let (read_id, _) = session_cookie(&read);
    let read_csrf = csrf_of(&get("/backups", Some(&read_id)).text().unwrap());
    assert_eq!(prune(&read_id, &read_csrf), StatusCode::FORBIDDEN);
    assert_eq!(prune(&read_id, &admin_csrf), StatusCode::FORBIDDEN);
    assert_eq!(std::fs::read_dir(backups.path()).unwrap().count(), 1);
    // Without a session at all: to the login page.
    assert_eq!(
        http.post(format!("{base}/backups/prune"))
            .form(&[
                ("csrf", admin_csrf.as_str()),
                ("keep_days", "0"),
                ("keep_last", "1")
            ])
            .send()
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    // The admin's real form works (keep_last keeps the only backup).
    assert_eq!(prune(&admin_id, &admin_csrf), StatusCode::OK);
    assert_eq!(std::fs::read_dir(backups.path()).unwrap().count(), 1);

    // Logging out needs the CSRF token too, and ends the session.
    let logout = |csrf: &str| {
        http.post(format!("{base}/logout"))
            .header("cookie", format!("palmdb_session={admin_id}"))
            .form(&[("csrf", csrf)])
            .send()
            .unwrap()
    };
    assert_eq!(logout("forged").status(), StatusCode::FORBIDDEN);
    assert_eq!(get("/", Some(&admin_id)).status(), StatusCode::OK);
    let out = logout(&admin_csrf);
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(get("/", Some(&admin_id)).status(), StatusCode::SEE_OTHER);
}

#[test]
fn every_page_says_what_is_wrong_with_a_database_never_migrated() {
    let db = TestDb::new("dashboard_unmigrated");
    let backups = tempfile::tempdir().unwrap();
    let serve = start_serve(&db, backups.path());
    let base = serve.base.clone();
    let http = Http::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{base}/login"))
        .form(&[("token", READ)])
        .send()
        .unwrap();
    let (id, _) = session_cookie(&login);
    for page in ["/", "/queries", "/space", "/connections", "/backups"] {
        let response = http
            .get(format!("{base}{page}"))
            .header("accept", "text/html")
            .header("cookie", format!("palmdb_session={id}"))
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        let body = response.text().unwrap();
        if page == "/backups" {
            assert!(body.contains("id=\"no-backups\""), "{page}: {body}");
        } else {
            assert!(body.contains("class=\"problem\""), "{page}: {body}");
        }
    }
    let overview = http
        .get(format!("{base}/"))
        .header("cookie", format!("palmdb_session={id}"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        overview.contains("run palmdb migrate --monitoring-only"),
        "{overview}"
    );
}
