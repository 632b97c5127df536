//! CESQL errors: [`ParseError`] for expressions that don't parse, [`EvalError`] for the errors
//! collected while evaluating one.

/// An expression that could not be parsed, with where the problem was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct ParseError {
    /// 0-based offset, in characters, into the expression source.
    pub position: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(position: usize, message: impl Into<String>) -> Self {
        ParseError {
            position,
            message: message.into(),
        }
    }
}

/// An error raised while evaluating an expression. Evaluation goes on with a zero value, so
/// several can be collected from one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A math operator failed (division by zero, overflow).
    #[error("math error: {0}")]
    Math(String),
    /// An implicit or explicit type cast failed.
    #[error("cast error: {0}")]
    Cast(String),
    /// No built-in function has this name and arity; holds the call, like `FOO taking 2 arguments`.
    #[error("no function {0} is defined")]
    MissingFunction(String),
    /// A function rejected its arguments.
    #[error("function error: {0}")]
    FunctionEvaluation(String),
    /// The expression addresses an attribute the event lacks; holds the attribute name.
    #[error("the event has no attribute `{0}`")]
    MissingAttribute(String),
    /// Any other error.
    #[error("{0}")]
    Generic(String),
}

impl EvalError {
    /// The error kind's name as the CESQL TCK spells it: `math`, `cast`, `missingFunction`,
    /// `functionEvaluation`, `missingAttribute` or `generic`.
    pub fn kind(&self) -> &'static str {
        match self {
            EvalError::Math(_) => "math",
            EvalError::Cast(_) => "cast",
            EvalError::MissingFunction(_) => "missingFunction",
            EvalError::FunctionEvaluation(_) => "functionEvaluation",
            EvalError::MissingAttribute(_) => "missingAttribute",
            EvalError::Generic(_) => "generic",
        }
    }
}
