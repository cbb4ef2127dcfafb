//! JSON line → COPY text (what restore feeds PostgreSQL), on any bytes. The first byte picks
//! how many columns the table has (c0, c1, ...) and where the line is cut into pieces.
//! Checks: no panic; fed in pieces gives what fed whole gives; and whatever the decoder
//! accepts, serde_json reads as the same object (same keys, same values), so a line that is
//! not exactly one row of the table never reaches the database.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palmdb::archive::row_codec::RowDecoder;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Some((&head, line)) = data.split_first() else {
        return;
    };
    let columns = usize::from(head & 0x07);
    let names: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let decoder = RowDecoder::new(names.clone());

    let mut whole = Vec::new();
    let whole_result = decoder.decode(line, &mut whole);
    if whole_result.is_err() {
        assert!(whole.is_empty(), "a failed decode left bytes behind");
    }

    // The same line in pieces of 1 to 16 bytes, as the streaming reader hands it over.
    let piece = usize::from(head >> 4) + 1;
    let mut streamed = Vec::new();
    let mut line_decoder = decoder.line();
    let streamed_result = line
        .chunks(piece)
        .try_for_each(|chunk| line_decoder.feed(chunk, &mut streamed))
        .and_then(|()| line_decoder.finish(&mut streamed));
    assert_eq!(
        whole_result.is_ok(),
        streamed_result.is_ok(),
        "whole: {whole_result:?}, in pieces of {piece}: {streamed_result:?}"
    );
    if whole_result.is_err() {
        return;
    }
    assert_eq!(whole, streamed, "pieces of {piece} decode differently");

    // Another parser's reading: values as raw JSON text (a number's text is kept as it is,
    // also one beyond f64's range, which serde_json would refuse as a Value).
    let object: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(line)
        .unwrap_or_else(|e| panic!("the decoder accepted a line serde_json refuses: {e}"));
    let mut sorted_names: Vec<&String> = names.iter().collect();
    sorted_names.sort();
    assert_eq!(object.keys().collect::<Vec<_>>(), sorted_names, "keys");
    let row = whole.strip_suffix(b"\n").expect("a row ends in a newline");
    let fields: Vec<&[u8]> = if columns == 0 {
        Vec::new()
    } else {
        row.split(|&b| b == b'\t').collect()
    };
    assert_eq!(fields.len(), columns, "fields");
    for (field, name) in fields.into_iter().zip(&names) {
        let raw = object[name].get();
        let expected: Vec<u8> = match raw.as_bytes()[0] {
            b'n' => b"\\N".to_vec(),
            b't' => b"t".to_vec(),
            b'f' => b"f".to_vec(),
            b'"' => {
                let text: String = serde_json::from_str(raw).expect("a JSON string");
                copy_escape(&text)
            }
            b'-' | b'0'..=b'9' => raw.as_bytes().to_vec(),
            _ => panic!("the decoder accepted a nested value {raw}"),
        };
        assert_eq!(
            String::from_utf8_lossy(field),
            String::from_utf8_lossy(&expected),
            "column {name}: {raw}"
        );
    }
});

/// COPY text as PostgreSQL's `COPY ... TO` writes it, which the decoder must match.
fn copy_escape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x0b => out.extend_from_slice(b"\\v"),
            _ => out.push(b),
        }
    }
    out
}
