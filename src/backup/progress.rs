//! Progress bars, one per table (rows, bytes, rate), on a terminal only: silent when stderr is
//! not a TTY (cron) or with `--quiet`.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    multi: MultiProgress,
}

impl Progress {
    /// Bars drawn on stderr when it is a terminal and `quiet` is off; hidden otherwise.
    pub fn new(quiet: bool) -> Progress {
        let target = if !quiet && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// A bar for one table, sized by the planner's row estimate.
    pub fn table(&self, name: &str, estimated_rows: u64) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(estimated_rows.max(1)));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:<32!} {bar:24} {human_pos:>11} rows {msg:>10} {per_sec:>14} {elapsed:>4}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        bar
    }
}

/// `1.2 MiB` for a progress message.
pub fn human_bytes(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}
