//! Reads a process's CPU time (`/proc/PID/stat`, utime + stime in clock ticks), memory
//! (`VmRSS`, `VmHWM` from `/proc/PID/status`), how often its threads went to sleep
//! (`voluntary_ctxt_switches` of each `/proc/PID/task/TID/status`) and how long they waited for a
//! core once runnable (`/proc/PID/task/TID/schedstat`), so Herald's cost is measured apart from
//! the load generator's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One process, watched through `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessProbe {
    pub pid: u32,
}

impl ProcessProbe {
    pub fn new(pid: u32) -> ProcessProbe {
        ProcessProbe { pid }
    }

    /// This process (the load generator and the subscriber).
    pub fn current() -> ProcessProbe {
        ProcessProbe::new(std::process::id())
    }

    /// The first process whose command name (`/proc/PID/comm`) is `name`.
    pub fn find_by_name(name: &str) -> Option<ProcessProbe> {
        let entries = std::fs::read_dir("/proc").ok()?;
        entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim_end() == name)
            })
            .map(ProcessProbe::new)
    }

    /// User plus system CPU time consumed so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(self.path("stat")).ok()?;
        cpu_ticks(&stat).map(|ticks| ticks as f64 / clock_ticks_per_second())
    }

    /// Resident memory now, in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        self.status_kib("VmRSS").map(kib_to_mib)
    }

    /// The most resident memory the process ever had, in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        self.status_kib("VmHWM").map(kib_to_mib)
    }

    /// How many times each of its threads has gone to sleep so far: blocked, waiting for work,
    /// a lock or the disk. Each sleep is a wake-up later: a context switch, and on a virtual
    /// machine often an exit to the host.
    pub fn sleeps(&self) -> Option<Sleeps> {
        self.sleeps_of(|_| true)
    }

    /// [`ProcessProbe::sleeps`] of only the threads whose name (`comm`) `counted` accepts.
    pub fn sleeps_of(&self, counted: impl Fn(&str) -> bool) -> Option<Sleeps> {
        self.per_thread(counted, |task| {
            let status = std::fs::read_to_string(task.join("status")).ok()?;
            Some([status_number(&status, "voluntary_ctxt_switches")?])
        })
    }

    /// How long the threads whose name `counted` accepts have waited for a core so far, and how
    /// many times they got one: a thread woken while its core runs another waits its turn, and
    /// that wait is latency no CPU figure shows.
    pub fn core_waits_of(&self, counted: impl Fn(&str) -> bool) -> Option<CoreWaits> {
        self.per_thread(counted, |task| {
            schedstat_wait_and_runs(&std::fs::read_to_string(task.join("schedstat")).ok()?)
        })
    }

    /// One reading per thread whose name `counted` accepts (threads that cannot be read, having
    /// just ended, are left out).
    fn per_thread<const N: usize>(
        &self,
        counted: impl Fn(&str) -> bool,
        read: impl Fn(&Path) -> Option<[u64; N]>,
    ) -> Option<PerThread<N>> {
        let tasks = std::fs::read_dir(self.path("task")).ok()?;
        let by_thread = tasks
            .filter_map(Result::ok)
            .filter_map(|task| {
                let tid = task.file_name().to_str()?.parse().ok()?;
                let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
                if !counted(name.trim_end()) {
                    return None;
                }
                Some((tid, read(&task.path())?))
            })
            .collect();
        Some(PerThread(by_thread))
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(self.path("status")).ok()?;
        status_number(&status, field)
    }

    fn path(&self, file: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{file}", self.pid))
    }
}

/// Counters that only grow, read per thread id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerThread<const N: usize>(BTreeMap<u32, [u64; N]>);

/// Voluntary context switches so far, per thread.
pub type Sleeps = PerThread<1>;

/// Nanoseconds spent runnable but waiting for a core, and the number of times on a core, so
/// far, per thread.
pub type CoreWaits = PerThread<2>;

impl<const N: usize> PerThread<N> {
    /// Each counter's growth since `earlier`, summed over the threads alive now (a thread started
    /// since counts from zero; one that ended since is missing from both sides, its last counts
    /// with it).
    pub fn since(&self, earlier: &PerThread<N>) -> [u64; N] {
        let mut total = [0u64; N];
        for (tid, now) in &self.0 {
            let before = earlier.0.get(tid).copied().unwrap_or([0; N]);
            for (sum, (now, before)) in total.iter_mut().zip(now.iter().zip(before)) {
                *sum += now.saturating_sub(before);
            }
        }
        total
    }
}

impl CoreWaits {
    /// The mean wait for a core, in µs, per time these threads got one since `earlier`; None if
    /// they never ran in between.
    pub fn mean_wait_us_since(&self, earlier: &CoreWaits) -> Option<f64> {
        let [waited_ns, runs] = self.since(earlier);
        (runs > 0).then(|| waited_ns as f64 / runs as f64 / 1000.0)
    }
}

/// The run-queue wait (ns) and the count of time slices of a `/proc/PID/task/TID/schedstat`
/// line: time on the CPU, time waiting to run, and time slices run.
fn schedstat_wait_and_runs(schedstat: &str) -> Option<[u64; 2]> {
    let mut fields = schedstat.split_whitespace().skip(1);
    let waited = fields.next()?.parse().ok()?;
    let runs = fields.next()?.parse().ok()?;
    Some([waited, runs])
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces, so fields are counted after its closing parenthesis.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is the 12th of them, stime the 13th.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The number of a `Name:   1234 kB` (or `Name:\t1234`) line of `/proc/PID/status`.
fn status_number(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (herald (x) y) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 4 0 100";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\therald\nVmHWM:\t   51200 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(status_number(status, "VmHWM"), Some(51200));
        assert_eq!(status_number(status, "VmRSS"), Some(20480));
        assert_eq!(status_number(status, "VmSwap"), None);
    }

    #[test]
    fn context_switch_counts_are_read_as_plain_numbers() {
        let status =
            "Name:\therald\nvoluntary_ctxt_switches:\t812\nnonvoluntary_ctxt_switches:\t9\n";
        assert_eq!(status_number(status, "voluntary_ctxt_switches"), Some(812));
        assert_eq!(status_number(status, "nonvoluntary_ctxt_switches"), Some(9));
    }

    #[test]
    fn sleeps_are_counted_per_thread_so_threads_that_come_and_go_never_count_negative() {
        let earlier = PerThread(BTreeMap::from([(1, [100]), (2, [50]), (3, [7])]));
        // Thread 3 ended, thread 4 started.
        let now = PerThread(BTreeMap::from([(1, [130]), (2, [50]), (4, [5])]));
        assert_eq!(now.since(&earlier), [35]);
    }

    #[test]
    fn a_thread_that_sleeps_is_counted_while_it_lives() {
        use std::sync::mpsc::channel;
        let me = ProcessProbe::current();
        let (go_tx, go_rx) = channel::<()>();
        let (slept_tx, slept_rx) = channel::<()>();
        let (end_tx, end_rx) = channel::<()>();
        let sleeper = std::thread::Builder::new().name("probe-sleeper".into());
        let sleeper = sleeper.spawn(move || {
            go_rx.recv().unwrap();
            for _ in 0..5 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            slept_tx.send(()).unwrap();
            // Alive until after the second reading.
            end_rx.recv().ok();
        });
        let sleeper = sleeper.unwrap();
        let only_it = |name: &str| name == "probe-sleeper";
        let before = me.sleeps().expect("this process's threads");
        let before_it = me.sleeps_of(only_it).expect("the sleeper");
        go_tx.send(()).unwrap();
        slept_rx.recv().unwrap();
        let after = me.sleeps().expect("this process's threads");
        let after_it = me.sleeps_of(only_it).expect("the sleeper");
        drop(end_tx);
        sleeper.join().unwrap();
        assert!(after.since(&before)[0] >= 5, "{before:?} -> {after:?}");
        assert!(
            after_it.since(&before_it)[0] >= 5,
            "{before_it:?} -> {after_it:?}"
        );
        assert_eq!(after_it.0.len(), 1, "only the sleeper: {after_it:?}");
        let none = me.sleeps_of(|name| name == "no such thread").unwrap();
        assert_eq!(none, Sleeps::default());
    }

    #[test]
    fn schedstat_gives_the_wait_for_a_core_and_the_time_slices() {
        assert_eq!(
            schedstat_wait_and_runs("5083424 2476891 17\n"),
            Some([2_476_891, 17])
        );
        assert_eq!(schedstat_wait_and_runs("5083424"), None);
        let before = PerThread(BTreeMap::from([(1, [1_000, 4])]));
        let after = PerThread(BTreeMap::from([(1, [31_000, 7]), (2, [6_000, 3])]));
        // 36 µs of waiting over six slices.
        assert_eq!(after.mean_wait_us_since(&before), Some(6.0));
        assert_eq!(before.mean_wait_us_since(&before), None);
    }

    #[test]
    fn two_threads_spinning_on_one_core_wait_for_each_other() {
        use crate::bench::placement::{Cpus, allowed_cpus, pin_this_thread};
        use std::sync::{Arc, Barrier};
        use std::time::{Duration, Instant};
        let cpu = allowed_cpus().expect("affinity").0[0];
        let me = ProcessProbe::current();
        let started = Arc::new(Barrier::new(3));
        let finished = Arc::new(Barrier::new(3));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let (started, finished) = (started.clone(), finished.clone());
                std::thread::Builder::new()
                    .name("probe-spinner".into())
                    .spawn(move || {
                        pin_this_thread(&Cpus(vec![cpu])).expect("pin");
                        started.wait();
                        let until = Instant::now() + Duration::from_millis(200);
                        while Instant::now() < until {
                            std::hint::spin_loop();
                        }
                        finished.wait();
                    })
                    .expect("spawn")
            })
            .collect();
        let spinning = |name: &str| name == "probe-spinner";
        started.wait();
        let before = me.core_waits_of(spinning).expect("the spinners");
        // Both spin until the same time, each waiting while the other runs; alive until read.
        std::thread::sleep(Duration::from_millis(250));
        let after = me.core_waits_of(spinning).expect("the spinners");
        finished.wait();
        spinners
            .into_iter()
            .for_each(|t| t.join().expect("spinner"));
        let [waited_ns, runs] = after.since(&before);
        assert!(
            waited_ns >= 50_000_000,
            "waited {waited_ns} ns in {runs} slices"
        );
        assert!(runs >= 2, "{runs} slices");
        assert!(after.mean_wait_us_since(&before).is_some_and(|us| us > 0.0));
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = ProcessProbe::current();
        let mut spin = 0u64;
        for i in 0..2_000_000u64 {
            spin = spin.wrapping_add(i * i);
        }
        assert!(spin > 0);
        assert!(me.cpu_seconds().is_some());
        let rss = me.rss_mib().expect("VmRSS");
        let peak = me.peak_rss_mib().expect("VmHWM");
        assert!(rss > 0.0 && peak >= rss);
    }
}
