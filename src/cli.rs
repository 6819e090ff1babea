//! Command-line grammar. Boundary users type single-dash long flags (`-authz`,
//! `-listen-port`); [`normalize_args`] turns them into clap's `--` form first.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use postern_controller_client::output::Format;

#[derive(Debug, Parser)]
#[command(name = "postern", version, about = "Identity-aware TCP access, wire-compatible with HashiCorp Boundary")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a local proxy for an authorized session.
    Proxy(ProxyArgs),
    /// Connect to a target (Boundary's name): with -authz-token it runs the proxy.
    Connect(ConnectArgs),
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

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The authorization token (as `proxy -authz`).
    #[arg(long, allow_hyphen_values = true, required_unless_present = "target_id")]
    pub authz_token: Option<String>,
    /// Authorize a session for this target first.
    #[arg(long)]
    pub target_id: Option<String>,
    #[command(flatten)]
    pub listen: ListenArgs,
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
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: expected e.g. 30s, 5m, 1h"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
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
        out.push(if is_single_dash_word { format!("-{arg}") } else { arg });
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
        let got = normalize_args(strings(&["postern", "proxy", "-authz", "-", "-listen-port", "0", "-h", "--format", "json"]));
        assert_eq!(got, strings(&["postern", "proxy", "--authz", "-", "--listen-port", "0", "-h", "--format", "json"]));
    }

    #[test]
    fn values_and_passthrough_are_left_alone() {
        let got = normalize_args(strings(&["postern", "connect", "-inactive-timeout", "-1", "--", "-oFoo", "-v"]));
        assert_eq!(got, strings(&["postern", "connect", "--inactive-timeout", "-1", "--", "-oFoo", "-v"]));
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("30s"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(parse_duration("1h30m"), Ok(Some(Duration::from_secs(5400))));
        assert_eq!(parse_duration("250ms"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(parse_duration("15"), Ok(Some(Duration::from_secs(15))));
        assert_eq!(parse_duration("-1"), Ok(None));
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
    }
}
