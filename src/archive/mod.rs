//! The backup folder format, and nothing else: the manifest, how folders and files are named,
//! how table files are written (compressed and hashed as the bytes go out) and read back
//! (decompressed and re-hashed line by line), and the row encoding between PostgreSQL's COPY
//! text format and JSON lines.
//!
//! This module knows no database. `backup` writes with it; `restore` and `verify` read with it.
//! The format is described for people in `docs/backup-format.md`.

pub mod backup_files;
pub mod compression;
pub mod encryption;
pub mod integrity;
pub mod manifest;
pub mod naming;
pub mod open;
mod plain_run;
pub mod reader;
pub mod repository;
pub mod row_codec;
pub mod row_decoder;
pub mod schema;
pub mod text_format;
pub mod writer;

pub use compression::Compression;
pub use manifest::{
    ColumnEntry, InvalidManifest, Manifest, RelationName, SequenceEntry, TableEntry, FORMAT_VERSION,
};
pub use reader::LineReader;
pub use schema::SchemaEntry;
pub use writer::TableWriter;
