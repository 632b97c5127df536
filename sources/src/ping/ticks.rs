//! The bookkeeping of a PingSource: the event of one tick, which ticks are final, and the durable
//! record of the last final tick.

use std::collections::VecDeque;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use herald_cloudevent::{Data, Event, SpecVersion};
use herald_log::StateStore;

use crate::binding::rfc3339;

/// Type of every PingSource event.
pub const EVENT_TYPE: &str = "dev.knative.sources.ping";

/// What every event of one PingSource shares.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    /// `/apis/v1/namespaces/{ns}/pingsources/{name}`.
    pub(crate) source: String,
    pub(crate) content_type: Option<String>,
    pub(crate) data: Option<Bytes>,
}

impl Template {
    /// The event of the tick at `tick`. Its id is a UUID v5 of the source and the tick, so the
    /// same tick always has the same id (a tick re-fired after a crash can be de-duplicated).
    pub(crate) fn event(&self, tick: DateTime<Utc>) -> Event {
        let mut event = Event::new(
            SpecVersion::V10,
            tick_id(&self.source, tick).to_string(),
            self.source.clone(),
            EVENT_TYPE,
        );
        event.set("time", rfc3339(tick).into());
        if let Some(content_type) = &self.content_type {
            event.set("datacontenttype", content_type.as_str().into());
        }
        event.set_data(self.data.clone().map(Data::Binary));
        event
    }
}

/// The id of a tick: UUID v5 in the URL namespace of `{source}#{tick in ms}`.
pub(crate) fn tick_id(source: &str, tick: DateTime<Utc>) -> uuid::Uuid {
    let name = format!("{source}#{}", tick.timestamp_millis());
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes())
}

/// Ticks fired and not yet known final, in firing (= time) order.
#[derive(Debug, Default)]
pub(crate) struct Ticks {
    fired: VecDeque<(DateTime<Utc>, bool)>,
}

impl Ticks {
    pub(crate) fn fire(&mut self, tick: DateTime<Utc>) {
        self.fired.push_back((tick, false));
    }

    /// Marks `tick` final. Returns the newest tick such that it and every tick before it are
    /// final, when that moved forward.
    pub(crate) fn finish(&mut self, tick: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Some(entry) = self.fired.iter_mut().find(|(t, _)| *t == tick) {
            entry.1 = true;
        }
        let mut settled = None;
        while let Some(&(tick, true)) = self.fired.front() {
            settled = Some(tick);
            self.fired.pop_front();
        }
        settled
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.fired.len()
    }
}

/// The durable record of the last final tick of one PingSource.
pub(crate) struct LastTick<'a> {
    pub(crate) state: &'a dyn StateStore,
    pub(crate) key: String,
}

impl LastTick<'_> {
    pub(crate) fn load(&self) -> Option<DateTime<Utc>> {
        let raw = self.state.get(&self.key)?;
        let text = std::str::from_utf8(&raw).ok()?;
        match DateTime::parse_from_rfc3339(text) {
            Ok(time) => Some(time.with_timezone(&Utc)),
            Err(err) => {
                tracing::warn!(key = self.key.as_str(), error = %err, "ignoring an unreadable last tick");
                None
            }
        }
    }

    pub(crate) async fn store(&self, tick: DateTime<Utc>) {
        let value = Bytes::from(rfc3339(tick));
        if let Err(err) = self.state.put(&self.key, value).await {
            tracing::error!(
                key = self.key.as_str(),
                error = %err,
                "could not persist the last final tick; a restart may fire it again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, s).unwrap()
    }

    #[test]
    fn settled_prefix_advances_only_when_all_older_ticks_are_final() {
        let mut ticks = Ticks::default();
        ticks.fire(at(1));
        ticks.fire(at(2));
        ticks.fire(at(3));
        assert_eq!(ticks.finish(at(2)), None);
        assert_eq!(ticks.finish(at(1)), Some(at(2)));
        assert_eq!(ticks.in_flight(), 1);
        assert_eq!(ticks.finish(at(3)), Some(at(3)));
        assert_eq!(ticks.in_flight(), 0);
    }

    #[test]
    fn events_are_deterministic_per_tick() {
        let template = Template {
            source: "/apis/v1/namespaces/ns/pingsources/p".into(),
            content_type: Some("application/json".into()),
            data: Some(Bytes::from_static(b"{\"m\":1}")),
        };
        let a = template.event(at(5));
        assert_eq!(a, template.event(at(5)));
        assert_ne!(a.id(), template.event(at(6)).id());
        assert_eq!(a.ty(), EVENT_TYPE);
        assert_eq!(a.get_str("time"), Some("2024-01-01T00:00:05Z"));
        assert_eq!(a.datacontenttype(), Some("application/json"));
        a.validate().unwrap();
    }

    #[tokio::test]
    async fn last_tick_round_trips() {
        let state = herald_log::MemoryStateStore::new();
        let last = LastTick {
            state: state.as_ref(),
            key: "pingsources/ns/p/last-tick".into(),
        };
        assert_eq!(last.load(), None);
        last.store(at(9)).await;
        assert_eq!(last.load(), Some(at(9)));
    }
}
