//! The two input forms of a grant, read into a [`Draft`] that remembers where each piece was
//! written: Boundary's `unmarshalText` and `unmarshalJSON`, with their messages.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Stage;
use serde_json::value::RawValue;

use crate::quote::go_quote;
use crate::{GrantError, ResourceType};

/// A piece of the grant: its value (decoded, and lower-cased where Boundary lower-cases), the
/// byte offset it starts at and its text as written.
#[derive(Debug, Clone)]
pub(crate) struct Tok {
    pub(crate) value: String,
    pub(crate) at: usize,
    pub(crate) src: String,
}

impl Tok {
    fn new(value: impl Into<String>, at: usize, src: &str) -> Self {
        Tok {
            value: value.into(),
            at,
            src: src.to_owned(),
        }
    }

    /// A JSON value of the grant `raw`.
    fn of(raw: &str, v: &RawValue, value: String) -> Self {
        Tok::new(value, offset_in(raw, v.get()), v.get())
    }
}

/// What the grant says, before validation. A later key overwrites an earlier one, except
/// `output_fields`, which accumulate.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub(crate) id: Option<Tok>,
    pub(crate) ids: Vec<Tok>,
    pub(crate) kind: Option<(ResourceType, Tok)>,
    /// The actions, and the whole `actions` value (for "missing actions" and the like).
    pub(crate) actions: Vec<Tok>,
    pub(crate) actions_value: Option<Tok>,
    pub(crate) output_fields: Option<BTreeSet<String>>,
}

/// `OutputFields.AddFields`: an empty list marks the fields as set but empty; a `*` collapses
/// the set to just `*`, which nothing joins afterwards.
fn add_fields<'a>(fields: &mut Option<BTreeSet<String>>, input: impl IntoIterator<Item = &'a str>) {
    let set = fields.get_or_insert_with(BTreeSet::new);
    if set.len() == 1 && set.contains("*") {
        return;
    }
    for field in input {
        if field == "*" {
            *set = BTreeSet::from(["*".to_owned()]);
            return;
        }
        set.insert(field.to_owned());
    }
}

/// `s` split on `sep`, each piece with its byte offset (`base` added).
fn split_at(s: &str, sep: char, base: usize) -> impl Iterator<Item = (usize, &str)> {
    let mut at = base;
    s.split(sep).map(move |piece| {
        let here = at;
        at += piece.len() + sep.len_utf8();
        (here, piece)
    })
}

/// The text form: `key=value` segments joined by `;`. Unknown keys are ignored, as Boundary
/// ignores them.
pub(crate) fn text(raw: &str) -> Result<Draft, GrantError> {
    let fail = |at: usize, token: &str, message: String| {
        Err(GrantError::at(raw, at, token, Stage::Text, message))
    };
    let mut d = Draft::default();
    for (at, segment) in split_at(raw, ';', 0) {
        let mut kv = segment.split('=');
        let (Some(key), Some(value), None) = (kv.next(), kv.next(), kv.next()) else {
            let m = format!(
                "segment {} not formatted correctly, wrong number of equal signs",
                go_quote(segment)
            );
            return fail(at, segment, m);
        };
        if key.is_empty() {
            let m = format!(
                "segment {} not formatted correctly, missing key",
                go_quote(segment)
            );
            return fail(at, segment, m);
        }
        if value.is_empty() && key != "output_fields" {
            let m = format!(
                "segment {} not formatted correctly, missing value",
                go_quote(segment)
            );
            return fail(at, segment, m);
        }
        let vat = at + key.len() + 1;
        match key {
            "id" => {
                if value.contains(',') {
                    return fail(vat, value, "ID cannot contain a comma".into());
                }
                d.id = Some(Tok::new(value, vat, value));
            }
            "ids" => {
                let mut ids = Vec::new();
                for (at, id) in split_at(value, ',', vat) {
                    if id.is_empty() {
                        return fail(at, id, "empty ID provided".into());
                    }
                    ids.push(Tok::new(id, at, id));
                }
                d.ids = ids;
            }
            "type" => {
                let lower = value.to_lowercase();
                match ResourceType::parse(&lower) {
                    Some(t) if t != ResourceType::Unknown => {
                        d.kind = Some((t, Tok::new(lower, vat, value)));
                    }
                    _ => {
                        return fail(
                            vat,
                            value,
                            format!("unknown type specifier {}", go_quote(&lower)),
                        )
                    }
                }
            }
            "actions" => {
                let mut actions = Vec::new();
                for (at, action) in split_at(value, ',', vat) {
                    if action.is_empty() {
                        return fail(at, action, "empty action found".into());
                    }
                    actions.push(Tok::new(action.to_lowercase(), at, action));
                }
                d.actions = actions;
                d.actions_value = Some(Tok::new(value, vat, value));
            }
            "output_fields" => {
                let fields = (!value.is_empty()).then(|| value.split(','));
                add_fields(&mut d.output_fields, fields.into_iter().flatten());
            }
            _ => {}
        }
    }
    Ok(d)
}

/// The JSON form: an object with `id`, `ids`, `type`, `actions` and `output_fields`; other
/// members are ignored, and a repeated member's last value counts (a Go map).
///
/// serde_json reads the document: the top-level object into a map of [`RawValue`]s, which
/// borrow from the grant, so every value (and every element of an array value) knows where
/// it was written; only the members we use are decoded further. Errors point at the value at
/// fault, its text as written being the token; a syntax error points at the character
/// serde_json stopped at (one past the end, token `""`, when the document ends early).
///
/// Where postern differs from Boundary (Go's encoding/json), all in the JSON form only:
/// - A syntax error's message is serde_json's, without its ` at line L column C` suffix
///   (`key must be a string`, `EOF while parsing an object`, `trailing characters`, …)
///   rather than Go's scanner's (`invalid character '2' looking for beginning of object key
///   string`, `unexpected end of JSON input`, …); the `error #303` decoration is kept.
/// - A non-string value named in a message is shown as written in the grant (`1`, `null`,
///   `2.5e7`, `{"k": [2]}`), not with Go's `%v`/`%q` (`<nil>`, `2.5e+07`, `map[k:[2]]`,
///   `%!q(float64=1)`).
/// - A string holding a lone UTF-16 surrogate escape (`"\ud800"`) in a member we read is a
///   syntax error (`lone leading surrogate in hex escape`, `unexpected end of hex escape`)
///   pointing into the string, where Go decodes it to U+FFFD. In members we ignore it
///   passes, as in Go.
/// - No nesting limit: serde_json skips ignored values without recursing, where Go refuses
///   nesting deeper than 10000.
pub(crate) fn json(raw: &str) -> Result<Draft, GrantError> {
    let members: BTreeMap<String, &RawValue> =
        serde_json::from_str(raw).map_err(|e| syntax_error(raw, raw, &e))?;
    let fail = |v: &RawValue, message: String| {
        Err(GrantError::at(
            raw,
            offset_in(raw, v.get()),
            v.get(),
            Stage::Json,
            message,
        ))
    };
    let get = |key: &str| members.get(key).copied();
    let bad = |s: &str| s.contains([',', ';', '=']);
    let mut d = Draft::default();

    if let Some(v) = get("id") {
        let Some(id) = string(raw, v)? else {
            return fail(v, r#"unable to interpret "id" as string"#.into());
        };
        if id.is_empty() {
            return fail(v, "empty ID provided".into());
        }
        if bad(&id) {
            return fail(
                v,
                "ID cannot contain a comma, semicolon or equals sign".into(),
            );
        }
        d.id = Some(Tok::of(raw, v, id));
    }
    if let Some(v) = get("ids") {
        let Some(items) = array(v) else {
            return fail(v, r#"unable to interpret "ids" as array"#.into());
        };
        for item in items {
            let Some(id) = string(raw, item)? else {
                let m = format!(
                    r#"unable to interpret "ids" element {} as string"#,
                    item.get()
                );
                return fail(item, m);
            };
            if id.is_empty() {
                return fail(item, "empty ID provided".into());
            }
            if bad(&id) {
                return fail(
                    item,
                    "ID cannot contain a comma, semicolon or equals sign".into(),
                );
            }
            d.ids.push(Tok::of(raw, item, id));
        }
    }
    if let Some(v) = get("type") {
        let Some(name) = string(raw, v)? else {
            return fail(v, r#"unable to interpret "type" as string"#.into());
        };
        // Unlike the text form, the JSON form does not lower-case the type.
        match ResourceType::parse(&name) {
            Some(t) if t != ResourceType::Unknown => d.kind = Some((t, Tok::of(raw, v, name))),
            _ => return fail(v, format!("unknown type specifier {}", go_quote(&name))),
        }
    }
    if let Some(v) = get("actions") {
        let Some(items) = array(v) else {
            return fail(v, r#"unable to interpret "actions" as array"#.into());
        };
        for item in items {
            let Some(action) = string(raw, item)? else {
                let m = format!(
                    "unable to interpret {} in actions array as string",
                    item.get()
                );
                return fail(item, m);
            };
            if action.is_empty() {
                return fail(item, "empty action found".into());
            }
            if bad(&action) {
                return fail(
                    item,
                    "action cannot contain a comma, semicolon or equals sign".into(),
                );
            }
            d.actions.push(Tok::of(raw, item, action.to_lowercase()));
        }
        d.actions_value = Some(Tok::of(raw, v, String::new()));
    }
    if let Some(v) = get("output_fields") {
        let Some(items) = array(v) else {
            return fail(v, r#"unable to interpret "output_fields" as array"#.into());
        };
        let mut fields = Vec::with_capacity(items.len());
        for item in items {
            let Some(field) = string(raw, item)? else {
                let m = format!(
                    "unable to interpret {} in output_fields array as string",
                    item.get()
                );
                return fail(item, m);
            };
            if bad(&field) {
                return fail(
                    item,
                    "output fields cannot contain a comma, semicolon or equals sign".into(),
                );
            }
            fields.push(field);
        }
        add_fields(&mut d.output_fields, fields.iter().map(String::as_str));
    }
    Ok(d)
}

/// The byte offset of `part` in `whole`. Every [`RawValue`] here borrows from the grant
/// (serde_json hands out slices of the input), so this is plain address arithmetic; 0 if
/// `part` were somehow not inside `whole`.
fn offset_in(whole: &str, part: &str) -> usize {
    let at = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    if at <= whole.len() && whole.len() - at >= part.len() {
        at
    } else {
        0
    }
}

/// The elements of an array value, or `None` if it is not an array.
fn array(v: &RawValue) -> Option<Vec<&RawValue>> {
    // The document was read whole, so an array always reads.
    serde_json::from_str(v.get()).ok()
}

/// The decoded string, `None` if the value is not a string, or the syntax error serde_json
/// finds decoding it (a lone surrogate escape).
fn string(raw: &str, v: &RawValue) -> Result<Option<String>, GrantError> {
    if !v.get().starts_with('"') {
        return Ok(None);
    }
    serde_json::from_str(v.get())
        .map(Some)
        .map_err(|e| syntax_error(raw, v.get(), &e))
}

/// serde_json's error reading `part` of the grant `raw` as Boundary's JSON decode error:
/// its message without the position suffix, at the character its line and column name (one
/// past the end for a document that ends early).
fn syntax_error(raw: &str, part: &str, e: &serde_json::Error) -> GrantError {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    // serde_json counts lines from 1 and columns in bytes from the line's start; the column
    // names the byte it stopped at, counted from 1 (0 means the newline ending the line
    // before).
    let mut at = if e.is_eof() {
        part.len()
    } else {
        let line_start = match e.line() {
            0 | 1 => 0,
            n => part
                .match_indices('\n')
                .nth(n - 2)
                .map_or(0, |(i, _)| i + 1),
        };
        (line_start + e.column()).saturating_sub(1).min(part.len())
    };
    while !part.is_char_boundary(at) {
        at -= 1;
    }
    // For a control character in a string serde_json names the byte before it on some paths
    // (skipping a value) and the character itself on others (reading a key); name it always.
    let mut rest = part[at..].chars();
    if let (Some(c), Some(next)) = (rest.next(), rest.next()) {
        if message.starts_with("control character") && c >= ' ' && next < ' ' {
            at += c.len_utf8();
        }
    }
    let token = part[at..]
        .chars()
        .next()
        .map(String::from)
        .unwrap_or_default();
    GrantError::at(
        raw,
        offset_in(raw, part) + at,
        &token,
        Stage::JsonSyntax,
        message,
    )
}
