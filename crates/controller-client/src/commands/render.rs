//! Pieces every command's table output is made of, read from the API's JSON: Boundary's list
//! blocks (`  ID:` then indented fields), item blocks (aligned, sorted keys; a `Scope:` block;
//! `Authorized Actions:`), and the JSON envelope `{"status_code", "item"|"items"}` its
//! `-format json` prints.

use serde_json::{json, Value};

use crate::output::{local_time, wrap_for_help_text, wrap_map, wrap_slice};

/// A non-empty string field.
pub(crate) fn text<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A string field, empty when absent.
pub(crate) fn text_or_empty(item: &Value, key: &str) -> String {
    text(item, key).unwrap_or_default().to_owned()
}

/// A time field as the tables show it (RFC 1123, local time); the raw text if it does not
/// parse, so nothing the controller said is lost.
pub(crate) fn time(item: &Value, key: &str) -> Option<String> {
    text(item, key).map(|t| local_time(t).unwrap_or_else(|| t.to_owned()))
}

/// A number field (proto3 JSON writes 64-bit numbers as strings), as text; `None` when
/// absent or zero, as Go's zero-value checks skip it.
pub(crate) fn number(item: &Value, key: &str) -> Option<String> {
    let value = item.get(key)?;
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    (text != "0" && !text.is_empty()).then_some(text)
}

/// A list of strings (`authorized_actions`, `host_ids`).
pub(crate) fn strings(item: &Value, key: &str) -> Vec<String> {
    item.get(key)
        .and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Any JSON value as Go's `%v` prints a decoded one.
pub(crate) fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_owned(),
        Value::Array(values) => format!(
            "[{}]",
            values.iter().map(go_value).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(_) => serde_json::to_string_pretty(value).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// Key/value rows of an item block, in any order (the block sorts them).
#[derive(Debug, Default)]
pub(crate) struct Rows(pub Vec<(String, String)>);

impl Rows {
    pub fn add(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((key.to_owned(), value.into()));
        self
    }

    pub fn opt(&mut self, key: &str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(value) = value {
            self.add(key, value);
        }
        self
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

/// The rows every item block starts with, when present: ID, Version, Type, times, name and
/// description.
pub(crate) fn common_rows(item: &Value) -> Rows {
    let mut rows = Rows::default();
    rows.opt("ID", text(item, "id"))
        .opt("Version", number(item, "version"))
        .opt("Type", text(item, "type"))
        .opt("Created Time", time(item, "created_time"))
        .opt("Updated Time", time(item, "updated_time"))
        .opt("Name", text(item, "name"))
        .opt("Description", text(item, "description"));
    rows
}

/// `""`, `  <title>:`, then the item's scope (`ID`, `Name`, `Type`, `Parent Scope ID`).
pub(crate) fn scope_block(title: &str, item: &Value, width: usize) -> Vec<String> {
    let Some(scope) = item.get("scope").filter(|s| s.is_object()) else {
        return Vec::new();
    };
    let mut rows = Rows::default();
    rows.add("ID", text_or_empty(scope, "id"))
        .add("Type", text_or_empty(scope, "type"))
        .add("Name", text_or_empty(scope, "name"))
        .opt("Parent Scope ID", text(scope, "parent_scope_id"));
    let mut lines = vec![String::new(), format!("  {title}:")];
    lines.extend(wrap_map(4, width, &rows.0));
    lines
}

/// `""`, `  Authorized Actions:`, one action per line.
pub(crate) fn actions_block(item: &Value) -> Vec<String> {
    list_block("Authorized Actions", &strings(item, "authorized_actions"))
}

/// `""`, `  <title>:`, one value per line; nothing for an empty list.
pub(crate) fn list_block(title: &str, values: &[String]) -> Vec<String> {
    if values.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![String::new(), format!("  {title}:")];
    lines.extend(wrap_slice(4, values));
    lines
}

/// `""`, `  Attributes:`, the item's `attributes` with keys renamed by `names` (Boundary's
/// `keySubstMap`), aligned at `width`.
pub(crate) fn attributes_block(attributes: &Rows, width: usize) -> Vec<String> {
    if attributes.0.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![String::new(), "  Attributes:".to_owned()];
    lines.extend(wrap_map(4, width, &attributes.0));
    lines
}

/// The item's `attributes` as rows, keys renamed through `names` where listed.
pub(crate) fn attribute_rows(item: &Value, names: &[(&str, &str)]) -> Rows {
    let mut rows = Rows::default();
    if let Some(attributes) = item.get("attributes").and_then(Value::as_object) {
        for (key, value) in attributes {
            let name = names
                .iter()
                .find(|(raw, _)| raw == key)
                .map_or(key.as_str(), |(_, n)| n);
            rows.add(name, go_value(value));
        }
    }
    rows
}

/// One field line of a list entry: label and value from column 25, as Boundary aligns them.
pub(crate) fn list_line(label: &str, value: impl std::fmt::Display) -> String {
    format!("    {:<21}{value}", format!("{label}:"))
}

/// The text fields of a list entry for the kinds that come in types.
pub(crate) const TYPE_NAME_DESCRIPTION: &[(&str, &str)] = &[
    ("Type", "type"),
    ("Name", "name"),
    ("Description", "description"),
];

/// A list entry's usual lines: `Scope ID` (the item's `scope_id`) when `recursive`, the
/// version, then each text field `(label, key)` the item has, in order.
pub(crate) fn entry_lines(item: &Value, recursive: bool, fields: &[(&str, &str)]) -> Vec<String> {
    let mut lines = Vec::new();
    if recursive {
        lines.extend(text(item, "scope_id").map(|v| list_line("Scope ID", v)));
    }
    lines.extend(number(item, "version").map(|v| list_line("Version", v)));
    for (label, key) in fields {
        lines.extend(text(item, key).map(|v| list_line(label, v)));
    }
    lines
}

/// Boundary's list output: `title`, then for each item `  ID:` and the lines `fields` gives,
/// then its authorized actions; `empty` alone when there are no items.
pub(crate) fn list_table(
    title: &str,
    empty: &str,
    items: &[Value],
    width: usize,
    fields: impl Fn(&Value) -> Vec<String>,
) -> String {
    if items.is_empty() {
        return format!("{empty}\n");
    }
    let mut lines = vec![String::new(), title.to_owned()];
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        lines.push(format!(
            "  {:<23}{}",
            "ID:",
            text(item, "id").unwrap_or("(not available)")
        ));
        lines.extend(fields(item));
        let actions = strings(item, "authorized_actions");
        if !actions.is_empty() {
            lines.push("    Authorized Actions:".to_owned());
            lines.extend(wrap_slice(6, &actions));
        }
    }
    finish(&lines, width)
}

/// The lines as Boundary prints a block: wrapped, then a final newline.
pub(crate) fn finish(lines: &[String], width: usize) -> String {
    format!("{}\n", wrap_for_help_text(lines, width))
}

/// `-format json` of one item: `{"status_code": N, "item": ...}`.
pub fn item_json(status: u16, item: &Value) -> String {
    format!("{}\n", json!({ "status_code": status, "item": item }))
}

/// `-format json` of a list: `{"status_code": N, "items": [...]}`.
pub fn items_json(status: u16, items: &[Value]) -> String {
    format!("{}\n", json!({ "status_code": status, "items": items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines_put_values_at_column_25() {
        assert_eq!(list_line("Version", 1), "    Version:             1");
        assert_eq!(
            list_line("Scope ID", "global"),
            "    Scope ID:            global"
        );
    }

    #[test]
    fn numbers_read_from_numbers_and_strings_skipping_zero() {
        let item = json!({"version": 3, "bytes_up": "1024", "bytes_down": "0", "limit": -1});
        assert_eq!(number(&item, "version").as_deref(), Some("3"));
        assert_eq!(number(&item, "bytes_up").as_deref(), Some("1024"));
        assert_eq!(number(&item, "bytes_down"), None);
        assert_eq!(number(&item, "limit").as_deref(), Some("-1"));
        assert_eq!(number(&item, "missing"), None);
    }

    #[test]
    fn an_empty_list_says_so() {
        assert_eq!(
            list_table(
                "Session information:",
                "No sessions found",
                &[],
                80,
                |_| vec![]
            ),
            "No sessions found\n"
        );
    }
}
