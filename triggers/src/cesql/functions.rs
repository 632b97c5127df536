//! CESQL's built-in functions (spec §3.5 and the casting functions the TCK exercises), resolved by
//! name (case-insensitively) and arity when an expression is parsed.

use std::borrow::Cow;
use std::ops::Range;

use super::ast::Node;
use super::cast::{self, CastKind};
use super::error::EvalError;
use super::eval::Evaluator;
use super::value::{Type, ValueRef};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Function {
    /// `CONCAT(x1, ...): String^n -> String`
    Concat,
    /// `CONCAT_WS(delimiter, x1, ...): String x String^n -> String`
    ConcatWs,
    Fixed(Fixed),
}

/// The functions of fixed arity, all taking at most [`MAX_FIXED_ARITY`] arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fixed {
    /// `LENGTH(x): String -> Integer`
    Length,
    /// `LOWER(x): String -> String`
    Lower,
    /// `UPPER(x): String -> String`
    Upper,
    /// `TRIM(x): String -> String`
    Trim,
    /// `LEFT(x, y): String x Integer -> String`
    Left,
    /// `RIGHT(x, y): String x Integer -> String`
    Right,
    /// `SUBSTRING(x, pos): String x Integer -> String`
    Substring,
    /// `SUBSTRING(x, pos, len): String x Integer x Integer -> String`
    SubstringLength,
    /// `ABS(x): Integer -> Integer`
    Abs,
    /// `INT(x): Any -> Integer`
    Int,
    /// `BOOL(x): Any -> Boolean`
    Bool,
    /// `STRING(x): Any -> String`
    String,
}

const MAX_FIXED_ARITY: usize = 3;

impl Function {
    /// The built-in `name` (any case) taking `arity` arguments, if there is one.
    pub(crate) fn resolve(name: &str, arity: usize) -> Option<Function> {
        let fixed = match (name.to_ascii_uppercase().as_str(), arity) {
            ("CONCAT", _) => return Some(Function::Concat),
            ("CONCAT_WS", 1..) => return Some(Function::ConcatWs),
            ("LENGTH", 1) => Fixed::Length,
            ("LOWER", 1) => Fixed::Lower,
            ("UPPER", 1) => Fixed::Upper,
            ("TRIM", 1) => Fixed::Trim,
            ("LEFT", 2) => Fixed::Left,
            ("RIGHT", 2) => Fixed::Right,
            ("SUBSTRING", 2) => Fixed::Substring,
            ("SUBSTRING", 3) => Fixed::SubstringLength,
            ("ABS", 1) => Fixed::Abs,
            ("INT", 1) => Fixed::Int,
            ("BOOL", 1) => Fixed::Bool,
            ("STRING", 1) => Fixed::String,
            _ => return None,
        };
        Some(Function::Fixed(fixed))
    }
}

impl Fixed {
    fn return_type(self) -> Type {
        match self {
            Fixed::Length | Fixed::Abs | Fixed::Int => Type::Integer,
            Fixed::Bool => Type::Boolean,
            _ => Type::String,
        }
    }
}

impl<'a> Evaluator<'a> {
    /// Calls `function`; when an argument raised an error, returns the function's zero value.
    pub(super) fn call(&mut self, function: Function, args: &'a [Node]) -> ValueRef<'a> {
        match function {
            Function::Concat => self.concat(None, args),
            Function::ConcatWs => match args.split_first() {
                Some((delimiter, items)) => self.concat(Some(delimiter), items),
                None => Type::String.zero(),
            },
            Function::Fixed(function) => {
                // Unused argument slots stay `false`.
                let mut slots: [ValueRef<'a>; MAX_FIXED_ARITY] =
                    std::array::from_fn(|_| Type::Boolean.zero());
                let mut failed = false;
                for (slot, arg) in slots.iter_mut().zip(args) {
                    match self.operand(arg) {
                        Some(value) => *slot = value,
                        None => failed = true,
                    }
                }
                if failed {
                    return function.return_type().zero();
                }
                let [x, y, z] = slots;
                self.apply(function, x, y, z)
            }
        }
    }

    fn apply(
        &mut self,
        function: Fixed,
        x: ValueRef<'a>,
        y: ValueRef<'a>,
        z: ValueRef<'a>,
    ) -> ValueRef<'a> {
        let text = match function {
            Fixed::Abs => {
                let i = self.integer(x);
                return ValueRef::Integer(i.checked_abs().unwrap_or_else(|| {
                    self.raise(|| EvalError::Math(format!("ABS({i}) overflows an Integer")));
                    i32::MAX
                }));
            }
            Fixed::Int => return ValueRef::Integer(self.integer(x)),
            Fixed::Bool => return ValueRef::Boolean(self.boolean_cast(x, CastKind::Explicit)),
            Fixed::Length => {
                let length = cast::to_string(x).chars().count();
                return ValueRef::Integer(i32::try_from(length).unwrap_or(i32::MAX));
            }
            Fixed::String => cast::to_string(x),
            Fixed::Lower => Cow::Owned(cast::to_string(x).to_lowercase()),
            Fixed::Upper => Cow::Owned(cast::to_string(x).to_uppercase()),
            Fixed::Trim => {
                let s = cast::to_string(x);
                let trimmed = s.trim_start();
                let start = s.len() - trimmed.len();
                let end = start + trimmed.trim_end().len();
                slice(s, start..end)
            }
            Fixed::Left | Fixed::Right => {
                let (s, count) = (cast::to_string(x), self.integer(y));
                self.left_or_right(function, s, count)
            }
            Fixed::Substring | Fixed::SubstringLength => {
                let (s, position) = (cast::to_string(x), self.integer(y));
                let length = (function == Fixed::SubstringLength).then(|| self.integer(z));
                self.substring(s, position, length)
            }
        };
        ValueRef::String(text)
    }

    /// `CONCAT(items...)`, or `CONCAT_WS(delimiter, items...)` when there is a delimiter.
    fn concat(&mut self, delimiter: Option<&'a Node>, items: &'a [Node]) -> ValueRef<'a> {
        let delimiter = delimiter.map(|node| self.operand(node).map(cast::to_string));
        let mut failed = matches!(delimiter, Some(None));
        let mut joined = String::new();
        for (i, item) in items.iter().enumerate() {
            let Some(value) = self.operand(item) else {
                failed = true;
                continue;
            };
            if i > 0
                && let Some(Some(delimiter)) = &delimiter
            {
                joined.push_str(delimiter);
            }
            joined.push_str(&cast::to_string(value));
        }
        if failed {
            return Type::String.zero();
        }
        ValueRef::String(Cow::Owned(joined))
    }

    /// `LEFT(s, count)` or `RIGHT(s, count)`: `s` itself when `count` is negative (with an error)
    /// or covers the whole string.
    fn left_or_right(&mut self, function: Fixed, s: Cow<'a, str>, count: i32) -> Cow<'a, str> {
        let left = function == Fixed::Left;
        let Ok(count) = usize::try_from(count) else {
            self.raise(|| {
                let name = if left { "LEFT" } else { "RIGHT" };
                EvalError::FunctionEvaluation(format!("{name} was given a negative length {count}"))
            });
            return s;
        };
        let length = s.chars().count();
        if count >= length {
            return s;
        }
        let range = if left {
            0..byte_offset(&s, count)
        } else {
            byte_offset(&s, length - count)..s.len()
        };
        slice(s, range)
    }

    /// `SUBSTRING(s, position[, length])` with 1-based positions; negative positions count
    /// from the end, and position 0 gives the empty string.
    fn substring(&mut self, s: Cow<'a, str>, position: i32, length: Option<i32>) -> Cow<'a, str> {
        let chars = s.chars().count();
        let count = i64::try_from(chars).unwrap_or(i64::MAX);
        let position = i64::from(position);
        if position > count || position < -count {
            self.raise(|| {
                EvalError::FunctionEvaluation(format!(
                    "SUBSTRING position {position} is outside a string of {count} characters"
                ))
            });
            return Cow::Borrowed("");
        }
        if let Some(length) = length.filter(|l| *l < 0) {
            self.raise(|| {
                EvalError::FunctionEvaluation(format!(
                    "SUBSTRING was given a negative length {length}"
                ))
            });
            return Cow::Borrowed("");
        }
        if position == 0 {
            return Cow::Borrowed("");
        }
        // 0-based index of the first character; in 0..count given the range check above.
        let start = if position > 0 {
            position - 1
        } else {
            count + position
        };
        let start = usize::try_from(start).unwrap_or(0);
        let end = match length.map(usize::try_from) {
            Some(Ok(length)) => start.saturating_add(length).min(chars),
            _ => chars,
        };
        let range = byte_offset(&s, start)..byte_offset(&s, end);
        slice(s, range)
    }
}

/// The byte offset of the character at index `chars` (the length when past the end).
fn byte_offset(s: &str, chars: usize) -> usize {
    s.char_indices().nth(chars).map_or(s.len(), |(at, _)| at)
}

/// The `range` bytes of `s`, still borrowed when `s` was.
fn slice(s: Cow<'_, str>, range: Range<usize>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[range]),
        Cow::Owned(o) if range == (0..o.len()) => Cow::Owned(o),
        Cow::Owned(o) => Cow::Owned(o[range].to_owned()),
    }
}
