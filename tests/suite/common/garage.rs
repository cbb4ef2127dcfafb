//! The Garage cluster the object storage tests run against: 3 nodes in 3 zones on loopback,
//! started (and installed, the first time) by `scripts/ensure-garage.sh`. Never skipped: if
//! the script cannot bring the cluster up, the test fails and says why.
//!
//! Tests that stop nodes (faults) hold the cluster exclusively; the others share it. The lock
//! is a file lock, so it also holds between concurrent `cargo test` runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

static PREFIXES: AtomicUsize = AtomicUsize::new(0);

pub struct Garage {
    /// The variables from the script's env file (AWS_*, the bucket).
    pub vars: Vec<(String, String)>,
    pub bucket: String,
    dir: PathBuf,
}

/// The running cluster (started on first use).
pub fn garage() -> &'static Garage {
    static GARAGE: OnceLock<Garage> = OnceLock::new();
    GARAGE.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-garage.sh");
        // Checked under the shared lock: another run's fault test may have a node stopped,
        // and the script would take that for a cluster to repair.
        let dir = garage_dir();
        std::fs::create_dir_all(&dir).expect("create the Garage folder");
        let lock = File::create(dir.join("faults.lock")).expect("create the cluster lock");
        lock.lock_shared().expect("lock the cluster");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("cannot run scripts/ensure-garage.sh");
        drop(lock);
        assert!(
            out.status.success(),
            "scripts/ensure-garage.sh failed: the object storage tests need the Garage \
             cluster\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.join("env"))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.join("env").display()));
        let vars: Vec<(String, String)> = text
            .lines()
            .filter_map(|line| line.strip_prefix("export "))
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let bucket = vars
            .iter()
            .find(|(k, _)| k == "PALMDB_TEST_S3_BUCKET")
            .map(|(_, v)| v.clone())
            .expect("the env file names the bucket");
        Garage { vars, bucket, dir }
    })
}

fn garage_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PALMDB_GARAGE_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache"));
    cache.join("palmdb/garage")
}

impl Garage {
    /// A fresh repository URL of its own for one test: `s3://bucket/<tag>-<pid>-<n>`.
    pub fn repo_url(&self, tag: &str) -> String {
        let n = PREFIXES.fetch_add(1, Ordering::SeqCst);
        format!(
            "s3://{}/t-{}-{}-{n}",
            self.bucket,
            tag.replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
            std::process::id()
        )
    }

    /// A variable from the env file.
    pub fn var(&self, name: &str) -> String {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} is not in the Garage env file"))
    }

    /// Sets the store's variables on a command.
    pub fn apply(&self, cmd: &mut Command) {
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
    }

    /// Shares the cluster with other tests (no node is stopped while this is held).
    pub fn shared(&self) -> ClusterLock {
        self.lock(false)
    }

    /// Holds the cluster alone, to stop and start nodes.
    pub fn exclusive(&self) -> ClusterLock {
        self.lock(true)
    }

    fn lock(&self, exclusive: bool) -> ClusterLock {
        let file = File::create(self.dir.join("faults.lock")).expect("create the cluster lock");
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.expect("lock the cluster");
        ClusterLock {
            _file: file,
            restart: Vec::new(),
        }
    }
}

/// Held while a test uses the cluster; nodes a fault test stopped are started again on drop.
pub struct ClusterLock {
    _file: File,
    restart: Vec<u32>,
}

impl ClusterLock {
    /// Stops node `n` (1-3); it is started again when the lock is dropped, if not before.
    pub fn stop_node(&mut self, n: u32) {
        node_command("--stop-node", n);
        self.restart.push(n);
    }

    /// Starts node `n` again and waits until the cluster is healthy.
    pub fn start_node(&mut self, n: u32) {
        node_command("--start-node", n);
        self.restart.retain(|&m| m != n);
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        for n in std::mem::take(&mut self.restart) {
            node_command("--start-node", n);
        }
    }
}

fn node_command(action: &str, n: u32) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-garage.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(action)
        .arg(n.to_string())
        .output()
        .expect("cannot run scripts/ensure-garage.sh");
    assert!(
        out.status.success(),
        "ensure-garage.sh {action} {n} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
