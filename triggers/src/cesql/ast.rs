//! The parsed form of a CESQL expression: a tree whose attribute names, functions and `LIKE`
//! patterns were all resolved when it was parsed.

use std::cmp::Ordering;

use super::functions::Function;
use super::like::LikePattern;
use super::value::{Type, Value};

#[derive(Clone, Debug)]
pub(crate) enum Node {
    Literal(Value),
    /// An attribute reference; the name is lowercased.
    Attribute(Box<str>),
    /// `EXISTS name`; the name is lowercased.
    Exists(Box<str>),
    Not(Box<Node>),
    Negate(Box<Node>),
    Binary {
        op: BinaryOp,
        left: Box<Node>,
        right: Box<Node>,
    },
    /// A left-to-right chain of `AND`, `OR` and `XOR` (which share one precedence level), kept
    /// flat so that long chains don't make the tree deep.
    Logical {
        first: Box<Node>,
        rest: Box<[(LogicalOp, Node)]>,
    },
    Like {
        operand: Box<Node>,
        pattern: LikePattern,
        negated: bool,
    },
    In {
        operand: Box<Node>,
        set: Box<[Node]>,
        negated: bool,
    },
    Call {
        function: Function,
        args: Box<[Node]>,
    },
    /// A call no built-in function matches; holds its description, like `FOO taking 2 arguments`.
    MissingFunction(Box<str>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    /// `*`, `/`, `%`, `+` or `-`: Integer x Integer -> Integer.
    Arithmetic(ArithmeticOp),
    /// `<`, `<=`, `>` or `>=`: Integer x Integer -> Boolean.
    Order(OrderOp),
    /// `=`, overloaded for every type.
    Equal,
    /// `!=` or `<>`.
    NotEqual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArithmeticOp {
    Multiply,
    Divide,
    Modulo,
    Add,
    Subtract,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OrderOp {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogicalOp {
    And,
    Or,
    Xor,
}

impl BinaryOp {
    pub(crate) fn result_type(self) -> Type {
        match self {
            BinaryOp::Arithmetic(_) => Type::Integer,
            BinaryOp::Order(_) | BinaryOp::Equal | BinaryOp::NotEqual => Type::Boolean,
        }
    }
}

impl ArithmeticOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            ArithmeticOp::Multiply => "*",
            ArithmeticOp::Divide => "/",
            ArithmeticOp::Modulo => "%",
            ArithmeticOp::Add => "+",
            ArithmeticOp::Subtract => "-",
        }
    }
}

impl OrderOp {
    /// Whether `x op y` holds, given how `x` compares to `y`.
    pub(crate) fn holds(self, ordering: Ordering) -> bool {
        match self {
            OrderOp::Less => ordering.is_lt(),
            OrderOp::LessOrEqual => ordering.is_le(),
            OrderOp::Greater => ordering.is_gt(),
            OrderOp::GreaterOrEqual => ordering.is_ge(),
        }
    }
}

impl Node {
    /// The height of the tree under this node, counted without recursion so that any tree,
    /// however deep, can be measured before it is evaluated.
    pub(crate) fn height(&self) -> usize {
        let mut highest = 0;
        let mut stack = vec![(self, 1)];
        while let Some((node, depth)) = stack.pop() {
            highest = highest.max(depth);
            let children: &[Node] = match node {
                Node::Literal(_)
                | Node::Attribute(_)
                | Node::Exists(_)
                | Node::MissingFunction(_) => &[],
                Node::Not(child) | Node::Negate(child) | Node::Like { operand: child, .. } => {
                    std::slice::from_ref(&**child)
                }
                Node::Binary { left, right, .. } => {
                    stack.push((left, depth + 1));
                    std::slice::from_ref(&**right)
                }
                Node::In { operand, set, .. } => {
                    stack.push((operand, depth + 1));
                    set
                }
                Node::Logical { first, rest } => {
                    stack.push((first, depth + 1));
                    stack.extend(rest.iter().map(|(_, node)| (node, depth + 1)));
                    &[]
                }
                Node::Call { args, .. } => args,
            };
            stack.extend(children.iter().map(|child| (child, depth + 1)));
        }
        highest
    }
}
