//! Reads a process's CPU time (`/proc/PID/stat`, utime + stime in clock ticks), memory
//! (`VmRSS`, `VmHWM` from `/proc/PID/status`) and how often its threads went to sleep
//! (`voluntary_ctxt_switches` of each `/proc/PID/task/TID/status`), so Herald's cost is measured
//! apart from the load generator's.

use std::collections::BTreeMap;
use std::path::PathBuf;

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
        let tasks = std::fs::read_dir(self.path("task")).ok()?;
        let by_thread = tasks
            .filter_map(Result::ok)
            .filter_map(|task| {
                let tid = task.file_name().to_str()?.parse().ok()?;
                let name = std::fs::read_to_string(task.path().join("comm")).ok()?;
                if !counted(name.trim_end()) {
                    return None;
                }
                let status = std::fs::read_to_string(task.path().join("status")).ok()?;
                Some((tid, status_number(&status, "voluntary_ctxt_switches")?))
            })
            .collect();
        Some(Sleeps(by_thread))
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(self.path("status")).ok()?;
        status_number(&status, field)
    }

    fn path(&self, file: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/{file}", self.pid))
    }
}

/// Sleeps so far, per thread id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sleeps(BTreeMap<u32, u64>);

impl Sleeps {
    /// Sleeps since `earlier`, by the threads alive now (a thread started since counts from
    /// zero; one that ended since is missing from both sides, its last sleeps with it).
    pub fn since(&self, earlier: &Sleeps) -> u64 {
        self.0
            .iter()
            .map(|(tid, now)| now.saturating_sub(earlier.0.get(tid).copied().unwrap_or(0)))
            .sum()
    }
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
        let earlier = Sleeps(BTreeMap::from([(1, 100), (2, 50), (3, 7)]));
        // Thread 3 ended, thread 4 started.
        let now = Sleeps(BTreeMap::from([(1, 130), (2, 50), (4, 5)]));
        assert_eq!(now.since(&earlier), 35);
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
        assert!(after.since(&before) >= 5, "{before:?} -> {after:?}");
        assert!(
            after_it.since(&before_it) >= 5,
            "{before_it:?} -> {after_it:?}"
        );
        assert_eq!(after_it.0.len(), 1, "only the sleeper: {after_it:?}");
        let none = me.sleeps_of(|name| name == "no such thread").unwrap();
        assert_eq!(none, Sleeps::default());
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
