//! Choosing dead letters: the selection shared by listing, statistics, replay and purge — where an
//! entry failed (namespace, broker, Trigger), when it was dead-lettered, a CESQL filter over the
//! dead-lettered event's attributes, and whether entries a replay already resolved are included.

use super::entry::{DeadLetter, Origin};
use crate::cesql::Expression;
use crate::filter::Filter;
use herald_cloudevent::record;

/// Which dead letters a command applies to. Every field narrows the selection; the default selects
/// every unresolved entry.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// The namespace the entry's Trigger (or source) lives in.
    pub namespace: Option<String>,
    /// The broker whose Trigger failed (entries from sources never match).
    pub broker: Option<String>,
    /// The Trigger that failed (entries from sources never match).
    pub trigger: Option<String>,
    /// Dead-lettered at or after this time (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    /// Dead-lettered before this time (ms since the Unix epoch).
    pub until_ms: Option<i64>,
    /// A CESQL expression the dead-lettered event must satisfy.
    pub filter: Option<Filter>,
    /// Also select entries a replay already delivered.
    pub include_resolved: bool,
}

impl Selection {
    /// Sets the CESQL filter from its text.
    pub fn with_cesql(mut self, expression: &str) -> Result<Selection, crate::cesql::ParseError> {
        self.filter = Some(Filter::Cesql(Box::new(Expression::parse(expression)?)));
        Ok(self)
    }

    /// Whether `entry` is selected. An entry whose event cannot be decoded never matches a filter.
    pub fn matches(&self, entry: &DeadLetter) -> bool {
        if entry.resolved && !self.include_resolved {
            return false;
        }
        if self.since_ms.is_some_and(|since| entry.created_ms < since)
            || self.until_ms.is_some_and(|until| entry.created_ms >= until)
        {
            return false;
        }
        if let Some(namespace) = &self.namespace
            && entry.origin.namespace() != Some(namespace.as_str())
        {
            return false;
        }
        if self.broker.is_some() || self.trigger.is_some() {
            let Origin::Trigger {
                broker, trigger, ..
            } = &entry.origin
            else {
                return false;
            };
            if self.broker.as_ref().is_some_and(|b| b != broker)
                || self.trigger.as_ref().is_some_and(|t| t != trigger)
            {
                return false;
            }
        }
        match &self.filter {
            None => true,
            Some(filter) => record::decode(&entry.event).is_ok_and(|event| filter.matches(&event)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_cloudevent::{AttrValue, Event, SpecVersion};

    fn entry(trigger: &str, ty: &str, priority: i32, created_ms: i64) -> DeadLetter {
        let mut event = Event::new(SpecVersion::V10, "id", "/s", ty);
        event.set("priority", AttrValue::Integer(priority));
        let mut encoded = Vec::new();
        record::encode(&event, &mut encoded);
        DeadLetter {
            id: String::new(),
            origin: Origin::Trigger {
                namespace: "prod".into(),
                broker: "default".into(),
                trigger: trigger.into(),
            },
            destination: "http://127.0.0.1:1/".into(),
            event: encoded.into(),
            event_id: "id".into(),
            event_type: ty.into(),
            event_source: "/s".into(),
            attempts: vec![],
            response_body: bytes::Bytes::new(),
            reason: "retries exhausted".into(),
            delivered_to_dead_letter_sink: false,
            created_ms,
            replays: vec![],
            resolved: false,
        }
    }

    #[test]
    fn every_field_narrows_the_selection() {
        let e = entry("orders", "com.example.created", 7, 1_000);
        assert!(Selection::default().matches(&e));
        let by = |s: Selection| s.matches(&e);
        assert!(by(Selection {
            namespace: Some("prod".into()),
            ..Default::default()
        }));
        assert!(!by(Selection {
            namespace: Some("dev".into()),
            ..Default::default()
        }));
        assert!(by(Selection {
            trigger: Some("orders".into()),
            ..Default::default()
        }));
        assert!(!by(Selection {
            trigger: Some("audit".into()),
            ..Default::default()
        }));
        assert!(!by(Selection {
            broker: Some("other".into()),
            ..Default::default()
        }));
        assert!(by(Selection {
            since_ms: Some(1_000),
            until_ms: Some(1_001),
            ..Default::default()
        }));
        assert!(!by(Selection {
            since_ms: Some(1_001),
            ..Default::default()
        }));
        assert!(!by(Selection {
            until_ms: Some(1_000),
            ..Default::default()
        }));
    }

    #[test]
    fn cesql_filters_the_dead_lettered_event() {
        let e = entry("orders", "com.example.created", 7, 1_000);
        let matching = Selection::default()
            .with_cesql("type LIKE 'com.example.%' AND priority > 5")
            .unwrap();
        assert!(matching.matches(&e));
        let other = Selection::default().with_cesql("priority > 9").unwrap();
        assert!(!other.matches(&e));
        assert!(Selection::default().with_cesql("priority >").is_err());
    }

    #[test]
    fn resolved_entries_and_sources_are_left_out_unless_asked() {
        let mut e = entry("orders", "t", 1, 1_000);
        e.resolved = true;
        assert!(!Selection::default().matches(&e));
        assert!(
            Selection {
                include_resolved: true,
                ..Default::default()
            }
            .matches(&e)
        );
        let mut s = entry("orders", "t", 1, 1_000);
        s.origin = Origin::Source {
            source: "pingsource/prod/tick".into(),
        };
        assert!(
            Selection {
                namespace: Some("prod".into()),
                ..Default::default()
            }
            .matches(&s)
        );
        assert!(
            !Selection {
                trigger: Some("orders".into()),
                ..Default::default()
            }
            .matches(&s)
        );
    }
}
