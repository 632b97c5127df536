//! The wall clock used for record timestamps and age-based retention, injectable for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Source of "now" in milliseconds since the Unix epoch.
///
/// [`Clock::system`] (the default) reads the system clock; [`Clock::manual`] returns a value that
/// only changes through [`Clock::advance`] or [`Clock::set`], shared by all clones.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system wall clock.
    pub fn system() -> Self {
        Clock { manual: None }
    }

    /// A clock that stands still at `start_ms` until moved.
    pub fn manual(start_ms: i64) -> Self {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start_ms))),
        }
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.manual {
            Some(now) => now.load(Ordering::SeqCst),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// Moves a manual clock forward; no effect on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Some(now) = &self.manual {
            now.fetch_add(duration_ms(by), Ordering::SeqCst);
        }
    }

    /// Sets a manual clock; no effect on the system clock.
    pub fn set(&self, now_ms: i64) {
        if let Some(now) = &self.manual {
            now.store(now_ms, Ordering::SeqCst);
        }
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
