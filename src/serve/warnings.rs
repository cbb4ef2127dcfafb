//! Warnings that a client can cause, at most one line per kind every few seconds.
//!
//! A flood of refused connections or a database that stays down must not turn into a flood of
//! log lines: the probe wrote 1.2 MB of identical WARN lines in 8 s. The first
//! occurrence of a kind is logged at once; the next ones within `every` are only counted, and
//! the count is added to the next line that is logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one kind of warning may be logged.
pub const WARNING_INTERVAL: Duration = Duration::from_secs(10);

pub struct Warnings {
    every: Duration,
    /// Per kind: when it was last logged, and how many were held back since.
    state: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl Default for Warnings {
    fn default() -> Self {
        Warnings::new(WARNING_INTERVAL)
    }
}

impl Warnings {
    pub fn new(every: Duration) -> Warnings {
        Warnings {
            every,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// Logs `message()` as a warning unless a warning of this `kind` was logged less than
    /// `every` ago; the message is only built when it is logged.
    pub fn warn(&self, kind: &'static str, message: impl FnOnce() -> String) {
        if let Some(line) = self.line(kind, Instant::now(), message) {
            tracing::warn!("{line}");
        }
    }

    /// The line to log now, if any.
    fn line(
        &self,
        kind: &'static str,
        now: Instant,
        message: impl FnOnce() -> String,
    ) -> Option<String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let held_back = match state.get_mut(kind) {
            Some((last, held)) if now.duration_since(*last) < self.every => {
                *held += 1;
                return None;
            }
            Some((_, held)) => *held,
            None => 0,
        };
        state.insert(kind, (now, 0));
        let mut line = message();
        if held_back > 0 {
            line.push_str(&format!(
                " ({held_back} more like this in the last {})",
                humantime::format_duration(self.every)
            ));
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_counted_not_logged() {
        let w = Warnings::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(
            w.line("full", t0, || "full".into()).as_deref(),
            Some("full")
        );
        for i in 1..=500 {
            assert!(w
                .line("full", t0 + Duration::from_millis(i), || unreachable!())
                .is_none());
        }
        // Another kind is not held back by the first.
        assert!(w.line("db", t0, || "db".into()).is_some());
        let later = w.line("full", t0 + Duration::from_secs(11), || "full".into());
        assert_eq!(
            later.as_deref(),
            Some("full (500 more like this in the last 10s)")
        );
        let quiet = w.line("full", t0 + Duration::from_secs(30), || "full".into());
        assert_eq!(quiet.as_deref(), Some("full"));
    }
}
