//! Multiprocessor races of faults with map changes, on real parallel threads (booted with 4
//! CPUs: `boot::ktest::USER_TEST_CPUS`): three worker threads and the main thread share one
//! map.
//!
//! Each round of the two race tests maps a region at a fixed address, lets every worker
//! write its own pages there (zero-fill faults in parallel, after the main thread has read
//! them through the shared zero page), then has the workers keep writing with *soft writes*
//! (`smp.rs`: the kernel writes on the worker's processor, through its TLB, and a refused
//! write fails the call instead of ending the task) while the main thread removes the region
//! (`vm_deallocate`) or makes it read-only (`vm_protect`). Half of each worker's pages are
//! first touched by those soft writes, so faults race the change too. Once the call has
//! returned the main thread announces it; from then on:
//!
//! - every soft write a worker makes after seeing the announcement must fail (a success went
//!   through a stale translation);
//! - after `vm_protect`, the region must keep the contents the main thread read right after
//!   the call returned: a change means a write that began before the announcement was seen
//!   still landed after the call had returned;
//! - in the next round, at the same address, every word each worker wrote must be in the new
//!   memory (a write through a translation left from the round before would land in the old
//!   frames instead), and the main thread must read it (not the zero page it read before).
//!
//! A third test has all four threads fault on the same pages at once, each writing its own
//! words: no write may be lost. After each test every frame, wiring, map entry and handle
//! name is back and the VM counters moved as the faults say.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach::*;

#[path = "../smp.rs"]
mod smp;
#[path = "../stress.rs"]
mod stress;
use smp::*;
use stress::{info, pretouch_stack, vm_stats, Resources};

mach::entry!(main);

fn main() -> i32 {
    pretouch_stack();
    report!("setup", "{} processors run threads", mach::thread::processors());
    mach::test::run(&mach::tests![
        faults_racing_deallocate_never_use_a_stale_translation,
        faults_racing_protect_never_write_read_only_memory,
        faults_on_the_same_pages_from_every_thread_lose_no_write,
    ])
}

/// Where the racing region lies (the same address every round).
const BASE: u64 = 0x5000_0000_0000;
/// Worker threads (the main thread is the fourth).
const WORKERS: usize = 3;
/// Pages of each worker that it writes itself (ring-3 stores).
const DIRECT: u64 = 4;
/// Pages of each worker that only its soft writes touch (faulted in by the kernel).
const FAULTED: u64 = 4;
const PER_WORKER: u64 = DIRECT + FAULTED;
const PAGES: u64 = WORKERS as u64 * PER_WORKER;
/// Rounds of each race test: at least, at most, and the seconds the rounds past the least
/// may take (`smp::Budget`).
const ROUNDS: (u64, u64, u64) = (10, 300, 10);
/// Rounds of the same-page test.
const SAME_PAGE_ROUNDS: (u64, u64, u64) = (10, 200, 6);
/// Pages of the same-page test.
const SAME_PAGES: u64 = 32;

// Steps of a round.
const OPEN: u64 = 1;
const RACE: u64 = 2;
const CLOSED: u64 = 3;
const QUIT: u64 = 4;
const SAME: u64 = 5;

/// What the main thread does while the workers race.
const DEALLOCATE: u64 = 0;
const PROTECT: u64 = 1;

static STEPS: Steps = Steps::new();
static ACKS: Acks<WORKERS> = Acks::new();
/// Soft writes each worker attempted in the current round.
static SOFT: Counters<WORKERS> = Counters::new();
/// Soft writes that succeeded, over a test.
static SOFT_OK: Counters<WORKERS> = Counters::new();
static MODE: AtomicU64 = AtomicU64::new(DEALLOCATE);
static VIOLATIONS: Violations = Violations::new();
const VIOLATION_NAMES: [&str; 1] = ["a soft write succeeded after the call had returned and the worker had seen it"];

/// The value worker `w` writes at word `word` of its pages in round `round`.
fn tag(round: u64, w: u64, word: u64) -> u64 {
    0xa500_0000_0000_0000 | round << 24 | w << 16 | word
}

/// Page `i` of worker `w`.
fn page_of(w: u64, i: u64) -> u64 {
    BASE + (w * PER_WORKER + i) * PAGE
}

/// The address of the `n`-th soft write of worker `w` in a round: over its pages in turn,
/// one word further each time round, so that no word is written twice before `n` reaches
/// `PER_WORKER * WORDS`.
fn soft_target(w: u64, n: u64) -> u64 {
    page_of(w, n % PER_WORKER) + 8 * ((n / PER_WORKER) % WORDS)
}

fn worker(w: u64) {
    let mut seen = 0;
    loop {
        let word = STEPS.next_after(seen);
        seen = match step_of(word) {
            OPEN => {
                write_direct_pages(w, round_of(word));
                ACKS.ack(w, word);
                word
            }
            RACE => race(w, word),
            SAME => {
                write_same_pages(w, round_of(word));
                ACKS.ack(w, word);
                word
            }
            QUIT => return,
            _ => word,
        };
    }
}

/// Writes every word of the worker's direct pages.
fn write_direct_pages(w: u64, round: u64) {
    for i in 0..DIRECT {
        let page = page_of(w, i);
        for word in 0..WORDS {
            store(page + 8 * word, tag(round, w, word));
        }
    }
}

/// Soft-writes until the step changes (after a protection, at most once per word), then,
/// the change seen, checks that no soft write succeeds any more; returns the step it
/// acknowledged.
fn race(w: u64, race: u64) -> u64 {
    let limit = if MODE.load(Ordering::SeqCst) == PROTECT { PER_WORKER * WORDS } else { u64::MAX };
    let mut n = 0;
    let closed = loop {
        let now = STEPS.now();
        if now != race {
            break now;
        }
        if n < limit {
            if soft_write(soft_target(w, n)) {
                SOFT_OK.add(w, 1);
            }
            n += 1;
            SOFT.set(w, n);
        } else {
            thread_switch();
        }
    };
    assert_eq!(closed, race - RACE + CLOSED, "the step after a race closes it");
    for i in 0..PER_WORKER {
        for word in [0, WORDS / 2, WORDS - 1] {
            let at = page_of(w, i) + 8 * word;
            if soft_write(at) {
                VIOLATIONS.record(0, at, round_of(race));
            }
        }
    }
    ACKS.ack(w, closed);
    closed
}

/// The workers, started.
struct Crew {
    threads: [Option<mach::thread::Thread>; WORKERS],
}

impl Crew {
    fn start(mode: u64) -> Self {
        MODE.store(mode, Ordering::SeqCst);
        VIOLATIONS.reset();
        for w in 0..WORKERS as u64 {
            SOFT_OK.set(w, 0);
        }
        Self { threads: core::array::from_fn(|w| Some(start(worker, w as u64))) }
    }

    fn stop(mut self) {
        STEPS.announce(0, QUIT);
        for thread in self.threads.iter_mut() {
            join(thread.take().expect("started"));
        }
        STEPS.announce(0, 0);
    }
}

/// Every word of `[address, address + pages)` is 0.
fn check_zero(address: u64, pages: u64) {
    for page in 0..pages {
        for word in 0..WORDS {
            let at = address + page * PAGE + 8 * word;
            assert_eq!(load(at), 0, "fresh memory at {at:#x} is not zero");
        }
    }
}

/// Every word each worker wrote in `round` is there.
fn check_direct(round: u64) {
    for w in 0..WORKERS as u64 {
        for i in 0..DIRECT {
            for word in 0..WORDS {
                let at = page_of(w, i) + 8 * word;
                let found = load(at);
                assert_eq!(
                    found,
                    tag(round, w, word),
                    "round {round}: worker {w}'s write at {at:#x} is missing (a stale translation sent it elsewhere, or this thread read through one)"
                );
            }
        }
    }
}

/// Maps the region, has the workers write it and start racing; returns the race step.
fn open_and_race(round: u64, rng: &mut Rng) -> u64 {
    allocate_at(BASE, PAGES);
    check_zero(BASE, PAGES);
    let open = STEPS.announce(round, OPEN);
    ACKS.wait_all(open, "the workers' writes");
    check_direct(round);
    for w in 0..WORKERS as u64 {
        SOFT.set(w, 0);
    }
    let race = STEPS.announce(round, RACE);
    let want = 1 + rng.below(24);
    wait_for("the workers' soft writes", || SOFT.min() >= want);
    race
}

/// Announces the end of the race and waits for every worker's checks.
fn close(round: u64) {
    let closed = STEPS.announce(round, CLOSED);
    ACKS.wait_all(closed, "the workers' checks");
}

fn deallocate_round(round: u64, rng: &mut Rng) {
    open_and_race(round, rng);
    deallocate(BASE, PAGES);
    close(round);
    assert!(!mapped(BASE, PAGES * PAGE), "round {round}: the region is gone");
}

fn protect_round(round: u64, rng: &mut Rng, snapshot: u64) {
    open_and_race(round, rng);
    assert_eq!(vm_protect(mach_task_self(), BASE, PAGES * PAGE, FALSE, VM_PROT_READ), KERN_SUCCESS);
    for word in 0..PAGES * WORDS {
        store(snapshot + 8 * word, load(BASE + 8 * word));
    }
    close(round);
    for word in 0..PAGES * WORDS {
        let (at, was) = (BASE + 8 * word, load(snapshot + 8 * word));
        let now = load(at);
        assert_eq!(now, was, "round {round}: {at:#x} changed from {was:#x} to {now:#x} after vm_protect(READ) returned");
    }
    deallocate(BASE, PAGES);
}

/// What a race test moved: soft writes that succeeded and the counters' progress.
struct Figures {
    rounds: u64,
    soft_ok: u64,
    faults: u64,
    zero_fills: u64,
}

/// Runs rounds of `mode` with three workers, numbered from `first_round`, as many as
/// `budget` allows.
fn run_races(mode: u64, first_round: u64, budget: &Budget) -> Figures {
    let stats = vm_stats();
    let crew = Crew::start(mode);
    let mut rng = Rng::new(mode << 32 | first_round);
    let mut snapshot = 0;
    if mode == PROTECT {
        assert_eq!(vm_allocate(mach_task_self(), &mut snapshot, PAGES * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    }
    let mut rounds = 0;
    while budget.more(rounds) {
        let round = first_round + rounds;
        match mode {
            DEALLOCATE => deallocate_round(round, &mut rng),
            _ => protect_round(round, &mut rng, snapshot),
        }
        rounds += 1;
    }
    crew.stop();
    if snapshot != 0 {
        deallocate(snapshot, PAGES);
    }
    VIOLATIONS.assert_none(&VIOLATION_NAMES);
    let after = vm_stats();
    Figures { rounds, soft_ok: SOFT_OK.total(), faults: after.faults - stats.faults, zero_fills: after.zero_fill_count - stats.zero_fill_count }
}

/// Runs a race test: two rounds to warm up, then the count, then the checks that everything
/// came back and that the counters moved at least as the workers' faults say.
fn race_test(name: &str, mode: u64) {
    run_races(mode, 1, &Budget::new(2, 2, 0));
    let before = Resources { free_frames: stable_free_frames(), ..Resources::now() };
    let resident = info(mach_task_self()).resident_count;
    let (min, max, seconds) = ROUNDS;
    let figures = run_races(mode, 3, &Budget::new(min, max, seconds));
    before.assert_back(name);
    let task = info(mach_task_self());
    assert_eq!((task.resident_count, task.wired_count), (resident, 0), "{name}: the task's resident and wired pages came back");
    // Each round, each worker's direct pages take at least one zero-fill fault each.
    let least = figures.rounds * WORKERS as u64 * DIRECT;
    assert!(figures.faults >= least && figures.zero_fills >= least, "{name}: {} faults, {} zero fills, at least {least} expected", figures.faults, figures.zero_fills);
    assert!(figures.soft_ok > 0, "{name}: some soft writes landed before the call");
    report!(name, "{} rounds, {} soft writes landed, {} faults, {} zero fills", figures.rounds, figures.soft_ok, figures.faults, figures.zero_fills);
}

fn faults_racing_deallocate_never_use_a_stale_translation() {
    race_test("deallocate", DEALLOCATE);
}

fn faults_racing_protect_never_write_read_only_memory() {
    race_test("protect", PROTECT);
}

/// Word `id` of every page of the same-page region, and word `WORDS - 1 - id`: thread
/// `id`'s. In odd rounds every thread walks the pages in the same order (their faults meet
/// on each page); in even rounds each starts a quarter further.
fn write_same_pages(id: u64, round: u64) {
    let start = if round % 2 == 1 { 0 } else { id * SAME_PAGES / 4 };
    for k in 0..SAME_PAGES {
        let page = BASE + ((start + k) % SAME_PAGES) * PAGE;
        store(page + 8 * id, tag(round, id, id));
        store(page + 8 * (WORDS - 1 - id), tag(round, id, WORDS - 1 - id));
    }
}

/// Runs same-page rounds numbered from `first`, as many as `budget` allows; returns how many.
fn same_page_rounds(first: u64, budget: &Budget) -> u64 {
    let crew = Crew::start(DEALLOCATE);
    let mut rounds = 0;
    while budget.more(rounds) {
        let round = first + rounds;
        rounds += 1;
        allocate_at(BASE, SAME_PAGES);
        let same = STEPS.announce(round, SAME);
        write_same_pages(WORKERS as u64, round);
        ACKS.wait_all(same, "the workers' writes");
        for page in 0..SAME_PAGES {
            for id in 0..=WORKERS as u64 {
                for word in [id, WORDS - 1 - id] {
                    let at = BASE + page * PAGE + 8 * word;
                    assert_eq!(load(at), tag(round, id, word), "round {round}: thread {id}'s write at {at:#x} was lost");
                }
            }
        }
        deallocate(BASE, SAME_PAGES);
    }
    crew.stop();
    rounds
}

fn faults_on_the_same_pages_from_every_thread_lose_no_write() {
    same_page_rounds(1, &Budget::new(2, 2, 0));
    let before = Resources { free_frames: stable_free_frames(), ..Resources::now() };
    let stats = vm_stats();
    let (min, max, seconds) = SAME_PAGE_ROUNDS;
    let rounds = same_page_rounds(3, &Budget::new(min, max, seconds));
    let after = vm_stats();
    before.assert_back("same-page faults");
    let fills = after.zero_fill_count - stats.zero_fill_count;
    assert!(fills >= rounds * SAME_PAGES, "each page was zero-filled ({fills} zero fills)");
    report!("same pages", "{rounds} rounds of {SAME_PAGES} pages, {fills} zero fills, {} faults", after.faults - stats.faults);
}
