//! Durations, PostgreSQL timeouts and sizes as people type them, on any text: an error or a
//! value within the documented bounds, never a panic or an overflow; an accepted duration
//! printed by humantime reads back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palmdb::duration::{parse, parse_pg_timeout, parse_size, MAX_DURATION, MAX_PG_TIMEOUT};
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = parse(text) {
        assert!(duration <= MAX_DURATION, "{text:?} gave {duration:?}");
        let printed = humantime::format_duration(duration).to_string();
        assert_eq!(
            parse(&printed),
            Ok(duration),
            "{text:?} printed as {printed:?}"
        );
    }
    if let Ok(timeout) = parse_pg_timeout(text) {
        assert!(timeout <= MAX_PG_TIMEOUT, "{text:?} gave {timeout:?}");
        assert!(timeout.is_zero() || timeout >= Duration::from_millis(1));
    }
    if let Ok(bytes) = parse_size(text) {
        assert!(bytes <= i64::MAX as u64, "{text:?} gave {bytes}");
    }
});
