//! The verdict of `backup verify`, for people and for scripts (`--json`), and its exit code.

use serde::Serialize;

use super::restore_test::RestoreTestReport;
use crate::archive::integrity::FileCheck;
use crate::error::ExitCode;
use crate::ui::verdict::{verify_word, Verdict};

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// `ok`, or `failed` (critical): set by [`VerifyReport::conclude`] whenever a check
    /// is added, so a report handed out is always concluded.
    #[serde(serialize_with = "verify_word")]
    pub status: Verdict,
    pub backup: String,
    pub path: String,
    pub masked: bool,
    /// The files are encrypted (age).
    pub encrypted: bool,
    /// Every line was read and parsed; false for an encrypted backup checked without its key
    /// (only the stored bytes' sizes and SHA-256 were checked).
    pub lines_checked: bool,
    pub schema_version: Option<i64>,
    pub rows: u64,
    pub bytes: u64,
    /// What is wrong with `manifest.json` itself; the files are not checked when non-empty.
    pub manifest_problems: Vec<String>,
    /// The manifest carries its own SHA-256 (`manifest_sha256`), so an edit to it is caught.
    /// False only for format 1 manifests written before palmdb sealed them.
    pub manifest_sealed: bool,
    pub files: Vec<FileCheck>,
    /// The stored schema (format 2); `None` when the backup holds none.
    pub schema: Option<FileCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_test: Option<RestoreTestReport>,
}

impl VerifyReport {
    pub fn new(backup: String, path: String) -> VerifyReport {
        VerifyReport {
            status: Verdict::Ok,
            backup,
            path,
            masked: false,
            encrypted: false,
            lines_checked: false,
            schema_version: None,
            rows: 0,
            bytes: 0,
            manifest_problems: Vec::new(),
            manifest_sealed: false,
            files: Vec::new(),
            schema: None,
            restore_test: None,
        }
    }

    /// The manifest and every file are fine (the restore test aside).
    pub fn ok(&self) -> bool {
        self.manifest_problems.is_empty()
            && self.files.iter().all(|f| f.ok)
            && self.schema.as_ref().is_none_or(|s| s.ok)
    }

    /// Sets `status` from the checks (and the restore test, when it ran). `verify` and
    /// `check_backup` call it before they return.
    pub(crate) fn conclude(&mut self) {
        let test_ok = self.restore_test.as_ref().is_none_or(|t| t.ok);
        self.status = if self.ok() && test_ok {
            Verdict::Ok
        } else {
            Verdict::Critical
        };
    }

    pub fn exit_code(&self) -> ExitCode {
        self.status.exit_code()
    }
}

impl crate::ui::Report for VerifyReport {
    fn render_text(&self) -> String {
        let mut out = String::new();
        if self.status == Verdict::Ok {
            let checked = if self.lines_checked {
                "every file matches its SHA-256, every line is a valid row, row counts match"
            } else {
                "every file matches its SHA-256 (encrypted: pass --identity to check every line)"
            };
            out.push_str(&format!(
                "OK: backup {} ({}, {} rows, {} bytes{}{}{}): {checked}\n",
                self.backup,
                crate::ui::human::counted(self.files.len() as u64, "table", "tables"),
                self.rows,
                self.bytes,
                if self.masked { ", masked" } else { "" },
                if self.encrypted { ", encrypted" } else { "" },
                if self.schema.is_some() {
                    ", schema stored"
                } else {
                    ", no schema stored"
                }
            ));
        } else {
            out.push_str(&format!("FAILED: backup {} ({})\n", self.backup, self.path));
        }
        for problem in &self.manifest_problems {
            out.push_str(&format!("  manifest.json: {problem}\n"));
        }
        if self.manifest_problems.is_empty() && !self.manifest_sealed {
            out.push_str(
                "  note: manifest.json has no manifest_sha256 (written before palmdb sealed \
                 manifests): an edit to it cannot be detected\n",
            );
        }
        for file in self.files.iter().chain(&self.schema).filter(|f| !f.ok) {
            out.push_str(&format!(
                "  {} ({}): {}\n",
                file.file,
                file.table,
                file.problems.join("; ")
            ));
        }
        if let Some(test) = &self.restore_test {
            out.push_str(&test.render_text());
        }
        out
    }

    fn exit_code(&self) -> crate::error::ExitCode {
        self.status.exit_code()
    }
}
