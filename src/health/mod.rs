//! `palmdb health`: runs the health checks (all SQL, `palmdb.checks()`), and renders them for
//! people (a table), for programs (JSON), for Nagios (one line with perfdata) and for
//! Prometheus (text format). The CLI and `palmdb serve` share [`collect`], so an HTTP body and
//! `palmdb health --format json` are the same document; [`collect`] sets the session guards
//! itself, so every caller gets them.

pub mod catalog;
pub mod collect;
pub mod guard;
pub mod invalid_indexes;
pub mod nagios;
pub mod pgbouncer;
pub mod prometheus;
pub mod record;
pub mod report;
pub mod run;
pub mod table;
pub mod thresholds;

pub use collect::{collect, HealthOptions};
pub use report::{Check, HealthReport};
