//! contrib/prometheus/palmdb-alerts.yml: valid for Prometheus (`promtool check rules`), passing
//! its unit tests (`promtool test rules`), and reading only metrics palmdb really exposes —
//! checked against the /metrics of a real `palmdb serve`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::serve::ServeProcess;
use crate::common::{assert_success, palmdb_command, TestDb};

const READ: &str = "alerts-read-token-7c1e4b9a2f6d8e30";

/// Names fixed across the team (TEAM.md) that other parts of palmdb are adding; the rules
/// already read them. Every other name must be on a real server's /metrics today.
const EMITTED_ELSEWHERE: [&str; 2] = [
    "palmdb_backup_age_seconds",        // per repository (storage, serve)
    "palmdb_pgbouncer_clients_waiting", // PgBouncer pools (compat)
];

fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/prometheus")
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(contrib())
        .output()
        .expect("run promtool (bash scripts/ensure-promtool.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_alert_rules_are_valid_and_pass_their_unit_tests() {
    let checked = promtool(&["check", "rules", "palmdb-alerts.yml"]);
    assert!(checked.contains("SUCCESS: 12 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", "palmdb-alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has a unit test.
    let rules = std::fs::read_to_string(contrib().join("palmdb-alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(contrib().join("palmdb-alerts.test.yml")).unwrap();
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert: ") {
            assert!(
                tests.contains(&format!("alertname: {name}\n")),
                "{name} has no test"
            );
        }
    }
}

/// `palmdb_*` names in a text, and the check names in `check="..."` / `check=~"a|b"`.
fn names_in_rules(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let metrics = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| t.starts_with("palmdb_"))
        .map(str::to_string)
        .collect();
    let mut checks = BTreeSet::new();
    for (i, _) in text.match_indices("check=") {
        let rest = &text[i + "check=".len()..];
        let rest = rest.strip_prefix('~').unwrap_or(rest);
        if let Some(value) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) {
            checks.extend(value.split('|').map(str::to_string));
        }
    }
    (metrics, checks)
}

/// Metric names and check labels of a Prometheus text exposition.
fn names_in_exposition(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut metrics = BTreeSet::new();
    let mut checks = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        metrics.insert(name.to_string());
        if let Some(rest) = line.split("check=\"").nth(1) {
            checks.insert(rest.split('"').next().unwrap().to_string());
        }
    }
    (metrics, checks)
}

#[test]
fn every_metric_and_check_the_alerts_read_is_on_a_real_servers_metrics() {
    let db = TestDb::migrated("alerts_metrics");
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().to_str().unwrap();
    assert_success(&db.palmdb(&["backup", "create", "--dir", dir]));

    let mut cmd = palmdb_command(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--read-token",
        READ,
        "--dir",
        dir,
    ]);
    cmd.env("DATABASE_URL", &db.url);
    let mut serve = ServeProcess::spawn(cmd, |_| {});
    let scraped = reqwest::blocking::Client::new()
        .get(serve.url("/metrics"))
        .bearer_auth(READ)
        .send()
        .and_then(|r| r.text());
    serve.stop();
    let (served_metrics, served_checks) = names_in_exposition(&scraped.expect("scrape /metrics"));
    assert!(served_metrics.contains("palmdb_up"), "{served_metrics:?}");

    let rules = std::fs::read_to_string(contrib().join("palmdb-alerts.yml")).unwrap();
    let (metrics, checks) = names_in_rules(&rules);
    assert!(metrics.len() >= 8, "{metrics:?}");
    for metric in &metrics {
        assert!(
            served_metrics.contains(metric) || EMITTED_ELSEWHERE.contains(&metric.as_str()),
            "the rules read {metric}, which palmdb serve does not expose: {served_metrics:?}"
        );
    }
    assert!(checks.len() >= 4, "{checks:?}");
    for check in &checks {
        assert!(
            served_checks.contains(check),
            "the rules read check=\"{check}\", which is no health check: {served_checks:?}"
        );
    }
}

/// The rules with only what decides when they fire: groups, alert names, expressions (block
/// scalars included) and `for:`; comments, labels and annotations dropped.
fn rules_skeleton(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut expr_indent: Option<usize> = None;
    for line in yaml.lines() {
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if let Some(expr) = expr_indent {
            if indent > expr {
                out.push(line.trim_end().to_string());
                continue;
            }
            expr_indent = None;
        }
        if text == "groups:"
            || text == "rules:"
            || text.starts_with("- name:")
            || text.starts_with("- alert:")
            || text.starts_with("for:")
        {
            out.push(line.trim_end().to_string());
        } else if text.starts_with("expr:") {
            out.push(line.trim_end().to_string());
            expr_indent = Some(indent);
        }
    }
    out
}

/// Regression (issue 15): docs/serve.md showed four rules with other expressions
/// (`palmdb_health_status >= 2`, a backup rule without the per-repository age) than the file
/// operators load. Its copy must be the file's rules, exactly, and nothing else.
#[test]
fn the_alert_rules_in_the_serve_docs_are_the_contrib_file() {
    let rules = std::fs::read_to_string(contrib().join("palmdb-alerts.yml")).unwrap();
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/serve.md"))
        .unwrap();
    let snippet = docs
        .split("```yaml\n")
        .find(|block| block.starts_with("groups:"))
        .and_then(|block| block.split("```").next())
        .expect("docs/serve.md shows the alert rules in a ```yaml block starting with groups:");
    let expected = rules_skeleton(&rules);
    assert!(
        expected.len() > 12 * 3,
        "the skeleton lost the rules: {expected:#?}"
    );
    let shown: Vec<String> = snippet.lines().map(|l| l.trim_end().to_string()).collect();
    assert_eq!(
        shown, expected,
        "docs/serve.md's alert rules differ from contrib/prometheus/palmdb-alerts.yml"
    );
}
