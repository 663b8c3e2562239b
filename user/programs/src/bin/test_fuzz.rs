//! The system-call fuzzer's short run (see `user/programs/FUZZ.md`): init fuzzes itself
//! alone, checking after every reset that the free frames are back; then worker tasks fuzz
//! at once with their own seeds and kamikaze children. Every check of the fuzzer must hold,
//! every call number must have been tried, and every frame, wiring and handle must come back.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach::*;

#[path = "../fuzz/mod.rs"]
mod fuzz;
use fuzz::check::{assert_everything_back, settled_free_frames, vm_stats};
use fuzz::stats::{self, Stats, RAW_CALL};
use fuzz::{campaign, Plan};

mach::entry!(main);

fn main() -> i32 {
    mach::test::run(&mach::tests![
        init_fuzzes_itself_and_gives_every_frame_back,
        concurrent_workers_and_kamikaze_children_stay_sane,
        every_call_number_was_fuzzed,
        every_frame_wiring_and_handle_came_back,
    ])
}

/// Init alone: a reset (and a frame check) every other batch.
const INIT_PLAN: Plan = Plan {
    base_seed: 0x5eed_0100,
    workers: 0,
    calls: 8000,
    batch: 200,
    kamikaze_every: 2,
    kamikaze_calls: 300,
    reset_every: 2,
    trace_seed: u64::MAX,
    trace_from: 0,
    alone: 1,
    threads: 1,
};

/// Three workers at once.
const WORKER_PLAN: Plan = Plan { workers: 3, calls: 6000, batch: 250, kamikaze_every: 3, kamikaze_calls: 400, reset_every: 6, alone: 0, ..INIT_PLAN };

static FREE_BEFORE: AtomicU64 = AtomicU64::new(0);
static WIRED_BEFORE: AtomicU64 = AtomicU64::new(0);

fn init_fuzzes_itself_and_gives_every_frame_back() {
    // Warm up: the same paths once, small, so that every page and table the runs touch in
    // this task exists before the count.
    let warm = Plan { calls: 300, workers: 1, kamikaze_every: 1, kamikaze_calls: 50, alone: 0, ..INIT_PLAN };
    assert!(campaign::run_init(&warm).1, "the warm-up run held");
    assert_eq!(campaign::run_workers(&warm).1, 0, "the warm-up worker held");
    let before = vm_stats();
    FREE_BEFORE.store(settled_free_frames(before.free_count), Ordering::SeqCst);
    WIRED_BEFORE.store(before.wire_count, Ordering::SeqCst);
    let (stats, ok) = campaign::run_init(&INIT_PLAN);
    assert!(ok && stats.violations == 0, "init's run held ({} violations)", stats.violations);
    assert!(stats.calls >= INIT_PLAN.calls);
}

fn concurrent_workers_and_kamikaze_children_stay_sane() {
    let (stats, failed) = campaign::run_workers(&WORKER_PLAN);
    stats.print("workers");
    assert_eq!(failed, 0, "every worker held");
    assert_eq!(stats.violations, 0);
    assert!(stats.kamikazes > 0, "kamikaze children ran");
}

/// Init's and every worker's statistics, kamikaze children's included.
fn everything() -> Stats {
    let mut total = Stats::ZERO;
    for slot in 0..=WORKER_PLAN.workers {
        total.add(stats::slot(slot, false));
        total.add(stats::slot(slot, true));
    }
    total
}

fn every_call_number_was_fuzzed() {
    let total = everything();
    for call in mach::raw::Sysno::ALL {
        assert!(total.per_call[call as usize] > 0, "{call:?} was never called");
    }
    assert!(total.per_call[RAW_CALL] > 0, "no out-of-range number was tried");
    let own: u64 = (0..=WORKER_PLAN.workers).map(|slot| stats::slot(slot, false).calls).sum();
    println!("fuzz total: {} calls ({} by kamikaze children), {} filtered", total.calls, total.calls - own, total.filtered);
    assert!(total.calls >= 25_000, "a run of at least 25 000 calls ({})", total.calls);
}

fn every_frame_wiring_and_handle_came_back() {
    assert_everything_back(FREE_BEFORE.load(Ordering::SeqCst), WIRED_BEFORE.load(Ordering::SeqCst));
}
