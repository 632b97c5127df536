//! The Trigger index: which Triggers a record can match, found without evaluating every Trigger.
//! Triggers whose filter requires one exact `type` are looked up by the record's type (read from
//! the record header without decoding it); the others are evaluated one by one. The event is
//! decoded at most once per record, and not at all when every candidate filters on type alone.

use crate::filter::Filter;
use foldhash::{HashMap, HashMapExt};
use herald_cloudevent::{Event, record};
use std::hash::Hash;
use std::sync::Arc;

/// Triggers (by key) and their filters, indexed by required type.
#[derive(Debug)]
pub struct TriggerIndex<K> {
    filters: HashMap<K, Arc<Filter>>,
    by_type: HashMap<String, Vec<K>>,
    unindexed: Vec<K>,
}

impl<K> Default for TriggerIndex<K> {
    fn default() -> Self {
        TriggerIndex {
            filters: HashMap::new(),
            by_type: HashMap::new(),
            unindexed: Vec::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> TriggerIndex<K> {
    /// Adds (or replaces) a Trigger.
    pub fn insert(&mut self, key: K, filter: Arc<Filter>) {
        self.remove(&key);
        match filter.required_type() {
            Some(ty) => self
                .by_type
                .entry(ty.to_string())
                .or_default()
                .push(key.clone()),
            None => self.unindexed.push(key.clone()),
        }
        self.filters.insert(key, filter);
    }

    /// Removes a Trigger; returns whether it was there.
    pub fn remove(&mut self, key: &K) -> bool {
        let Some(filter) = self.filters.remove(key) else {
            return false;
        };
        match filter.required_type() {
            Some(ty) => {
                if let Some(keys) = self.by_type.get_mut(ty) {
                    keys.retain(|k| k != key);
                    if keys.is_empty() {
                        self.by_type.remove(ty);
                    }
                }
            }
            None => self.unindexed.retain(|k| k != key),
        }
        true
    }

    /// How many Triggers are indexed.
    pub fn len(&self) -> usize {
        self.filters.len()
    }

    /// Whether no Trigger is indexed.
    pub fn is_empty(&self) -> bool {
        self.filters.is_empty()
    }

    /// Calls `matched` for every Trigger whose filter matches the record `payload`, in no
    /// particular order.
    pub fn for_each_match(&self, payload: &[u8], mut matched: impl FnMut(&K)) {
        let typed = record::peek_type(payload).and_then(|ty| self.by_type.get(ty));
        if typed.is_none() && self.unindexed.is_empty() {
            return;
        }
        let mut event: Option<Option<Event>> = None;
        for key in typed.into_iter().flatten().chain(self.unindexed.iter()) {
            let filter = &self.filters[key];
            let is_match = filter.is_type_only() || {
                let decoded = event.get_or_insert_with(|| record::decode(payload).ok());
                decoded.as_ref().is_some_and(|e| filter.matches(e))
            };
            if is_match {
                matched(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_cloudevent::{AttrValue, SpecVersion};
    use herald_crds::filter::TriggerFilter;

    fn payload(ty: &str, source: &str) -> Vec<u8> {
        let mut e = Event::new(SpecVersion::V10, "1", source, ty);
        e.set("subject", AttrValue::String("s".into()));
        let mut out = Vec::new();
        record::encode(&e, &mut out);
        out
    }

    fn filter(pairs: &[(&str, &str)]) -> Arc<Filter> {
        let f = TriggerFilter {
            attributes: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        Arc::new(Filter::compile(Some(&f), &[]).unwrap())
    }

    fn matches(index: &TriggerIndex<u32>, p: &[u8]) -> Vec<u32> {
        let mut out = Vec::new();
        index.for_each_match(p, |k| out.push(*k));
        out.sort();
        out
    }

    #[test]
    fn typed_and_unindexed_triggers_match() {
        let mut index = TriggerIndex::default();
        index.insert(1, filter(&[("type", "a")]));
        index.insert(2, filter(&[("type", "a"), ("source", "/x")]));
        index.insert(3, filter(&[("type", "b")]));
        index.insert(4, filter(&[("source", "/x")]));
        index.insert(5, filter(&[]));
        assert_eq!(matches(&index, &payload("a", "/x")), [1, 2, 4, 5]);
        assert_eq!(matches(&index, &payload("a", "/y")), [1, 5]);
        assert_eq!(matches(&index, &payload("c", "/x")), [4, 5]);
        assert!(index.remove(&1));
        assert!(!index.remove(&1));
        assert_eq!(matches(&index, &payload("a", "/x")), [2, 4, 5]);
        assert_eq!(index.len(), 4);
    }
}
