//! palmdb's integration tests: one test binary, one module per area, against a real
//! PostgreSQL (one fresh database per test, see [`common`]), the real built `palmdb`, and the
//! Garage cluster, PgBouncer and the other majors where an area needs them.
//!
//! Run one area with its module path: `cargo test --test suite -- health::`.

mod common;
mod restore_support;

mod backup_create;
mod backup_upkeep;
mod big_values;
mod compat_libpq;
mod compat_managed_roles;
mod compat_pgbouncer;
mod connect;
mod cross_version;
mod dashboard;
mod demo_data;
mod exact_or_refused;
mod hardening;
mod harness;
mod health;
mod insights;
mod migrate;
mod monitoring_only;
mod object_storage;
mod prometheus_alerts;
mod repository;
mod restore;
mod restore_legacy;
mod restore_new_database;
mod restore_schema;
mod restore_types;
mod row_codec_props;
mod serve;
mod stats_cli;
mod stats_functions;
mod stats_plans;
mod stats_writes;
mod verify;
