//! `tunnels.toml`: the controller's address and the named tunnels, read and checked
//! completely before anything listens. A bad file is a [`ConfigError`] naming the file, the
//! key and what is wrong (exit 64).
//!
//! ```toml
//! addr = "http://127.0.0.1:9200"      # default: POSTERN_ADDR, else http://127.0.0.1:9200
//!
//! [tunnels.ssh]
//! target_id = "ttcp_1234567890"       # or target_name + scope_id
//! host_id = "hst_1234567890"          # optional: one host of the target
//! listen = "127.0.0.1:2222"           # port 0: any free port (status shows it)
//! start = "eager"                     # or "on-demand": authorize on the first connection
//! renew_before = "60s"                # default: 10% of the session's life, at most 5m
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use postern_controller_client::config::{ADDR_ENV, DEFAULT_ADDR};
use serde::Deserialize;

use crate::TunnelsError;

/// A checked `tunnels.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelsConfig {
    /// The tunnels by name, each with the controller address folded in (a changed address
    /// is a changed tunnel on reload).
    pub tunnels: BTreeMap<String, TunnelSpec>,
}

/// One tunnel as the file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSpec {
    /// The controller's API address.
    pub addr: String,
    pub target: TargetRef,
    pub host_id: Option<String>,
    pub listen: SocketAddr,
    pub start: Start,
    /// How long before the session's expiration a new one is authorized; `None`: 10% of
    /// the session's life, at most [`DEFAULT_RENEW_BEFORE_CAP`].
    pub renew_before: Option<Duration>,
}

/// The default renewal margin's upper bound.
pub const DEFAULT_RENEW_BEFORE_CAP: Duration = Duration::from_secs(300);

/// Which target a tunnel's sessions are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRef {
    Id(String),
    /// A target named in a scope (the controller looks the name up in `scope_id`).
    Named {
        name: String,
        scope_id: String,
    },
}

impl TargetRef {
    /// The id or name the authorize call names in its path.
    pub fn path_name(&self) -> &str {
        match self {
            Self::Id(id) => id,
            Self::Named { name, .. } => name,
        }
    }
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => f.write_str(id),
            Self::Named { name, scope_id } => write!(f, "{name:?} in {scope_id}"),
        }
    }
}

/// When a tunnel authorizes its first session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// At startup (and on reload), so the first connection does not wait.
    #[default]
    Eager,
    /// On the first connection; and again on the next one once a session ran out unused.
    OnDemand,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    addr: Option<String>,
    #[serde(default)]
    tunnels: BTreeMap<String, TunnelSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TunnelSection {
    target_id: Option<String>,
    target_name: Option<String>,
    scope_id: Option<String>,
    scope_name: Option<String>,
    host_id: Option<String>,
    listen: String,
    #[serde(default)]
    start: Start,
    renew_before: Option<String>,
}

/// `$XDG_CONFIG_HOME/postern/tunnels.toml`, else `~/.config/postern/tunnels.toml`.
pub fn default_config_file() -> Result<PathBuf, TunnelsError> {
    Ok(user_config_dir()?.join("tunnels.toml"))
}

/// `$XDG_CONFIG_HOME/postern`, else `~/.config/postern`.
pub(crate) fn user_config_dir() -> Result<PathBuf, TunnelsError> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(base) = from_env("XDG_CONFIG_HOME") {
        return Ok(base.join("postern"));
    }
    from_env("HOME")
        .map(|home| home.join(".config").join("postern"))
        .ok_or_else(|| {
            TunnelsError::Usage(
                "cannot tell where the config is: set XDG_CONFIG_HOME or HOME, or give -config"
                    .into(),
            )
        })
}

impl TunnelsConfig {
    /// Reads and checks `file` completely.
    pub fn load(file: &Path) -> Result<Self, TunnelsError> {
        let text = std::fs::read_to_string(file).map_err(|source| TunnelsError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::parse(&text, file)
    }

    fn parse(text: &str, file: &Path) -> Result<Self, TunnelsError> {
        let parse = |message: String| TunnelsError::Parse {
            file: file.to_owned(),
            message,
        };
        // Syntax first (toml's errors show the line), then the shape (the key's path).
        let table: toml::Table = toml::from_str(text).map_err(|e| parse(trimmed(&e)))?;
        let parsed: File = serde_path_to_error::deserialize(table).map_err(|e| {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            if path == "." {
                parse(message)
            } else {
                parse(format!("{path}: {message}"))
            }
        })?;
        let invalid = |key: String, message: String| TunnelsError::Invalid {
            file: file.to_owned(),
            key,
            message,
        };
        let addr = match parsed.addr {
            Some(addr) if addr.trim().is_empty() => {
                return Err(invalid("addr".into(), "is empty".into()))
            }
            Some(addr) => addr.trim().to_owned(),
            None => std::env::var(ADDR_ENV)
                .ok()
                .filter(|a| !a.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
        };
        if !addr.starts_with("http://") {
            return Err(invalid(
                "addr".into(),
                format!("{addr:?} is not http://host:port"),
            ));
        }
        let mut tunnels = BTreeMap::new();
        let mut listening: BTreeMap<SocketAddr, &str> = BTreeMap::new();
        for (name, section) in &parsed.tunnels {
            let key = |field: &str| format!("tunnels.{name}.{field}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(invalid(
                    format!("tunnels.{name:?}"),
                    "a tunnel's name is letters, digits, '-', '_' and '.'".into(),
                ));
            }
            let spec = check_tunnel(section, &addr)
                .map_err(|(field, message)| invalid(key(field), message))?;
            if spec.listen.port() != 0 {
                if let Some(other) = listening.insert(spec.listen, name) {
                    return Err(invalid(
                        key("listen"),
                        format!("{} is also tunnel {other}'s", spec.listen),
                    ));
                }
            }
            tunnels.insert(name.clone(), spec);
        }
        Ok(Self { tunnels })
    }
}

/// A tunnel's section checked; an error is the field and what is wrong with it.
fn check_tunnel(section: &TunnelSection, addr: &str) -> Result<TunnelSpec, (&'static str, String)> {
    let present = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let target = match (present(&section.target_id), present(&section.target_name)) {
        (Some(_), Some(_)) => {
            return Err((
                "target_name",
                "give target_id or target_name, not both".into(),
            ))
        }
        (None, None) => {
            return Err((
                "target_id",
                "missing: give target_id, or target_name with scope_id".into(),
            ))
        }
        (Some(id), None) => {
            if section.scope_id.is_some() || section.scope_name.is_some() {
                return Err(("scope_id", "only goes with target_name".into()));
            }
            TargetRef::Id(id)
        }
        (None, Some(name)) => {
            if section.scope_name.is_some() {
                return Err((
                    "scope_name",
                    "not supported: the controller looks target names up by scope_id; give scope_id".into(),
                ));
            }
            let scope_id = present(&section.scope_id).ok_or((
                "scope_id",
                "missing: target_name needs the scope_id it is in".to_owned(),
            ))?;
            TargetRef::Named { name, scope_id }
        }
    };
    let listen = section.listen.trim().parse::<SocketAddr>().map_err(|_| {
        (
            "listen",
            format!("{:?} is not an IP:port address", section.listen),
        )
    })?;
    let renew_before = section
        .renew_before
        .as_deref()
        .map(|text| parse_duration(text).map_err(|e| ("renew_before", e)))
        .transpose()?;
    Ok(TunnelSpec {
        addr: addr.to_owned(),
        target,
        host_id: present(&section.host_id),
        listen,
        start: section.start,
        renew_before,
    })
}

/// `"90s"`, `"5m"`, `"1h"`, `"500ms"`: a number and a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("{text:?} is not a duration like \"60s\", \"5m\", \"1h\" or \"500ms\"");
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(bad()),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

fn trimmed(error: &impl std::fmt::Display) -> String {
    error.to_string().trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(text: &str) -> Result<TunnelsConfig, String> {
        TunnelsConfig::parse(text, Path::new("tunnels.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_file_is_read() {
        let config = check(
            r#"
            addr = "http://127.0.0.1:9200"
            [tunnels.ssh]
            target_id = "ttcp_1234567890"
            host_id = "hst_1234567890"
            listen = "127.0.0.1:2222"
            renew_before = "60s"
            [tunnels.db]
            target_name = "postgres"
            scope_id = "p_1234567890"
            listen = "127.0.0.1:0"
            start = "on-demand"
            "#,
        )
        .unwrap();
        let ssh = &config.tunnels["ssh"];
        assert_eq!(ssh.target, TargetRef::Id("ttcp_1234567890".into()));
        assert_eq!(ssh.renew_before, Some(Duration::from_secs(60)));
        assert_eq!(ssh.start, Start::Eager);
        let db = &config.tunnels["db"];
        assert_eq!(db.start, Start::OnDemand);
        assert_eq!(db.listen.port(), 0);
    }

    #[test]
    fn every_bad_value_names_its_key() {
        for (text, said) in [
            ("[tunnels.a]\nlisten = \"127.0.0.1:1\"", "tunnels.a.target_id: missing"),
            ("[tunnels.a]\ntarget_id = \"t\"\nlisten = \"localhost:1\"", "tunnels.a.listen: \"localhost:1\" is not an IP:port"),
            ("[tunnels.a]\ntarget_id = \"t\"\nlisten = 5", "tunnels.a.listen: invalid type"),
            ("[tunnels.a]\ntarget_id = \"t\"\nlisten = \"127.0.0.1:1\"\nlisen = 1", "tunnels.a.lisen: unknown field `lisen`"),
            ("[tunnels.a]\ntarget_id = \"t\"\nlisten = \"127.0.0.1:1\"\nstart = \"later\"", "tunnels.a.start: unknown variant `later`"),
            ("[tunnels.a]\ntarget_id = \"t\"\nlisten = \"127.0.0.1:1\"\nrenew_before = \"1 fortnight\"", "tunnels.a.renew_before: \"1 fortnight\" is not a duration"),
            ("[tunnels.a]\ntarget_name = \"t\"\nlisten = \"127.0.0.1:1\"", "tunnels.a.scope_id: missing"),
            ("[tunnels.a]\ntarget_name = \"t\"\nscope_name = \"p\"\nlisten = \"127.0.0.1:1\"", "tunnels.a.scope_name: not supported"),
            ("addr = \"127.0.0.1:9200\"", "addr: \"127.0.0.1:9200\" is not http://"),
            ("[tunnels.a]\ntarget_id = \"t\"\nlisten = \"127.0.0.1:1\"\n[tunnels.b]\ntarget_id = \"t\"\nlisten = \"127.0.0.1:1\"", "tunnels.b.listen: 127.0.0.1:1 is also tunnel a's"),
        ] {
            let error = check(text).unwrap_err();
            assert!(error.starts_with("tunnels.toml: "), "{error}");
            assert!(error.contains(said), "{text:?}: {error}");
        }
    }

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
    }
}
