//! The CloudEvents SQL Expression Language (CESQL v1): parsing, type casting and evaluation of
//! expressions over an event's attributes.
//!
//! ```
//! use herald_triggers::cesql::{Attributes, Expression, Value};
//!
//! struct Event;
//! impl Attributes for Event {
//!     fn attribute(&self, name: &str) -> Option<Value> {
//!         match name {
//!             "type" => Some(Value::String("com.example.created".into())),
//!             "priority" => Some(Value::Integer(7)),
//!             _ => None,
//!         }
//!     }
//! }
//!
//! let expression = Expression::parse("type LIKE 'com.example.%' AND priority > 5").unwrap();
//! assert!(expression.matches(&Event));
//! let evaluation = Expression::parse("missing + 1").unwrap().evaluate(&Event);
//! assert_eq!(evaluation.value, Value::Integer(0));
//! assert_eq!(evaluation.errors[0].kind(), "missingAttribute");
//! ```
//!
//! Keywords, function names and attribute names are case-insensitive. Precedence follows the
//! spec's table (§3.6), which differs from SQL in two ways worth parenthesising around:
//! - `AND`, `OR` and `XOR` share one level and group left to right, so `a OR b AND c` is
//!   `(a OR b) AND c`;
//! - unary `NOT` binds tighter than every binary operator, so `NOT a = b` is `(NOT a) = b`; write
//!   `a != b`, `a NOT LIKE p`, `a NOT IN (...)` or `NOT (a = b)`.
//!
//! [`Expression::matches`] is the filter check: true only for a `true` result with no errors.

mod ast;
mod cast;
mod error;
mod eval;
mod expression;
mod functions;
mod lexer;
mod like;
mod parser;
mod value;

#[cfg(test)]
mod tests;

pub use error::{EvalError, ParseError};
pub use expression::{Evaluation, Expression};
pub use value::{Attributes, Type, Value, ValueRef};
