//! The old system's export (`restore --from-legacy`), on any bytes: scan it, then stream each
//! table's rows into COPY fields for every kind of target column. Checks: no panic; the
//! second pass sees as many rows as the scan counted; every field is one COPY field (no raw
//! tab or newline).
#![no_main]

use libfuzzer_sys::fuzz_target;
use palmdb::restore::legacy::document::{for_each_row_in, scan_reader};
use palmdb::restore::legacy::fields::{write_field, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(tables) = scan_reader(data, "fuzz input") else {
        return;
    };
    for table in &tables {
        let mut rows = 0u64;
        for_each_row_in(data, "fuzz input", &table.name, &mut |row| {
            rows += 1;
            for key in &table.keys {
                for target in [Target::Json, Target::Array, Target::Scalar] {
                    let mut field = Vec::new();
                    write_field(row.get(key), target, &mut field);
                    assert!(
                        !field.iter().any(|b| matches!(b, b'\t' | b'\n' | b'\r')),
                        "a raw tab or newline in a COPY field"
                    );
                }
            }
            Ok(())
        })
        .expect("a document that scanned reads again");
        assert_eq!(rows, table.rows, "table {}", table.name);
    }
});
