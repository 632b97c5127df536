//! The CPU scheduling policy of the log's own threads: how eagerly each takes a core from the
//! threads that serve requests.
//!
//! The spare-segment filler runs as `SCHED_IDLE`: it runs only when nothing else would.
//!
//! The segment writer adapts through [`Courtesy`]. On a busy core, a writer that runs the moment
//! an append arrives preempts the request path to commit a batch of one or two requests, and then
//! again for the next: each commit costs a write, an `fdatasync` and a pair of context switches.
//! So once commits show concurrent appenders, the writer switches itself to `SCHED_BATCH`, whose
//! threads never preempt on wake-up: it runs when the request path pauses (or at the scheduler's
//! next tick), by when more appends have queued for the same sync. After a run of commits of one
//! request each, the load has gone, and the writer is eager again, so a lone appender never waits
//! for the request path to pause. Both switches are allowed to any thread: `SCHED_BATCH` and
//! `SCHED_OTHER` share the nice value, and only `SCHED_IDLE` is hard to leave.
//!
//! The writer adapts only when the process has a single CPU to run on (its affinity or its
//! cgroup's quota), where the request path is what it competes with. With more CPUs it competes
//! mostly with other processes, and deferring to them only delays the sync: in benchmark runs
//! with Herald and the load generator sharing two cores, deferring lowered throughput by about
//! 9%, where on a core of its own it cut CPU per event by about a fifth.

/// A commit of at least this many requests shows concurrent appenders: defer to them.
const DEFER_AT: usize = 4;
/// After this many commits of a single request in a row, be eager again.
const EAGER_AFTER: u32 = 8;

/// Sets the calling thread's scheduling policy (`SCHED_OTHER`, `SCHED_BATCH` or `SCHED_IDLE`).
pub(crate) fn set_policy(policy: libc::c_int) -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread, and `param` is a valid sched_param for the
    // non-real-time policies, whose priority is always 0.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The segment writer's policy, adapted to the size of its commits (see the module docs).
pub(crate) struct Courtesy {
    deferring: bool,
    singles: u32,
    /// Whether to adapt at all; cleared when the system refuses a switch (the policy is then left
    /// as it is).
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

    /// Records a commit of `items` requests, made on the calling thread, and switches that
    /// thread's policy when the load has changed.
    pub(crate) fn committed(&mut self, items: usize) {
        if !self.enabled {
            return;
        }
        let Some(deferring) = self.decide(items) else {
            return;
        };
        let policy = if deferring {
            libc::SCHED_BATCH
        } else {
            libc::SCHED_OTHER
        };
        match set_policy(policy) {
            Ok(()) => self.deferring = deferring,
            Err(error) => {
                tracing::debug!(%error, "the log writer keeps its scheduling policy");
                self.enabled = false;
            }
        }
    }

    /// The policy to switch to after a commit of `items`, if it changes: `true` to defer.
    fn decide(&mut self, items: usize) -> Option<bool> {
        self.singles = if items <= 1 { self.singles + 1 } else { 0 };
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

    /// The calling thread's policy.
    fn policy() -> libc::c_int {
        // SAFETY: querying the calling thread's policy has no preconditions.
        unsafe { libc::sched_getscheduler(0) }
    }

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
    fn a_writer_that_does_not_adapt_keeps_its_policy() {
        let policies = std::thread::spawn(|| {
            let before = policy();
            let mut courtesy = Courtesy::adapting(false);
            courtesy.committed(10);
            (before, policy())
        })
        .join()
        .expect("thread");
        assert_eq!(policies.0, policies.1);
    }

    #[test]
    fn the_policy_switches_on_the_calling_thread() {
        let policies = std::thread::spawn(|| {
            let mut courtesy = Courtesy::adapting(true);
            courtesy.committed(10);
            let mut seen = vec![policy()];
            for _ in 0..EAGER_AFTER {
                courtesy.committed(1);
            }
            seen.push(policy());
            seen
        })
        .join()
        .expect("thread");
        assert_eq!(policies, vec![libc::SCHED_BATCH, libc::SCHED_OTHER]);
    }
}
