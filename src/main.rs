//! The `postern` binary: parses the command line and hands over to the crates that do the
//! work. Exit codes: 0 done, 1 failed, 64 bad usage.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use postern_controller_client::redeem::{self, RedeemOptions};
use postern_proxy::ProxyEnd;
use tokio_util::sync::CancellationToken;

use cli::{Cli, Command, ListenArgs};

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
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    runtime.block_on(run(cli))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("POSTERN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Proxy(args) => redeem_token(args.authz, args.listen).await,
        Command::Connect(args) => match (args.authz_token, args.target_id) {
            (Some(token), _) => redeem_token(token, args.listen).await,
            (None, Some(target)) => {
                eprintln!(
                    "Error: connect -target-id {target} needs the controller API, which postern does not have yet; \
                     authorize a session elsewhere and use -authz-token"
                );
                ExitCode::from(EXIT_FAILED)
            }
            (None, None) => ExitCode::from(EXIT_USAGE),
        },
    }
}

async fn redeem_token(authz: String, listen: ListenArgs) -> ExitCode {
    let options = RedeemOptions {
        authz,
        listen_addr: listen.listen_addr,
        listen_port: listen.listen_port,
        format: listen.format,
        inactive_timeout: listen.inactive_timeout.flatten(),
    };
    let shutdown = shutdown_on_signal();
    match redeem::run(&options, shutdown).await {
        Ok(ProxyEnd::Error(_)) => ExitCode::from(EXIT_FAILED),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// A token cancelled on Ctrl-C or SIGTERM.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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
