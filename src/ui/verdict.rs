//! The one verdict of every checking command (`health`, `backup status`, `backup verify`,
//! `migrate status`), and its exit code in the Nagios convention: 0 ok, 1 warning,
//! 2 critical, 3 unknown.
//!
//! The JSON of each command names its verdict as it always has: `ok`/`warning`/`critical`/
//! `unknown` by default; `backup verify` says `ok`/`failed` and `migrate status`
//! `up_to_date`/`pending`/`drift` (see [`verify_word`] and [`migrate_word`]).

use serde::{Deserialize, Serialize, Serializer};

use crate::error::ExitCode;

/// A verdict, ordered from best to worst: when several are combined the worst wins, and a
/// missing answer (unknown) weighs more than a warning but less than a critical finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warning,
    /// The state could not be read (a repository that cannot be listed).
    Unknown,
    Critical,
}

impl Verdict {
    /// `ok`, `warning`, `critical` or `unknown`.
    pub fn parse(text: &str) -> Option<Verdict> {
        match text {
            "ok" => Some(Verdict::Ok),
            "warning" => Some(Verdict::Warning),
            "critical" => Some(Verdict::Critical),
            "unknown" => Some(Verdict::Unknown),
            _ => None,
        }
    }

    /// The JSON word: `ok`, `warning`, `critical`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Critical => "critical",
            Verdict::Unknown => "unknown",
        }
    }

    /// The Nagios word: `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Warning => "WARNING",
            Verdict::Critical => "CRITICAL",
            Verdict::Unknown => "UNKNOWN",
        }
    }

    /// The exit code of a checking command with this verdict.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Verdict::Ok => ExitCode::Ok,
            Verdict::Warning => ExitCode::Warning,
            Verdict::Critical => ExitCode::Critical,
            Verdict::Unknown => ExitCode::Unknown,
        }
    }

    /// The Nagios (and Prometheus gauge) number: 0 ok, 1 warning, 2 critical, 3 unknown.
    pub fn number(self) -> u8 {
        self.exit_code().code() as u8
    }

    /// The worst of several verdicts; ok when there are none.
    pub fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().max().unwrap_or(Verdict::Ok)
    }
}

/// `backup verify`'s JSON word: `ok`, or `failed` for anything else.
pub fn verify_word<S: Serializer>(verdict: &Verdict, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(match verdict {
        Verdict::Ok => "ok",
        _ => "failed",
    })
}

/// `migrate status`'s JSON word: `up_to_date` (ok), `pending` (warning), `drift` (critical).
pub fn migrate_word<S: Serializer>(verdict: &Verdict, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(match verdict {
        Verdict::Ok => "up_to_date",
        Verdict::Warning => "pending",
        _ => "drift",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_nagios_ones() {
        let codes: Vec<i32> = [
            Verdict::Ok,
            Verdict::Warning,
            Verdict::Critical,
            Verdict::Unknown,
        ]
        .iter()
        .map(|v| v.exit_code().code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3]);
    }

    #[test]
    fn the_worst_wins_and_unknown_sits_between_warning_and_critical() {
        assert_eq!(Verdict::worst([]), Verdict::Ok);
        assert_eq!(
            Verdict::worst([Verdict::Warning, Verdict::Unknown]),
            Verdict::Unknown
        );
        assert_eq!(
            Verdict::worst([Verdict::Unknown, Verdict::Critical, Verdict::Ok]),
            Verdict::Critical
        );
    }

    #[test]
    fn json_words_are_lowercase() {
        assert_eq!(
            serde_json::to_string(&Verdict::Unknown).unwrap(),
            "\"unknown\""
        );
        for v in [
            Verdict::Ok,
            Verdict::Warning,
            Verdict::Critical,
            Verdict::Unknown,
        ] {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
        }
    }
}
