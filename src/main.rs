//! The `palmdb` binary: parse the command line, run one command, print an error as one line
//! (plus a hint) and exit with the code the error calls for.

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use palmdb::cli::Cli;
use palmdb::error::{failure_of, one_line, ExitCode, FailureKind};

fn main() {
    return_big_buffers_to_the_system();
    exit_quietly_when_the_reader_of_stdout_goes_away();
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (cli, matches)));
    let cli = match parsed {
        Ok((cli, matches)) => {
            warn_about_a_password_on_the_command_line(&cli, &matches);
            cli
        }
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
    let nagios_failure_line = palmdb::commands::nagios_failure_line(&cli);
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
            if let Some(line) = nagios_failure_line {
                println!("{}", line(&one_line(&err)));
            }
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

/// Buffers of 1 MiB or more (object-storage parts of 5 MiB, COPY batches) are mapped and
/// unmapped on their own. glibc otherwise raises this threshold to the largest block freed, after
/// which each thread's heap keeps such blocks once freed: a backup to S3 at `--jobs 2` peaked at
/// 94 MB instead of 50 MB (measured with GNU time, 1M users, docs/benchmarks/storage.md).
fn return_big_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; called first, before other threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// `--database-url postgres://user:secret@...` puts the password where every local user can
/// read it; `DATABASE_URL` in the environment does not (only the user and root read it).
fn warn_about_a_password_on_the_command_line(cli: &Cli, matches: &clap::ArgMatches) {
    for (id, value) in [
        ("database_url", cli.database_url.as_deref()),
        ("direct_url", cli.direct_url.as_deref()),
    ] {
        if matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        if let Some(warning) = value.and_then(palmdb::connect::password_warning) {
            let flag = format!("--{}", id.replace('_', "-"));
            eprintln!(
                "palmdb: warning: {}",
                warning.replace("--database-url", &flag)
            );
        }
    }
}

/// `palmdb backup list | head -1`: once `head` exits, printing fails with EPIPE, and `println!`
/// panics. A Unix tool ends quietly there, as if killed by SIGPIPE (exit 141). SIGPIPE itself
/// stays ignored, so a child process that dies (pg_restore fed on its stdin) or a closed socket
/// is still an error palmdb reports, not a silent death. Whether stdout's reader is gone is
/// asked of the kernel, not read from the panic's wording.
fn exit_quietly_when_the_reader_of_stdout_goes_away() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if stdout_reader_is_gone() {
            std::process::exit(141);
        }
        default_hook(info);
    }));
}

/// True when stdout is a pipe or socket whose reading end is closed (poll reports POLLERR).
fn stdout_reader_is_gone() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout; poll only writes `revents`.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready == 1 && fd.revents & libc::POLLERR != 0
}
