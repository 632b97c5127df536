//! A window of a broker's log, `[from, to)` in offsets, seen through a filter, in log order:
//! surveyed (count and sample, for dry runs) or collected a batch at a time (for delivery).
//! Reading a window moves no Trigger's position.

use crate::filter::Filter;
use herald_cloudevent::{Event, record};
use herald_log::{EventLog, LogError};
use std::ops::ControlFlow;

/// Records read from the log per call.
const READ_BATCH: usize = 256;

/// A record of the window that passed the filter.
#[derive(Clone, Debug)]
pub struct Match {
    pub offset: u64,
    /// Append time, ms since the Unix epoch.
    pub timestamp_ms: i64,
    pub event: Event,
}

/// Counts the matches in `[from, to)` and keeps the first `sample` of them.
pub async fn survey(
    log: &dyn EventLog,
    from: u64,
    to: u64,
    filter: &Filter,
    sample: usize,
) -> Result<(u64, Vec<Match>), LogError> {
    let mut count = 0;
    let mut kept = Vec::new();
    scan(log, from, to, filter, |m| {
        count += 1;
        if kept.len() < sample {
            kept.push(m);
        }
        ControlFlow::Continue(())
    })
    .await?;
    Ok((count, kept))
}

/// Up to `max` matches from `from` on (before `to`), and the offset to continue from; the window
/// is exhausted when that offset reaches `to` (or the log's head).
pub async fn collect(
    log: &dyn EventLog,
    from: u64,
    to: u64,
    filter: &Filter,
    max: usize,
) -> Result<(Vec<Match>, u64), LogError> {
    let mut found = Vec::new();
    let next = scan(log, from, to, filter, |m| {
        found.push(m);
        if found.len() >= max {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await?;
    Ok((found, next))
}

/// Visits the matches in `[from, to)` in log order until `visit` breaks; returns the offset after
/// the last record examined. Records removed by retention are skipped; undecodable ones (the log
/// verified their checksum, so a format bug) are skipped with an error log.
async fn scan(
    log: &dyn EventLog,
    from: u64,
    to: u64,
    filter: &Filter,
    mut visit: impl FnMut(Match) -> ControlFlow<()>,
) -> Result<u64, LogError> {
    let mut next = from.max(log.earliest());
    while next < to {
        let want = usize::try_from(to - next)
            .unwrap_or(usize::MAX)
            .min(READ_BATCH);
        let records = log.read(next, want).await?;
        if records.is_empty() {
            let earliest = log.earliest();
            if next < earliest {
                next = earliest;
                continue;
            }
            return Ok(next);
        }
        for rec in records {
            if rec.offset >= to {
                return Ok(to);
            }
            next = rec.offset + 1;
            let event = match record::decode(&rec.payload) {
                Ok(event) => event,
                Err(err) => {
                    tracing::error!(offset = rec.offset, error = %err, "undecodable record skipped");
                    continue;
                }
            };
            if filter.matches(&event) {
                let found = Match {
                    offset: rec.offset,
                    timestamp_ms: rec.timestamp_ms,
                    event,
                };
                if visit(found).is_break() {
                    return Ok(next);
                }
            }
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_cloudevent::SpecVersion;
    use herald_log::{LogConfig, MemoryLog};

    async fn log_of(types: &[&str]) -> std::sync::Arc<MemoryLog> {
        let log = MemoryLog::new(LogConfig::default());
        for (n, ty) in types.iter().enumerate() {
            let mut buf = Vec::new();
            record::encode(
                &Event::new(SpecVersion::V10, format!("e{n}"), "/s", *ty),
                &mut buf,
            );
            log.append(vec![buf.into()]).await.unwrap();
        }
        log
    }

    fn only(ty: &str) -> Filter {
        Filter::Exact {
            attribute: "type".into(),
            value: ty.into(),
        }
    }

    fn ids(matches: &[Match]) -> Vec<&str> {
        matches.iter().map(|m| m.event.id()).collect()
    }

    #[tokio::test]
    async fn survey_counts_the_window_and_samples_its_start() {
        let log = log_of(&["a", "b", "a", "a", "b", "a"]).await;
        let (count, sample) = survey(log.as_ref(), 1, 5, &only("a"), 1).await.unwrap();
        assert_eq!(count, 2, "offsets 2 and 3; 0 and 5 are outside the window");
        assert_eq!(ids(&sample), ["e2"]);
    }

    #[tokio::test]
    async fn collect_resumes_where_it_stopped_until_the_window_ends() {
        let log = log_of(&["a", "b", "a", "a", "b", "a"]).await;
        let (first, next) = collect(log.as_ref(), 0, 6, &only("a"), 2).await.unwrap();
        assert_eq!((ids(&first), next), (vec!["e0", "e2"], 3));
        let (second, next) = collect(log.as_ref(), next, 6, &only("a"), 2).await.unwrap();
        assert_eq!((ids(&second), next), (vec!["e3", "e5"], 6));
        let (rest, next) = collect(log.as_ref(), next, 6, &only("a"), 2).await.unwrap();
        assert!(rest.is_empty());
        assert_eq!(next, 6);
        // A window reaching past the head ends at the head.
        let (all, next) = collect(log.as_ref(), 0, 100, &Filter::MatchAll, 100)
            .await
            .unwrap();
        assert_eq!((all.len(), next), (6, 6));
    }
}
