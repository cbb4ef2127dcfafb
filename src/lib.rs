//! palmdb keeps a production PostgreSQL database fast, healthy and recoverable.
//!
//! The logic lives in SQL (`migrations/` and `sql/`); this crate is the runner around it:
//! migrations, reports, and streaming backups. `main.rs` only parses the command line and
//! maps errors to exit codes.

pub mod archive;
pub mod backup;
pub mod cli;
pub mod commands;
pub mod connect;
pub mod demo_data;
pub mod duration;
pub mod error;
pub mod health;
pub mod insights;
pub mod interrupt;
pub mod maintain;
pub mod migrate;
pub mod pg_tools;
pub mod restore;
pub mod serve;
pub mod set_aside;
pub mod sql_quote;
pub mod stats;
pub mod tls_read;
pub mod ui;
pub mod verify;
