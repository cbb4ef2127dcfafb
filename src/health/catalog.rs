//! The health checks palmdb knows, declared once: their stable names (what `--check` accepts,
//! what JSON, Nagios and Prometheus output carry) and one line on what each watches. The
//! checks themselves are SQL (`palmdb.checks()` in `sql/health/30_checks.sql`); a test keeps
//! this list and the SQL in step. docs/health-checks.md explains each one.

/// One check: its stable name and what it watches.
#[derive(Debug, Clone, Copy)]
pub struct CheckInfo {
    pub name: &'static str,
    pub watches: &'static str,
}

/// Every check, in the order `palmdb.checks()` returns them.
pub const CHECKS: &[CheckInfo] = &[
    CheckInfo {
        name: "connections",
        watches: "client connections as a share of max_connections",
    },
    CheckInfo {
        name: "long_running_queries",
        watches: "the longest-running active query, in seconds",
    },
    CheckInfo {
        name: "idle_in_transaction",
        watches: "the longest session idle inside a transaction, in seconds",
    },
    CheckInfo {
        name: "blocked_queries",
        watches: "the longest wait for a lock, in seconds",
    },
    CheckInfo {
        name: "cache_hit_tables",
        watches: "share of table block reads served from shared buffers",
    },
    CheckInfo {
        name: "cache_hit_indexes",
        watches: "share of index block reads served from shared buffers",
    },
    CheckInfo {
        name: "dead_tuples",
        watches: "the highest dead-row ratio of a table",
    },
    CheckInfo {
        name: "stale_statistics",
        watches: "rows changed since ANALYZE, relative to the table's rows",
    },
    CheckInfo {
        name: "unused_indexes",
        watches: "large indexes never scanned",
    },
    CheckInfo {
        name: "duplicate_indexes",
        watches: "indexes made redundant by another index",
    },
    CheckInfo {
        name: "invalid_indexes",
        watches: "INVALID indexes left by failed concurrent builds",
    },
    CheckInfo {
        name: "foreign_keys_without_index",
        watches: "foreign keys with no index on their columns",
    },
    CheckInfo {
        name: "tables_without_primary_key",
        watches: "tables without a primary key",
    },
    CheckInfo {
        name: "xid_wraparound_database",
        watches: "transaction-ID age of the oldest database",
    },
    CheckInfo {
        name: "xid_wraparound_tables",
        watches: "transaction-ID age of the oldest table",
    },
    CheckInfo {
        name: "sequence_exhaustion",
        watches: "share of the fullest sequence's range used",
    },
    CheckInfo {
        name: "serial_column_exhaustion",
        watches: "share of a serial/identity integer column's range used",
    },
    CheckInfo {
        name: "replication_lag",
        watches: "the most-lagging standby, in seconds",
    },
    CheckInfo {
        name: "inactive_replication_slots",
        watches: "replication slots nobody consumes",
    },
    CheckInfo {
        name: "slow_queries",
        watches: "statements slow on average (needs pg_stat_statements)",
    },
];

/// Whether `name` is a known check.
pub fn is_known(name: &str) -> bool {
    CHECKS.iter().any(|c| c.name == name)
}

/// The names, comma-separated, for hints.
pub fn names() -> String {
    CHECKS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}
