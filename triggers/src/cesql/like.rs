//! `LIKE` patterns, compiled once at parse time.
//!
//! `%` matches any run of characters, `_` exactly one character, `\%` and `\_` the literal
//! character; any other backslash is an ordinary character. A pattern is split at its `%`s into
//! pieces; each piece is a run of literal text separated by single-character wildcards. The first
//! piece must match at the start, the last at the end, and the ones between, in order, anywhere
//! in between: leftmost matches suffice because every piece matches a fixed number of characters.

/// A compiled `LIKE` pattern.
#[derive(Clone, Debug)]
pub(crate) struct LikePattern {
    /// The text before the first `%` (the whole pattern when it has no `%`).
    first: Piece,
    /// When the pattern has a `%`: the pieces between `%`s, and the piece after the last one.
    rest: Option<(Vec<Piece>, Piece)>,
}

/// Literal segments with exactly one character matched by `_` between consecutive segments.
#[derive(Clone, Debug)]
struct Piece {
    segments: Vec<String>,
}

impl LikePattern {
    pub(crate) fn compile(pattern: &str) -> LikePattern {
        let mut first: Option<Piece> = None;
        let mut middle = Vec::new();
        let mut current = Piece::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if matches!(chars.peek(), Some('%' | '_')) => {
                    if let Some(escaped) = chars.next() {
                        current.push_char(escaped);
                    }
                }
                '%' => {
                    let finished = std::mem::replace(&mut current, Piece::new());
                    match first {
                        None => first = Some(finished),
                        Some(_) => middle.push(finished),
                    }
                }
                '_' => current.segments.push(String::new()),
                other => current.push_char(other),
            }
        }
        match first {
            None => LikePattern {
                first: current,
                rest: None,
            },
            Some(first) => LikePattern {
                first,
                rest: Some((middle, current)),
            },
        }
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        let Some(after_first) = self.first.match_prefix(text) else {
            return false;
        };
        let rest = &text[after_first..];
        let Some((middle, last)) = &self.rest else {
            return rest.is_empty();
        };
        let Some(last_start) = last.match_suffix(rest) else {
            return false;
        };
        let mut window = &rest[..last_start];
        let Some((final_piece, leading)) = middle.split_last() else {
            return true;
        };
        for piece in leading {
            match piece.find(window) {
                Some(end) => window = &window[end..],
                None => return false,
            }
        }
        final_piece.occurs_in(window)
    }
}

impl Piece {
    fn new() -> Piece {
        Piece {
            segments: vec![String::new()],
        }
    }

    fn push_char(&mut self, c: char) {
        if let Some(segment) = self.segments.last_mut() {
            segment.push(c);
        }
    }

    /// If `text` starts with this piece, the byte length of the match.
    fn match_prefix(&self, text: &str) -> Option<usize> {
        let mut rest = text;
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                rest = skip_first_char(rest)?;
            }
            if !segment.is_empty() {
                rest = rest.strip_prefix(segment.as_str())?;
            }
        }
        Some(text.len() - rest.len())
    }

    /// If `text` ends with this piece, the byte offset where the match starts.
    fn match_suffix(&self, text: &str) -> Option<usize> {
        let mut rest = text;
        for (i, segment) in self.segments.iter().rev().enumerate() {
            if i > 0 {
                rest = skip_last_char(rest)?;
            }
            if !segment.is_empty() {
                rest = rest.strip_suffix(segment.as_str())?;
            }
        }
        Some(rest.len())
    }

    /// Whether this piece matches anywhere in `text`; for plain text, uses the standard
    /// library's containment check, which is much faster than locating the match.
    fn occurs_in(&self, text: &str) -> bool {
        match self.segments.as_slice() {
            [literal] => text.contains(literal.as_str()),
            _ => self.find(text).is_some(),
        }
    }

    /// The byte offset just past the leftmost match of this piece in `text`.
    fn find(&self, text: &str) -> Option<usize> {
        if let [literal] = self.segments.as_slice() {
            return text
                .find(literal.as_str())
                .map(|start| start + literal.len());
        }
        text.char_indices()
            .map(|(start, _)| start)
            .chain(std::iter::once(text.len()))
            .find_map(|start| {
                self.match_prefix(&text[start..])
                    .map(|length| start + length)
            })
    }
}

fn skip_first_char(text: &str) -> Option<&str> {
    let c = text.chars().next()?;
    Some(&text[c.len_utf8()..])
}

fn skip_last_char(text: &str) -> Option<&str> {
    let c = text.chars().next_back()?;
    Some(&text[..text.len() - c.len_utf8()])
}

#[cfg(test)]
mod tests {
    use super::LikePattern;

    fn like(text: &str, pattern: &str) -> bool {
        LikePattern::compile(pattern).matches(text)
    }

    #[test]
    fn exact_patterns_match_only_the_whole_text() {
        assert!(like("abc", "abc"));
        assert!(!like("abcd", "abc"));
        assert!(!like("ab", "abc"));
        assert!(like("", ""));
        assert!(!like("a", ""));
    }

    #[test]
    fn percent_matches_any_run_including_empty() {
        assert!(like("", "%"));
        assert!(like("anything", "%"));
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "%b%"));
        assert!(like("ac", "a%c"));
        assert!(!like("ab", "a%c"));
        assert!(like("xaxbxc", "%a%b%c"));
        assert!(!like("cba", "%a%b%c%"));
        assert!(like("aa", "a%a"));
        assert!(!like("a", "a%a"), "prefix and suffix must not overlap");
        assert!(like("abc", "%%%abc%%"));
    }

    #[test]
    fn underscore_matches_exactly_one_character() {
        assert!(like("abc", "a_c"));
        assert!(!like("ac", "a_c"));
        assert!(!like("abbc", "a_c"));
        assert!(like("héllo", "h_llo"), "one character, not one byte");
        assert!(like("ab", "__"));
        assert!(!like("abc", "__"));
        assert!(like("xxaybzz", "%a_b%"));
        assert!(like("aXbaYb", "%a_b"));
        assert!(!like("aXbaYbc", "%a_b"));
    }

    #[test]
    fn escapes_make_wildcards_literal() {
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        assert!(
            like("a\\b", "a\\b"),
            "a backslash before another character is literal"
        );
        assert!(like("ends\\", "ends\\"));
    }

    #[test]
    fn non_ascii_text_is_sliced_on_character_boundaries() {
        assert!(like("日本語", "_本_"));
        assert!(like("日本語", "%語"));
        assert!(!like("日本語", "%本"));
        assert!(like("ünïcödé", "%_c_%"));
    }
}
