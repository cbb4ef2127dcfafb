//! The manifest's one strict validator, on any bytes: it must answer valid or invalid (never
//! panic), and whatever it accepts must survive being written and read again unchanged.
//! A second pass re-seals the input (recomputes `manifest_sha256`), so the fuzzer gets past
//! the self-hash to the field and consistency checks behind it.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use palmdb::archive::manifest::{seal, Manifest};

fuzz_target!(|data: &[u8]| {
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    check(data, now);
    if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(data) {
        seal(&mut value);
        let sealed = serde_json::to_vec(&value).unwrap();
        check(&sealed, now);
    }
});

fn check(data: &[u8], now: chrono::DateTime<Utc>) {
    let folder = Some("20261125T170501Z");
    match Manifest::parse(data, folder, now) {
        Ok(manifest) => {
            let written = manifest
                .to_bytes()
                .expect("an accepted manifest can be written");
            let again = Manifest::parse(&written, folder, now)
                .unwrap_or_else(|e| panic!("a manifest palmdb wrote is refused: {e}"));
            assert_eq!(again, manifest, "writing and reading changed the manifest");
        }
        Err(invalid) => assert!(!invalid.problems.is_empty(), "refused without a reason"),
    }
}
