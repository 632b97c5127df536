//! Where the benchmark's processes run. With `split` placement (the default on two or more
//! cores) the system under test gets the first allowed core and the load generator the others,
//! as if the generator ran on another machine: Herald is started with its affinity set to that
//! core (so its runtime sizes itself to one worker), nats-server's threads are moved there for
//! the jetstream scenario and back afterwards, and in the direct baseline the subscriber thread
//! (the receiving end of the hop) runs there. The sender (with its pacer) and, in Herald
//! scenarios, the subscriber run on the generator's cores. With `shared` placement everything
//! may run everywhere and the kernel decides.

use super::error::BenchError;
use clap::ValueEnum;
use serde::Serialize;
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use tokio::process::{Child, Command};

/// How the system under test and the load generator share the machine's cores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// The system under test on one core, the load generator on the others.
    #[default]
    Split,
    /// Every process may run on every core.
    Shared,
}

/// A set of CPU numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cpus(pub Vec<usize>);

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&list.join(","))
    }
}

/// The cores each side runs on; `None` means wherever the kernel puts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cores {
    pub placement: Placement,
    pub system: Option<Cpus>,
    pub generator: Option<Cpus>,
}

impl Cores {
    /// Resolves `placement` against `allowed` (the CPUs this process may use). Split needs two
    /// or more; with fewer it falls back to shared.
    pub fn resolve(placement: Placement, allowed: &Cpus) -> Cores {
        match (placement, allowed.0.split_first()) {
            (Placement::Split, Some((first, rest))) if !rest.is_empty() => Cores {
                placement,
                system: Some(Cpus(vec![*first])),
                generator: Some(Cpus(rest.to_vec())),
            },
            _ => Cores {
                placement: Placement::Shared,
                system: None,
                generator: None,
            },
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match (&self.system, &self.generator) {
            (Some(system), Some(generator)) => format!(
                "split: the system under test on CPU {system}, the load generator on CPU {generator}"
            ),
            _ => "shared: every process on every core".to_string(),
        }
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Result<Cpus, BenchError> {
    affinity(0).map_err(|e| BenchError::io("reading this process's CPU affinity", e))
}

/// Restricts the calling thread (and the threads it starts later) to `cpus`.
pub fn pin_this_thread(cpus: &Cpus) -> Result<(), BenchError> {
    set_affinity(0, cpus).map_err(|e| BenchError::io(format!("pinning a thread to CPU {cpus}"), e))
}

/// Moves every thread of process `pid` to `cpus`; the returned guard moves them back to the
/// process's previous affinity when dropped.
pub fn pin_process(pid: u32, cpus: &Cpus) -> Result<PinnedProcess, BenchError> {
    let context = |e| BenchError::io(format!("moving process {pid} to CPU {cpus}"), e);
    let previous = affinity(pid as libc::pid_t).map_err(context)?;
    for tid in threads(pid).map_err(context)? {
        set_affinity(tid, cpus).map_err(context)?;
    }
    Ok(PinnedProcess { pid, previous })
}

/// A process moved by [`pin_process`].
pub struct PinnedProcess {
    pid: u32,
    previous: Cpus,
}

impl Drop for PinnedProcess {
    fn drop(&mut self) {
        // Threads started meanwhile inherited the pinned set: every thread goes back.
        let restored = threads(self.pid).and_then(|tids| {
            tids.into_iter()
                .try_for_each(|tid| set_affinity(tid, &self.previous))
        });
        if let Err(err) = restored {
            eprintln!(
                "herald-bench: could not give process {} its CPUs {} back: {err}",
                self.pid, self.previous
            );
        }
    }
}

/// A command for a system under test (Herald, a nats-server of the bench's own): on `cpus` from
/// its first instruction when given, stdin closed, stderr written to a new file at `log_path`,
/// killed if dropped. The caller adds its arguments and stdout.
pub fn system_command(
    binary: &Path,
    cpus: Option<&Cpus>,
    log_path: &Path,
) -> Result<Command, BenchError> {
    let log = std::fs::File::create(log_path)
        .map_err(|e| BenchError::io(format!("creating {}", log_path.display()), e))?;
    let mut command = Command::new(binary);
    if let Some(cpus) = cpus.cloned() {
        // SAFETY: the closure only makes the sched_setaffinity system call (no allocation, no
        // locks), which is allowed between fork and exec; the child's threads inherit it.
        unsafe {
            command.pre_exec(move || set_affinity(0, &cpus));
        }
    }
    command.stdin(Stdio::null()).stderr(log).kill_on_drop(true);
    Ok(command)
}

/// Starts `command`, made by [`system_command`] for `binary`.
pub fn spawn(mut command: Command, binary: &Path) -> Result<Child, BenchError> {
    command.spawn().map_err(|source| BenchError::Spawn {
        binary: binary.to_path_buf(),
        source,
    })
}

fn threads(pid: u32) -> std::io::Result<Vec<libc::pid_t>> {
    std::fs::read_dir(format!("/proc/{pid}/task"))?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().parse().unwrap_or(0)))
        .filter(|tid| !matches!(tid, Ok(0)))
        .collect()
}

fn affinity(tid: libc::pid_t) -> std::io::Result<Cpus> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let cpus = (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect();
        Ok(Cpus(cpus))
    }
}

fn set_affinity(tid: libc::pid_t, cpus: &Cpus) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data, filled with CPU_SET for CPUs below CPU_SETSIZE;
    // sched_setaffinity only reads it. No allocation, so this is fine between fork and exec.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus
            .0
            .iter()
            .filter(|&&cpu| cpu < libc::CPU_SETSIZE as usize)
        {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_gives_the_first_core_to_the_system_and_the_rest_to_the_generator() {
        let cores = Cores::resolve(Placement::Split, &Cpus(vec![2, 3, 5]));
        assert_eq!(cores.system, Some(Cpus(vec![2])));
        assert_eq!(cores.generator, Some(Cpus(vec![3, 5])));
        assert!(cores.describe().starts_with("split"));
    }

    #[test]
    fn one_core_or_shared_placement_pins_nothing() {
        for (placement, cpus) in [(Placement::Split, vec![0]), (Placement::Shared, vec![0, 1])] {
            let cores = Cores::resolve(placement, &Cpus(cpus));
            assert_eq!(cores.placement, Placement::Shared);
            assert_eq!((cores.system, cores.generator), (None, None));
        }
    }

    #[test]
    fn a_thread_can_be_pinned_and_reads_back_its_set() {
        let allowed = allowed_cpus().unwrap();
        let first = Cpus(vec![allowed.0[0]]);
        let seen = std::thread::spawn(move || {
            pin_this_thread(&first).unwrap();
            allowed_cpus().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(seen, Cpus(vec![allowed.0[0]]));
    }

    #[test]
    fn a_pinned_process_gets_its_cores_back() {
        let allowed = allowed_cpus().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        {
            let _pinned = pin_process(child.id(), &Cpus(vec![allowed.0[0]])).unwrap();
            assert_eq!(
                affinity(child.id() as i32).unwrap(),
                Cpus(vec![allowed.0[0]])
            );
        }
        assert_eq!(affinity(child.id() as i32).unwrap(), allowed);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
