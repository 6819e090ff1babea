//! The `postern` binary: parses the command line and hands over to the crates that do the
//! work. Each command group's flags and code live together in
//! `postern_controller_client::commands` (`dev`'s in [`dev`]); this file picks the runtime
//! and dispatches. Exit codes: 0 done, 1 failed, 64 bad usage; `connect -exec`/`connect ssh`
//! end with the command's code.
//!
//! API commands block on HTTP and run without an async runtime; `proxy`, `connect` and `dev`
//! start one (for `connect -target-id`, after the session is authorized).

mod cli;
mod database;
mod dev;
mod logging;
mod node;
mod ops;
mod server;

use std::process::ExitCode;

use clap::Parser;
use postern_controller_client::commands::proxy::ReadyProxy;
use postern_controller_client::commands::{report, Failure};
use postern_controller_client::output::Format;
use tokio_util::sync::CancellationToken;

use cli::{Cli, Command};

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(cli::normalize_args(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            // Printing help or an error to the terminal; nothing to do if that fails.
            if let Err(print_error) = e.print() {
                eprintln!("{print_error}");
            }
            return ExitCode::from(code);
        }
    };
    // `dev` and `server` log at info by default, everything else at warn.
    let format = cli.log_format.unwrap_or(cli::LogFormat::Text);
    match cli.command {
        Command::Server(_) => {}
        Command::Dev(_) | Command::Tunnels(_) => drop(logging::init(format, None, "info")),
        _ => drop(logging::init(format, None, "warn")),
    }
    match cli.command {
        Command::Proxy(proxy) => serve(proxy.prepare()),
        Command::Connect(connect) => serve(connect.prepare()),
        Command::Dev(options) => with_runtime(Runtime::Threads, async {
            let result = dev::run(options, shutdown_on_signal()).await;
            exit_code(result, dev::DevError::is_usage)
        }),
        Command::Database(command) => with_runtime(Runtime::Threads, async {
            exit_code(command.run().await, database::DatabaseError::is_usage)
        }),
        Command::Server(args) => {
            // The file says how to log, so it is read before anything logs.
            let config = match server::ServerConfig::load(&args.config) {
                Ok(config) => config,
                Err(e) => return exit_code(Err(e), server::ServerError::is_usage),
            };
            let format = cli
                .log_format
                .or(config.log_format)
                .unwrap_or(cli::LogFormat::Text);
            let logs = logging::init(format, config.log_level.as_deref(), "info");
            with_runtime(Runtime::Threads, async {
                let (first, second) = signals();
                let result = server::run(args.config, config, logs, first, second).await;
                exit_code(result, server::ServerError::is_usage)
            })
        }
        Command::Tunnels(args) => tunnels(args),
        Command::Authenticate(command) => report(command.run()),
        Command::Scopes(command) => report(command.run()),
        Command::Targets(command) => report(command.run()),
        Command::HostCatalogs(command) => report(command.run()),
        Command::HostSets(command) => report(command.run()),
        Command::Roles(command) => report(command.run()),
        Command::Groups(command) => report(command.run()),
        Command::Workers(command) => report(command.run()),
        Command::Users(command) => report(command.run()),
        Command::Accounts(command) => report(command.run()),
        Command::AuthMethods(command) => report(command.run()),
        Command::Hosts(command) => report(command.run()),
        Command::Sessions(command) => report(command.run()),
        Command::Version { format } => {
            let version = env!("CARGO_PKG_VERSION");
            match format {
                Format::Table => println!("postern {version}"),
                Format::Json => println!("{}", serde_json::json!({ "version": version })),
            }
            ExitCode::SUCCESS
        }
        Command::Completion { shell } => {
            let script = cli::completion(shell);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                // `| head` closing the pipe early is no failure.
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("Error: cannot write the completion script: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Which tokio runtime a command runs on. Either way, proxied connections run on
/// connection threads of their own (`postern_io::ConnectionThreads`).
#[derive(Clone, Copy)]
enum Runtime {
    /// Work-stealing threads: `postern dev`'s controller API.
    Threads,
    /// One thread: the client proxy's listener and signals.
    Single,
}

fn with_runtime(flavor: Runtime, work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    let built = match flavor {
        Runtime::Threads => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        Runtime::Single => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    match built {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Runs a prepared proxy (and the command beside it) on one thread, until it ends or a
/// signal stops it.
fn serve(proxy: Result<ReadyProxy, Failure>) -> ExitCode {
    match proxy {
        Ok(proxy) => with_runtime(Runtime::Single, async move {
            proxy.run(shutdown_on_signal()).await
        }),
        Err(failure) => failure.report(),
    }
}

/// `postern tunnels`: the daemon on the work-stealing runtime, or one request to it.
fn tunnels(args: postern_tunnels::command::TunnelsArgs) -> ExitCode {
    use postern_tunnels::command::{run_daemon, Prepared};
    use postern_tunnels::TunnelsError;
    match args.prepare(server::notify_systemd) {
        Ok(Prepared::Daemon(options)) => with_runtime(Runtime::Threads, async {
            let result = run_daemon(options, shutdown_on_signal()).await;
            exit_code(result, TunnelsError::is_usage)
        }),
        Ok(Prepared::Done(output)) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(e) => exit_code(Err(e), TunnelsError::is_usage),
    }
}

/// 0, or the error printed and 64 for bad usage (`is_usage`), 1 for a failure.
fn exit_code<E: std::fmt::Display>(result: Result<(), E>, is_usage: fn(&E) -> bool) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::from(if is_usage(&error) {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            })
        }
    }
}

/// A token cancelled on Ctrl-C or SIGTERM.
/// Two tokens: the first SIGTERM or SIGINT cancels the first, another one the second (a
/// draining worker cuts its connections at once on the second).
fn signals() -> (CancellationToken, CancellationToken) {
    let (first, second) = (CancellationToken::new(), CancellationToken::new());
    let (cancel_first, cancel_second) = (first.clone(), second.clone());
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (mut terminate, mut interrupt) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("Error: cannot watch SIGTERM and SIGINT: {e}");
                return;
            }
        };
        for token in [cancel_first, cancel_second] {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            token.cancel();
        }
    });
    (first, second)
}

fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(e) => {
                    eprintln!("Error: cannot watch SIGTERM: {e}");
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        cancel.cancel();
    });
    token
}
