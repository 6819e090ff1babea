//! Boundary-style output: `-format table` blocks with aligned, sorted keys, or one JSON
//! object per line with `-format json`.

use std::time::SystemTime;

use chrono::{DateTime, Local, Offset, Utc};

/// Output format of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Self::Table),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown format {other:?}: use table or json")),
        }
    }
}

/// A titled block of `key: value` lines, keys sorted and values aligned three columns past
/// the longest key's colon (Boundary's `WrapMap` with its +2), indented by two spaces, preceded by an empty line, as Boundary prints them.
pub fn table(title: &str, rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    let mut sorted: Vec<_> = rows.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = format!("\n{title}\n");
    for (key, value) in sorted {
        let pad = width.saturating_sub(key.len());
        out.push_str(&format!("  {key}: {:pad$}{value}\n", ""));
    }
    out
}

/// RFC 1123 in local time, as Go's `time.RFC1123` prints it (`UTC` for a zero offset).
pub fn rfc1123_local(time: SystemTime) -> String {
    let local: DateTime<Local> = time.into();
    let zone = if local.offset().fix().local_minus_utc() == 0 {
        "UTC".to_owned()
    } else {
        local.format("%z").to_string()
    };
    format!("{} {zone}", local.format("%a, %d %b %Y %H:%M:%S"))
}

/// RFC 3339 in UTC with second precision.
pub fn rfc3339(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sorts_keys_and_aligns_values_past_the_longest_key() {
        let out = table(
            "Proxy listening information:",
            &[("Session ID", "s_1".into()), ("Address", "127.0.0.1".into()), ("Connection Limit", "1".into())],
        );
        assert_eq!(
            out,
            "\nProxy listening information:\n  Address:            127.0.0.1\n  Connection Limit:   1\n  Session ID:         s_1\n"
        );
    }

    #[test]
    fn times_format_like_go() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_601_507_894);
        assert_eq!(rfc3339(t), "2020-09-30T23:18:14Z");
        let local = rfc1123_local(t);
        assert!(local.contains("Sep 2020"), "{local}");
    }
}
