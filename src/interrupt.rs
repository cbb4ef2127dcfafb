//! Ctrl-C and SIGTERM while a command writes something (a backup, a copy): the command stops,
//! drops what it was writing (which deletes it) and says so.

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM), as an error to report.
pub async fn interrupted() -> anyhow::Error {
    use tokio::signal::unix::{signal, SignalKind};
    let name = match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    };
    crate::error::Failure::operation(format!("interrupted by {name}; nothing was kept")).into()
}
