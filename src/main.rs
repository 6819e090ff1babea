//! The `postern` binary: parses the command line and hands over to the crates that do the
//! work. Exit codes: 0 done, 1 failed, 64 bad usage; `connect -exec`/`connect ssh` end with
//! the command's code.
//!
//! API commands block on HTTP and run without an async runtime; `proxy`, `connect` and `dev`
//! start one (for `connect -target-id`, after the session is authorized).

mod cli;
mod dev;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use postern_controller_client::commands::connect::{self as connect_cmd, ExecCommand};
use postern_controller_client::commands::host_sets::HostChange;
use postern_controller_client::commands::targets::{HostSourceChange, TcpTarget};
use postern_controller_client::commands::{
    authenticate, error_text, host_catalogs, host_sets, hosts, scopes, sessions, targets, Context,
    ControllerOptions,
};
use postern_controller_client::config::TokenFile;
use postern_controller_client::output::Format;
use postern_controller_client::redeem::{self, RedeemOptions};
use postern_controller_client::ClientError;
use postern_proxy::ProxyEnd;
use tokio_util::sync::CancellationToken;

use cli::{
    ApiArgs, AuthenticateMethod, Cli, Command, ConnectArgs, ConnectKind, ConnectTarget,
    ControllerArgs, HostCatalogCreateKind, HostCatalogsAction, HostCreateKind, HostSetCreateKind,
    HostSetsAction, HostSourcesArgs, HostsAction, HostsChangeArgs, ListenArgs, ScopesAction,
    SessionsAction, TargetCreateKind, TargetUpdateKind, TargetsAction, TcpFields,
};

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
    init_logging(matches!(cli.command, Command::Dev(_)));
    match cli.command {
        Command::Proxy(args) => {
            let token = redeem::load_token(&args.authz);
            proxy(token, &args.listen, None)
        }
        Command::Connect(args) => connect(args),
        Command::Dev(args) => with_runtime(Runtime::Threads, dev(args)),
        Command::Authenticate(method) => report(authenticate_command(method)),
        Command::Scopes(action) => report(scopes_command(action)),
        Command::Targets(action) => report(targets_command(action)),
        Command::HostCatalogs(action) => report(host_catalogs_command(action)),
        Command::HostSets(action) => report(host_sets_command(action)),
        Command::Hosts(action) => report(hosts_command(action)),
        Command::Sessions(action) => report(sessions_command(action)),
    }
}

/// What an API command did, and the format to report a failure in.
type Outcome = (Format, Result<String, ClientError>);

/// Prints an API command's output, or its error.
fn report((format, result): Outcome) -> ExitCode {
    match result {
        Ok(output) => {
            emit(&output);
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, format),
    }
}

/// `POSTERN_LOG` sets the filter; `dev` logs at info by default, everything else at warn.
fn init_logging(dev: bool) {
    let default = if dev { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("POSTERN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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

/// Prints a failed command's error on stderr and picks the exit code.
fn fail(error: &ClientError, format: Format) -> ExitCode {
    eprint!("{}", error_text(error, format));
    ExitCode::from(error.exit_code())
}

/// Writes a command's output; a closed stdout (`| head`) is not an error worth a panic.
fn emit(output: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("Error: writing output: {e}");
        }
    }
}

/// Runs the proxy for a token (`proxy`, `connect -authz-token`, `connect -target-id`),
/// with `exec` beside it when given.
fn proxy(
    token: Result<postern_wire::pb::targets::SessionAuthorizationData, ClientError>,
    listen: &ListenArgs,
    exec: Option<(ExecCommand, bool)>,
) -> ExitCode {
    let token = match token {
        Ok(token) => token,
        Err(e) => return fail(&e, listen.format),
    };
    let options = RedeemOptions {
        listen_addr: listen.listen_addr,
        listen_port: listen.listen_port,
        format: listen.format,
        inactive_timeout: listen.inactive_timeout.flatten(),
    };
    with_runtime(Runtime::Single, async move {
        let shutdown = shutdown_on_signal();
        match exec {
            Some((command, announce)) => {
                match connect_cmd::run_with_exec(&token, &options, &command, announce, shutdown)
                    .await
                {
                    Ok(code) => ExitCode::from(code),
                    Err(e) => fail(&e, options.format),
                }
            }
            None => match redeem::run(&token, &options, shutdown).await {
                Ok(ProxyEnd::Error(_)) => ExitCode::from(EXIT_FAILED),
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(&e, options.format),
            },
        }
    })
}

/// The session's token: redeemed from -authz-token, or authorized now for -target-id.
fn connect_token(
    target: &ConnectTarget,
    controller: &ControllerArgs,
    format: Format,
) -> Result<postern_wire::pb::targets::SessionAuthorizationData, ClientError> {
    match (&target.authz_token, &target.target_id) {
        (Some(authz), _) => redeem::load_token(authz),
        (None, Some(target_id)) => {
            let ctx = Context::new(&controller.options(), format)?;
            connect_cmd::authorize_token(&ctx, target_id, target.host_id.as_deref())
        }
        (None, None) => Err(ClientError::Usage(
            "connect needs -target-id or -authz-token".into(),
        )),
    }
}

fn connect(args: ConnectArgs) -> ExitCode {
    match args.kind {
        Some(ConnectKind::Ssh(ssh)) => {
            let token = connect_token(&ssh.target, &ssh.controller, ssh.listen.format);
            let exec = token.as_ref().ok().map(|t| {
                (
                    connect_cmd::ssh_command(t, ssh.username.as_deref(), &ssh.args),
                    false,
                )
            });
            proxy(token, &ssh.listen, exec)
        }
        None => {
            let token = connect_token(&args.target, &args.controller, args.listen.format);
            let exec = args.exec.map(|program| {
                let command = ExecCommand {
                    program,
                    args: args.args,
                };
                (command, true)
            });
            proxy(token, &args.listen, exec)
        }
    }
}

async fn dev(options: dev::DevOptions) -> ExitCode {
    match dev::run(options, shutdown_on_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(if e.is_usage() {
                EXIT_USAGE
            } else {
                EXIT_FAILED
            })
        }
    }
}

fn authenticate_command(method: AuthenticateMethod) -> Outcome {
    let AuthenticateMethod::Password(args) = method;
    let controller = ControllerOptions {
        addr: args.addr,
        token: None,
    };
    let options = authenticate::PasswordOptions {
        auth_method_id: args.auth_method_id,
        scope_id: args.scope_id,
        login_name: args.login_name,
        password: args.password,
    };
    let result = TokenFile::default_location()
        .and_then(|store| authenticate::password(&controller, &options, args.format, &store));
    (args.format, result)
}

fn scopes_command(action: ScopesAction) -> Outcome {
    match action {
        ScopesAction::List(a) => on(&a.api, |c| {
            scopes::list(c, &a.scope_id, a.recursive, a.filter.as_deref())
        }),
        ScopesAction::Read(a) => on(&a.api, |c| scopes::read(c, &a.id)),
        ScopesAction::Create(a) => on(&a.api, |c| {
            scopes::create(c, &a.scope_id, &a.name, a.description.as_deref())
        }),
        ScopesAction::Delete(a) => on(&a.api, |c| scopes::delete(c, &a.id)),
    }
}

fn host_catalogs_command(action: HostCatalogsAction) -> Outcome {
    match action {
        HostCatalogsAction::List(a) => on(&a.api, |c| {
            host_catalogs::list(c, &a.scope_id, a.recursive, a.filter.as_deref())
        }),
        HostCatalogsAction::Read(a) => on(&a.api, |c| host_catalogs::read(c, &a.id)),
        HostCatalogsAction::Create(HostCatalogCreateKind::Static(a)) => on(&a.api, |c| {
            host_catalogs::create_static(
                c,
                &a.scope_id,
                a.name.as_deref(),
                a.description.as_deref(),
            )
        }),
        HostCatalogsAction::Delete(a) => on(&a.api, |c| host_catalogs::delete(c, &a.id)),
    }
}

fn host_sets_command(action: HostSetsAction) -> Outcome {
    let change = |c: &Context, kind, a: &HostsChangeArgs| {
        host_sets::change_hosts(c, kind, &a.id, a.version, &a.hosts)
    };
    match action {
        HostSetsAction::List(a) => on(&a.api, |c| {
            host_sets::list(c, &a.host_catalog_id, a.filter.as_deref())
        }),
        HostSetsAction::Read(a) => on(&a.api, |c| host_sets::read(c, &a.id)),
        HostSetsAction::Create(HostSetCreateKind::Static(a)) => on(&a.api, |c| {
            host_sets::create_static(
                c,
                &a.host_catalog_id,
                a.name.as_deref(),
                a.description.as_deref(),
            )
        }),
        HostSetsAction::Delete(a) => on(&a.api, |c| host_sets::delete(c, &a.id)),
        HostSetsAction::AddHosts(a) => on(&a.api, |c| change(c, HostChange::Add, &a)),
        HostSetsAction::SetHosts(a) => on(&a.api, |c| change(c, HostChange::Set, &a)),
        HostSetsAction::RemoveHosts(a) => on(&a.api, |c| change(c, HostChange::Remove, &a)),
    }
}

fn hosts_command(action: HostsAction) -> Outcome {
    match action {
        HostsAction::List(a) => on(&a.api, |c| {
            hosts::list(c, &a.host_catalog_id, a.filter.as_deref())
        }),
        HostsAction::Read(a) => on(&a.api, |c| hosts::read(c, &a.id)),
        HostsAction::Create(HostCreateKind::Static(a)) => on(&a.api, |c| {
            hosts::create_static(
                c,
                &a.host_catalog_id,
                &a.address,
                a.name.as_deref(),
                a.description.as_deref(),
            )
        }),
        HostsAction::Delete(a) => on(&a.api, |c| hosts::delete(c, &a.id)),
    }
}

fn sessions_command(action: SessionsAction) -> Outcome {
    match action {
        SessionsAction::List(a) => {
            let options = sessions::ListOptions {
                scope_id: a.scope_id,
                recursive: a.recursive,
                filter: a.filter,
                include_terminated: a.include_terminated,
            };
            on(&a.api, |c| sessions::list(c, &options))
        }
        SessionsAction::Read(a) => on(&a.api, |c| sessions::read(c, &a.id)),
        SessionsAction::Cancel(a) => on(&a.api, |c| sessions::cancel(c, &a.id, a.version)),
    }
}

fn targets_command(action: TargetsAction) -> Outcome {
    let change = |c: &Context, kind, a: &HostSourcesArgs| {
        targets::change_host_sources(c, kind, &a.id, a.version, &a.host_sources)
    };
    match action {
        TargetsAction::List(a) => on(&a.api, |c| {
            targets::list(c, &a.scope_id, a.recursive, a.filter.as_deref())
        }),
        TargetsAction::Read(a) => on(&a.api, |c| targets::read(c, &a.id)),
        TargetsAction::Create(TargetCreateKind::Tcp(a)) => {
            let target = tcp_target(Some(a.default_port), a.fields);
            on(&a.api, |c| targets::create_tcp(c, &a.scope_id, &target))
        }
        TargetsAction::Update(TargetUpdateKind::Tcp(a)) => {
            let target = tcp_target(a.default_port, a.fields);
            on(&a.api, |c| {
                targets::update_tcp(c, &a.id, a.version, &target)
            })
        }
        TargetsAction::Delete(a) => on(&a.api, |c| targets::delete(c, &a.id)),
        TargetsAction::AddHostSources(a) => on(&a.api, |c| change(c, HostSourceChange::Add, &a)),
        TargetsAction::SetHostSources(a) => on(&a.api, |c| change(c, HostSourceChange::Set, &a)),
        TargetsAction::RemoveHostSources(a) => {
            on(&a.api, |c| change(c, HostSourceChange::Remove, &a))
        }
        TargetsAction::AuthorizeSession(a) => on(&a.api, |c| {
            targets::authorize_session(c, &a.id, a.host_id.as_deref())
        }),
    }
}

fn tcp_target(default_port: Option<u16>, fields: TcpFields) -> TcpTarget {
    TcpTarget {
        name: fields.name,
        description: fields.description,
        default_port,
        default_client_port: fields.default_client_port,
        address: fields.address,
        session_max_seconds: fields.session_max_seconds,
        session_connection_limit: fields.session_connection_limit,
    }
}

/// Runs `command` with a context for the API flags; returns the format for error output.
fn on(api: &ApiArgs, command: impl FnOnce(&Context) -> Result<String, ClientError>) -> Outcome {
    let result = Context::new(&api.controller.options(), api.format).and_then(|ctx| command(&ctx));
    (api.format, result)
}

/// A token cancelled on Ctrl-C or SIGTERM.
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
