//! Command-line grammar. Boundary users type single-dash long flags (`-authz`,
//! `-listen-port`); [`normalize_args`] turns them into clap's `--` form first.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use postern_controller_client::commands::ControllerOptions;
use postern_controller_client::config::DEFAULT_ADDR;
use postern_controller_client::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "postern",
    version,
    about = "Identity-aware TCP access, wire-compatible with HashiCorp Boundary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

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
    Authenticate(AuthenticateMethod),
    /// Orgs and projects.
    #[command(subcommand)]
    Scopes(ScopesAction),
    /// Targets: what sessions connect to.
    #[command(subcommand)]
    Targets(TargetsAction),
    /// Host catalogs.
    #[command(subcommand)]
    HostCatalogs(HostCatalogsAction),
    /// Host sets: the hosts a target draws on.
    #[command(subcommand)]
    HostSets(HostSetsAction),
    /// Hosts.
    #[command(subcommand)]
    Hosts(HostsAction),
    /// Sessions: list, read, cancel.
    #[command(subcommand)]
    Sessions(SessionsAction),
    /// A controller and a worker in one process, with Boundary's dev IDs.
    Dev(crate::dev::DevOptions),
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Local address to listen on (an IP address).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen_addr: IpAddr,
    /// Local port; 0 = the token's default client port, else an ephemeral port.
    #[arg(long, default_value_t = 0)]
    pub listen_port: u16,
    /// Stop once no connection has been open this long (e.g. 30s, 5m); negative: never.
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub inactive_timeout: Option<Option<Duration>>,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The authorization token, `-` to read it from standard input, or the JSON of
    /// `targets authorize-session -format json`.
    #[arg(long, allow_hyphen_values = true)]
    pub authz: String,
    #[command(flatten)]
    pub listen: ListenArgs,
}

/// Where the controller is and who is asking.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// The controller's API address.
    #[arg(long, env = "POSTERN_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// An auth token (or env://NAME, file://PATH); default: the one `authenticate` stored.
    #[arg(long, env = "POSTERN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ControllerArgs {
    pub fn options(&self) -> ControllerOptions {
        ControllerOptions {
            addr: self.addr.clone(),
            token: self.token.clone(),
        }
    }
}

/// The controller plus the output format: every API command takes these.
#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

/// Which session `connect` runs the proxy for.
#[derive(Debug, Args)]
pub struct ConnectTarget {
    /// The authorization token (as `proxy -authz`).
    #[arg(
        long,
        allow_hyphen_values = true,
        required_unless_present = "target_id",
        conflicts_with = "target_id"
    )]
    pub authz_token: Option<String>,
    /// Authorize a session for this target first.
    #[arg(long)]
    pub target_id: Option<String>,
    /// The host to connect to among the target's hosts (default: one at random).
    #[arg(long, requires = "target_id")]
    pub host_id: Option<String>,
}

#[derive(Debug, Args)]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct ConnectArgs {
    #[command(subcommand)]
    pub kind: Option<ConnectKind>,
    #[command(flatten)]
    pub target: ConnectTarget,
    /// Run this command once the proxy listens; `{{boundary.port}}`, `{{boundary.ip}}` and
    /// `{{boundary.addr}}` in the arguments after `--` become the proxy's.
    #[arg(long)]
    pub exec: Option<String>,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Arguments for the -exec command.
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectKind {
    /// Run the system ssh through the proxy.
    Ssh(SshArgs),
}

#[derive(Debug, Args)]
pub struct SshArgs {
    #[command(flatten)]
    pub target: ConnectTarget,
    /// The remote user name (ssh -l).
    #[arg(long)]
    pub username: Option<String>,
    #[command(flatten)]
    pub listen: ListenArgs,
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Extra arguments for ssh.
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuthenticateMethod {
    /// Log in with a login name and password.
    Password(PasswordArgs),
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// The password auth method (default: the scope's primary one).
    #[arg(long)]
    pub auth_method_id: Option<String>,
    /// Where to look for the primary auth method.
    #[arg(long)]
    pub scope_id: Option<String>,
    /// The login name (default: asked at a prompt).
    #[arg(long)]
    pub login_name: Option<String>,
    /// env://NAME, file://PATH or the password (default: asked at a hidden prompt).
    #[arg(long)]
    pub password: Option<String>,
    /// The controller's API address.
    #[arg(long, env = "POSTERN_ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    pub format: Format,
}

/// `-id` and the API flags: read, delete.
#[derive(Debug, Args)]
pub struct IdArgs {
    #[arg(long)]
    pub id: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// A list within a scope.
#[derive(Debug, Args)]
pub struct ScopedListArgs {
    #[arg(long, default_value = "global")]
    pub scope_id: String,
    /// Include the scopes below it.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub recursive: bool,
    /// Only items matching this expression over /item/... fields.
    #[arg(long)]
    pub filter: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// A list within a host catalog.
#[derive(Debug, Args)]
pub struct CatalogListArgs {
    #[arg(long)]
    pub host_catalog_id: String,
    #[arg(long)]
    pub filter: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum ScopesAction {
    List(ScopedListArgs),
    Read(IdArgs),
    /// Create an org (in global) or a project (in an org).
    Create(ScopeCreateArgs),
    Delete(IdArgs),
}

#[derive(Debug, Args)]
pub struct ScopeCreateArgs {
    /// The parent scope.
    #[arg(long)]
    pub scope_id: String,
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum TargetsAction {
    List(ScopedListArgs),
    Read(IdArgs),
    #[command(subcommand)]
    Create(TargetCreateKind),
    #[command(subcommand)]
    Update(TargetUpdateKind),
    Delete(IdArgs),
    /// Add host sets to the target.
    AddHostSources(HostSourcesArgs),
    /// Replace the target's host sets.
    SetHostSources(HostSourcesArgs),
    /// Remove host sets from the target.
    RemoveHostSources(HostSourcesArgs),
    /// Authorize a session: prints the token `connect -authz-token` redeems.
    AuthorizeSession(AuthorizeArgs),
}

#[derive(Debug, Subcommand)]
pub enum TargetCreateKind {
    Tcp(TcpCreateArgs),
}

#[derive(Debug, Subcommand)]
pub enum TargetUpdateKind {
    Tcp(TcpUpdateArgs),
}

/// A tcp target's settable fields.
#[derive(Debug, Args)]
pub struct TcpFields {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// A direct address (instead of host sources).
    #[arg(long)]
    pub address: Option<String>,
    /// The port the proxy listens on by default.
    #[arg(long)]
    pub default_client_port: Option<u16>,
    #[arg(long)]
    pub session_max_seconds: Option<u32>,
    /// -1 = unlimited.
    #[arg(long, allow_negative_numbers = true)]
    pub session_connection_limit: Option<i32>,
}

#[derive(Debug, Args)]
pub struct TcpCreateArgs {
    #[arg(long)]
    pub scope_id: String,
    /// The endpoint's port.
    #[arg(long)]
    pub default_port: u16,
    #[command(flatten)]
    pub fields: TcpFields,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct TcpUpdateArgs {
    #[arg(long)]
    pub id: String,
    /// The version to update (default: the current one).
    #[arg(long)]
    pub version: Option<u64>,
    #[arg(long)]
    pub default_port: Option<u16>,
    #[command(flatten)]
    pub fields: TcpFields,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct HostSourcesArgs {
    #[arg(long)]
    pub id: String,
    /// A host set id; repeat for several.
    #[arg(long = "host-source", required = true)]
    pub host_sources: Vec<String>,
    #[arg(long)]
    pub version: Option<u64>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct AuthorizeArgs {
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub host_id: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum HostCatalogsAction {
    List(ScopedListArgs),
    Read(IdArgs),
    #[command(subcommand)]
    Create(HostCatalogCreateKind),
    Delete(IdArgs),
}

#[derive(Debug, Subcommand)]
pub enum HostCatalogCreateKind {
    Static(HostCatalogCreateArgs),
}

#[derive(Debug, Args)]
pub struct HostCatalogCreateArgs {
    #[arg(long)]
    pub scope_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum HostSetsAction {
    List(CatalogListArgs),
    Read(IdArgs),
    #[command(subcommand)]
    Create(HostSetCreateKind),
    Delete(IdArgs),
    /// Add hosts to the set.
    AddHosts(HostsChangeArgs),
    /// Replace the set's hosts.
    SetHosts(HostsChangeArgs),
    /// Remove hosts from the set.
    RemoveHosts(HostsChangeArgs),
}

#[derive(Debug, Subcommand)]
pub enum HostSetCreateKind {
    Static(HostSetCreateArgs),
}

#[derive(Debug, Args)]
pub struct HostSetCreateArgs {
    #[arg(long)]
    pub host_catalog_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct HostsChangeArgs {
    #[arg(long)]
    pub id: String,
    /// A host id; repeat for several.
    #[arg(long = "host", required = true)]
    pub hosts: Vec<String>,
    #[arg(long)]
    pub version: Option<u64>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum HostsAction {
    List(CatalogListArgs),
    Read(IdArgs),
    #[command(subcommand)]
    Create(HostCreateKind),
    Delete(IdArgs),
}

#[derive(Debug, Subcommand)]
pub enum HostCreateKind {
    Static(HostCreateArgs),
}

#[derive(Debug, Args)]
pub struct HostCreateArgs {
    #[arg(long)]
    pub host_catalog_id: String,
    /// The host's address (name or IP).
    #[arg(long)]
    pub address: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Subcommand)]
pub enum SessionsAction {
    List(SessionListArgs),
    Read(IdArgs),
    /// Cancel a session (its connections are closed).
    Cancel(CancelArgs),
}

#[derive(Debug, Args)]
pub struct SessionListArgs {
    /// A project (or any scope with -recursive).
    #[arg(long)]
    pub scope_id: String,
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub recursive: bool,
    /// Only sessions matching this expression, e.g. '"/item/status" == "active"'.
    #[arg(long)]
    pub filter: Option<String>,
    /// Include terminated sessions.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true")]
    pub include_terminated: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    #[arg(long)]
    pub id: String,
    /// The version to cancel (default: the current one).
    #[arg(long)]
    pub version: Option<u64>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Go-style durations: `90s`, `5m`, `1h30m`, `250ms`, or plain seconds. Negative = never.
pub fn parse_duration(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('-') {
        return parse_duration(rest).map(|_| None);
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Some(Duration::from_secs(seconds)));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: expected e.g. 30s, 5m, 1h"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value * 60),
            "h" => Duration::from_secs(value * 3600),
            other => return Err(format!("invalid duration {text:?}: unknown unit {other:?}")),
        };
        total += unit;
        rest = &rest[unit_len..];
    }
    if text.is_empty() {
        return Err("empty duration".to_owned());
    }
    Ok(Some(total))
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
        let Command::Sessions(SessionsAction::List(list)) = cli.command else {
            panic!("not sessions list");
        };
        let parsed = (list.scope_id.as_str(), list.recursive, list.api.format);
        assert_eq!(parsed, ("p_1234567890", true, Format::Json));
        let cli =
            parse("postern targets update tcp -id ttcp_1 -session-connection-limit -1").unwrap();
        let Command::Targets(TargetsAction::Update(TargetUpdateKind::Tcp(tcp))) = cli.command
        else {
            panic!("not targets update");
        };
        assert_eq!(tcp.fields.session_connection_limit, Some(-1));
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
    fn dev_flags_have_boundarys_defaults() {
        let Command::Dev(dev) = parse("postern dev").unwrap().command else {
            panic!("not dev")
        };
        assert_eq!(dev.api_listen_address, "127.0.0.1:9200");
        assert_eq!(dev.proxy_listen_address, "127.0.0.1:9202");
        assert_eq!(dev.target_session_connection_limit, -1);
        assert_eq!(
            (dev.login_name.as_str(), dev.password.as_str()),
            ("admin", "password")
        );
        let line = "postern dev -target-session-connection-limit 1 -target-default-port 2222";
        let Command::Dev(dev) = parse(line).unwrap().command else {
            panic!("not dev")
        };
        assert_eq!(
            (dev.target_default_port, dev.target_session_connection_limit),
            (2222, 1)
        );
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("30s"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(parse_duration("1h30m"), Ok(Some(Duration::from_secs(5400))));
        assert_eq!(
            parse_duration("250ms"),
            Ok(Some(Duration::from_millis(250)))
        );
        assert_eq!(parse_duration("15"), Ok(Some(Duration::from_secs(15))));
        assert_eq!(parse_duration("-1"), Ok(None));
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
    }
}
