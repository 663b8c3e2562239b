//! What a campaign records: the plan (shared by init with the workers) and each task's
//! statistics (per-call counts and a histogram of results), in the shared report area.

use super::layout::{PAGE, REPORTS};
use mach::println;

/// How a campaign runs; init writes it in report page 0 before starting the workers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Plan {
    /// The seed of slot 0 (init); slot `i` fuzzes with `base_seed + i`.
    pub base_seed: u64,
    /// Worker tasks (slots 1 to `workers`).
    pub workers: u64,
    /// Calls each task makes (its kamikaze children's calls not included).
    pub calls: u64,
    /// Calls between two self-checks.
    pub batch: u64,
    /// Batches between two kamikaze children (0: none).
    pub kamikaze_every: u64,
    /// Calls of one kamikaze child.
    pub kamikaze_calls: u64,
    /// Batches between two full releases of everything the fuzzer holds.
    pub reset_every: u64,
    /// Print every call of this seed from call `trace_from` on (`u64::MAX`: none).
    pub trace_seed: u64,
    /// See `trace_seed`.
    pub trace_from: u64,
    /// Non-zero when one task fuzzes alone: it then checks the free frames at each reset.
    pub alone: u64,
    /// Threads (lanes) fuzzing at once in each task, on the same map (0 or 1: one). Lane `l`
    /// of slot `s` fuzzes with seed `seed + l * LANE_SEED_STEP` and reports in slot
    /// [`lane_slot`]`(s, l)`.
    pub threads: u64,
}

/// Most lanes of one task.
pub const MAX_LANES: u64 = 4;
/// Slots of the tasks of a campaign (init's, then the workers'); lanes beyond the first use
/// the slots above, [`TASK_SLOTS`] apart.
pub const TASK_SLOTS: u64 = 16;
/// The seed of lane `l` is the task's seed plus `l` times this.
pub const LANE_SEED_STEP: u64 = 0x1_0000;

/// The report slot of lane `lane` of the task in slot `slot`.
pub fn lane_slot(slot: u64, lane: u64) -> u64 {
    slot + lane * TASK_SLOTS
}

/// The statistics of every lane of the task in slot `slot` (kamikaze children's included).
pub fn task_total(slot: u64) -> Stats {
    let mut total = Stats { seed: self::slot(slot, false).seed, ..Stats::ZERO };
    for lane in 0..MAX_LANES {
        total.add(self::slot(lane_slot(slot, lane), false));
        total.add(self::slot(lane_slot(slot, lane), true));
    }
    total
}

/// Clears the statistics of every lane of the task in slot `slot`.
pub fn clear_task(slot: u64) {
    for lane in 0..MAX_LANES {
        *self::slot(lane_slot(slot, lane), false) = Stats::ZERO;
        *self::slot(lane_slot(slot, lane), true) = Stats::ZERO;
    }
}

/// Histogram buckets for `kern_return_t` values 0 to 63.
pub const KERN_BUCKETS: usize = 64;
/// Index of out-of-range call numbers in [`Stats::per_call`].
pub const RAW_CALL: usize = 63;

/// One task's statistics (init's, a worker's, or a worker's kamikaze children's together).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub seed: u64,
    pub calls: u64,
    /// Generated calls that were dropped because they would have hit the task's own
    /// critical memory.
    pub filtered: u64,
    pub batches: u64,
    pub resets: u64,
    pub kamikazes: u64,
    /// Kamikaze children that the kernel killed (status -1) rather than that exited.
    pub kamikaze_killed: u64,
    pub kamikaze_timeouts: u64,
    pub violations: u64,
    /// Time-stamp counter ticks spent.
    pub ticks: u64,
    /// Calls by number (out-of-range numbers at [`RAW_CALL`]).
    pub per_call: [u64; 64],
    /// Results by `kern_return_t` value.
    pub kern: [u64; KERN_BUCKETS],
    /// Results of the Hurd calls by errno value.
    pub errno: [u64; 32],
    /// Results outside every known value.
    pub unknown: u64,
}

impl Stats {
    pub const ZERO: Stats = Stats {
        seed: 0,
        calls: 0,
        filtered: 0,
        batches: 0,
        resets: 0,
        kamikazes: 0,
        kamikaze_killed: 0,
        kamikaze_timeouts: 0,
        violations: 0,
        ticks: 0,
        per_call: [0; 64],
        kern: [0; KERN_BUCKETS],
        errno: [0; 32],
        unknown: 0,
    };

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Stats) {
        self.calls += other.calls;
        self.filtered += other.filtered;
        self.batches += other.batches;
        self.resets += other.resets;
        self.kamikazes += other.kamikazes;
        self.kamikaze_killed += other.kamikaze_killed;
        self.kamikaze_timeouts += other.kamikaze_timeouts;
        self.violations += other.violations;
        self.ticks = self.ticks.max(other.ticks);
        self.unknown += other.unknown;
        add_all(&mut self.per_call, &other.per_call);
        add_all(&mut self.kern, &other.kern);
        add_all(&mut self.errno, &other.errno);
    }

    /// Prints the counts on one line per kind, prefixed with `label`.
    pub fn print(&self, label: &str) {
        println!(
            "fuzz {label}: seed {:#x} calls {} filtered {} batches {} resets {} kamikaze {} (killed {}, timed out {}) violations {} ticks {}",
            self.seed, self.calls, self.filtered, self.batches, self.resets, self.kamikazes, self.kamikaze_killed, self.kamikaze_timeouts, self.violations, self.ticks
        );
        let mut line = Line::new(label, "kern");
        for (code, &n) in self.kern.iter().enumerate().filter(|(_, n)| **n > 0) {
            line.push(format_args!("{}={n}", kern_name(code)));
        }
        line.push(format_args!("unknown={}", self.unknown));
        line.flush();
        let mut line = Line::new(label, "hurd");
        for (errno, &n) in self.errno.iter().enumerate().filter(|(_, n)| **n > 0) {
            line.push(format_args!("{}={n}", errno_name(errno)));
        }
        line.flush();
        let mut line = Line::new(label, "calls");
        for (no, &n) in self.per_call.iter().enumerate().filter(|(_, n)| **n > 0) {
            match mach::raw::Sysno::from_raw(no as u64) {
                Some(call) => line.push(format_args!("{call:?}={n}")),
                None if no == RAW_CALL => line.push(format_args!("no-call={n}")),
                None => line.push(format_args!("no-call-{no}={n}")),
            }
        }
        line.flush();
    }
}

fn add_all<const N: usize>(sum: &mut [u64; N], more: &[u64; N]) {
    for (s, m) in sum.iter_mut().zip(more) {
        *s += m;
    }
}

/// A line of `NAME=count` pairs, printed in pieces short enough for the console.
struct Line<'a> {
    label: &'a str,
    kind: &'a str,
    text: [u8; 200],
    len: usize,
}

impl<'a> Line<'a> {
    fn new(label: &'a str, kind: &'a str) -> Self {
        Self { label, kind, text: [0; 200], len: 0 }
    }

    /// Appends ` pair`, printing the line first if the pair would not fit.
    fn push(&mut self, pair: core::fmt::Arguments<'_>) {
        use core::fmt::Write;
        let mut piece = Piece { bytes: [0; 64], len: 0 };
        let _ = write!(piece, " {pair}");
        if self.len + piece.len > self.text.len() {
            self.flush();
        }
        self.text[self.len..self.len + piece.len].copy_from_slice(&piece.bytes[..piece.len]);
        self.len += piece.len;
    }

    fn flush(&mut self) {
        if self.len > 0 {
            let text = core::str::from_utf8(&self.text[..self.len]).unwrap_or("?");
            println!("fuzz {} {}:{text}", self.label, self.kind);
            self.len = 0;
        }
    }
}

/// A short formatted piece (cut at 64 bytes).
struct Piece {
    bytes: [u8; 64],
    len: usize,
}

impl core::fmt::Write for Piece {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// The name of a `kern_return_t` value.
pub fn kern_name(code: usize) -> &'static str {
    match code {
        0 => "SUCCESS",
        1 => "INVALID_ADDRESS",
        2 => "PROTECTION_FAILURE",
        3 => "NO_SPACE",
        4 => "INVALID_ARGUMENT",
        5 => "FAILURE",
        6 => "RESOURCE_SHORTAGE",
        8 => "NO_ACCESS",
        9 => "MEMORY_FAILURE",
        10 => "MEMORY_ERROR",
        16 => "INVALID_TASK",
        18 => "INVALID_VALUE",
        22 => "INVALID_HOST",
        29 => "INVALID_OBJECT",
        46 => "NOT_SUPPORTED",
        _ => "other",
    }
}

fn errno_name(errno: usize) -> &'static str {
    match errno {
        0 => "0",
        12 => "ENOMEM",
        17 => "EEXIST",
        22 => "EINVAL",
        28 => "ENOSPC",
        _ => "other",
    }
}

/// The plan in report page 0.
pub fn plan() -> &'static mut Plan {
    // SAFETY: report page 0 is mapped read-write in every fuzzing task before it runs, holds
    // only the plan, and nothing else refers to it while a task uses the reference.
    unsafe { &mut *(REPORTS as *mut Plan) }
}

/// The statistics of slot `slot`: its own (`kamikaze` false) or its kamikaze children's.
pub fn slot(slot: u64, kamikaze: bool) -> &'static mut Stats {
    let at = REPORTS + (1 + slot) * PAGE + if kamikaze { PAGE / 2 } else { 0 };
    // SAFETY: the report pages are mapped read-write (shared) in every fuzzing task; each
    // half page is written by one task at a time (the slot's task, or its one running
    // kamikaze child) and read by init after that task has ended.
    unsafe { &mut *(at as *mut Stats) }
}
