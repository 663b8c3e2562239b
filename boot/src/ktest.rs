//! Running one test kernel and judging it from its console lines.
//!
//! The kernel side (`kernel::testing`) prints `running N tests` and one `test NAME ... ok` line
//! per passing test, then ends QEMU with the success status. Anything else (a `FAILED` line, a
//! panic, a reset, a timeout, fewer results than announced) fails the test kernel.

use crate::build::KernelElf;
use crate::image::{self, ImageError};
use crate::qemu::{self, MachineConfig, Outcome, QemuError};
use std::fmt;
use std::time::{Duration, Instant};

/// What one test kernel did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// The count from the kernel's `running N tests` line.
    pub announced: Option<usize>,
    /// Tests that printed `ok`.
    pub passed: Vec<String>,
    /// Tests that printed `FAILED`, or were running when the kernel stopped.
    pub failed: Vec<String>,
    /// The test whose line is open (started, no result yet).
    running: Option<String>,
}

impl Report {
    /// Takes one console line into account.
    pub fn observe(&mut self, line: &str) {
        if let Some(count) = line.strip_prefix("running ").and_then(|r| r.strip_suffix(" tests")) {
            self.announced = count.parse().ok();
        } else if let Some(rest) = line.strip_prefix("test ") {
            let (name, result) = rest.split_once(" ...").unwrap_or((rest, ""));
            match result.trim() {
                "ok" => self.passed.push(name.to_string()),
                "" => self.running = Some(name.to_string()),
                _ => self.failed.push(name.to_string()),
            }
        }
    }

    /// Closes the report once the kernel has stopped: a test left open counts as failed.
    pub fn finish(&mut self) {
        if let Some(name) = self.running.take() {
            if !self.passed.contains(&name) && !self.failed.contains(&name) {
                self.failed.push(name);
            }
        }
    }

    /// Whether every announced test passed.
    pub fn all_passed(&self) -> bool {
        self.failed.is_empty() && self.announced == Some(self.passed.len())
    }

    /// Tests announced but never reported.
    pub fn not_run(&self) -> usize {
        self.announced.unwrap_or(0).saturating_sub(self.passed.len() + self.failed.len())
    }
}

/// The verdict on one test kernel.
#[derive(Debug)]
pub struct Verdict {
    /// The per-test results.
    pub report: Report,
    /// How QEMU ended.
    pub outcome: Outcome,
    /// Wall-clock time of the QEMU run.
    pub elapsed: Duration,
}

impl Verdict {
    /// Whether the test kernel passed: all tests ok and a clean shutdown.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Success && self.report.all_passed()
    }
}

impl fmt::Display for Verdict {
    /// The libtest summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let result = if self.passed() { "ok" } else { "FAILED" };
        write!(
            f,
            "test result: {result}. {} passed; {} failed; {} ignored; 0 measured; 0 filtered out; finished in {:.2}s",
            self.report.passed.len(),
            self.report.failed.len(),
            self.report.not_run(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// A test kernel that could not be run at all.
#[derive(Debug)]
pub enum RunError {
    /// No disk image.
    Image(ImageError),
    /// No QEMU.
    Qemu(QemuError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Image(e) => e.fmt(f),
            Self::Qemu(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RunError {}

/// Guest memory (MiB) of the user test programs that need their own, by program name: those
/// that exhaust physical memory run on a small machine, where that takes seconds, and
/// `test_scale` (a map of a million entries) on a large one. Every other program runs on the
/// runner's default machine.
pub const USER_TEST_MEMORY_MIB: &[(&str, u64)] = &[("test_limits", 64), ("test_scale", 2048)];

/// CPUs of the user test programs that need several, by program name: the multiprocessor
/// race tests run their threads on 4 CPUs (QEMU's multi-threaded TCG). Every other program
/// runs with the runner's default CPU count.
pub const USER_TEST_CPUS: &[(&str, u32)] =
    &[("test_smp_faults", 4), ("test_smp_copy", 4), ("test_smp_fork", 4), ("test_smp_fuzz", 4)];

/// The machine that boots user test program `name`: `base`, with the program's own memory
/// size if [`USER_TEST_MEMORY_MIB`] gives one and its own CPU count if [`USER_TEST_CPUS`]
/// does.
pub fn user_test_machine(name: &str, base: &MachineConfig) -> MachineConfig {
    let memory = USER_TEST_MEMORY_MIB.iter().find(|(program, _)| *program == name).map(|(_, mib)| *mib);
    let cpus = USER_TEST_CPUS.iter().find(|(program, _)| *program == name).map(|(_, cpus)| *cpus);
    MachineConfig { memory_mib: memory.unwrap_or(base.memory_mib), cpus: cpus.unwrap_or(base.cpus), ..base.clone() }
}

/// Boots `kernel` (with `ramdisk`, if any) on `machine`, echoing its console, and judges
/// the result.
pub fn run(kernel: &KernelElf, ramdisk: Option<&std::path::Path>, machine: &MachineConfig) -> Result<Verdict, RunError> {
    let image = image::disk_image(&kernel.path, ramdisk, machine.firmware).map_err(RunError::Image)?;
    let command = qemu::command(&image, machine).map_err(RunError::Qemu)?;
    let mut report = Report::default();
    let start = Instant::now();
    let outcome = qemu::run(command, machine.timeout, |line| {
        println!("{line}");
        report.observe(line);
    })
    .map_err(RunError::Qemu)?;
    report.finish();
    Ok(Verdict { report, outcome, elapsed: start.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(lines: &[&str]) -> Report {
        let mut report = Report::default();
        lines.iter().for_each(|line| report.observe(line));
        report.finish();
        report
    }

    #[test]
    fn a_clean_run_passes() {
        let r = report(&["[INFO ] boot", "running 2 tests", "test a ... ok", "test b::c ... ok"]);
        assert_eq!(r.passed, ["a", "b::c"]);
        assert!(r.all_passed());
    }

    #[test]
    fn a_failed_line_fails() {
        let r = report(&["running 2 tests", "test a ... ok", "test b ... FAILED", "[PANIC] x"]);
        assert_eq!(r.failed, ["b"]);
        assert!(!r.all_passed());
    }

    #[test]
    fn a_test_cut_off_fails_and_the_rest_did_not_run() {
        let r = report(&["running 3 tests", "test a ... ok", "test b ... "]);
        assert_eq!(r.failed, ["b"]);
        assert_eq!(r.not_run(), 1);
        assert!(!r.all_passed());
    }

    #[test]
    fn missing_results_fail() {
        assert!(!report(&["running 2 tests", "test a ... ok"]).all_passed());
        assert!(!report(&["test a ... ok"]).all_passed());
    }

    #[test]
    fn user_tests_get_their_own_memory_only_when_listed() {
        let base = MachineConfig { memory_mib: 512, ..MachineConfig::default() };
        assert_eq!(user_test_machine("test_limits", &base).memory_mib, 64);
        assert_eq!(user_test_machine("test_limits", &base).timeout, base.timeout, "the rest is kept");
        assert_eq!(user_test_machine("test_tasks", &base), base);
        for (_, mib) in USER_TEST_MEMORY_MIB {
            assert!(*mib >= 64, "QEMU machines have at least 64 MiB");
        }
    }

    #[test]
    fn user_tests_get_their_own_cpus_only_when_listed() {
        let base = MachineConfig { memory_mib: 512, ..MachineConfig::default() };
        let smp = user_test_machine("test_smp_faults", &base);
        assert_eq!((smp.cpus, smp.memory_mib), (4, 512), "the memory is kept");
        assert_eq!(user_test_machine("test_tasks", &base).cpus, base.cpus);
        for (name, cpus) in USER_TEST_CPUS {
            assert!(name.starts_with("test_") && (1..=64).contains(cpus), "{name}: {cpus}");
        }
    }

    #[test]
    fn a_verdict_needs_a_clean_shutdown() {
        let clean = report(&["running 1 tests", "test a ... ok"]);
        let verdict = |outcome| Verdict { report: clean.clone(), outcome, elapsed: Duration::ZERO };
        assert!(verdict(Outcome::Success).passed());
        assert!(!verdict(Outcome::Reset).passed());
        assert!(!verdict(Outcome::TimedOut(Duration::from_secs(1))).passed());
        assert!(verdict(Outcome::Success).to_string().starts_with("test result: ok. 1 passed; 0 failed"));
    }
}
