//! Describes the machine a run measured: cores, CPU model, memory, kernel, what an idle core does
//! (in a VM without halt polling every idle core exits to the host, and the next wake-up pays for
//! it), the filesystem the durable logs were written to (fsync on tmpfs costs nothing), and the
//! commit measured.

use serde::Serialize;
use std::path::Path;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// What `nproc` says: the CPUs this process may run on.
    pub cores: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    /// The cpuidle driver, and with the guest's `haltpoll` driver how long an idle core polls
    /// before it halts; `None` when the kernel has no cpuidle interface to read.
    pub cpu_idle: Option<String>,
    /// Filesystem type of the directory Herald's data went to.
    pub data_filesystem: String,
    /// `git rev-parse --short HEAD` of the working directory, when it is a checkout.
    pub commit: Option<String>,
    /// When the run started (UTC, RFC 3339).
    pub date: String,
}

impl Machine {
    pub fn describe(data_dir: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            memory_gib: mem_total_kib(&meminfo).map_or(0.0, |kib| kib as f64 / (1024.0 * 1024.0)),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            cpu_idle: cpu_idle(),
            data_filesystem: filesystem_type(data_dir),
            commit: git_commit(),
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// One line for humans.
    pub fn summary(&self) -> String {
        format!(
            "{} cores ({}), {:.1} GiB RAM, Linux {}{}, data on {}{}",
            self.cores,
            self.cpu_model,
            self.memory_gib,
            self.kernel,
            self.cpu_idle
                .as_deref()
                .map(|idle| format!(", idle cores: {idle}"))
                .unwrap_or_default(),
            self.data_filesystem,
            self.commit
                .as_deref()
                .map(|c| format!(", commit {c}"))
                .unwrap_or_default()
        )
    }
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

fn cpu_idle() -> Option<String> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let driver = read("/sys/devices/system/cpu/cpuidle/current_driver")?;
    let poll_ns = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
    Some(describe_cpu_idle(driver.trim(), poll_ns.as_deref()))
}

/// What an idle core does, from the cpuidle driver and the guest's halt-poll limit (in ns).
fn describe_cpu_idle(driver: &str, guest_halt_poll_ns: Option<&str>) -> String {
    match driver {
        "haltpoll" => {}
        // The kernel's default idle loop: no polling, the core halts at once.
        "none" => return "no cpuidle driver (an idle core halts at once)".to_string(),
        other => return format!("{other} driver"),
    }
    match guest_halt_poll_ns.and_then(|ns| ns.trim().parse::<u64>().ok()) {
        Some(0) => {
            "haltpoll driver, guest halt polling off (each idle core exits to the host)".to_string()
        }
        Some(ns) => format!(
            "haltpoll driver, polling up to {} µs before halting",
            ns / 1000
        ),
        None => "haltpoll driver".to_string(),
    }
}

fn filesystem_type(path: &Path) -> String {
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return "unknown".into();
    };
    // SAFETY: statfs(2) writes into a zeroed struct we own, given a NUL-terminated path.
    let magic = unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        if libc::statfs(c_path.as_ptr(), &mut stat) != 0 {
            return "unknown".into();
        }
        stat.f_type as u64
    };
    filesystem_name(magic)
}

fn filesystem_name(magic: u64) -> String {
    match magic {
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs (fsync is free here: durable figures are optimistic)".into(),
        0x794C_7630 => "overlayfs".into(),
        0x2FC1_2FC1 => "zfs".into(),
        other => format!("filesystem magic {other:#x}"),
    }
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_and_memory() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: x\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(
            mem_total_kib("MemTotal:       24684544 kB\nMemFree: 1 kB\n"),
            Some(24_684_544)
        );
        assert_eq!(filesystem_name(0xEF53), "ext4");
        assert!(filesystem_name(0x0102_1994).starts_with("tmpfs"));
    }

    #[test]
    fn says_whether_idle_cores_poll_before_halting() {
        assert_eq!(describe_cpu_idle("intel_idle", None), "intel_idle driver");
        assert!(describe_cpu_idle("none", None).starts_with("no cpuidle driver"));
        assert!(describe_cpu_idle("haltpoll", Some("0\n")).contains("halt polling off"));
        assert_eq!(
            describe_cpu_idle("haltpoll", Some("200000\n")),
            "haltpoll driver, polling up to 200 µs before halting"
        );
        assert_eq!(describe_cpu_idle("haltpoll", None), "haltpoll driver");
    }

    #[test]
    fn describes_this_machine() {
        let m = Machine::describe(Path::new("."));
        assert!(m.cores >= 1);
        assert!(m.memory_gib > 0.0);
        assert!(m.summary().contains("cores"));
    }
}
