//! Loading many rows fast into tables that have indexes and foreign keys: set them aside for
//! the load, then put them back, inside the caller's transaction (what pg_restore does in a
//! full restore). One sorted build per index and one validating join per key replace an index
//! insert and a key check per row, and a failure or a kill rolls everything back with the
//! transaction. Used by `restore` and `demo-data`.
//!
//! Call order: foreign keys aside, indexes aside, load, indexes back, foreign keys back (keys
//! rely on the unique indexes).

pub mod foreign_keys;
pub mod indexes;
