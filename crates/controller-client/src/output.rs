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

/// Boundary's terminal width when it cannot ask the terminal (`base.TermWidth`).
pub const DEFAULT_TERM_WIDTH: usize = 80;

/// The width table output wraps at: `COLUMNS` when the shell exports it, else 80.
pub fn term_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .filter(|&c: &usize| c >= 20)
        .unwrap_or(DEFAULT_TERM_WIDTH)
}

/// Boundary's `MaxAttributesLength`: the longest key, and never less than `Parent Scope ID`
/// plus the 2 columns the scope block is indented by, so item blocks line up with it.
pub fn max_attributes_length<'a>(keys: impl IntoIterator<Item = &'a str>) -> usize {
    keys.into_iter()
        .map(str::len)
        .fold("Parent Scope ID".len() + 2, usize::max)
}

/// Boundary's `WrapMap`: one `key: value` line per row, keys sorted, values starting
/// `width - key.len()` columns after the `: `, all indented by `prefix` spaces. Rows whose
/// value is empty keep their key (Boundary prints `Name:` for an unnamed scope).
pub fn wrap_map(prefix: usize, width: usize, rows: &[(String, String)]) -> Vec<String> {
    let mut sorted: Vec<&(String, String)> = rows.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
        .into_iter()
        .map(|(key, value)| {
            let pad = width.saturating_sub(key.len());
            format!("{:prefix$}{key}: {:pad$}{value}", "", "")
        })
        .collect()
}

/// Boundary's `WrapSlice`: one indented line per item.
pub fn wrap_slice(prefix: usize, items: &[String]) -> Vec<String> {
    items
        .iter()
        .map(|item| format!("{:prefix$}{item}", ""))
        .collect()
}

/// Boundary's `WrapForHelpText`: every line right-trimmed and word-wrapped at `width`, the
/// continuation lines indented like the line they came from. Lines are joined with `\n`; a
/// word longer than the width (an authorization token) goes alone on its own line.
pub fn wrap_for_help_text(lines: &[String], width: usize) -> String {
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for line in lines.iter().flat_map(|l| l.split('\n')) {
        let line = line.trim_end();
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        for piece in word_wrap(trimmed, width.saturating_sub(indent).max(1)).split('\n') {
            out.push(
                format!("{:indent$}{}", "", piece.trim())
                    .trim_end()
                    .to_owned(),
            );
        }
    }
    out.join("\n")
}

/// go-wordwrap's `WrapString` for one line: breaks at whitespace before a word that would
/// pass `limit`, unless the word alone is that long.
fn word_wrap(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let (mut current, mut word, mut spaces) = (0usize, String::new(), String::new());
    for c in text.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if spaces.is_empty() || !word.is_empty() {
                current += spaces.chars().count() + word.chars().count();
                out.push_str(&spaces);
                out.push_str(&word);
                spaces.clear();
                word.clear();
            }
            spaces.push(c);
        } else {
            word.push(c);
            let word_len = word.chars().count();
            if current + spaces.chars().count() + word_len > limit && word_len < limit {
                out.push('\n');
                current = 0;
                spaces.clear();
            }
        }
    }
    if word.is_empty() {
        if current + spaces.chars().count() <= limit {
            out.push_str(&spaces);
        }
    } else {
        out.push_str(&spaces);
        out.push_str(&word);
    }
    out
}

/// An API time (RFC 3339) as Boundary's tables show it: RFC 1123 in local time. `None` when
/// the text is not a time.
pub fn local_time(rfc3339_text: &str) -> Option<String> {
    DateTime::parse_from_rfc3339(rfc3339_text)
        .ok()
        .map(|t| rfc1123_local(SystemTime::from(t.with_timezone(&Utc))))
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
            &[
                ("Session ID", "s_1".into()),
                ("Address", "127.0.0.1".into()),
                ("Connection Limit", "1".into()),
            ],
        );
        assert_eq!(
            out,
            "\nProxy listening information:\n  Address:            127.0.0.1\n  Connection Limit:   1\n  Session ID:         s_1\n"
        );
    }

    fn strings(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn wrap_map_pads_to_the_given_width_and_sorts() {
        let rows = vec![
            ("Type".to_owned(), "project".to_owned()),
            ("ID".to_owned(), "p_1".to_owned()),
        ];
        assert_eq!(
            wrap_map(4, 17, &rows),
            strings(&[
                "    ID:                p_1",
                "    Type:              project"
            ])
        );
        assert_eq!(max_attributes_length(["ID", "Termination Reason"]), 18);
        assert_eq!(max_attributes_length(["ID"]), 17);
    }

    #[test]
    fn help_text_trims_and_puts_a_long_token_on_its_own_line() {
        let token = "x".repeat(120);
        let lines = strings(&[
            "",
            "Target information:",
            &format!("  Authorization Token:   {token}"),
            "  Name:   ",
        ]);
        assert_eq!(
            wrap_for_help_text(&lines, 80),
            format!("\nTarget information:\n  Authorization Token:\n  {token}\n  Name:")
        );
    }

    #[test]
    fn long_text_wraps_at_words_keeping_the_indent() {
        let lines = strings(&[
            "    Description:         one two three four five six seven eight nine ten eleven",
        ]);
        assert_eq!(
            wrap_for_help_text(&lines, 60),
            "    Description:         one two three four five six seven\n    eight nine ten eleven"
        );
    }

    #[test]
    fn times_format_like_go() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_601_507_894);
        assert_eq!(rfc3339(t), "2020-09-30T23:18:14Z");
        let local = rfc1123_local(t);
        assert!(local.contains("Sep 2020"), "{local}");
        assert_eq!(local_time("2020-09-30T23:18:14Z"), Some(local));
        assert_eq!(
            local_time("2020-09-30T23:18:14.123456Z"),
            Some(rfc1123_local(t))
        );
        assert_eq!(local_time("yesterday"), None);
    }
}
