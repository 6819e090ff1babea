//! Command-line grammar. Boundary users type single-dash long flags (`-authz`,
//! `-listen-port`); [`normalize_args`] turns them into clap's `--` form first.

use clap::{Parser, Subcommand};
use postern_controller_client::commands::accounts::AccountsCommand;
use postern_controller_client::commands::auth_methods::AuthMethodsCommand;
use postern_controller_client::commands::authenticate::AuthenticateCommand;
use postern_controller_client::commands::connect::ConnectArgs;
use postern_controller_client::commands::groups::GroupsCommand;
use postern_controller_client::commands::host_catalogs::HostCatalogsCommand;
use postern_controller_client::commands::host_sets::HostSetsCommand;
use postern_controller_client::commands::hosts::HostsCommand;
use postern_controller_client::commands::proxy::ProxyArgs;
use postern_controller_client::commands::roles::RolesCommand;
use postern_controller_client::commands::scopes::ScopesCommand;
use postern_controller_client::commands::sessions::SessionsCommand;
use postern_controller_client::commands::targets::TargetsCommand;
use postern_controller_client::commands::users::UsersCommand;
use postern_controller_client::commands::workers::WorkersCommand;

#[derive(Debug, Parser)]
#[command(
    name = "postern",
    version,
    about = "Identity-aware TCP access, wire-compatible with HashiCorp Boundary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written to stderr: text (coloured only on a terminal, and never
    /// with NO_COLOR set) or json (one object per event, for a log collector). Default:
    /// `postern server`'s `log_format`, else text.
    #[arg(long, global = true, value_enum, env = "POSTERN_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The command groups: each group's flags and code live in
/// `postern_controller_client::commands::<group>`, `dev`'s in [`crate::dev`].
// Parsed once per process: boxing the big variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a local proxy for an authorized session.
    Proxy(ProxyArgs),
    /// Connect to a target: authorize a session (or redeem -authz-token) and run the proxy,
    /// optionally with a command (-exec) or ssh beside it.
    Connect(ConnectArgs),
    /// Log in to the controller and store the auth token.
    #[command(subcommand)]
    Authenticate(AuthenticateCommand),
    /// Orgs and projects.
    #[command(subcommand)]
    Scopes(ScopesCommand),
    /// Targets: what sessions connect to.
    #[command(subcommand)]
    Targets(TargetsCommand),
    /// Host catalogs.
    #[command(subcommand)]
    HostCatalogs(HostCatalogsCommand),
    /// Host sets: the hosts a target draws on.
    #[command(subcommand)]
    HostSets(HostSetsCommand),
    /// Roles: grants, the scopes they apply to, and who holds them.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Groups: users who share roles.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Workers: what carries sessions' connections (`create controller-led`, list, read,
    /// update, delete).
    #[command(subcommand)]
    Workers(WorkersCommand),
    /// Users: who may log in, through the accounts linked to them.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Accounts: the login names and passwords users authenticate with.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Auth methods: how users log in to a scope.
    #[command(subcommand)]
    AuthMethods(AuthMethodsCommand),
    /// Hosts.
    #[command(subcommand)]
    Hosts(HostsCommand),
    /// Sessions: list, read, cancel.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// A controller and a worker in one process, with Boundary's dev IDs.
    Dev(crate::dev::DevOptions),
    /// A controller and a worker as a service, from a configuration file.
    Server(crate::server::ServerArgs),
    /// Always-on tunnels: fixed local ports, each kept on a fresh session (a user service);
    /// `tunnels status`, `tunnels reload`.
    Tunnels(postern_tunnels::command::TunnelsArgs),
    /// A controller's database: init, migrate.
    #[command(subcommand)]
    Database(crate::database::DatabaseCommand),
    /// Print postern's version.
    Version {
        /// Output format: table or json.
        #[arg(long, env = "POSTERN_FORMAT", default_value = "table")]
        format: postern_controller_client::output::Format,
    },
    /// Print a shell completion script: `postern completion bash > /etc/bash_completion.d/postern`.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The completion script for `shell`. It completes the `--flag` spelling; postern accepts
/// Boundary's `-flag` too.
pub fn completion(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "postern",
        &mut out,
    );
    out
}

/// Rewrites `-word` flags to `--word` (Boundary's style), leaving short flags, values such as
/// `-` or `-1`, and everything after a bare `--` alone.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        if passthrough || arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let is_single_dash_word = arg.len() > 2
            && arg.starts_with('-')
            && !arg.starts_with("--")
            && arg[1..].starts_with(|c: char| c.is_ascii_alphabetic());
        out.push(if is_single_dash_word {
            format!("-{arg}")
        } else {
            arg
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use postern_controller_client::commands::connect::ConnectKind;
    use postern_controller_client::commands::targets::TargetUpdateKind;
    use postern_controller_client::output::Format;

    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn single_dash_words_become_long_flags() {
        let got = normalize_args(strings(&[
            "postern",
            "proxy",
            "-authz",
            "-",
            "-listen-port",
            "0",
            "-h",
            "--format",
            "json",
        ]));
        assert_eq!(
            got,
            strings(&[
                "postern",
                "proxy",
                "--authz",
                "-",
                "--listen-port",
                "0",
                "-h",
                "--format",
                "json"
            ])
        );
    }

    #[test]
    fn values_and_passthrough_are_left_alone() {
        let got = normalize_args(strings(&[
            "postern",
            "connect",
            "-inactive-timeout",
            "-1",
            "--",
            "-oFoo",
            "-v",
        ]));
        assert_eq!(
            got,
            strings(&[
                "postern",
                "connect",
                "--inactive-timeout",
                "-1",
                "--",
                "-oFoo",
                "-v"
            ])
        );
    }

    /// Parses a command line written as one string (no argument holds a space).
    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(normalize_args(line.split_whitespace().map(str::to_owned)))
    }

    #[test]
    fn boundary_style_commands_parse() {
        let cli =
            parse("postern sessions list -scope-id=p_1234567890 -recursive -format json").unwrap();
        let Command::Sessions(SessionsCommand::List(list)) = cli.command else {
            panic!("not sessions list");
        };
        let options = &list.options;
        let parsed = (
            options.scope_id.as_str(),
            options.recursive,
            list.api.format,
        );
        assert_eq!(parsed, ("p_1234567890", true, Format::Json));
        let cli =
            parse("postern targets update tcp -id ttcp_1 -session-connection-limit -1").unwrap();
        let Command::Targets(TargetsCommand::Update(TargetUpdateKind::Tcp(tcp))) = cli.command
        else {
            panic!("not targets update");
        };
        assert_eq!(tcp.fields.session_connection_limit.map(i32::from), Some(-1));
        assert!(
            parse("postern sessions list").is_err(),
            "sessions list needs -scope-id"
        );
    }

    #[test]
    fn connect_takes_a_subcommand_or_exec_with_passthrough_args() {
        let cli = parse("postern connect ssh -target-id ttcp_1 -username me -- -v uptime").unwrap();
        let Command::Connect(ConnectArgs {
            kind: Some(ConnectKind::Ssh(ssh)),
            ..
        }) = cli.command
        else {
            panic!("not connect ssh");
        };
        assert_eq!(ssh.target.target_id.as_deref(), Some("ttcp_1"));
        assert_eq!(ssh.username.as_deref(), Some("me"));
        assert_eq!(ssh.args, strings(&["-v", "uptime"]));
        let cli =
            parse("postern connect -target-id t -exec nc -- {{boundary.ip}} {{boundary.port}}")
                .unwrap();
        let Command::Connect(connect) = cli.command else {
            panic!("not connect")
        };
        assert_eq!(connect.exec.as_deref(), Some("nc"));
        assert_eq!(
            connect.args,
            strings(&["{{boundary.ip}}", "{{boundary.port}}"])
        );
        assert!(
            parse("postern connect").is_err(),
            "connect needs a token or a target"
        );
    }

    #[test]
    fn inactive_timeout_takes_a_duration_or_a_negative_never() {
        let timeout = |line: &str| {
            let Command::Proxy(proxy) = parse(line).unwrap().command else {
                panic!("not proxy")
            };
            proxy.listen.redeem_options().inactive_timeout
        };
        let seconds = |s| Some(Duration::from_secs(s));
        assert_eq!(
            timeout("postern proxy -authz x -inactive-timeout 30s"),
            seconds(30)
        );
        assert_eq!(
            timeout("postern proxy -authz x -inactive-timeout=1m30s"),
            seconds(90)
        );
        assert_eq!(timeout("postern proxy -authz x -inactive-timeout -1"), None);
        assert_eq!(timeout("postern proxy -authz x"), None);
        assert!(parse("postern proxy -authz x -inactive-timeout soon").is_err());
    }

    #[test]
    fn version_and_completions() {
        assert!(matches!(
            parse("postern version").unwrap().command,
            Command::Version {
                format: Format::Table
            }
        ));
        assert!(matches!(
            parse("postern version -format json").unwrap().command,
            Command::Version {
                format: Format::Json
            }
        ));
        let refused = parse("postern -version").unwrap_err();
        assert_eq!(refused.kind(), clap::error::ErrorKind::DisplayVersion);
        assert!(refused.to_string().contains(env!("CARGO_PKG_VERSION")));
        let Command::Completion { shell } = parse("postern completion bash").unwrap().command
        else {
            panic!("not completion")
        };
        let script = String::from_utf8(completion(shell)).unwrap();
        assert!(
            script.contains("authorize-session"),
            "subcommands are completed"
        );
        assert!(script.contains("--target-session-connection-limit"));
        assert!(parse("postern completion tcsh").is_err());
    }

    #[test]
    fn dev_flags_have_boundarys_defaults() {
        let Command::Dev(dev) = parse("postern dev").unwrap().command else {
            panic!("not dev")
        };
        assert_eq!(dev.api_listen_address, "127.0.0.1:9200");
        assert_eq!(dev.proxy_listen_address, "127.0.0.1:9202");
        assert_eq!(dev.target_session_connection_limit.wire(), -1);
        assert_eq!(
            (dev.login_name.as_str(), dev.password.as_str()),
            ("admin", "password")
        );
        let line = "postern dev -target-session-connection-limit 1 -target-default-port 2222";
        let Command::Dev(dev) = parse(line).unwrap().command else {
            panic!("not dev")
        };
        assert_eq!(
            (
                dev.target_default_port,
                dev.target_session_connection_limit.wire()
            ),
            (2222, 1)
        );
        let refused = parse("postern dev -target-session-connection-limit 0").unwrap_err();
        assert!(
            refused.to_string().contains("use -1 (unlimited)"),
            "{refused}"
        );
    }
}
