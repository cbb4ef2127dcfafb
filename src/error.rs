//! How palmdb fails: one line that says what went wrong, an optional hint that says what to
//! do next, and an exit code chosen from one table.
//!
//! Commands return `anyhow::Result`. Errors that need a specific exit code or a hint carry a
//! [`Failure`] somewhere in their chain; `main` looks for it and prints the rest as context.

use std::fmt;

/// Exit codes, declared once. Checking commands follow the Nagios convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum ExitCode {
    /// Everything is fine.
    Ok = 0,
    /// Checking commands: a warning. Other commands: the command failed.
    Warning = 1,
    /// Checking commands: critical, or a failed verification.
    Critical = 2,
    /// The state could not be determined: the database could not be reached or read.
    Unknown = 3,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// What kind of failure an error is, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The database could not be reached: bad host, port, password, database or TLS.
    Connect,
    /// The user asked for something that cannot be done (bad input, refused operation).
    Usage,
    /// Anything else that went wrong while doing the work.
    Operation,
}

/// An error with a kind and an optional hint, meant to be read by a person.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn connect(message: impl Into<String>, hint: Option<String>) -> Self {
        Failure {
            kind: FailureKind::Connect,
            message: message.into(),
            hint,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Usage,
            message: message.into(),
            hint: None,
        }
    }

    pub fn operation(message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Operation,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Finds the first [`Failure`] in an error chain, if any, also inside an I/O error (a file
/// read or written through the repository carries the store's failure that way).
pub fn failure_of(err: &anyhow::Error) -> Option<&Failure> {
    err.chain().find_map(|e| {
        e.downcast_ref::<Failure>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<Failure>())
        })
    })
}

/// Renders an error chain as one line: outermost context first, PostgreSQL's own words last.
/// tokio-postgres hides the server's message behind "db error", so database errors are
/// expanded to message, detail and SQLSTATE here.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<tokio_postgres::Error>() {
            Some(pg) => describe_pg_error(pg),
            None => cause.to_string(),
        };
        if text == "db error" || text.is_empty() {
            continue;
        }
        // anyhow repeats a source's text when a context wraps it; say each thing once.
        if parts.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ").replace('\n', " ")
}

/// PostgreSQL's message, detail and SQLSTATE for a database error; the plain text otherwise.
pub fn describe_pg_error(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => {
            let mut text = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; DETAIL: {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; HINT: {hint}"));
            }
            text
        }
        None => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(inner) = source {
                text.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            text
        }
    }
}
