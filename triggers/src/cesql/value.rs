//! CESQL values: the owned [`Value`] results, the borrowed [`ValueRef`] the evaluator works on,
//! their [`Type`]s, and the [`Attributes`] lookup through which expressions read an event.

use std::borrow::Cow;
use std::fmt;

/// A CESQL primitive value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    String(String),
    Integer(i32),
    Boolean(bool),
}

/// A CESQL value that may borrow its string from the expression or the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueRef<'a> {
    String(Cow<'a, str>),
    Integer(i32),
    Boolean(bool),
}

/// The three CESQL primitive types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    String,
    Integer,
    Boolean,
}

/// Attribute lookup for evaluation. Values arrive typed: String, Integer or Boolean (an extension
/// may be any). Names are CloudEvents attribute names, always lowercase.
pub trait Attributes {
    /// The value of the context attribute or extension `name`, or `None` when the event lacks it.
    fn attribute(&self, name: &str) -> Option<Value>;

    /// Like [`Attributes::attribute`], but may borrow from the event. Implementors that hold
    /// their strings should override this so evaluation doesn't copy them.
    fn attribute_ref(&self, name: &str) -> Option<ValueRef<'_>> {
        self.attribute(name).map(ValueRef::from)
    }
}

impl Value {
    /// This value's CESQL type.
    pub fn value_type(&self) -> Type {
        match self {
            Value::String(_) => Type::String,
            Value::Integer(_) => Type::Integer,
            Value::Boolean(_) => Type::Boolean,
        }
    }

    /// Borrows this value as a [`ValueRef`].
    pub fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Value::String(s) => ValueRef::String(Cow::Borrowed(s)),
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Boolean(b) => ValueRef::Boolean(*b),
        }
    }
}

impl ValueRef<'_> {
    /// This value's CESQL type.
    pub fn value_type(&self) -> Type {
        match self {
            ValueRef::String(_) => Type::String,
            ValueRef::Integer(_) => Type::Integer,
            ValueRef::Boolean(_) => Type::Boolean,
        }
    }

    /// Converts into an owned [`Value`], copying a borrowed string.
    pub fn into_owned(self) -> Value {
        match self {
            ValueRef::String(s) => Value::String(s.into_owned()),
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Boolean(b) => Value::Boolean(b),
        }
    }
}

impl From<Value> for ValueRef<'_> {
    fn from(value: Value) -> Self {
        match value {
            Value::String(s) => ValueRef::String(Cow::Owned(s)),
            Value::Integer(i) => ValueRef::Integer(i),
            Value::Boolean(b) => ValueRef::Boolean(b),
        }
    }
}

impl Type {
    /// The type's zero value: `""`, `0` or `false`.
    pub(crate) fn zero<'a>(self) -> ValueRef<'a> {
        match self {
            Type::String => ValueRef::String(Cow::Borrowed("")),
            Type::Integer => ValueRef::Integer(0),
            Type::Boolean => ValueRef::Boolean(false),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::String => "String",
            Type::Integer => "Integer",
            Type::Boolean => "Boolean",
        })
    }
}

/// Strings are written bare, as CESQL's cast to String renders them.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => f.write_str(s),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Boolean(b) => write!(f, "{b}"),
        }
    }
}
