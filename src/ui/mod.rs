//! What every command shares to show its result: one [`Verdict`] for the commands that check
//! something (with the Nagios exit codes), one [`Report`] trait and [`emit`] to print any
//! result as text or JSON.
//!
//! Commands compute; this module decides how a result looks to people and to scripts, so
//! that `health`, `backup status`, `backup verify` and `migrate status` read and exit alike.

pub mod report;
pub mod verdict;

pub use report::{emit, Format, Report};
pub use verdict::Verdict;
