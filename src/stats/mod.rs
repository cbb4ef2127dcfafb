//! `palmdb stats`: one user's figures, and the newest orders in a status. The queries are
//! the SQL functions in `sql/stats/` (schema `palmdb`), so psql, the CLI and the HTTP API
//! see the same numbers; this module only calls them and renders the result, as an aligned
//! table for people or as JSON whose keys are the functions' column names, for scripts.

pub mod orders;
mod sql_error;
pub mod table;
pub mod user;

pub use orders::{orders_by_status, OrdersPage, OrdersQuery};
pub use user::{user_stats, UserKey, UserStats};
