//! How table files are compressed: zstd (the default, at a chosen level) or not at all.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// zstd level of plain `--compress zstd`.
pub const DEFAULT_ZSTD_LEVEL: i32 = 6;

/// Minimum match length of plain `--compress zstd`. JSON lines repeat every key on every row;
/// at level 6 zstd's default (5) spends bits on short matches between keys and values that
/// cost more than they save. Measured on the Palm dataset at 1M users
/// (docs/benchmarks/backup.md): 7 gives files 4.5% smaller than level 6's defaults and than
/// `pg_dump -Fc`, and compresses faster.
pub const JSON_MIN_MATCH: u32 = 7;

/// A table file's compression, as chosen on the command line (`zstd`, `zstd:LEVEL`, `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    /// `min_match`: zstd's minimum match length, when not the level's own.
    Zstd {
        level: i32,
        min_match: Option<u32>,
    },
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Zstd {
            level: DEFAULT_ZSTD_LEVEL,
            min_match: Some(JSON_MIN_MATCH),
        }
    }
}

impl Compression {
    /// The codec name recorded in the manifest; the level does not matter to a reader.
    pub fn codec(self) -> Codec {
        match self {
            Compression::None => Codec::None,
            Compression::Zstd { .. } => Codec::Zstd,
        }
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad =
            || format!("\"{text}\" is not a compression: use zstd, zstd:LEVEL (1-19) or none");
        match text.split_once(':') {
            None if text == "none" => Ok(Compression::None),
            None if text == "zstd" => Ok(Compression::default()),
            Some(("zstd", level)) => {
                let level: i32 = level.parse().map_err(|_| bad())?;
                if (1..=19).contains(&level) {
                    Ok(Compression::Zstd {
                        level,
                        min_match: None,
                    })
                } else {
                    Err(bad())
                }
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => f.write_str("none"),
            _ if *self == Compression::default() => f.write_str("zstd"),
            Compression::Zstd { level, .. } => write!(f, "zstd:{level}"),
        }
    }
}

/// What a reader needs to know about a file's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    None,
    Zstd,
}

impl Codec {
    /// The file name suffix for a table file in this codec.
    pub fn suffix(self) -> &'static str {
        match self {
            Codec::None => ".jsonl",
            Codec::Zstd => ".jsonl.zst",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        assert_eq!(
            "zstd".parse::<Compression>().unwrap(),
            Compression::default()
        );
        assert_eq!(
            "zstd:9".parse::<Compression>().unwrap(),
            Compression::Zstd {
                level: 9,
                min_match: None
            }
        );
        assert_eq!(Compression::default().to_string(), "zstd");
        assert_eq!(
            "zstd:9".parse::<Compression>().unwrap().to_string(),
            "zstd:9"
        );
        assert!("zstd:0".parse::<Compression>().is_err());
        assert!("zstd:x".parse::<Compression>().is_err());
        assert!("gzip".parse::<Compression>().is_err());
    }
}
