//! Progress bars, one per table (or file), the same for every long command (backup, restore,
//! verify, copy): name, bar, rows (of how many, when known), bytes, human rates and the time
//! left (ETA) when the total is known, else the time spent.
//!
//! Drawn on stderr, and only when asked (`show`: not `--quiet`, not `--json`) *and* stderr
//! is a terminal: cron jobs, pipes and logs never see a bar.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::human;

/// The bars of one command; hidden when nobody is watching.
pub struct Progress {
    bars: Option<MultiProgress>,
}

/// How many rows a bar is heading for.
#[derive(Debug, Clone, Copy)]
pub enum Total {
    /// Known (a manifest's row count): the bar shows `done/total` and an ETA.
    Exact(u64),
    /// A guess (the planner's estimate): it sizes the bar, nothing more is promised.
    Estimate(u64),
}

impl Progress {
    /// Bars on stderr when `show` is true and stderr is a terminal; nothing otherwise.
    pub fn new(show: bool) -> Progress {
        let drawn = show && std::io::stderr().is_terminal();
        Progress {
            bars: drawn.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// No bars at all (library callers, the dashboard).
    pub fn hidden() -> Progress {
        Progress { bars: None }
    }

    /// A bar for `name` heading for `total` rows.
    pub fn bar(&self, name: &str, total: Total) -> Bar {
        let Some(bars) = &self.bars else {
            return Bar::hidden();
        };
        let (len, exact) = match total {
            Total::Exact(rows) => (rows, true),
            Total::Estimate(rows) => (rows.max(1), false),
        };
        let bytes = Arc::new(AtomicU64::new(0));
        let bar = bars.add(ProgressBar::new(len));
        bar.set_style(style(exact, bytes.clone()));
        bar.set_prefix(name.to_string());
        Bar { bar, bytes }
    }
}

/// One bar: rows as its position, bytes beside them.
#[derive(Clone)]
pub struct Bar {
    bar: ProgressBar,
    bytes: Arc<AtomicU64>,
}

impl Bar {
    pub fn hidden() -> Bar {
        Bar {
            bar: ProgressBar::hidden(),
            bytes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Rows and bytes done so far.
    pub fn set(&self, rows: u64, bytes: u64) {
        self.bytes.store(bytes, Ordering::Relaxed);
        self.bar.set_position(rows);
    }

    /// Rows done so far (bytes unchanged).
    pub fn set_rows(&self, rows: u64) {
        self.bar.set_position(rows);
    }

    /// Leaves the bar drawn, at its final figures.
    pub fn finish(&self) {
        self.bar.finish();
    }
}

/// `public.orders  [=======>     ] 123.4k/1.2M rows  45.6 MB  48.0k rows/s, 12.3 MB/s  ETA 12s`
fn style(exact: bool, bytes: Arc<AtomicU64>) -> ProgressStyle {
    let rate_bytes = bytes.clone();
    ProgressStyle::with_template(
        "{prefix:<28!} {bar:24} {rows:>13} rows {bytes:>9}  {rates:<26} {time}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
    .with_key(
        "rows",
        move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let done = human::count(state.pos() as f64);
            let _ = match (exact, state.len()) {
                (true, Some(total)) => write!(w, "{done}/{}", human::count(total as f64)),
                _ => write!(w, "{done}"),
            };
        },
    )
    .with_key(
        "bytes",
        move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&human::bytes(bytes.load(Ordering::Relaxed)));
        },
    )
    .with_key(
        "rates",
        move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&human::rates(
                state.pos(),
                rate_bytes.load(Ordering::Relaxed),
                state.elapsed(),
            ));
        },
    )
    .with_key(
        "time",
        move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let left = state.len().is_some_and(|len| state.pos() < len);
            let _ = if exact && left && state.pos() > 0 && !state.is_finished() {
                write!(w, "ETA {}", human::eta(state.eta()))
            } else {
                w.write_str(&human::duration(state.elapsed()))
            };
        },
    )
}

/// A spinner naming the current step of a long job whose size is unknown (demo-data), under
/// the same rule as the bars: on a terminal, when asked.
pub struct Spinner {
    bar: Option<ProgressBar>,
}

impl Spinner {
    pub fn new(show: bool) -> Spinner {
        if !show || !std::io::stderr().is_terminal() {
            return Spinner { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Spinner { bar: Some(bar) }
    }

    pub fn step(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
