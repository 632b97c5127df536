//! The selection of dead letters in API requests (query parameters of `GET`/`DELETE`, the
//! `selection` object of a replay) and its evaluation over every dead-letter store of the runtime.
//!
//! An entry is named by `{scope}/{id}`: its store's scope (`namespace/broker`, or the sources'
//! store) and its id within that store, e.g. `default/default/1714557600000-000003`.

use super::time::parse_time;
use crate::error::ApiError;
use crate::runtime::Runtime;
use herald_triggers::deadletter::{DeadLetter, DeadLetterStore, Selection};
use serde::{Deserialize, Deserializer};
use std::sync::Arc;

/// A selection as the API takes it. Every field narrows it; `ids` picks entries by name instead
/// (the other fields are then ignored, resolved entries included).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectionQuery {
    pub namespace: Option<String>,
    pub broker: Option<String>,
    pub trigger: Option<String>,
    /// RFC 3339, or a duration ago.
    pub since: Option<String>,
    pub until: Option<String>,
    /// CESQL over the dead-lettered event's attributes.
    pub filter: Option<String>,
    /// At most this many (the oldest first).
    pub limit: Option<usize>,
    #[serde(default)]
    pub include_resolved: bool,
    /// Entry names: a JSON list, or one comma-separated string (query parameters).
    #[serde(default, deserialize_with = "id_list")]
    pub ids: Vec<String>,
}

/// One selected entry and the store it lives in.
#[derive(Clone)]
pub struct Selected {
    pub scope: String,
    pub store: Arc<dyn DeadLetterStore>,
    pub entry: DeadLetter,
}

impl Selected {
    /// The entry's name in the API: `{scope}/{id}`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.scope, self.entry.id)
    }
}

/// The selected entries, oldest first, and how many matched before the limit.
pub struct Chosen {
    pub entries: Vec<Selected>,
    pub matched: usize,
}

/// Evaluates `query` over every dead-letter store.
pub fn select(runtime: &Runtime, query: &SelectionQuery) -> Result<Chosen, ApiError> {
    let stores = runtime.dead_letter_stores();
    let mut entries = Vec::new();
    if query.ids.is_empty() {
        let selection = selection(query)?;
        for (scope, store) in stores {
            for entry in store.list() {
                if selection.matches(&entry) {
                    entries.push(Selected {
                        scope: scope.clone(),
                        store: store.clone(),
                        entry,
                    });
                }
            }
        }
        entries.sort_by(|a, b| {
            (a.entry.created_ms, &a.scope, &a.entry.id).cmp(&(
                b.entry.created_ms,
                &b.scope,
                &b.entry.id,
            ))
        });
    } else {
        for name in &query.ids {
            entries.push(find(&stores, name)?);
        }
    }
    let matched = entries.len();
    if let Some(limit) = query.limit {
        entries.truncate(limit);
    }
    Ok(Chosen { entries, matched })
}

/// The entry named `name` (`{scope}/{id}`).
pub fn find(
    stores: &[(String, Arc<dyn DeadLetterStore>)],
    name: &str,
) -> Result<Selected, ApiError> {
    let not_found = || ApiError::not_found(format!("dead letter {name} not found"));
    let (scope, id) = name.rsplit_once('/').ok_or_else(not_found)?;
    let (scope, store) = stores
        .iter()
        .find(|(s, _)| s == scope)
        .ok_or_else(not_found)?;
    let entry = store.get(id).ok_or_else(not_found)?;
    Ok(Selected {
        scope: scope.clone(),
        store: store.clone(),
        entry,
    })
}

fn selection(query: &SelectionQuery) -> Result<Selection, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    let time = |field: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|v| parse_time(v, now))
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("invalid {field}: {e}")))
    };
    let selection = Selection {
        namespace: query.namespace.clone(),
        broker: query.broker.clone(),
        trigger: query.trigger.clone(),
        since_ms: time("since", &query.since)?,
        until_ms: time("until", &query.until)?,
        filter: None,
        include_resolved: query.include_resolved,
    };
    match &query.filter {
        None => Ok(selection),
        Some(cesql) => selection
            .with_cesql(cesql)
            .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}"))),
    }
}

fn id_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ids {
        Joined(String),
        List(Vec<String>),
    }
    Ok(match Ids::deserialize(d)? {
        Ids::Joined(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Ids::List(list) => list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_as_a_list_or_comma_separated() {
        let q: SelectionQuery = serde_json::from_str(r#"{"ids": ["a/b/1", "a/b/2"]}"#).unwrap();
        assert_eq!(q.ids, ["a/b/1", "a/b/2"]);
        let q: SelectionQuery =
            serde_urlencoded_like("ids=a%2Fb%2F1,a%2Fb%2F2&includeResolved=true&limit=3");
        assert_eq!(q.ids, ["a/b/1", "a/b/2"]);
        assert!(q.include_resolved);
        assert_eq!(q.limit, Some(3));
    }

    #[test]
    fn bad_times_and_filters_are_client_errors() {
        let q = SelectionQuery {
            since: Some("last tuesday".into()),
            ..Default::default()
        };
        assert!(
            selection(&q)
                .unwrap_err()
                .message
                .starts_with("invalid since:")
        );
        let q = SelectionQuery {
            filter: Some("type =".into()),
            ..Default::default()
        };
        assert!(
            selection(&q)
                .unwrap_err()
                .message
                .starts_with("invalid filter:")
        );
    }

    fn serde_urlencoded_like(query: &str) -> SelectionQuery {
        let uri: axum::http::Uri = format!("/?{query}").parse().unwrap();
        axum::extract::Query::<SelectionQuery>::try_from_uri(&uri)
            .unwrap()
            .0
    }
}
