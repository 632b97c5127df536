//! Evaluates a parsed expression against an event.
//!
//! Errors never stop evaluation (spec §3.3): each is recorded and the failing step yields a
//! value. Errors are kept apart by where they arise:
//! - an operator or function whose *operand* raised an error (a missing attribute, a division
//!   by zero further down, ...) returns the zero value of its own return type without computing
//!   anything: `1 / missing` is `0` with only a missing-attribute error, and
//!   `true AND (1 != 1 / 0)` is `false`;
//! - an error an operator or function raises *itself* (a failed implicit cast of an operand,
//!   division by zero, overflow, a rejected function argument) comes with the value the spec
//!   defines for it, and the operator carries on with that: `NOT 10` is `true` plus a cast error.
//!
//! `AND` skips its right operand when the left is `false` and `OR` when the left is `true`; both
//! skip it when the left operand failed, since their result is then `false` either way.

use super::ast::{ArithmeticOp, BinaryOp, LogicalOp, Node};
use super::cast::{self, CastKind};
use super::error::EvalError;
use super::value::{Attributes, Type, ValueRef};

pub(crate) struct Evaluator<'a> {
    event: &'a dyn Attributes,
    /// How many errors have been raised so far; an operand raised one when this moved.
    raised: usize,
    /// The raised errors, when the caller wants them rather than just their count.
    errors: Option<Vec<EvalError>>,
}

impl<'a> Evaluator<'a> {
    /// An evaluator that keeps every error it raises.
    pub(crate) fn collecting(event: &'a dyn Attributes) -> Self {
        Evaluator {
            event,
            raised: 0,
            errors: Some(Vec::new()),
        }
    }

    /// An evaluator that only counts errors, never building their messages.
    pub(crate) fn counting(event: &'a dyn Attributes) -> Self {
        Evaluator {
            event,
            raised: 0,
            errors: None,
        }
    }

    pub(crate) fn raised_any(&self) -> bool {
        self.raised > 0
    }

    pub(crate) fn into_errors(self) -> Vec<EvalError> {
        self.errors.unwrap_or_default()
    }

    /// Records an error; `error` only runs when errors are being kept.
    pub(super) fn raise(&mut self, error: impl FnOnce() -> EvalError) {
        self.raised += 1;
        if let Some(errors) = &mut self.errors {
            errors.push(error());
        }
    }

    /// Evaluates `node` as an operand: `None` when its evaluation raised an error.
    pub(super) fn operand(&mut self, node: &'a Node) -> Option<ValueRef<'a>> {
        let before = self.raised;
        let value = self.eval(node);
        (self.raised == before).then_some(value)
    }

    pub(crate) fn eval(&mut self, node: &'a Node) -> ValueRef<'a> {
        match node {
            Node::Literal(value) => value.as_value_ref(),
            Node::Attribute(name) => match self.event.attribute_ref(name) {
                Some(value) => value,
                None => {
                    self.raise(|| EvalError::MissingAttribute(name.to_string()));
                    // Whatever contains the reference returns its own zero value; on its own, a
                    // reference has no known type, and the spec says to assume Boolean.
                    Type::Boolean.zero()
                }
            },
            Node::Exists(name) => ValueRef::Boolean(self.event.attribute_ref(name).is_some()),
            Node::Not(operand) => match self.operand(operand) {
                Some(value) => ValueRef::Boolean(!self.boolean(value)),
                None => Type::Boolean.zero(),
            },
            Node::Negate(operand) => match self.operand(operand) {
                Some(value) => {
                    let i = self.integer(value);
                    ValueRef::Integer(i.checked_neg().unwrap_or_else(|| {
                        self.raise(|| EvalError::Math(format!("-({i}) overflows an Integer")));
                        i32::MAX
                    }))
                }
                None => Type::Integer.zero(),
            },
            Node::Binary { op, left, right } => self.binary(*op, left, right),
            Node::Logical { first, rest } => self.logical(first, rest),
            Node::Like {
                operand,
                pattern,
                negated,
            } => match self.operand(operand) {
                Some(value) => {
                    ValueRef::Boolean(pattern.matches(&cast::to_string(value)) != *negated)
                }
                None => Type::Boolean.zero(),
            },
            Node::In {
                operand,
                set,
                negated,
            } => self.in_set(operand, set, *negated),
            Node::Call { function, args } => self.call(*function, args),
            Node::MissingFunction(call) => {
                self.raise(|| EvalError::MissingFunction(call.to_string()));
                Type::Boolean.zero()
            }
        }
    }

    fn binary(&mut self, op: BinaryOp, left: &'a Node, right: &'a Node) -> ValueRef<'a> {
        let (l, r) = (self.operand(left), self.operand(right));
        let (Some(l), Some(r)) = (l, r) else {
            return op.result_type().zero();
        };
        match op {
            BinaryOp::Equal => ValueRef::Boolean(self.equal(l, &r)),
            BinaryOp::NotEqual => ValueRef::Boolean(!self.equal(l, &r)),
            BinaryOp::Order(order) => {
                let (x, y) = (self.integer(l), self.integer(r));
                ValueRef::Boolean(order.holds(x.cmp(&y)))
            }
            BinaryOp::Arithmetic(arithmetic) => {
                let (x, y) = (self.integer(l), self.integer(r));
                ValueRef::Integer(self.arithmetic(arithmetic, x, y))
            }
        }
    }

    /// Evaluates `first op1 n1 op2 n2 ...` as `((first op1 n1) op2 n2) ...`. Once anything in
    /// the chain so far raised an error, each further step's left operand counts as failed.
    fn logical(&mut self, first: &'a Node, rest: &'a [(LogicalOp, Node)]) -> ValueRef<'a> {
        let start = self.raised;
        let mut left = self.eval(first);
        for (op, right) in rest {
            let left_failed = self.raised != start;
            let result = match op {
                LogicalOp::And => {
                    !left_failed
                        && self.boolean(left)
                        && self.operand(right).is_some_and(|r| self.boolean(r))
                }
                LogicalOp::Or => {
                    !left_failed
                        && (self.boolean(left)
                            || self.operand(right).is_some_and(|r| self.boolean(r)))
                }
                LogicalOp::Xor => match self.operand(right) {
                    Some(r) if !left_failed => self.boolean(left) ^ self.boolean(r),
                    _ => false,
                },
            };
            left = ValueRef::Boolean(result);
        }
        left
    }

    /// `=` is overloaded for every type: the right operand's type picks the overload and the
    /// left operand is cast to it (spec §3.7).
    fn equal(&mut self, left: ValueRef<'a>, right: &ValueRef<'a>) -> bool {
        self.cast(left, right.value_type()) == *right
    }

    /// Integer arithmetic; division truncates toward zero and the remainder takes the sign of
    /// `x`. Division by zero gives 0 and overflow the saturated result, each with a math error.
    fn arithmetic(&mut self, op: ArithmeticOp, x: i32, y: i32) -> i32 {
        let (exact, saturated) = match op {
            ArithmeticOp::Divide | ArithmeticOp::Modulo if y == 0 => {
                self.raise(|| EvalError::Math(format!("{x} {} 0 divides by zero", op.symbol())));
                return 0;
            }
            // Only i32::MIN % -1 wraps, and its remainder, 0, is exact.
            ArithmeticOp::Modulo => return x.wrapping_rem(y),
            // Only i32::MIN / -1 overflows.
            ArithmeticOp::Divide => (x.checked_div(y), i32::MAX),
            ArithmeticOp::Multiply => (x.checked_mul(y), x.saturating_mul(y)),
            ArithmeticOp::Add => (x.checked_add(y), x.saturating_add(y)),
            ArithmeticOp::Subtract => (x.checked_sub(y), x.saturating_sub(y)),
        };
        exact.unwrap_or_else(|| {
            self.raise(|| EvalError::Math(format!("{x} {} {y} overflows an Integer", op.symbol())));
            saturated
        })
    }

    /// `x IN (y1, y2, ...)`: each element is cast to the type of `x` and compared as by `=`.
    /// Every element is evaluated, so all of their errors are reported.
    fn in_set(&mut self, operand: &'a Node, set: &'a [Node], negated: bool) -> ValueRef<'a> {
        let left = self.operand(operand);
        let mut operand_failed = left.is_none();
        let mut found = false;
        for item in set {
            let Some(value) = self.operand(item) else {
                operand_failed = true;
                continue;
            };
            if let Some(left) = &left {
                found |= self.cast(value, left.value_type()) == *left;
            }
        }
        if operand_failed {
            return Type::Boolean.zero();
        }
        ValueRef::Boolean(found != negated)
    }

    /// Implicit cast to `target`; on failure raises a cast error and yields the zero value.
    fn cast(&mut self, value: ValueRef<'a>, target: Type) -> ValueRef<'a> {
        match target {
            Type::String => ValueRef::String(cast::to_string(value)),
            Type::Integer => ValueRef::Integer(self.integer(value)),
            Type::Boolean => ValueRef::Boolean(self.boolean(value)),
        }
    }

    /// Implicit cast to Integer.
    pub(super) fn integer(&mut self, value: ValueRef<'a>) -> i32 {
        cast::to_integer(&value).unwrap_or_else(|| {
            self.raise(|| cast::failure(&value, Type::Integer, CastKind::Implicit));
            0
        })
    }

    /// Implicit cast to Boolean.
    fn boolean(&mut self, value: ValueRef<'a>) -> bool {
        self.boolean_cast(value, CastKind::Implicit)
    }

    pub(super) fn boolean_cast(&mut self, value: ValueRef<'a>, kind: CastKind) -> bool {
        cast::to_boolean(&value, kind).unwrap_or_else(|| {
            self.raise(|| cast::failure(&value, Type::Boolean, kind));
            false
        })
    }
}
