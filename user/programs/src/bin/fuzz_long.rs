//! The long fuzz campaign (`cargo run --release -- fuzz`, see `user/programs/FUZZ.md`):
//! rounds of init fuzzing alone (frames checked after every reset) followed by worker tasks
//! fuzzing at once (every other round from three threads each), each round with new seeds,
//! until [`TARGET_CALLS`] calls have been made.
//! After each round every frame must be back. Prints one line per round and a summary;
//! exits 0 when every check held.

#![no_std]
#![no_main]

use mach::*;

#[path = "../fuzz/mod.rs"]
mod fuzz;
use fuzz::check::settled_free_frames;
use fuzz::stats::Stats;
use fuzz::{campaign, Plan};

mach::entry!(main);

/// Calls to make in all (kamikaze children's included).
const TARGET_CALLS: u64 = 5_000_000;
/// Most rounds, whatever the count.
const MAX_ROUNDS: u64 = 64;
/// The first round's seed; round `r` starts at `FIRST_SEED + 16 * r`.
const FIRST_SEED: u64 = 0x1000_0000;

/// Init's part of a round.
const INIT_PLAN: Plan = Plan {
    base_seed: FIRST_SEED,
    workers: 0,
    calls: 20_000,
    batch: 250,
    kamikaze_every: 2,
    kamikaze_calls: 500,
    reset_every: 4,
    trace_seed: u64::MAX,
    trace_from: 0,
    alone: 1,
    threads: 1,
};

/// The workers' part of a round.
const WORKER_PLAN: Plan = Plan { workers: 4, calls: 40_000, reset_every: 8, kamikaze_every: 4, alone: 0, ..INIT_PLAN };

fn free_frames() -> u64 {
    let mut s = VmStatistics::default();
    assert_eq!(vm_statistics(&mut s), KERN_SUCCESS);
    s.free_count
}

fn seconds(ticks: u64) -> u64 {
    let mut hz = 0;
    clock_tsc_hz(&mut hz);
    ticks / hz.max(1)
}

fn main() -> i32 {
    mach::test::detach();
    let start = rdtsc();
    // Warm up, so that every page and table this task touches exists before the count.
    campaign::run_init(&Plan { calls: 300, ..INIT_PLAN });
    campaign::run_workers(&Plan { calls: 300, workers: 1, ..WORKER_PLAN });
    let frames_before = settled_free_frames(free_frames());
    let mut total = Stats::ZERO;
    let (mut round, mut failures) = (0, 0);
    while total.calls < TARGET_CALLS && round < MAX_ROUNDS {
        let base_seed = FIRST_SEED + 16 * round;
        let (init, init_ok) = campaign::run_init(&Plan { base_seed, ..INIT_PLAN });
        // Every other round, each worker fuzzes its map from three lanes (threads) at once.
        let threads = if round % 2 == 1 { 3 } else { 1 };
        let (workers, failed) = campaign::run_workers(&Plan { base_seed, threads, ..WORKER_PLAN });
        total.add(&init);
        total.add(&workers);
        let frames = settled_free_frames(frames_before);
        let ok = init_ok && failed == 0 && frames == frames_before;
        failures += u64::from(!ok);
        println!(
            "fuzz_long round {round}: seeds {base_seed:#x}..={:#x}, {} calls in all, {} s, frames {frames_before} -> {frames}{}",
            base_seed + WORKER_PLAN.workers,
            total.calls,
            seconds(rdtsc() - start),
            if ok { "" } else { " FAILED" }
        );
        round += 1;
    }
    let seeds = round * (1 + WORKER_PLAN.workers);
    let kamikaze: u64 = total.kamikazes;
    println!(
        "fuzz_long done: {} calls, {round} rounds, {seeds} seeds (and {kamikaze} kamikaze children), {} violations, {} s, frames before {frames_before} after {}",
        total.calls,
        total.violations,
        seconds(rdtsc() - start),
        settled_free_frames(frames_before)
    );
    total.print("long");
    i32::from(failures > 0 || total.violations > 0)
}
