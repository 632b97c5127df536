//! [`Expression`]: a CESQL expression parsed once and evaluated against many events.

use std::fmt;
use std::str::FromStr;

use super::ast::{BinaryOp, LogicalOp, Node};
use super::error::{EvalError, ParseError};
use super::eval::Evaluator;
use super::parser;
use super::value::{Attributes, Value, ValueRef};

/// A parsed CESQL expression.
#[derive(Clone, Debug)]
pub struct Expression {
    source: String,
    root: Node,
}

/// The outcome of evaluating an expression: its value, and every error raised on the way
/// (evaluation carries on past errors with zero values, so both are always present).
#[derive(Debug)]
pub struct Evaluation {
    pub value: Value,
    pub errors: Vec<EvalError>,
}

impl Expression {
    /// Parses `source`, resolving attribute names, functions and `LIKE` patterns up front.
    pub fn parse(source: &str) -> Result<Expression, ParseError> {
        Ok(Expression {
            source: source.to_owned(),
            root: parser::parse(source)?,
        })
    }

    /// The text the expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The event type the expression requires, when it can only be true for events whose `type`
    /// equals one literal: a top-level `type = 'x'` (either side), alone or ANDed with anything.
    /// The dispatcher indexes such expressions by type instead of evaluating them for every event.
    pub fn required_type(&self) -> Option<&str> {
        fn type_equality(node: &Node) -> Option<&str> {
            let Node::Binary {
                op: BinaryOp::Equal,
                left,
                right,
            } = node
            else {
                return None;
            };
            match (left.as_ref(), right.as_ref()) {
                (Node::Attribute(name), Node::Literal(Value::String(ty)))
                | (Node::Literal(Value::String(ty)), Node::Attribute(name))
                    if name.as_ref() == "type" =>
                {
                    Some(ty.as_str())
                }
                _ => None,
            }
        }
        match &self.root {
            Node::Logical { first, rest } if rest.iter().all(|(op, _)| *op == LogicalOp::And) => {
                std::iter::once(first.as_ref())
                    .chain(rest.iter().map(|(_, node)| node))
                    .find_map(type_equality)
            }
            node => type_equality(node),
        }
    }

    /// Evaluates the expression against `event`, collecting every error.
    pub fn evaluate(&self, event: &dyn Attributes) -> Evaluation {
        let mut evaluator = Evaluator::collecting(event);
        let value = evaluator.eval(&self.root).into_owned();
        Evaluation {
            value,
            errors: evaluator.into_errors(),
        }
    }

    /// True only when the result is Boolean(true) and evaluation raised no error: whether an
    /// event passes the expression used as a filter. Builds no error messages.
    pub fn matches(&self, event: &dyn Attributes) -> bool {
        let mut evaluator = Evaluator::counting(event);
        let value = evaluator.eval(&self.root);
        !evaluator.raised_any() && value == ValueRef::Boolean(true)
    }
}

impl FromStr for Expression {
    type Err = ParseError;

    fn from_str(source: &str) -> Result<Self, Self::Err> {
        Expression::parse(source)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
