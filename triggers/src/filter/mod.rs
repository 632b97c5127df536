//! Trigger filters: compiles a Trigger's `spec.filter` / `spec.filters` once into a [`Filter`] tree and
//! evaluates it against events.
//!
//! Semantics follow Knative: `filter.attributes` is an AND of exact matches where `""` means "present
//! and non-empty"; `filters` holds Subscriptions API dialects (exact, prefix, suffix, all, any, not,
//! cesql) ANDed together, and when it is non-empty `filter` is ignored. Attribute values of any type
//! are compared in their canonical string form. A CESQL expression that fails to evaluate does not
//! match.

mod compile;
mod event_attrs;

pub use compile::FilterError;

use crate::cesql::Expression;
use herald_cloudevent::Event;

/// A compiled filter, ready to evaluate.
#[derive(Clone, Debug)]
pub enum Filter {
    /// Matches every event (no filter configured).
    MatchAll,
    /// Every child matches.
    All(Vec<Filter>),
    /// At least one child matches.
    Any(Vec<Filter>),
    /// The child does not match.
    Not(Box<Filter>),
    /// The attribute is present and its string form equals `value`.
    Exact { attribute: String, value: String },
    /// The attribute is present and its string form is non-empty.
    Present { attribute: String },
    /// The attribute's string form starts with `value`.
    Prefix { attribute: String, value: String },
    /// The attribute's string form ends with `value`.
    Suffix { attribute: String, value: String },
    /// A CESQL expression, parsed when the Trigger was applied.
    Cesql(Box<Expression>),
}

impl Filter {
    /// Evaluates the filter against an event.
    pub fn matches(&self, event: &Event) -> bool {
        match self {
            Filter::MatchAll => true,
            Filter::All(children) => children.iter().all(|f| f.matches(event)),
            Filter::Any(children) => children.iter().any(|f| f.matches(event)),
            Filter::Not(child) => !child.matches(event),
            Filter::Exact { attribute, value } => {
                attribute_text(event, attribute).is_some_and(|v| v == *value)
            }
            Filter::Present { attribute } => {
                attribute_text(event, attribute).is_some_and(|v| !v.is_empty())
            }
            Filter::Prefix { attribute, value } => {
                attribute_text(event, attribute).is_some_and(|v| v.starts_with(value.as_str()))
            }
            Filter::Suffix { attribute, value } => {
                attribute_text(event, attribute).is_some_and(|v| v.ends_with(value.as_str()))
            }
            Filter::Cesql(expression) => expression.matches(&event_attrs::EventAttributes(event)),
        }
    }

    /// Whether the filter is nothing but `type` equal to [`Filter::required_type`], so an index on
    /// the type decides a match without looking at the rest of the event.
    pub fn is_type_only(&self) -> bool {
        matches!(self, Filter::Exact { attribute, .. } if attribute == "type")
    }

    /// The event type this filter requires, when every match needs `type` to equal one exact value.
    /// The dispatcher uses it to skip Triggers that cannot match without evaluating them.
    pub fn required_type(&self) -> Option<&str> {
        match self {
            Filter::Exact { attribute, value } if attribute == "type" => Some(value),
            Filter::All(children) => children.iter().find_map(Filter::required_type),
            Filter::Cesql(expression) => expression.required_type(),
            _ => None,
        }
    }
}

/// The canonical string form of an attribute, borrowed when it is already a string.
fn attribute_text<'e>(event: &'e Event, name: &str) -> Option<std::borrow::Cow<'e, str>> {
    use herald_cloudevent::AttrValue;
    event.get(name).map(|value| match value {
        AttrValue::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
        other => std::borrow::Cow::Owned(other.to_string()),
    })
}

#[cfg(test)]
mod tests;
