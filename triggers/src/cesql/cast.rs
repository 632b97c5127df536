//! CESQL type casts (spec §3.7), shared by the implicit casts operators apply to their operands
//! and the explicit `INT`, `BOOL` and `STRING` functions.
//!
//! One rule goes beyond the spec's table: an *implicit* cast from Integer to Boolean fails with a
//! cast error (the CESQL TCK requires `NOT 10` to yield `true` plus a cast error), while the
//! explicit `BOOL(10)` succeeds. Every other cast the table lists works both ways.

use std::borrow::Cow;

use super::error::EvalError;
use super::value::{Type, ValueRef};

/// Whether a cast was written by the user (`BOOL(x)`) or applied by an operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CastKind {
    Implicit,
    Explicit,
}

/// Casts to Integer: Booleans become 0 or 1, Strings are read as base-10 `i32` with an optional
/// sign. `None` when the String is not such an integer.
pub(crate) fn to_integer(value: &ValueRef<'_>) -> Option<i32> {
    match value {
        ValueRef::Integer(i) => Some(*i),
        ValueRef::Boolean(b) => Some(i32::from(*b)),
        ValueRef::String(s) => s.parse().ok(),
    }
}

/// Casts to Boolean: Strings that are `true` or `false` in any case, Integers (explicitly only)
/// by being non-zero. `None` when the cast is not defined for the value.
pub(crate) fn to_boolean(value: &ValueRef<'_>, kind: CastKind) -> Option<bool> {
    match value {
        ValueRef::Boolean(b) => Some(*b),
        ValueRef::Integer(i) => (kind == CastKind::Explicit).then_some(*i != 0),
        ValueRef::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        ValueRef::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        ValueRef::String(_) => None,
    }
}

/// Casts to String, which always succeeds: integers in base 10, booleans as `true`/`false`.
pub(crate) fn to_string(value: ValueRef<'_>) -> Cow<'_, str> {
    match value {
        ValueRef::String(s) => s,
        ValueRef::Integer(i) => Cow::Owned(i.to_string()),
        ValueRef::Boolean(true) => Cow::Borrowed("true"),
        ValueRef::Boolean(false) => Cow::Borrowed("false"),
    }
}

/// The error for a failed cast of `value` to `target`.
pub(crate) fn failure(value: &ValueRef<'_>, target: Type, kind: CastKind) -> EvalError {
    let shown = match value {
        ValueRef::String(s) => format!("{s:?}"),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Boolean(b) => b.to_string(),
    };
    let from = value.value_type();
    EvalError::Cast(match (from, target, kind) {
        (Type::Integer, Type::Boolean, CastKind::Implicit) => format!(
            "Integer {shown} is not implicitly cast to Boolean; write BOOL({shown}) to cast it"
        ),
        (Type::String, Type::Integer, _) => {
            format!("String {shown} is not a 32-bit base-10 integer")
        }
        (Type::String, Type::Boolean, _) => {
            format!("String {shown} is neither \"true\" nor \"false\"")
        }
        _ => format!("cannot cast {from} {shown} to {target}"),
    })
}
