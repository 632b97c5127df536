//! Splits CESQL source into tokens, each tagged with its 0-based character position.
//!
//! Keywords are recognised case-insensitively. String literals may be `'…'` or `"…"` delimited;
//! inside them `\'` and `\"` stand for the quote, a doubled delimiter (`''` or `""`) stands for
//! one, and every other backslash pair is kept verbatim so that `LIKE` patterns still see their
//! `\%` and `\_` escapes.

use super::error::ParseError;

/// One lexical token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    LeftParen,
    RightParen,
    Comma,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
    Xor,
    Not,
    Like,
    Exists,
    In,
    True,
    False,
    /// Unsigned digits; at most 2^31 so that a leading `-` can still reach `i32::MIN`.
    Integer(u32),
    String(String),
    /// An identifier or function name, as written (`[A-Za-z0-9_]+`, not all digits).
    Word(String),
    End,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// 0-based character offset of the token's first character.
    pub position: usize,
}

/// The largest magnitude an integer literal may have: that of `i32::MIN`.
const MAX_MAGNITUDE: u32 = 1 << 31;

impl TokenKind {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        let fixed = match self {
            TokenKind::LeftParen => "'('",
            TokenKind::RightParen => "')'",
            TokenKind::Comma => "','",
            TokenKind::Plus => "'+'",
            TokenKind::Minus => "'-'",
            TokenKind::Star => "'*'",
            TokenKind::Slash => "'/'",
            TokenKind::Percent => "'%'",
            TokenKind::Equal => "'='",
            TokenKind::NotEqual => "'!='",
            TokenKind::Less => "'<'",
            TokenKind::LessOrEqual => "'<='",
            TokenKind::Greater => "'>'",
            TokenKind::GreaterOrEqual => "'>='",
            TokenKind::And => "AND",
            TokenKind::Or => "OR",
            TokenKind::Xor => "XOR",
            TokenKind::Not => "NOT",
            TokenKind::Like => "LIKE",
            TokenKind::Exists => "EXISTS",
            TokenKind::In => "IN",
            TokenKind::True => "TRUE",
            TokenKind::False => "FALSE",
            TokenKind::End => "end of expression",
            TokenKind::Integer(n) => return format!("integer {n}"),
            TokenKind::String(s) => return format!("string {s:?}"),
            TokenKind::Word(w) => return format!("identifier `{w}`"),
        };
        fixed.to_owned()
    }
}

/// Tokenizes `source`; the last token is always [`TokenKind::End`].
pub(crate) fn tokenize(source: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let next = chars.get(i + 1).copied();
        let (kind, len) = match c {
            '(' => (TokenKind::LeftParen, 1),
            ')' => (TokenKind::RightParen, 1),
            ',' => (TokenKind::Comma, 1),
            '+' => (TokenKind::Plus, 1),
            '-' => (TokenKind::Minus, 1),
            '*' => (TokenKind::Star, 1),
            '/' => (TokenKind::Slash, 1),
            '%' => (TokenKind::Percent, 1),
            '=' => (TokenKind::Equal, 1),
            '!' if next == Some('=') => (TokenKind::NotEqual, 2),
            '<' if next == Some('>') => (TokenKind::NotEqual, 2),
            '<' if next == Some('=') => (TokenKind::LessOrEqual, 2),
            '<' => (TokenKind::Less, 1),
            '>' if next == Some('=') => (TokenKind::GreaterOrEqual, 2),
            '>' => (TokenKind::Greater, 1),
            '\'' | '"' => string_literal(&chars, start)?,
            c if is_word_char(c) => word(&chars, start)?,
            '!' => {
                return Err(ParseError::new(
                    start,
                    "unexpected character '!' (did you mean '!='?)",
                ));
            }
            other => {
                return Err(ParseError::new(
                    start,
                    format!("unexpected character {other:?}"),
                ));
            }
        };
        tokens.push(Token {
            kind,
            position: start,
        });
        i = start + len;
    }
    tokens.push(Token {
        kind: TokenKind::End,
        position: chars.len(),
    });
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Lexes a keyword, integer or identifier starting at `start`; returns it and its length.
fn word(chars: &[char], start: usize) -> Result<(TokenKind, usize), ParseError> {
    let len = chars[start..]
        .iter()
        .take_while(|c| is_word_char(**c))
        .count();
    let text: String = chars[start..start + len].iter().collect();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return integer_literal(&text, start).map(|kind| (kind, len));
    }
    let keyword = [
        ("AND", TokenKind::And),
        ("OR", TokenKind::Or),
        ("XOR", TokenKind::Xor),
        ("NOT", TokenKind::Not),
        ("LIKE", TokenKind::Like),
        ("EXISTS", TokenKind::Exists),
        ("IN", TokenKind::In),
        ("TRUE", TokenKind::True),
        ("FALSE", TokenKind::False),
    ]
    .into_iter()
    .find(|(name, _)| text.eq_ignore_ascii_case(name))
    .map(|(_, kind)| kind);
    Ok((keyword.unwrap_or(TokenKind::Word(text)), len))
}

fn integer_literal(digits: &str, start: usize) -> Result<TokenKind, ParseError> {
    match digits.parse::<u32>() {
        Ok(magnitude) if magnitude <= MAX_MAGNITUDE => Ok(TokenKind::Integer(magnitude)),
        _ => Err(ParseError::new(
            start,
            format!("integer literal {digits} does not fit in a 32-bit signed integer"),
        )),
    }
}

/// Lexes a quoted string starting at the quote at `start`; returns it and its length in chars.
fn string_literal(chars: &[char], start: usize) -> Result<(TokenKind, usize), ParseError> {
    let quote = chars[start];
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i).copied() {
            None => {
                return Err(ParseError::new(
                    start,
                    format!("unterminated string literal: no closing {quote}"),
                ));
            }
            Some('\\') => match chars.get(i + 1).copied() {
                Some(escaped @ ('\'' | '"')) => {
                    value.push(escaped);
                    i += 2;
                }
                Some(other) => {
                    value.push('\\');
                    value.push(other);
                    i += 2;
                }
                None => {
                    value.push('\\');
                    i += 1;
                }
            },
            Some(c) if c == quote => {
                if chars.get(i + 1) == Some(&quote) {
                    value.push(quote);
                    i += 2;
                } else {
                    return Ok((TokenKind::String(value), i + 1 - start));
                }
            }
            Some(c) => {
                value.push(c);
                i += 1;
            }
        }
    }
}
