//! Durations on the command line: `500ms`, `5s`, `90m`, `24h`, `7d`.

use std::time::Duration;

/// Parses a human duration; a bare number means seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("\"{text}\" is not a duration: use e.g. 500ms, 5s, 90m, 24h or 7d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("90m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(parse("60").unwrap(), Duration::from_secs(60));
        assert!(parse("soon").is_err());
    }
}
