//! When the segment writer yields its core to the request path.
//!
//! On a busy core, a writer that runs the moment an append arrives preempts the request path to
//! commit a batch of a few requests, and then again for the next: each commit costs a write, an
//! `fdatasync` and a pair of context switches. So once commits show concurrent appenders, the
//! writer yields its core once before it takes each batch (`sched_yield`): the threads waiting
//! for the core (the request path, answering the last batch and reading the next requests) run
//! first, and more appends queue for the same sync. It keeps its scheduling class, so a busy
//! neighbour on the same core (another process, even a niced one) delays it by a turn at most.
//! After a run of commits of one request each, the load has gone and the writer stops yielding,
//! so a lone appender never waits for it.
//!
//! The writer adapts only when the process has a single CPU to run on (its affinity or its
//! cgroup's quota), where what it yields to is mostly its own request path. With more CPUs the
//! request path has cores of its own, and yielding would mostly serve other processes.

/// A commit of at least this many requests shows concurrent appenders: defer to them.
const DEFER_AT: usize = 4;
/// After this many commits of a single request in a row, be eager again.
const EAGER_AFTER: u32 = 8;

/// Whether the segment writer defers to the request path, adapted to the size of its commits
/// (see the module docs).
pub(crate) struct Courtesy {
    deferring: bool,
    singles: u32,
    /// Whether to adapt at all (only with a single CPU).
    enabled: bool,
}

impl Courtesy {
    /// A writer's courtesy: adapting when the process has a single CPU, otherwise never.
    pub(crate) fn new() -> Self {
        let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
        Courtesy::adapting(one_cpu)
    }

    fn adapting(enabled: bool) -> Self {
        Courtesy {
            deferring: false,
            singles: 0,
            enabled,
        }
    }

    /// Records a commit of `items` requests.
    pub(crate) fn committed(&mut self, items: usize) {
        if self.enabled
            && let Some(deferring) = self.decide(items)
        {
            self.deferring = deferring;
        }
    }

    /// Called by the writer before it takes its next batch: under load, lets the threads waiting
    /// for this core run first.
    pub(crate) fn before_batch(&self) {
        if self.deferring {
            // SAFETY: sched_yield has no preconditions; it cannot fail on Linux.
            unsafe { libc::sched_yield() };
        }
    }

    /// Whether to defer after a commit of `items`, if that changes.
    fn decide(&mut self, items: usize) -> Option<bool> {
        self.singles = if items <= 1 {
            self.singles.saturating_add(1)
        } else {
            0
        };
        if !self.deferring && items >= DEFER_AT {
            Some(true)
        } else if self.deferring && self.singles >= EAGER_AFTER {
            Some(false)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switches(commits: &[usize]) -> Vec<(usize, bool)> {
        let mut courtesy = Courtesy::adapting(true);
        let mut out = Vec::new();
        for (i, &items) in commits.iter().enumerate() {
            if let Some(deferring) = courtesy.decide(items) {
                courtesy.deferring = deferring;
                out.push((i, deferring));
            }
        }
        out
    }

    #[test]
    fn a_lone_appender_keeps_an_eager_writer() {
        assert_eq!(switches(&[1; 50]), vec![]);
        assert_eq!(switches(&[1, 2, 3, 2, 1, 3, 1, 1, 2]), vec![]);
    }

    #[test]
    fn concurrent_appenders_make_it_defer_until_a_run_of_single_commits() {
        let mut commits = vec![1, 2, 5, 9, 1, 12, 3];
        commits.extend([1; 7]);
        commits.push(2);
        commits.extend([1; 8]);
        // Deferring from the commit of 5; the first run of seven singles is too short; the run
        // of eight ends it.
        assert_eq!(switches(&commits), vec![(2, true), (22, false)]);
    }

    #[test]
    fn a_writer_that_does_not_adapt_never_defers() {
        let mut courtesy = Courtesy::adapting(false);
        courtesy.committed(64);
        assert!(!courtesy.deferring);
        let mut courtesy = Courtesy::adapting(true);
        courtesy.committed(64);
        assert!(courtesy.deferring);
    }
}
