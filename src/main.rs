//! The `palmdb` binary: parse the command line, run one command, print an error as one line
//! (plus a hint) and exit with the code the error calls for.

use clap::Parser;

use palmdb::cli::Cli;
use palmdb::error::{failure_of, one_line, ExitCode, FailureKind};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors; a bad argument is UNKNOWN to a monitor.
            std::process::exit(if e.use_stderr() {
                ExitCode::Unknown.code()
            } else {
                0
            });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PALMDB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();

    let checking = palmdb::commands::is_checking(&cli);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("palmdb: cannot start the async runtime: {e}");
            std::process::exit(ExitCode::Unknown.code());
        }
    };
    let code = match runtime.block_on(palmdb::commands::run(cli)) {
        Ok(code) => code.code(),
        Err(err) => {
            eprintln!("palmdb: {}", one_line(&err));
            let failure = failure_of(&err);
            if let Some(hint) = failure.and_then(|f| f.hint.as_deref()) {
                eprintln!("HINT: {hint}");
            }
            match failure.map(|f| f.kind) {
                Some(FailureKind::Connect) => ExitCode::Unknown.code(),
                _ if checking => ExitCode::Unknown.code(),
                _ => 1,
            }
        }
    };
    // Background tasks (connection drivers) must not delay the exit.
    runtime.shutdown_background();
    std::process::exit(code);
}
