//! Splits a filter into tokens: parentheses, quoted strings (already unescaped), bare words
//! (selectors, numbers, keywords, unquoted values) and operator symbols (`==`, `!=`, and
//! whatever else a user typed in their place, so the parser can name it).

use super::FilterError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    OpenParen,
    CloseParen,
    /// A `"..."` or `` `...` `` string; its unescaped text is in `Token::value`.
    Quoted,
    /// A run of characters up to whitespace, a parenthesis, a quote or an operator symbol.
    Word,
    /// A run of `=`, `!`, `<`, `>` (and `~`, after the first, for `=~`).
    Symbol,
}

#[derive(Debug, Clone)]
pub(super) struct Token<'a> {
    pub(super) kind: TokenKind,
    /// Byte offset of the token's first character in the filter.
    pub(super) start: usize,
    /// The token exactly as written.
    pub(super) raw: &'a str,
    /// The unescaped text of a quoted string; the raw text otherwise.
    pub(super) value: String,
}

impl Token<'_> {
    pub(super) fn is_word(&self, keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.raw == keyword
    }

    /// The token as an error message shows it: quoted strings as written, the rest in quotes.
    pub(super) fn shown(&self) -> String {
        match self.kind {
            TokenKind::Quoted => self.raw.to_owned(),
            _ => format!("\"{}\"", self.raw),
        }
    }
}

/// The "position" every error names: how many characters precede the byte offset.
pub(super) fn column(input: &str, byte: usize) -> usize {
    input.get(..byte).map_or(0, |before| before.chars().count())
}

/// Starts an operator symbol. `~` only continues one, since unquoted JSON pointers use it.
fn is_symbol(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>')
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"' | '`') || is_symbol(c)
}

pub(super) fn tokenize(input: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let (kind, end, value) = match c {
            '(' | ')' => {
                chars.next();
                let kind = if c == '(' {
                    TokenKind::OpenParen
                } else {
                    TokenKind::CloseParen
                };
                (kind, start + 1, None)
            }
            '"' | '`' => {
                let (end, value) = quoted(input, start, c)?;
                while chars.peek().is_some_and(|&(at, _)| at < end) {
                    chars.next();
                }
                (TokenKind::Quoted, end, Some(value))
            }
            _ => {
                let symbol = is_symbol(c);
                let mut end = start;
                while let Some(&(at, next)) = chars.peek() {
                    let same_run = if symbol {
                        is_symbol(next) || next == '~'
                    } else {
                        !ends_word(next)
                    };
                    if !same_run {
                        break;
                    }
                    end = at + next.len_utf8();
                    chars.next();
                }
                let kind = if symbol {
                    TokenKind::Symbol
                } else {
                    TokenKind::Word
                };
                (kind, end, None)
            }
        };
        let raw = &input[start..end];
        tokens.push(Token {
            kind,
            start,
            raw,
            value: value.unwrap_or_else(|| raw.to_owned()),
        });
    }
    Ok(tokens)
}

/// Reads the string opening at `start` with `quote`; returns the byte offset just past its
/// closing quote and its text. Backtick strings are raw; double-quoted strings take Go's
/// escapes (`\"`, `\\`, `\n`, `\t`, `\r`, `\a`, `\b`, `\f`, `\v`, `\xHH` (ASCII), `\uHHHH`,
/// `\UHHHHHHHH`). Any other backslash is kept as written, so a regular expression such as
/// `"^s_\d+"` means what its author meant instead of failing.
fn quoted(input: &str, start: usize, quote: char) -> Result<(usize, String), FilterError> {
    let body_start = start + quote.len_utf8();
    let unterminated = || FilterError::UnterminatedString {
        position: column(input, start),
    };
    let body = &input[body_start..];
    if quote == '`' {
        let close = body.find('`').ok_or_else(unterminated)?;
        return Ok((body_start + close + 1, body[..close].to_owned()));
    }
    let mut text = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((body_start + at + 1, text)),
            '\\' => {
                let Some((_, escaped)) = chars.next() else {
                    return Err(unterminated());
                };
                let simple = match escaped {
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    'n' => Some('\n'),
                    't' => Some('\t'),
                    'r' => Some('\r'),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'v' => Some('\u{b}'),
                    _ => None,
                };
                if let Some(simple) = simple {
                    text.push(simple);
                    continue;
                }
                let digits = match escaped {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    _ => {
                        text.push('\\');
                        text.push(escaped);
                        continue;
                    }
                };
                let hex_start = body_start + at + 2;
                let hex = input
                    .get(hex_start..)
                    .and_then(|rest| rest.get(..digits))
                    .filter(|hex| hex.chars().all(|h| h.is_ascii_hexdigit()));
                let decoded = hex
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .filter(|&code| escaped != 'x' || code < 0x80)
                    .and_then(char::from_u32);
                let Some(decoded) = decoded else {
                    let shown_end = input[hex_start..]
                        .char_indices()
                        .take_while(|&(i, h)| i < digits && h != '"')
                        .last()
                        .map_or(hex_start, |(i, h)| hex_start + i + h.len_utf8());
                    return Err(FilterError::InvalidEscape {
                        escape: input[body_start + at..shown_end].to_owned(),
                        position: column(input, body_start + at),
                    });
                };
                text.push(decoded);
                for _ in 0..digits {
                    chars.next();
                }
            }
            _ => text.push(c),
        }
    }
    Err(unterminated())
}

/// Writes `text` as a double-quoted string the lexer reads back to the same text.
pub(super) fn write_quoted(out: &mut std::fmt::Formatter<'_>, text: &str) -> std::fmt::Result {
    use std::fmt::Write;
    out.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\t' => out.write_str("\\t")?,
            '\r' => out.write_str("\\r")?,
            c if c.is_control() => write!(out, "\\U{:08x}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}
