//! `palmdb migrate status`: applied and pending migrations, changed sql/ objects and INVALID
//! indexes, for people and (with `--json`) for scripts. Reads only.

use anyhow::Result;
use serde::Serialize;

use super::no_transaction::{self, InvalidIndex};
use super::plan::{self, AppliedMigration, Drift, PendingMigration};
use super::profile::{self, Profile};
use super::source::Source;
use crate::connect::ConnectSettings;
use crate::error::ExitCode;
use crate::ui::verdict::{migrate_word, Verdict};

/// The status report; its JSON form is a contract for scripts.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub database: String,
    /// `palm` (Palm's schema, `palmdb migrate`) or `monitoring` (palmdb's monitoring objects
    /// alone, `palmdb migrate --monitoring-only`; also reported for a database that is not
    /// Palm's and has nothing installed yet).
    pub profile: Profile,
    /// `up_to_date` (ok), `pending` (warning) or `drift` (critical).
    #[serde(serialize_with = "migrate_word")]
    pub status: Verdict,
    pub current_version: Option<i32>,
    pub applied: Vec<AppliedMigration>,
    pub pending: Vec<PendingMigration>,
    pub drift: Vec<Drift>,
    pub changed_objects: Vec<String>,
    pub invalid_indexes: Vec<InvalidIndex>,
}

impl StatusReport {
    pub fn exit_code(&self) -> ExitCode {
        self.status.exit_code()
    }
}

impl crate::ui::Report for StatusReport {
    fn render_text(&self) -> String {
        let mut text = String::new();
        let line = |text: &mut String, key: &str, value: String| {
            text.push_str(&format!("{key:<11}{value}\n"));
        };
        line(&mut text, "database", self.database.clone());
        line(
            &mut text,
            "profile",
            if self.profile == Profile::Monitoring {
                "monitoring only (schema palmdb)".to_string()
            } else {
                "Palm's schema".to_string()
            },
        );
        line(
            &mut text,
            "version",
            match (self.current_version, self.applied.last()) {
                (Some(v), Some(a)) => format!("{v} ({}), {} applied", a.name, self.applied.len()),
                _ => "none applied".to_string(),
            },
        );
        line(
            &mut text,
            "pending",
            if self.pending.is_empty() {
                "none".to_string()
            } else {
                self.pending
                    .iter()
                    .map(|p| p.file.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        line(
            &mut text,
            "sql/",
            if self.changed_objects.is_empty() {
                "up to date".to_string()
            } else {
                format!("changed: {}", self.changed_objects.join(", "))
            },
        );
        line(
            &mut text,
            "indexes",
            if self.invalid_indexes.is_empty() {
                "all valid".to_string()
            } else {
                self.invalid_indexes
                    .iter()
                    .map(|i| format!("{}.{} INVALID", i.schema, i.index))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        if !self.drift.is_empty() {
            line(&mut text, "drift", plan::describe_drift(&self.drift));
        }
        line(
            &mut text,
            "status",
            match self.status {
                Verdict::Ok => "UP TO DATE".to_string(),
                Verdict::Warning => format!("PENDING: run {}", self.profile.command()),
                _ => "DRIFT: applied migrations were changed".to_string(),
            },
        );
        text
    }

    fn exit_code(&self) -> crate::error::ExitCode {
        self.status.exit_code()
    }
}

/// Builds the status report without changing anything.
pub async fn status(settings: &ConnectSettings, source: &Source) -> Result<StatusReport> {
    let client = settings
        .with_application_name("palmdb migrate status")
        .connect()
        .await?;
    let profile = profile::inspect(&client, source)
        .await?
        .status_profile(source)?;
    let plan = plan::build(&client, source, profile).await?;
    let mut invalid_indexes = no_transaction::invalid_indexes(&client).await?;
    if profile == Profile::Monitoring {
        // The monitoring install repairs nothing outside its own schema.
        invalid_indexes.retain(|i| i.schema == "palmdb");
    }
    let status = if !plan.drift.is_empty() {
        Verdict::Critical
    } else if plan.pending.is_empty()
        && plan.changed_objects.is_empty()
        && invalid_indexes.is_empty()
    {
        Verdict::Ok
    } else {
        Verdict::Warning
    };
    Ok(StatusReport {
        database: settings.database().to_string(),
        profile,
        status,
        current_version: plan.current_version(),
        pending: plan.pending_summary(),
        changed_objects: plan
            .changed_objects
            .iter()
            .map(|o| o.path.clone())
            .collect(),
        applied: plan.applied,
        drift: plan.drift,
        invalid_indexes,
    })
}
