//! The system-call fuzzer with several threads per task (see `user/programs/FUZZ.md`),
//! booted with 4 CPUs (`boot::ktest::USER_TEST_CPUS`): init fuzzes its own map from four
//! lanes at once (with the host handle, so wiring races everything else), then worker tasks
//! of three lanes each fuzz at once with their kamikaze children. Every lane's checks must
//! hold, every task's final check (no untracked handle, no region but the critical ones,
//! nothing wired) too, every call number must have been tried, and every frame, wiring and
//! handle must come back.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach::*;

#[path = "../fuzz/mod.rs"]
mod fuzz;
#[path = "../smp.rs"]
mod smp;
use fuzz::check::{assert_everything_back, vm_stats};
use fuzz::stats::{self, Stats, RAW_CALL};
use fuzz::{campaign, Plan};

mach::entry!(main);

fn main() -> i32 {
    println!("smp: setup: {} processors run threads", mach::thread::processors());
    mach::test::run(&mach::tests![
        init_fuzzes_its_map_from_four_lanes_at_once,
        worker_tasks_of_three_lanes_stay_sane,
        every_call_number_was_fuzzed,
        every_frame_wiring_and_handle_came_back,
    ])
}

/// Init: four lanes on its own map.
const INIT_PLAN: Plan = Plan {
    base_seed: 0x5eed_0200,
    workers: 0,
    calls: 5000,
    batch: 200,
    kamikaze_every: 3,
    kamikaze_calls: 300,
    reset_every: 4,
    trace_seed: u64::MAX,
    trace_from: 0,
    alone: 0,
    threads: 4,
};

/// Two workers of three lanes each.
const WORKER_PLAN: Plan = Plan { workers: 2, calls: 4000, threads: 3, reset_every: 5, ..INIT_PLAN };

static FREE_BEFORE: AtomicU64 = AtomicU64::new(0);
static WIRED_BEFORE: AtomicU64 = AtomicU64::new(0);

fn init_fuzzes_its_map_from_four_lanes_at_once() {
    // Warm up: the same paths once, small, so that every page and table the runs touch in
    // this task exists before the count.
    let warm = Plan { calls: 200, workers: 1, kamikaze_every: 1, kamikaze_calls: 50, ..INIT_PLAN };
    assert!(campaign::run_init(&warm).1, "the warm-up run held");
    assert_eq!(campaign::run_workers(&Plan { threads: 3, ..warm }).1, 0, "the warm-up worker held");
    FREE_BEFORE.store(smp::stable_free_frames(), Ordering::SeqCst);
    WIRED_BEFORE.store(vm_stats().wire_count, Ordering::SeqCst);
    let (stats, ok) = campaign::run_init(&INIT_PLAN);
    assert!(ok && stats.violations == 0, "init's lanes held ({} violations)", stats.violations);
    assert!(stats.calls >= INIT_PLAN.calls * INIT_PLAN.threads, "every lane made its calls ({})", stats.calls);
}

fn worker_tasks_of_three_lanes_stay_sane() {
    let (stats, failed) = campaign::run_workers(&WORKER_PLAN);
    stats.print("workers");
    assert_eq!(failed, 0, "every worker held");
    assert_eq!(stats.violations, 0);
    assert!(stats.kamikazes > 0, "kamikaze children ran");
    assert!(stats.calls >= WORKER_PLAN.calls * WORKER_PLAN.threads * WORKER_PLAN.workers, "every lane made its calls ({})", stats.calls);
}

/// Every lane's statistics, kamikaze children's included.
fn everything() -> Stats {
    let mut total = Stats::ZERO;
    for slot in 0..=WORKER_PLAN.workers {
        total.add(&stats::task_total(slot));
    }
    total
}

fn every_call_number_was_fuzzed() {
    let total = everything();
    for call in mach::raw::Sysno::ALL {
        assert!(total.per_call[call as usize] > 0, "{call:?} was never called");
    }
    assert!(total.per_call[RAW_CALL] > 0, "no out-of-range number was tried");
    println!("fuzz total: {} calls, {} filtered, {} kamikaze children", total.calls, total.filtered, total.kamikazes);
    assert!(total.calls >= 45_000, "a run of at least 45 000 calls ({})", total.calls);
}

fn every_frame_wiring_and_handle_came_back() {
    assert_everything_back(FREE_BEFORE.load(Ordering::SeqCst), WIRED_BEFORE.load(Ordering::SeqCst));
}
