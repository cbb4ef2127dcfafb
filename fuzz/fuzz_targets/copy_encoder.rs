//! COPY text → JSON line (what backup writes), on any bytes. The first byte picks the
//! columns' kinds (two bits each, up to four columns; its top bits how many) and the second
//! the spill limit. Checks: no panic; encoding with a spill gives the same bytes; an accepted
//! row is one JSON object line whose keys are the columns; decoding it back gives a COPY row
//! that encodes to the same line (nothing is lost or changed on the way).
#![no_main]

use libfuzzer_sys::fuzz_target;
use palmdb::archive::row_codec::{JsonKind, RowDecoder, RowEncoder};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let [kinds_byte, limit_byte, row @ ..] = data else {
        return;
    };
    let columns = usize::from(kinds_byte >> 6) + 1;
    let kinds: Vec<JsonKind> = (0..columns)
        .map(|i| match (kinds_byte >> (2 * i)) & 0x03 {
            0 => JsonKind::Bool,
            1 => JsonKind::Integer,
            2 => JsonKind::Float,
            _ => JsonKind::Text,
        })
        .collect();
    let names: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let encoder = RowEncoder::new(names.iter().map(String::as_str).zip(kinds.iter().copied()));

    let mut line = Vec::new();
    let result = encoder.encode(row, &mut line);

    let limit = usize::from(*limit_byte) + 1;
    let mut spilled = Vec::new();
    let mut rest = Vec::new();
    let spill_result = encoder.encode_spilling(row, &mut rest, limit, &mut |piece| {
        spilled.extend_from_slice(piece);
        Ok(())
    });
    assert_eq!(
        result.is_ok(),
        spill_result.is_ok(),
        "spilling changes the verdict"
    );
    if result.is_err() {
        return;
    }
    spilled.extend_from_slice(&rest);
    assert_eq!(spilled, line, "spilling at {limit} changes the bytes");

    let text = line
        .strip_suffix(b"\n")
        .expect("a JSON line ends in a newline");
    assert!(!text.contains(&b'\n'), "a raw newline inside the JSON line");
    // Values as raw JSON text: an Integer or Float field may be a number beyond f64's range,
    // valid JSON that serde_json would refuse as a Value.
    let object: BTreeMap<String, Box<RawValue>> =
        serde_json::from_slice(text).unwrap_or_else(|e| {
            panic!(
                "the encoder wrote a line that is not JSON ({e}): {}",
                String::from_utf8_lossy(text)
            )
        });
    assert_eq!(
        object.len(),
        columns,
        "keys of {}",
        String::from_utf8_lossy(text)
    );
    for name in &names {
        assert!(
            object.contains_key(name),
            "no {name} in {}",
            String::from_utf8_lossy(text)
        );
    }

    let decoder = RowDecoder::new(names);
    let mut copy = Vec::new();
    decoder
        .decode(text, &mut copy)
        .unwrap_or_else(|e| panic!("restore cannot read a line backup wrote: {e}"));
    let mut again = Vec::new();
    encoder
        .encode(copy.strip_suffix(b"\n").unwrap(), &mut again)
        .unwrap_or_else(|e| panic!("the decoded row does not encode again: {e}"));
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&line),
        "a value changed on its way through JSON"
    );
});
