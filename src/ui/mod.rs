//! What every command shares to show its result: one [`Verdict`] for the commands that check
//! something (with the Nagios exit codes), one [`Report`] trait and [`emit`] to print any
//! result as text or JSON, one text-table renderer, the progress bars of long commands and
//! human sizes, rates and durations.
//!
//! Commands compute; this module decides how a result looks to people and to scripts, so
//! that `health`, `backup status`, `backup verify` and `migrate status` read and exit alike.

pub mod human;
pub mod progress;
pub mod report;
pub mod table;
pub mod verdict;

pub use report::{emit, Format, Report};
pub use verdict::Verdict;

#[cfg(test)]
mod text_snapshots;
