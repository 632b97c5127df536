//! Exposes a CloudEvent's attributes to the CESQL evaluator with their CloudEvents types, borrowing
//! strings rather than copying them.

use crate::cesql::{Attributes, Value, ValueRef};
use herald_cloudevent::{AttrValue, Event};
use std::borrow::Cow;

/// A borrowed event seen through the CESQL [`Attributes`] lookup.
pub(crate) struct EventAttributes<'e>(pub &'e Event);

impl Attributes for EventAttributes<'_> {
    fn attribute(&self, name: &str) -> Option<Value> {
        self.attribute_ref(name).map(ValueRef::into_owned)
    }

    fn attribute_ref(&self, name: &str) -> Option<ValueRef<'_>> {
        self.0.get(name).map(|value| match value {
            AttrValue::String(s) => ValueRef::String(Cow::Borrowed(s.as_str())),
            AttrValue::Integer(i) => ValueRef::Integer(*i),
            AttrValue::Boolean(b) => ValueRef::Boolean(*b),
        })
    }
}
