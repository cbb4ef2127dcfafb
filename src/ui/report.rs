//! One way to print a command's result: a [`Report`] serialises itself (`--json`), renders
//! itself as text, and says which exit code it calls for; [`emit`] prints it in the format
//! asked for. Every command ends with `emit`.

use serde::Serialize;

use crate::error::ExitCode;

/// A command's result.
pub trait Report: Serialize {
    /// The text for people, ending with a newline (what a pipe receives).
    fn render_text(&self) -> String;

    /// What a person at a terminal reads; the same text unless a report has something to
    /// add that a script would not want (`backup create`: a summary line instead of the id).
    fn render_terminal(&self) -> String {
        self.render_text()
    }

    /// 0 for a command that did what it was asked; a checking command's verdict otherwise.
    fn exit_code(&self) -> ExitCode {
        ExitCode::Ok
    }
}

/// How a report is printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    /// Pretty-printed JSON, one document.
    Json,
}

impl Format {
    /// `--json` or not.
    pub fn json(json: bool) -> Format {
        if json {
            Format::Json
        } else {
            Format::Text
        }
    }
}

/// Prints `report` on stdout in `format` and returns its exit code. (`print!` on purpose: a
/// reader gone away ends palmdb quietly, see `main`.)
pub fn emit(report: &impl Report, format: Format) -> anyhow::Result<ExitCode> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Format::Text if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            print!("{}", report.render_terminal())
        }
        Format::Text => print!("{}", report.render_text()),
    }
    Ok(report.exit_code())
}
