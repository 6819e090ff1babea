//! The `filter=` language of list endpoints: the subset of go-bexpr that Boundary users write,
//! evaluated against `{"item": <resource JSON>}`.
//!
//! `lexer` turns the text into tokens, `parser` builds an [`ast::Expr`] (compiling regular
//! expressions once, at parse time), and the API calls [`Filter::matches`] on each item.
//!
//! ```text
//! "/item/status" == "active"
//! "/item/user_id" == "u_1234567890" and "/item/status" != "terminated"
//! "cancel:self" in "/item/authorized_actions"     /item/authorized_actions contains "cancel"
//! "/item/target_id" matches "^ttcp_"              not ("/item/status" == "pending")
//! item.connections.0.bytes_up == 0                "/item/termination_reason" is empty
//! ```
//!
//! - Selectors: a quoted or bare JSON pointer (`"/item/status"`, `/item/status`, `~0`/`~1`
//!   escapes) or a dotted path (`item.status`); array elements by index (`/item/states/0`).
//!   They start at `item`; any other first part names nothing.
//! - Values: double-quoted strings with Go's escapes (an unknown escape such as `\d` is kept as
//!   written, for regular expressions), backtick raw strings, numbers, `true`/`false` and other
//!   bare words, all taken as text. A value equals a JSON string with the same text, a JSON
//!   bool by `"true"`/`"false"`, and a JSON number by numeric value (`5`, `"5"`, `"5.0"`).
//! - `matches` searches (it is not anchored, like Go's `regexp.MatchString`) the text of a
//!   string, number or bool. `in`/`contains` test membership of an array (by `==`), a
//!   substring of a string, or a key of an object. `is empty` holds for `""`, `[]`, `{}`.
//! - Precedence: `not` > `and` > `or`; keywords are case-sensitive.
//! - A missing path or JSON `null` is treated as absent: absent is empty, equals nothing,
//!   matches nothing and holds nothing. Every negated operator (`!=`, `not matches`, `not in`,
//!   `not contains`, `is not empty`) is exactly the negation of its positive form, so
//!   `"/item/missing" != "x"` is true. (Boundary's evaluator errors on a missing path and
//!   drops the item whatever the operator; a comparison with an object or array is false.)

mod ast;
mod lexer;
mod parser;

use std::fmt;
use std::str::FromStr;

pub use parser::MAX_DEPTH;

/// A parsed `filter=` expression; `Display` writes it back in canonical form (quoted JSON
/// pointers and strings, minimal parentheses), which parses to the same filter.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: ast::Expr,
}

impl Filter {
    /// Parses a filter. An empty (or all-whitespace) filter is an error: a caller with no
    /// filter should not build one (Boundary lists everything for `filter=`).
    pub fn parse(expression: &str) -> Result<Filter, FilterError> {
        parser::parse(expression).map(|expr| Filter { expr })
    }

    /// Whether `item` (the resource JSON, which selectors name `item`) passes the filter.
    pub fn matches(&self, item: &serde_json::Value) -> bool {
        self.expr.eval(item, ast::Root::Item)
    }

    /// Whether `document` passes the filter, its selectors starting at the document itself
    /// (`"/name"`, `"/tags/region"`): how Boundary evaluates a target's worker filter over
    /// `{"name", "tags"}`.
    pub fn matches_document(&self, document: &serde_json::Value) -> bool {
        self.expr.eval(document, ast::Root::Document)
    }
}

impl FromStr for Filter {
    type Err = FilterError;

    fn from_str(expression: &str) -> Result<Filter, FilterError> {
        Filter::parse(expression)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

/// Why a filter does not parse. A position counts the characters before the problem (0 is
/// the first character; the filter's length is its end), as go-bexpr's offsets do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("filter: the filter is empty")]
    Empty,
    #[error("filter: unterminated string starting at position {position}")]
    UnterminatedString { position: usize },
    #[error("filter: invalid escape \"{escape}\" at position {position}")]
    InvalidEscape { escape: String, position: usize },
    #[error("filter: expected an expression{} at position {position}", after_clause(.after))]
    ExpectedExpression {
        after: Option<String>,
        position: usize,
    },
    #[error(
        "filter: expected an operator (==, !=, matches, in, contains, is empty) after {after} \
         at position {position}"
    )]
    ExpectedOperator { after: String, position: usize },
    #[error("filter: unknown operator \"{operator}\" at position {position}")]
    UnknownOperator { operator: String, position: usize },
    #[error("filter: expected {expected} after \"{after}\" at position {position}")]
    ExpectedKeyword {
        expected: &'static str,
        after: &'static str,
        position: usize,
    },
    #[error("filter: expected a value after \"{after}\" at position {position}")]
    ExpectedValue { after: String, position: usize },
    #[error(
        "filter: expected a selector such as \"/item/status\" after \"{after}\" at position \
         {position}"
    )]
    ExpectedSelector { after: String, position: usize },
    #[error(
        "filter: {found} at position {position} is not a selector; write a JSON pointer such \
         as \"/item/status\" or a dotted path such as item.status"
    )]
    NotASelector { found: String, position: usize },
    #[error("filter: invalid selector {selector} at position {position}: {reason}")]
    InvalidSelector {
        selector: String,
        position: usize,
        reason: &'static str,
    },
    #[error("filter: invalid regular expression {pattern:?}: {message}")]
    InvalidRegex { pattern: String, message: String },
    #[error("filter: unbalanced parenthesis at position {position}")]
    UnbalancedParenthesis { position: usize },
    #[error(
        "filter: unexpected {found} at position {position}; expected \"and\", \"or\", \")\" \
         or the end"
    )]
    UnexpectedToken { found: String, position: usize },
    #[error(
        "filter: parentheses and \"not\" nest deeper than {limit} levels at position {position}"
    )]
    TooDeep { limit: usize, position: usize },
}

fn after_clause(after: &Option<String>) -> String {
    after
        .as_ref()
        .map_or_else(String::new, |after| format!(" after \"{after}\""))
}
