//! Test databases left behind by killed runs (Ctrl-C, a CI timeout, SIGKILL) are dropped at
//! the start of the next run, and only those: a database whose creator is still running — a
//! test binary of the same run in parallel, or another run — is never touched.
//!
//! Each test database records its creator in `COMMENT ON DATABASE`: the host, the boot, the
//! process id and the process's start time (so that a recycled pid is not taken for the
//! creator). A creator is gone when it ran on this host and either the machine has rebooted
//! since or no process with that pid and start time exists. Databases created on another
//! host's behalf are left alone; so are unrecorded ones (a run older than the records)
//! unless their name ends with the creator's pid, whole, and that process is gone.

use std::collections::HashSet;
use std::sync::Mutex;

use super::admin;

/// Prefix of every test database (see `TestDb::new_on`).
pub const PREFIX: &str = "palmdb_t_";

/// What a test database's comment starts with.
const MARK: &str = "palmdb test database:";

/// The admin URLs swept by this process (once each).
static SWEPT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Who this process is, as recorded on the databases it creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creator {
    pub host: String,
    pub boot: String,
    pub pid: u32,
    /// Clock ticks after boot at which the process started (`/proc/PID/stat`, field 22).
    pub start: u64,
}

impl Creator {
    pub fn this_process() -> Creator {
        let pid = std::process::id();
        Creator {
            host: host(),
            boot: boot_id(),
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// The database comment that records this creator.
    pub fn comment(&self) -> String {
        format!(
            "{MARK} host={} boot={} pid={} start={}",
            self.host, self.boot, self.pid, self.start
        )
    }

    pub fn parse(comment: &str) -> Option<Creator> {
        let rest = comment.strip_prefix(MARK)?;
        let field = |key: &str| {
            rest.split_whitespace()
                .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
        };
        Some(Creator {
            host: field("host")?,
            boot: field("boot")?,
            pid: field("pid")?.parse().ok()?,
            start: field("start")?.parse().ok()?,
        })
    }

    /// Whether this creator ran on this host and has certainly ended.
    pub fn is_gone(&self) -> bool {
        if self.host != host() {
            return false;
        }
        self.boot != boot_id() || start_time(self.pid) != Some(self.start)
    }
}

/// Whether the database `name`, with `comment`, was left by a creator that is gone.
pub fn is_leftover(name: &str, comment: Option<&str>) -> bool {
    if !name.starts_with(PREFIX) {
        return false;
    }
    match comment.and_then(Creator::parse) {
        Some(creator) => creator.is_gone(),
        // Unrecorded: `..._PID_N`, when the name was not cut at 63 bytes and the server is
        // this machine's (the only case where a pid means anything).
        None if name.len() < 63 && comment.is_none() => {
            let mut numbers = name.rsplit('_');
            let (Some(n), Some(pid)) = (numbers.next(), numbers.next()) else {
                return false;
            };
            match (n.parse::<u64>(), pid.parse::<u32>()) {
                (Ok(_), Ok(pid)) => start_time(pid).is_none(),
                _ => false,
            }
        }
        None => false,
    }
}

/// Drops the leftovers on the server `admin`, the first time this process asks for it.
pub fn sweep_once(admin: &str) {
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|e| e.into_inner());
        if !swept
            .get_or_insert_with(HashSet::new)
            .insert(admin.to_string())
        {
            return;
        }
    }
    sweep(admin);
}

/// Drops the leftovers on the server `admin` now: nothing when the server is not on this
/// machine, or when processes cannot be looked up here (no `/proc`).
pub fn sweep(admin: &str) {
    if !is_local(admin) || start_time(std::process::id()).is_none() {
        return;
    }
    // The prefix is ours and plain (letters and underscores): no quoting needed.
    let leftovers = format!(
        "SELECT d.datname, shobj_description(d.oid, 'pg_database')
         FROM pg_database AS d
         WHERE starts_with(d.datname, '{PREFIX}')"
    );
    for row in admin::rows(admin, &leftovers).unwrap_or_default() {
        let (Some(name), comment) = (row[0].clone(), row[1].as_deref()) else {
            continue;
        };
        if is_leftover(&name, comment) {
            let drop = format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                name.replace('"', "\"\"")
            );
            match admin::execute(admin, &drop) {
                Ok(()) => eprintln!("dropped {name}, left by a test run that is gone"),
                Err(e) => eprintln!("could not drop the leftover {name}: {e}"),
            }
        }
    }
}

/// Whether the server is on this machine (a Unix socket or a loopback address): only then is
/// a creator missing from this machine's processes certainly gone. Remote servers, shared
/// with other machines' runs, are left alone.
fn is_local(admin: &str) -> bool {
    let Ok(url) = url::Url::parse(admin) else {
        return false;
    };
    match url.host_str() {
        None | Some("") | Some("localhost") => true,
        Some(host) => host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
    }
}

fn host() -> String {
    read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".to_string())
}

fn boot_id() -> String {
    read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_else(|| "unknown".to_string())
}

/// When process `pid` started, or None when there is no such process.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().replace(char::is_whitespace, "_"))
}
