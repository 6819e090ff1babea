//! The flag groups several commands share (cargo's `command_prelude`): where the controller
//! is, the output format, `-id`, a list's scope or catalog, create and update of the kinds
//! that live in a scope, and where the proxy listens.
//!
//! Note for doc comments here: clap makes an `Args` struct's doc comment the `about` of a
//! subcommand that has none of its own, so every subcommand variant carries its own.

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;

use super::{Context, ControllerOptions, Failure};
use crate::output::Format;
use crate::redeem::RedeemOptions;
use crate::ClientError;

/// The controller plus the output format: every API command takes these.
#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub controller: ControllerOptions,
    /// Output format: table or json.
    #[arg(long, env = "POSTERN_FORMAT", default_value = "table")]
    pub format: Format,
}

impl ApiArgs {
    /// Runs `command` against the controller these flags name; a failure keeps the format
    /// to be printed in.
    pub fn run(
        &self,
        command: impl FnOnce(&Context) -> Result<String, ClientError>,
    ) -> Result<String, Failure> {
        Context::new(&self.controller, self.format)
            .and_then(|ctx| command(&ctx))
            .map_err(|error| Failure::new(error, self.format))
    }
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

/// `create` in a scope: the kinds that live in one (roles, groups, users, auth methods, host
/// catalogs). A kind's variant tells what `-scope-id` may be with
/// `#[command(mut_arg("scope_id", ...))]`.
#[derive(Debug, Args)]
pub struct ScopedCreateArgs {
    #[arg(long)]
    pub scope_id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `update` of a name and a description: the kinds that live in a scope.
#[derive(Debug, Args)]
pub struct NameUpdateArgs {
    #[arg(long)]
    pub id: String,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// The version to update (default: the current one).
    #[arg(long)]
    pub version: Option<u32>,
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

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Local address to listen on (an IP address).
    #[arg(long, env = "POSTERN_LISTEN_ADDR", default_value = "127.0.0.1")]
    pub listen_addr: IpAddr,
    /// Local port; 0 = the token's default client port, else an ephemeral port.
    #[arg(long, env = "POSTERN_LISTEN_PORT", default_value_t = 0)]
    pub listen_port: u16,
    /// Stop once no connection has been open this long (e.g. 30s, 5m); negative: never.
    #[arg(long, env = "POSTERN_INACTIVE_TIMEOUT", value_parser = parse_timeout, allow_hyphen_values = true)]
    pub inactive_timeout: Option<Timeout>,
    /// Output format: table or json.
    #[arg(long, env = "POSTERN_FORMAT", default_value = "table")]
    pub format: Format,
}

impl ListenArgs {
    /// How the local proxy is to run.
    pub fn redeem_options(&self) -> RedeemOptions {
        RedeemOptions {
            listen_addr: self.listen_addr,
            listen_port: self.listen_port,
            format: self.format,
            inactive_timeout: self.inactive_timeout.and_then(|timeout| timeout.0),
        }
    }
}

/// A duration flag a negative value turns off (`None`). A type of its own: clap reads a field
/// of type `Option<Option<_>>` as a flag whose value may be left out, which this is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub Option<Duration>);

fn parse_timeout(text: &str) -> Result<Timeout, String> {
    parse_duration(text).map(Timeout)
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

#[cfg(test)]
mod tests {
    use super::*;

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
