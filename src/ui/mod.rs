//! What every command shares to show its result: one [`Verdict`] for the commands that check
//! something (with the Nagios exit codes).
//!
//! Commands compute; this module decides how a result looks to people and to scripts, so
//! that `health`, `backup status`, `backup verify` and `migrate status` read and exit alike.

pub mod verdict;

pub use verdict::Verdict;
