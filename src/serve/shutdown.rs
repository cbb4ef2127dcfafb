//! When to stop: SIGTERM (systemd, Kubernetes) or SIGINT (Ctrl-C).
//!
//! The handlers are installed before the server says it is listening, so a signal sent right
//! after that line is never lost (and never kills the process with the default action).

use anyhow::Result;
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::error::Failure;

pub struct ShutdownSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl ShutdownSignals {
    pub fn install() -> Result<ShutdownSignals> {
        let install = |kind| {
            signal(kind)
                .map_err(|e| Failure::operation(format!("cannot install a signal handler: {e}")))
        };
        Ok(ShutdownSignals {
            terminate: install(SignalKind::terminate())?,
            interrupt: install(SignalKind::interrupt())?,
        })
    }

    /// Waits for the first signal and names it.
    pub async fn received(mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
