//! Recursive descent over the tokens: `or` binds loosest, then `and`, then `not` and
//! parentheses, then one match (`selector op value`, `value in selector`, `selector is empty`).

use regex::RegexBuilder;

use super::ast::{Expr, Match, Pattern, Selector};
use super::lexer::{column, tokenize, Token, TokenKind};
use super::FilterError;

/// Deepest nesting of parentheses and `not`s accepted, so a hostile filter cannot exhaust
/// the stack.
pub const MAX_DEPTH: usize = 64;

/// Largest compiled regular expression accepted, so one filter cannot take much memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(super) fn parse(input: &str) -> Result<Expr, FilterError> {
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(FilterError::Empty);
    }
    let mut parser = Parser {
        input,
        tokens,
        next: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(token) if token.kind == TokenKind::CloseParen => {
            Err(FilterError::UnbalancedParenthesis {
                position: parser.position(&token),
            })
        }
        Some(token) => Err(parser.unexpected(token)),
    }
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    next: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).cloned()
    }

    fn bump(&mut self) -> Option<Token<'a>> {
        let token = self.peek()?;
        self.next += 1;
        Some(token)
    }

    fn bump_if_word(&mut self, keyword: &str) -> bool {
        let found = self.peek().is_some_and(|t| t.is_word(keyword));
        if found {
            self.next += 1;
        }
        found
    }

    fn position(&self, token: &Token<'_>) -> usize {
        column(self.input, token.start)
    }

    /// The position of the next token, or just past the end of the filter.
    fn next_position(&self) -> usize {
        self.tokens.get(self.next).map_or_else(
            || column(self.input, self.input.len()),
            |t| self.position(t),
        )
    }

    fn unexpected(&self, token: Token<'_>) -> FilterError {
        FilterError::UnexpectedToken {
            found: token.shown(),
            position: self.position(&token),
        }
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut any = vec![self.and()?];
        while self.bump_if_word("or") {
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Expr::Or(any)
        })
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut all = vec![self.unary()?];
        while self.bump_if_word("and") {
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Expr::And(all)
        })
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        let Some(token) = self.peek() else {
            return Err(self.expected_expression());
        };
        let opens_paren = token.kind == TokenKind::OpenParen;
        if !opens_paren && !token.is_word("not") {
            return Ok(Expr::Match(self.matching()?));
        }
        if self.depth == MAX_DEPTH {
            return Err(FilterError::TooDeep {
                limit: MAX_DEPTH,
                position: self.position(&token),
            });
        }
        self.next += 1;
        self.depth += 1;
        let inner = if opens_paren {
            self.or().and_then(|inner| match self.bump() {
                Some(close) if close.kind == TokenKind::CloseParen => Ok(inner),
                Some(other) => Err(self.unexpected(other)),
                None => Err(FilterError::UnbalancedParenthesis {
                    position: self.position(&token),
                }),
            })
        } else {
            self.unary().map(|operand| Expr::Not(Box::new(operand)))
        };
        self.depth -= 1;
        inner
    }

    fn expected_expression(&self) -> FilterError {
        FilterError::ExpectedExpression {
            after: self
                .next
                .checked_sub(1)
                .and_then(|previous| self.tokens.get(previous))
                .map(|t| t.raw.to_owned()),
            position: self.next_position(),
        }
    }

    /// One comparison; the operator decides which side is the selector.
    fn matching(&mut self) -> Result<Match, FilterError> {
        let first = match self.peek() {
            Some(t) if is_operand(&t) => t,
            _ => return Err(self.expected_expression()),
        };
        self.next += 1;
        let Some(operator) = self.bump() else {
            return Err(FilterError::ExpectedOperator {
                after: first.shown(),
                position: self.next_position(),
            });
        };
        match (operator.kind, operator.raw) {
            (TokenKind::Symbol, "==") => {
                Ok(Match::Equal(self.selector(&first)?, self.value("==")?))
            }
            (TokenKind::Symbol, "!=") => {
                Ok(Match::NotEqual(self.selector(&first)?, self.value("!=")?))
            }
            (TokenKind::Symbol, _) => Err(self.unknown_operator(&operator)),
            (TokenKind::Word, "matches") => Ok(Match::Matches(
                self.selector(&first)?,
                self.pattern("matches")?,
            )),
            (TokenKind::Word, "contains") => Ok(Match::Contains(
                self.selector(&first)?,
                self.value("contains")?,
            )),
            (TokenKind::Word, "in") => Ok(Match::In(first.value, self.selector_after("in")?)),
            (TokenKind::Word, "is") => {
                let selector = self.selector(&first)?;
                if self.bump_if_word("empty") {
                    return Ok(Match::IsEmpty(selector));
                }
                let (expected, after) = if self.bump_if_word("not") {
                    if self.bump_if_word("empty") {
                        return Ok(Match::IsNotEmpty(selector));
                    }
                    ("\"empty\"", "is not")
                } else {
                    ("\"empty\" or \"not empty\"", "is")
                };
                Err(FilterError::ExpectedKeyword {
                    expected,
                    after,
                    position: self.next_position(),
                })
            }
            (TokenKind::Word, "not") => {
                if self.bump_if_word("in") {
                    return Ok(Match::NotIn(first.value, self.selector_after("not in")?));
                }
                let selector = self.selector(&first)?;
                if self.bump_if_word("contains") {
                    Ok(Match::NotContains(selector, self.value("not contains")?))
                } else if self.bump_if_word("matches") {
                    Ok(Match::NotMatches(selector, self.pattern("not matches")?))
                } else {
                    Err(FilterError::ExpectedKeyword {
                        expected: "\"in\", \"contains\" or \"matches\"",
                        after: "not",
                        position: self.next_position(),
                    })
                }
            }
            (TokenKind::Word, "and" | "or") | (TokenKind::Quoted | TokenKind::OpenParen, _) => {
                Err(FilterError::ExpectedOperator {
                    after: first.shown(),
                    position: self.position(&operator),
                })
            }
            (TokenKind::CloseParen, _) => Err(FilterError::ExpectedOperator {
                after: first.shown(),
                position: self.position(&operator),
            }),
            (TokenKind::Word, _) => Err(self.unknown_operator(&operator)),
        }
    }

    fn unknown_operator(&self, operator: &Token<'_>) -> FilterError {
        FilterError::UnknownOperator {
            operator: operator.raw.to_owned(),
            position: self.position(operator),
        }
    }

    fn value(&mut self, after: &str) -> Result<String, FilterError> {
        match self.peek() {
            Some(token) if is_operand(&token) => {
                self.next += 1;
                Ok(token.value)
            }
            _ => Err(FilterError::ExpectedValue {
                after: after.to_owned(),
                position: self.next_position(),
            }),
        }
    }

    fn pattern(&mut self, after: &str) -> Result<Pattern, FilterError> {
        let source = self.value(after)?;
        match RegexBuilder::new(&source)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(regex) => Ok(Pattern { source, regex }),
            Err(error) => Err(FilterError::InvalidRegex {
                message: regex_problem(&error),
                pattern: source,
            }),
        }
    }

    fn selector_after(&mut self, after: &str) -> Result<Selector, FilterError> {
        match self.peek() {
            Some(token) if is_operand(&token) => {
                self.next += 1;
                self.selector(&token)
            }
            _ => Err(FilterError::ExpectedSelector {
                after: after.to_owned(),
                position: self.next_position(),
            }),
        }
    }

    /// A quoted or bare JSON pointer (`"/item/status"`, `/item/status`) or a dotted path
    /// (`item.status`, `item.connections.0.bytes_up`).
    fn selector(&self, token: &Token<'_>) -> Result<Selector, FilterError> {
        let invalid = |reason| FilterError::InvalidSelector {
            selector: token.shown(),
            position: self.position(token),
            reason,
        };
        let text = token.value.as_str();
        if let Some(pointer) = text.strip_prefix('/') {
            return pointer
                .split('/')
                .map(unescape_pointer_segment)
                .collect::<Option<Vec<_>>>()
                .map(Selector)
                .ok_or_else(|| invalid("\"~\" must be followed by 0 or 1"));
        }
        let dotted =
            token.kind == TokenKind::Word && text.starts_with(|c: char| c.is_ascii_alphabetic());
        if !dotted {
            return Err(FilterError::NotASelector {
                found: token.shown(),
                position: self.position(token),
            });
        }
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(invalid("a dotted selector cannot have an empty part"));
        }
        Ok(Selector(segments))
    }
}

/// Strings, bare words and numbers; not keywords that join expressions.
fn is_operand(token: &Token<'_>) -> bool {
    match token.kind {
        TokenKind::Quoted => true,
        TokenKind::Word => !matches!(token.raw, "and" | "or" | "not"),
        TokenKind::OpenParen | TokenKind::CloseParen | TokenKind::Symbol => false,
    }
}

/// RFC 6901: `~1` is `/`, `~0` is `~`, any other `~` is malformed.
fn unescape_pointer_segment(segment: &str) -> Option<String> {
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next()? {
                '0' => out.push('~'),
                '1' => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The regex crate's message spans several lines (pattern, caret, error); an API error wants
/// the one line that says what is wrong.
fn regex_problem(error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(text) => text
            .lines()
            .find_map(|line| line.trim().strip_prefix("error: "))
            .map_or_else(
                || text.split_whitespace().collect::<Vec<_>>().join(" "),
                str::to_owned,
            ),
        regex::Error::CompiledTooBig(limit) => {
            format!("it compiles to more than {limit} bytes")
        }
        other => other.to_string(),
    }
}
