//! Memory measured in a child process: the bench binary runs itself again with a job in
//! [`ENV`], the child does only that job (no criterion, no server: the servers stay in the
//! parent) and prints its resident memory, which the parent reads. Peak resident memory
//! (`VmHWM`) is reset just before the measured work (`/proc/self/clear_refs`, `5`), so the figure
//! is the work's own peak over the child's baseline (runtime and client already built).

use std::process::Command;

/// The environment variable naming the child's job.
pub const ENV: &str = "TILEDB_TASKS_BENCH_CHILD";

/// The job this process was started for, if it is a measuring child.
pub fn job() -> Option<String> {
    std::env::var(ENV).ok()
}

/// Resident memory of a child's measured work, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    /// Resident memory just before the work (`VmRSS`).
    pub baseline_kib: u64,
    /// Peak resident memory during the work (`VmHWM`, reset at the baseline).
    pub peak_kib: u64,
}

impl Rss {
    /// The peak above the baseline, in MiB.
    pub fn growth_mib(&self) -> f64 {
        self.peak_kib.saturating_sub(self.baseline_kib) as f64 / 1024.0
    }

    /// The peak, in MiB.
    pub fn peak_mib(&self) -> f64 {
        self.peak_kib as f64 / 1024.0
    }
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// In the child: resets the peak to the current resident memory and returns that baseline.
pub fn start() -> u64 {
    // `5` resets VmHWM to VmRSS (Linux 4.0+); if it cannot, the peak is the process's whole life,
    // which only makes the figure larger.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_kib("VmRSS")
}

/// In the child: prints the measure for the parent (one `RSS baseline peak` line on stdout).
pub fn report(baseline_kib: u64) {
    println!("RSS {baseline_kib} {}", status_kib("VmHWM"));
}

/// In the parent: runs this binary again with `job` and returns what the child measured.
pub fn run(job: &str) -> Rss {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env(ENV, job)
        .output()
        .expect("run the measuring child");
    assert!(
        out.status.success(),
        "child {job:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RSS "))
        .unwrap_or_else(|| panic!("no RSS line from child {job:?}: {stdout}"));
    let mut f = line
        .split_whitespace()
        .map(|n| n.parse::<u64>().expect("kib"));
    Rss {
        baseline_kib: f.next().expect("baseline"),
        peak_kib: f.next().expect("peak"),
    }
}
