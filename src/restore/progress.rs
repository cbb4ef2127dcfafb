//! Progress bars, one per table, on a terminal only (never in cron, with `--quiet` or
//! `--json`).

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of one restore; hidden when nobody is watching.
pub struct Progress {
    bars: Option<MultiProgress>,
}

impl Progress {
    /// Visible when `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Progress {
        let visible = wanted && std::io::stderr().is_terminal();
        Progress {
            bars: visible.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A bar for one table of `rows` rows.
    pub fn table(&self, name: &str, rows: u64) -> ProgressBar {
        let Some(bars) = &self.bars else {
            return ProgressBar::hidden();
        };
        let bar = bars.add(ProgressBar::new(rows));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>28} {bar:30} {human_pos:>11}/{human_len:11} rows {per_sec:>14} {elapsed:>4}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(name.to_string());
        bar
    }
}
