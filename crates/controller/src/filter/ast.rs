//! The parsed filter, how it is evaluated against an item, and how it is written back out.

use std::borrow::Cow;
use std::fmt;

use regex::Regex;
use serde_json::Value;

use super::lexer::write_quoted;

/// The name every selector starts from: Boundary evaluates filters over `{"item": <resource>}`.
pub(super) const ROOT: &str = "item";

#[derive(Debug, Clone)]
pub(super) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Match(Match),
}

/// A path into `{"item": ...}`: object keys, or decimal indexes into arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Selector(pub(super) Vec<String>);

#[derive(Debug, Clone)]
pub(super) struct Pattern {
    pub(super) source: String,
    pub(super) regex: Regex,
}

#[derive(Debug, Clone)]
pub(super) enum Match {
    Equal(Selector, String),
    NotEqual(Selector, String),
    Matches(Selector, Pattern),
    NotMatches(Selector, Pattern),
    /// `"value" in selector`.
    In(String, Selector),
    NotIn(String, Selector),
    /// `selector contains "value"`: the same test as `in`, written the other way round.
    Contains(Selector, String),
    NotContains(Selector, String),
    IsEmpty(Selector),
    IsNotEmpty(Selector),
}

/// Where selectors start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Root {
    /// At `item`, which names the value (list filters: `"/item/status"`).
    Item,
    /// At the value itself (worker filters: `"/tags/region"`).
    Document,
}

impl Expr {
    pub(super) fn eval(&self, value: &Value, root: Root) -> bool {
        match self {
            Expr::Or(any) => any.iter().any(|expr| expr.eval(value, root)),
            Expr::And(all) => all.iter().all(|expr| expr.eval(value, root)),
            Expr::Not(expr) => !expr.eval(value, root),
            Expr::Match(m) => m.eval(value, root),
        }
    }
}

impl Match {
    fn eval(&self, value: &Value, root: Root) -> bool {
        let find = |s: &Selector| s.find(value, root);
        let equal = |s: &Selector, v: &str| find(s).is_some_and(|found| equals(found, v));
        let matching = |s: &Selector, p: &Pattern| {
            find(s)
                .and_then(scalar_text)
                .is_some_and(|text| p.regex.is_match(&text))
        };
        let holding = |s: &Selector, v: &str| find(s).is_some_and(|found| holds(found, v));
        let empty = |s: &Selector| find(s).is_none_or(is_empty);
        match self {
            Match::Equal(selector, value) => equal(selector, value),
            Match::NotEqual(selector, value) => !equal(selector, value),
            Match::Matches(selector, pattern) => matching(selector, pattern),
            Match::NotMatches(selector, pattern) => !matching(selector, pattern),
            Match::In(value, selector) | Match::Contains(selector, value) => {
                holding(selector, value)
            }
            Match::NotIn(value, selector) | Match::NotContains(selector, value) => {
                !holding(selector, value)
            }
            Match::IsEmpty(selector) => empty(selector),
            Match::IsNotEmpty(selector) => !empty(selector),
        }
    }
}

impl Selector {
    /// The value the selector names, or `None` when the path is missing or leads to `null`.
    fn find<'v>(&self, value: &'v Value, root: Root) -> Option<&'v Value> {
        let rest = match root {
            Root::Document => &self.0[..],
            Root::Item => {
                let (first, rest) = self.0.split_first()?;
                if first != ROOT {
                    return None;
                }
                rest
            }
        };
        let mut current = value;
        for segment in rest {
            current = match current {
                Value::Object(fields) => fields.get(segment)?,
                Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        (!current.is_null()).then_some(current)
    }
}

/// The text a scalar compares as; objects and arrays have none.
fn scalar_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(text) => Some(Cow::Borrowed(text)),
        Value::Number(number) => Some(Cow::Owned(number.to_string())),
        Value::Bool(flag) => Some(Cow::Borrowed(if *flag { "true" } else { "false" })),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Whether a JSON value equals a filter literal by string form, numbers by numeric value so
/// `5`, `"5"` and `"5.0"` all equal the JSON number 5.
fn equals(value: &Value, literal: &str) -> bool {
    match value {
        Value::Number(number) => {
            let whole = number
                .as_i64()
                .map(i128::from)
                .or_else(|| number.as_u64().map(i128::from));
            match (whole, literal.parse::<i128>()) {
                (Some(whole), Ok(wanted)) => whole == wanted,
                _ => match (number.as_f64(), literal.parse::<f64>()) {
                    (Some(actual), Ok(wanted)) => actual == wanted,
                    _ => false,
                },
            }
        }
        other => scalar_text(other).is_some_and(|text| text == literal),
    }
}

/// `in` / `contains`: an array element equal to the literal, a substring of a string, or a
/// key of an object.
fn holds(container: &Value, literal: &str) -> bool {
    match container {
        Value::Array(items) => items.iter().any(|item| equals(item, literal)),
        Value::String(text) => text.contains(literal),
        Value::Object(fields) => fields.contains_key(literal),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
        Value::Null => true,
        Value::Bool(_) | Value::Number(_) => false,
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(any) => write_joined(f, any, " or ", |e| matches!(e, Expr::Or(_))),
            Expr::And(all) => {
                write_joined(f, all, " and ", |e| matches!(e, Expr::Or(_) | Expr::And(_)))
            }
            Expr::Not(expr) => match **expr {
                Expr::Match(_) | Expr::Not(_) => write!(f, "not {expr}"),
                Expr::Or(_) | Expr::And(_) => write!(f, "not ({expr})"),
            },
            Expr::Match(m) => m.fmt(f),
        }
    }
}

fn write_joined(
    f: &mut fmt::Formatter<'_>,
    parts: &[Expr],
    separator: &str,
    needs_parens: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        if needs_parens(part) {
            write!(f, "({part})")?;
        } else {
            write!(f, "{part}")?;
        }
    }
    Ok(())
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (left, operator, right): (&dyn fmt::Display, &str, Option<&dyn fmt::Display>) =
            match self {
                Match::Equal(s, v) => (s, "==", Some(&Literal(v))),
                Match::NotEqual(s, v) => (s, "!=", Some(&Literal(v))),
                Match::Matches(s, p) => (s, "matches", Some(&Literal(&p.source))),
                Match::NotMatches(s, p) => (s, "not matches", Some(&Literal(&p.source))),
                Match::In(v, s) => (&Literal(v), "in", Some(s)),
                Match::NotIn(v, s) => (&Literal(v), "not in", Some(s)),
                Match::Contains(s, v) => (s, "contains", Some(&Literal(v))),
                Match::NotContains(s, v) => (s, "not contains", Some(&Literal(v))),
                Match::IsEmpty(s) => (s, "is empty", None),
                Match::IsNotEmpty(s) => (s, "is not empty", None),
            };
        write!(f, "{left} {operator}")?;
        match right {
            Some(right) => write!(f, " {right}"),
            None => Ok(()),
        }
    }
}

struct Literal<'a>(&'a str);

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, self.0)
    }
}

/// Written as a quoted JSON pointer, whatever form it was parsed from.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut pointer = String::new();
        for segment in &self.0 {
            pointer.push('/');
            pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
        }
        write_quoted(f, &pointer)
    }
}
