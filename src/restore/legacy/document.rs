//! Streaming through the old system's export, `{"tables": {"users": {"data": [...],
//! "count": N, ...}, ...}, ...}`, without ever holding more than one row in memory.
//!
//! The document is read twice over: a scan (each table's rows counted, its keys collected,
//! its `count` read) and then, per table in load order, a pass that sends that table's rows
//! on and skips the rest — a file can be read again, a whole document cannot be held.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What the scan learnt about one table of the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedTable {
    pub name: String,
    pub rows: u64,
    /// The document's own `count`, when it has one.
    pub declared_count: Option<u64>,
    /// Every key seen in its rows, in first-seen order.
    pub keys: Vec<String>,
}

/// Reads the document once: its tables, their row counts and keys.
pub fn scan(path: &Path) -> Result<Vec<ScannedTable>> {
    scan_reader(open(path)?, &path.display().to_string())
}

/// [`scan`] over any reader; `what` names the document in errors.
pub fn scan_reader(reader: impl Read, what: &str) -> Result<Vec<ScannedTable>> {
    let mut tables = Vec::new();
    walk(reader, what, &mut Mode::Scan(&mut tables))?;
    Ok(tables)
}

/// Reads the document again and hands each row of table `name` to `row`.
pub fn for_each_row(
    path: &Path,
    name: &str,
    row: &mut dyn FnMut(&Map<String, Value>) -> Result<()>,
) -> Result<()> {
    for_each_row_in(open(path)?, &path.display().to_string(), name, row)
}

/// [`for_each_row`] over any reader; `what` names the document in errors.
pub fn for_each_row_in(
    reader: impl Read,
    what: &str,
    name: &str,
    row: &mut dyn FnMut(&Map<String, Value>) -> Result<()>,
) -> Result<()> {
    walk(reader, what, &mut Mode::Rows { table: name, row })
}

enum Mode<'a> {
    Scan(&'a mut Vec<ScannedTable>),
    Rows {
        table: &'a str,
        row: &'a mut dyn FnMut(&Map<String, Value>) -> Result<()>,
    },
}

const BUFFER_BYTES: usize = 256 * 1024;

fn open(path: &Path) -> Result<BufReader<File>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(BufReader::with_capacity(BUFFER_BYTES, file))
}

fn walk(reader: impl Read, what: &str, mode: &mut Mode<'_>) -> Result<()> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    Document { mode }
        .deserialize(&mut deserializer)
        .and_then(|found| {
            deserializer.end()?;
            Ok(found)
        })
        .map_err(|e| anyhow::anyhow!("{what} is not an export of the old system: {e}"))
        .and_then(|found_tables| {
            if found_tables {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "{what} is not an export of the old system: it has no \"tables\" object"
                ))
            }
        })
}

/// The whole document; yields whether it had a `tables` key.
struct Document<'m, 'a> {
    mode: &'m mut Mode<'a>,
}

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a \"tables\" key")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "tables" {
                map.next_value_seed(Tables {
                    mode: &mut *self.mode,
                })?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct Tables<'m, 'a> {
    mode: &'m mut Mode<'a>,
}

impl<'de> DeserializeSeed<'de> for Tables<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Tables<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of tables")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            let wanted = match &*self.mode {
                Mode::Scan(_) => true,
                Mode::Rows { table, .. } => *table == name,
            };
            if !wanted {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let mut scanned = ScannedTable {
                name: name.clone(),
                rows: 0,
                declared_count: None,
                keys: Vec::new(),
            };
            map.next_value_seed(Table {
                mode: &mut *self.mode,
                scanned: &mut scanned,
            })?;
            if let Mode::Scan(tables) = &mut *self.mode {
                if tables.iter().any(|t| t.name == name) {
                    return Err(de::Error::custom(format!("table \"{name}\" appears twice")));
                }
                tables.push(scanned);
            }
        }
        Ok(())
    }
}

struct Table<'m, 'a, 's> {
    mode: &'m mut Mode<'a>,
    scanned: &'s mut ScannedTable,
}

impl<'de> DeserializeSeed<'de> for Table<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Table<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table: an object with \"data\" (an array of rows) and \"count\"")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "data" => map.next_value_seed(Rows {
                    mode: &mut *self.mode,
                    scanned: &mut *self.scanned,
                })?,
                "count" => self.scanned.declared_count = Some(map.next_value::<u64>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Rows<'m, 'a, 's> {
    mode: &'m mut Mode<'a>,
    scanned: &'s mut ScannedTable,
}

impl<'de> DeserializeSeed<'de> for Rows<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Rows<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of row objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element::<Map<String, Value>>()? {
            self.scanned.rows += 1;
            match &mut *self.mode {
                Mode::Scan(_) => {
                    for key in row.keys() {
                        if !self.scanned.keys.contains(key) {
                            self.scanned.keys.push(key.clone());
                        }
                    }
                }
                Mode::Rows { row: handle, .. } => handle(&row)
                    .map_err(|e| de::Error::custom(format!("row {}: {e:#}", self.scanned.rows)))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_tables_counts_and_keys_then_streams_one_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.json");
        std::fs::write(
            &path,
            r#"{"timestamp": "2025-01-01", "tables": {
                "users": {"data": [{"id": "a", "email": "x@y"}, {"id": "b", "name": null}],
                          "count": 2, "exported_at": "2025-01-01T00:00:00Z"},
                "preorders": {"count": 0, "data": []}
            }, "metadata": {"total": 2}}"#,
        )
        .unwrap();
        let tables = scan(&path).unwrap();
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].name, "users");
        assert_eq!(tables[0].rows, 2);
        assert_eq!(tables[0].declared_count, Some(2));
        assert_eq!(tables[0].keys, ["id", "email", "name"]);
        assert_eq!(tables[1].rows, 0);

        let mut ids = Vec::new();
        for_each_row(&path, "users", &mut |row| {
            ids.push(row["id"].as_str().unwrap().to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn garbage_and_cut_documents_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.json");
        std::fs::write(&path, r#"{"tables": {"users": {"data": [{"id": 1}"#).unwrap();
        assert!(scan(&path).is_err());
        std::fs::write(&path, r#"{"rows": []}"#).unwrap();
        let err = scan(&path).unwrap_err().to_string();
        assert!(err.contains("no \"tables\""), "{err}");
    }
}
