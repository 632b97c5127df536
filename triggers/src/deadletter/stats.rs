//! Dead-letter statistics: counts by Trigger (or source), by reason and by the last attempt's
//! status code, over any selection of entries.

use super::entry::DeadLetter;
use serde::Serialize;
use std::collections::BTreeMap;

/// Counts over a set of dead letters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub total: u64,
    /// Entries a replay delivered (only counted when the selection includes them).
    pub resolved: u64,
    /// By `namespace/trigger` (or `kind/namespace/name` for sources).
    pub by_trigger: BTreeMap<String, u64>,
    /// By [`reason_category`].
    pub by_reason: BTreeMap<String, u64>,
    /// By the last attempt's HTTP status, `none` when it got no answer.
    pub by_status: BTreeMap<String, u64>,
}

impl Stats {
    /// Counts one more entry.
    pub fn add(&mut self, entry: &DeadLetter) {
        self.total += 1;
        self.resolved += u64::from(entry.resolved);
        *self.by_trigger.entry(entry.origin.label()).or_default() += 1;
        *self
            .by_reason
            .entry(reason_category(&entry.reason))
            .or_default() += 1;
        let status = entry
            .last_status()
            .map_or_else(|| "none".to_string(), |s| s.to_string());
        *self.by_status.entry(status).or_default() += 1;
    }
}

impl<'a> FromIterator<&'a DeadLetter> for Stats {
    fn from_iter<I: IntoIterator<Item = &'a DeadLetter>>(entries: I) -> Stats {
        let mut stats = Stats::default();
        for entry in entries {
            stats.add(entry);
        }
        stats
    }
}

/// The kind of failure a reason describes, for grouping: the dispatcher's labels
/// (`retries_exhausted`, `rejected`, `ttl_exhausted`, `reply_failed`) for its reasons, otherwise
/// the reason's text up to its first colon.
pub fn reason_category(reason: &str) -> String {
    const KNOWN: [(&str, &str); 4] = [
        ("retries exhausted", "retries_exhausted"),
        ("not retried", "rejected"),
        ("knativebrokerttl exhausted", "ttl_exhausted"),
        ("the reply could not be ingested", "reply_failed"),
    ];
    KNOWN
        .iter()
        .find(|(prefix, _)| reason.starts_with(prefix))
        .map(|(_, label)| label.to_string())
        .unwrap_or_else(|| {
            reason
                .split(':')
                .next()
                .unwrap_or(reason)
                .trim()
                .to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_group_by_kind() {
        assert_eq!(
            reason_category("retries exhausted after 4 attempts: the subscriber answered HTTP 500"),
            "retries_exhausted"
        );
        assert_eq!(
            reason_category("not retried: the subscriber answered HTTP 400"),
            "rejected"
        );
        assert_eq!(
            reason_category(
                "knativebrokerttl exhausted: the reply passed through broker b 255 times"
            ),
            "ttl_exhausted"
        );
        assert_eq!(
            reason_category("the reply could not be ingested: log closed"),
            "reply_failed"
        );
        assert_eq!(
            reason_category("sink unreachable: connection refused"),
            "sink unreachable"
        );
    }
}
