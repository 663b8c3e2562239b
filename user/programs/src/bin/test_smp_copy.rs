//! Multiprocessor races of copies with protection changes and wiring on the same ranges (the
//! shapes of the Smith and Landa exploits against XNU), on real parallel threads (booted with
//! 4 CPUs: `boot::ktest::USER_TEST_CPUS`).
//!
//! A copier thread copies an 8-page source over an 8-page destination made of two entries,
//! again and again, each time with new contents: with `vm_copy`, or `vm_copyin` then
//! `vm_copy_overwrite`, of the whole range (a virtual copy) or of the two pages around the
//! entries' boundary (a copy through a kernel buffer). Meanwhile:
//!
//! - the main thread makes one of the destination's entries read-only for good (`vm_protect`
//!   with `set_maximum`), and says so once the call has returned; a wiring thread (in the
//!   second test) wires and unwires the destination, for reading or for writing;
//! - in the third test, the main thread flips the *source* between read-write, read-only and
//!   no access while the copier rewrites it with `vm_write`.
//!
//! What must hold: every copy is all-or-nothing and a snapshot (right after a successful
//! copy, every destination page it covered holds the contents the source had when the copy
//! began); a copy or a wiring for writing begun after the protection was announced fails; the
//! read-only entry keeps, to the last word, the contents it had when `vm_protect` returned;
//! every wiring succeeds exactly when the protection allows it and every unwiring succeeds.
//! The fourth test races copies whose size overflows (Smith: `vm_copy` whose end wraps to 0)
//! with protection changes of their source and with ordinary copies: the overflowing calls
//! fail, and nothing else notices them. After each test every frame, wiring, map entry and
//! handle name is back.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach::*;

#[path = "../smp.rs"]
mod smp;
#[path = "../stress.rs"]
mod stress;
use smp::*;
use stress::{info, pretouch_stack, Resources};

mach::entry!(main);

fn main() -> i32 {
    pretouch_stack();
    report!("setup", "{} processors run threads", mach::thread::processors());
    mach::test::run(&mach::tests![
        copies_racing_protect_never_write_read_only_memory,
        copies_racing_wiring_and_protect_stay_all_or_nothing,
        copies_racing_protection_of_their_source_are_snapshots,
        overflowing_copies_racing_protect_change_nothing,
    ])
}

/// The source: 8 pages.
const SRC: u64 = 0x5100_0000_0000;
/// The destination: two entries of 4 pages.
const DST: u64 = 0x5200_0000_0000;
/// The copier's staging buffer for `vm_write`.
const STAGE: u64 = 0x5300_0000_0000;
const PAGES: u64 = 8;
const HALF: u64 = 4;
/// Rounds of the round tests: at least, at most, and the seconds the rounds past the least
/// may take (`smp::Budget`).
const ROUNDS: (u64, u64, u64) = (5, 200, 8);
const SOURCE_ROUNDS: (u64, u64, u64) = (5, 100, 6);
/// Protection changes of the source per round.
const FLIPS: u64 = 6;
/// Iterations of each thread in the overflow test: at least, at most, and the seconds the
/// iterations past the least may take.
const OVERFLOW_CALLS: (u64, u64, u64) = (200, 10_000, 5);
/// Iterations the overflow test's threads made.
static ITERATIONS: AtomicU64 = AtomicU64::new(0);
/// When the overflow test's threads stop (past their least iterations).
static OVERFLOW_DEADLINE: AtomicU64 = AtomicU64::new(0);

/// The overflow test's budget, shared by its threads.
fn overflow_budget() -> Budget {
    Budget::until(OVERFLOW_CALLS.0, OVERFLOW_CALLS.1, OVERFLOW_DEADLINE.load(Ordering::SeqCst))
}

// Steps of a round.
const RACE: u64 = 1;
const LOCKED: u64 = 2;
const CLOSED: u64 = 3;
const QUIT: u64 = 4;

// What the copier does in a round.
const DESTINATION_JOB: u64 = 0;
const SOURCE_JOB: u64 = 1;

static STEPS: Steps = Steps::new();
static ACKS: Acks<2> = Acks::new();
static JOB: AtomicU64 = AtomicU64::new(DESTINATION_JOB);
static WIRING: AtomicU64 = AtomicU64::new(0);
/// Copies (worker 0) and wirings (worker 1) that succeeded in the round.
static DONE: Counters<2> = Counters::new();
/// Attempts each worker began after the protection was announced (the source job: every
/// attempt).
static AFTER: Counters<2> = Counters::new();
/// Copies and wirings that were refused, over a test.
static REFUSED: Counters<2> = Counters::new();
/// The contents number of the source at the last successful copy.
static LAST_COPIED: AtomicU64 = AtomicU64::new(0);
static VIOLATIONS: Violations = Violations::new();
const COPY_AFTER_PROTECT: u64 = 0;
const NOT_A_SNAPSHOT: u64 = 1;
const UNEXPECTED: u64 = 2;
const WIRE_WRONG: u64 = 3;
const UNWIRE_FAILED: u64 = 4;
const NAMES: [&str; 5] = [
    "a copy begun after vm_protect had returned succeeded",
    "a copy's destination does not hold the source's contents",
    "an unexpected return code",
    "a wiring succeeded or failed against the protection",
    "an unwiring failed",
];

fn me() -> mach_port_t {
    mach_task_self()
}

/// The contents number `n` of round `round` (0: zero-filled memory).
fn tag(round: u64, n: u64) -> u64 {
    if n == 0 { 0 } else { 0xc0_0000_0000_0000 | round << 24 | n }
}

/// The pages a round's copies cover: all eight (a virtual copy), or the two around the
/// entries' boundary (a copy through a kernel buffer).
fn copied_pages(round: u64) -> (u64, u64) {
    if round % 4 < 2 { (0, PAGES) } else { (HALF - 1, 2) }
}

/// Writes contents `value` in the first and last word of each of `pages` pages at `at`.
fn fill(at: u64, pages: u64, value: u64) {
    for page in 0..pages {
        store(at + page * PAGE, value);
        store(at + page * PAGE + PAGE - 8, value);
    }
}

/// Whether the first and last word of each of `pages` pages at `at` hold `value`; else the
/// first address that does not.
fn holds(at: u64, pages: u64, value: u64) -> Result<(), u64> {
    for page in 0..pages {
        for a in [at + page * PAGE, at + page * PAGE + PAGE - 8] {
            if load(a) != value {
                return Err(a);
            }
        }
    }
    Ok(())
}

/// Copies the round's pages of the source over the destination, as the round says (odd
/// rounds through a copy object and `vm_copy_overwrite`).
fn copy_over(round: u64) -> kern_return_t {
    let (first, pages) = copied_pages(round);
    let (src, dst, size) = (SRC + first * PAGE, DST + first * PAGE, pages * PAGE);
    if round % 2 == 0 {
        return vm_copy(me(), src, size, dst);
    }
    let mut copy = 0;
    let kr = vm_copyin(me(), src, size, FALSE, &mut copy);
    if kr != KERN_SUCCESS {
        return kr;
    }
    let kr = vm_copy_overwrite(me(), dst, copy);
    if kr != KERN_SUCCESS && vm_copy_discard(copy) != KERN_SUCCESS {
        VIOLATIONS.record(UNEXPECTED, copy.into(), round);
    }
    kr
}

fn copier(_: u64) {
    let mut seen = 0;
    loop {
        let word = STEPS.next_after(seen);
        seen = match step_of(word) {
            RACE if JOB.load(Ordering::SeqCst) == SOURCE_JOB => copy_from_changing_source(word),
            RACE => copy_over_changing_destination(word),
            CLOSED => {
                ACKS.ack(0, word);
                word
            }
            QUIT => return,
            _ => word,
        };
    }
}

/// The destination job: copies until the round closes; returns the closing step.
fn copy_over_changing_destination(race: u64) -> u64 {
    let round = round_of(race);
    let locked = race - RACE + LOCKED;
    let (first, pages) = copied_pages(round);
    for n in 1.. {
        let now = STEPS.now();
        if now != race && now != locked {
            ACKS.ack(0, now);
            return now;
        }
        fill(SRC, PAGES, tag(round, n));
        let kr = copy_over(round);
        match kr {
            KERN_SUCCESS if now == locked => VIOLATIONS.record(COPY_AFTER_PROTECT, DST, round),
            KERN_SUCCESS => {
                LAST_COPIED.store(n, Ordering::SeqCst);
                DONE.add(0, 1);
                if let Err(at) = holds(DST + first * PAGE, pages, tag(round, n)) {
                    VIOLATIONS.record(NOT_A_SNAPSHOT, at, round);
                }
            }
            KERN_PROTECTION_FAILURE => REFUSED.add(0, 1),
            kr => VIOLATIONS.record(UNEXPECTED, kr as u64, round),
        }
        if now == locked {
            AFTER.add(0, 1);
        }
    }
    unreachable!()
}

/// The source job: rewrites the source with `vm_write` (refused while it is not writable)
/// and copies it (refused while it is not readable) until the round closes; after each
/// successful copy the destination holds what the last successful write left.
fn copy_from_changing_source(race: u64) -> u64 {
    let round = round_of(race);
    let mut written = 0;
    for n in 1.. {
        let now = STEPS.now();
        if now != race {
            ACKS.ack(0, now);
            return now;
        }
        fill(STAGE, PAGES, tag(round, n));
        match vm_write(me(), SRC, STAGE, PAGES * PAGE) {
            KERN_SUCCESS => written = n,
            KERN_PROTECTION_FAILURE => REFUSED.add(0, 1),
            kr => VIOLATIONS.record(UNEXPECTED, kr as u64, round),
        }
        match vm_copy(me(), SRC, PAGES * PAGE, DST) {
            KERN_SUCCESS => {
                LAST_COPIED.store(written, Ordering::SeqCst);
                DONE.add(0, 1);
                if let Err(at) = holds(DST, PAGES, tag(round, written)) {
                    VIOLATIONS.record(NOT_A_SNAPSHOT, at, round);
                }
            }
            KERN_PROTECTION_FAILURE => REFUSED.add(0, 1),
            kr => VIOLATIONS.record(UNEXPECTED, kr as u64, round),
        }
        AFTER.add(0, 1);
    }
    unreachable!()
}

fn wirer(_: u64) {
    let mut seen = 0;
    loop {
        let word = STEPS.next_after(seen);
        // (Without wiring, this thread has nothing to do but acknowledge the end of each
        // round, which it may see without having seen the round begin.)
        seen = match step_of(word) {
            RACE if WIRING.load(Ordering::SeqCst) != 0 => wire_until_closed(word),
            CLOSED => {
                ACKS.ack(1, word);
                word
            }
            QUIT => return,
            _ => word,
        };
    }
}

/// Wires the destination (for reading, or every other time for writing) and unwires it
/// until the round closes. A wiring for reading always succeeds; one for writing succeeds
/// before the protection and fails once it is announced.
fn wire_until_closed(race: u64) -> u64 {
    let round = round_of(race);
    let locked = race - RACE + LOCKED;
    for n in 0u64.. {
        let now = STEPS.now();
        if now != race && now != locked {
            ACKS.ack(1, now);
            return now;
        }
        let access = if n % 2 == 0 { VM_PROT_READ } else { VM_PROT_READ | VM_PROT_WRITE };
        let kr = vm_wire(mach_host_priv(), me(), DST, PAGES * PAGE, access);
        let allowed = match (kr, access, now == locked) {
            (KERN_SUCCESS, VM_PROT_READ, _) | (KERN_SUCCESS, _, false) => true,
            (KERN_FAILURE, _, true) | (KERN_FAILURE, _, false) => access != VM_PROT_READ,
            _ => false,
        };
        if !allowed {
            VIOLATIONS.record(WIRE_WRONG, access as u64, round);
        }
        if kr == KERN_SUCCESS {
            DONE.add(1, 1);
            if vm_wire(mach_host_priv(), me(), DST, PAGES * PAGE, VM_PROT_NONE) != KERN_SUCCESS {
                VIOLATIONS.record(UNWIRE_FAILED, DST, round);
            }
        } else {
            REFUSED.add(1, 1);
        }
        if now == locked {
            AFTER.add(1, 1);
        }
    }
    unreachable!()
}

/// The copier and the wiring thread, started.
struct Crew {
    threads: [Option<mach::thread::Thread>; 2],
}

impl Crew {
    fn start(job: u64, wiring: bool) -> Self {
        JOB.store(job, Ordering::SeqCst);
        WIRING.store(u64::from(wiring), Ordering::SeqCst);
        VIOLATIONS.reset();
        REFUSED.set(0, 0);
        REFUSED.set(1, 0);
        Self { threads: [Some(start(copier, 0)), Some(start(wirer, 1))] }
    }

    fn stop(mut self) {
        STEPS.announce(0, QUIT);
        for thread in self.threads.iter_mut() {
            join(thread.take().expect("started"));
        }
        STEPS.announce(0, 0);
        VIOLATIONS.assert_none(&NAMES);
    }
}

/// Maps the source and the two entries of the destination.
fn map_ranges() {
    allocate_at(SRC, PAGES);
    allocate_at(DST, HALF);
    allocate_at(DST + HALF * PAGE, HALF);
}

fn unmap_ranges() {
    deallocate(SRC, PAGES);
    deallocate(DST, PAGES);
}

fn reset_counters() {
    for w in 0..2 {
        DONE.set(w, 0);
        AFTER.set(w, 0);
    }
    LAST_COPIED.store(0, Ordering::SeqCst);
}

/// A round of the destination job: copies until one of the destination's entries is made
/// read-only for good, a few more after that, then the checks.
fn destination_round(round: u64, rng: &mut Rng, snapshot: u64, wiring: bool) {
    map_ranges();
    reset_counters();
    STEPS.announce(round, RACE);
    let want = 1 + rng.below(6);
    wait_for("the copier's first copies", || DONE.get(0) >= want && (!wiring || DONE.get(1) >= 1));
    let half = DST + rng.below(2) * HALF * PAGE;
    assert_eq!(vm_protect(me(), half, HALF * PAGE, TRUE, VM_PROT_READ), KERN_SUCCESS);
    for word in 0..HALF * WORDS {
        store(snapshot + 8 * word, load(half + 8 * word));
    }
    STEPS.announce(round, LOCKED);
    wait_for("attempts after the protection", || AFTER.get(0) >= 4 && (!wiring || AFTER.get(1) >= 4));
    let closed = STEPS.announce(round, CLOSED);
    ACKS.wait_all(closed, "the end of the round");
    for word in 0..HALF * WORDS {
        let (at, was) = (half + 8 * word, load(snapshot + 8 * word));
        assert_eq!(load(at), was, "round {round}: read-only {at:#x} changed after vm_protect returned");
    }
    let (first, pages) = copied_pages(round);
    let last = tag(round, LAST_COPIED.load(Ordering::SeqCst));
    if let Err(at) = holds(DST + first * PAGE, pages, last) {
        panic!("round {round}: {at:#x} holds {:#x}, not the last copy's {last:#x}", load(at));
    }
    assert_eq!(info(me()).wired_count, 0, "round {round}: every wiring was undone");
    unmap_ranges();
}

/// A round of the source job: the main thread flips the source's protection while the
/// copier rewrites and copies it.
fn source_round(round: u64, rng: &mut Rng) {
    map_ranges();
    reset_counters();
    STEPS.announce(round, RACE);
    for flip in 0..FLIPS {
        let want = AFTER.get(0) + rng.below(3);
        wait_for("the copier's attempts", || AFTER.get(0) >= want);
        let protection = [VM_PROT_READ, VM_PROT_NONE, VM_PROT_DEFAULT][(flip % 3) as usize];
        assert_eq!(vm_protect(me(), SRC, PAGES * PAGE, FALSE, protection), KERN_SUCCESS);
        spin(rng.below(20_000));
    }
    assert_eq!(vm_protect(me(), SRC, PAGES * PAGE, FALSE, VM_PROT_DEFAULT), KERN_SUCCESS);
    let closed = STEPS.announce(round, CLOSED);
    ACKS.wait_all(closed, "the end of the round");
    let last = tag(round, LAST_COPIED.load(Ordering::SeqCst));
    if let Err(at) = holds(DST, PAGES, last) {
        panic!("round {round}: {at:#x} holds {:#x}, not the last copy's {last:#x}", load(at));
    }
    unmap_ranges();
}

/// Runs rounds of `job` numbered from `first`, as many as `budget` allows; returns how many.
fn run_rounds(job: u64, wiring: bool, first: u64, budget: &Budget) -> u64 {
    let crew = Crew::start(job, wiring);
    let mut rng = Rng::new(job << 40 | u64::from(wiring) << 32 | first);
    let mut snapshot = 0;
    assert_eq!(vm_allocate(me(), &mut snapshot, HALF * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    if job == SOURCE_JOB {
        allocate_at(STAGE, PAGES);
    }
    let mut rounds = 0;
    while budget.more(rounds) {
        let round = first + rounds;
        match job {
            SOURCE_JOB => source_round(round, &mut rng),
            _ => destination_round(round, &mut rng, snapshot, wiring),
        }
        rounds += 1;
    }
    crew.stop();
    deallocate(snapshot, HALF);
    if job == SOURCE_JOB {
        deallocate(STAGE, PAGES);
    }
    rounds
}

/// Runs a test: two rounds to warm up, then as many as `(min, max, seconds)` allows, then
/// the checks that everything came back.
fn round_test(name: &str, job: u64, wiring: bool, (min, max, seconds): (u64, u64, u64)) {
    run_rounds(job, wiring, 1, &Budget::new(2, 2, 0));
    let before = Resources { free_frames: stable_free_frames(), ..Resources::now() };
    let rounds = run_rounds(job, wiring, 3, &Budget::new(min, max, seconds));
    before.assert_back(name);
    assert_eq!(info(me()).wired_count, 0, "{name}: nothing wired");
    report!(name, "{rounds} rounds, {} copies and {} wirings refused", REFUSED.get(0), REFUSED.get(1));
}

fn copies_racing_protect_never_write_read_only_memory() {
    round_test("copy vs protect", DESTINATION_JOB, false, ROUNDS);
}

fn copies_racing_wiring_and_protect_stay_all_or_nothing() {
    round_test("copy vs wire and protect", DESTINATION_JOB, true, ROUNDS);
}

fn copies_racing_protection_of_their_source_are_snapshots() {
    round_test("copy vs source protection", SOURCE_JOB, false, SOURCE_ROUNDS);
}

/// Sizes whose end overflows, wraps to 0 once rounded up to a page, or passes the map.
fn overflowing_size(n: u64) -> u64 {
    match n % 4 {
        0 => 0u64.wrapping_sub(SRC),
        1 => 0u64.wrapping_sub(SRC) - 1,
        2 => u64::MAX,
        _ => 0x8000_0000_0000 - SRC + PAGE,
    }
}

/// `vm_copy` from the source with sizes that overflow: always refused.
fn overflowing_copier(_: u64) {
    let budget = overflow_budget();
    let mut n = 0;
    while budget.more(n) {
        n += 1;
        let kr = vm_copy(me(), SRC, overflowing_size(n), DST);
        if kr != KERN_INVALID_ARGUMENT && kr != KERN_INVALID_ADDRESS {
            VIOLATIONS.record(UNEXPECTED, kr as u64, n);
        }
        let mut copy = 0;
        let kr = vm_copyin(me(), SRC, overflowing_size(n + 1), FALSE, &mut copy);
        if kr != KERN_INVALID_ARGUMENT && kr != KERN_INVALID_ADDRESS {
            VIOLATIONS.record(UNEXPECTED, kr as u64, n);
        }
    }
    ITERATIONS.fetch_add(n, Ordering::SeqCst);
}

/// Flips the source between read-only and read-write, and protects overflowing ranges.
fn protector(_: u64) {
    let budget = overflow_budget();
    let mut n = 0;
    while budget.more(n) {
        n += 1;
        let protection = if n % 2 == 0 { VM_PROT_READ } else { VM_PROT_DEFAULT };
        if vm_protect(me(), SRC, PAGES * PAGE, FALSE, protection) != KERN_SUCCESS {
            VIOLATIONS.record(UNEXPECTED, SRC, n);
        }
        let kr = vm_protect(me(), SRC, overflowing_size(n), FALSE, VM_PROT_READ);
        if kr != KERN_INVALID_ARGUMENT && kr != KERN_INVALID_ADDRESS {
            VIOLATIONS.record(UNEXPECTED, kr as u64, n);
        }
    }
    ITERATIONS.fetch_add(n, Ordering::SeqCst);
}

/// Ordinary copies of the source (readable throughout), checked as snapshots.
fn plain_copier(_: u64) {
    let budget = overflow_budget();
    let mut n = 0;
    while budget.more(n) {
        n += 1;
        if vm_copy(me(), SRC, PAGES * PAGE, DST) != KERN_SUCCESS {
            VIOLATIONS.record(UNEXPECTED, DST, n);
        } else if let Err(at) = holds(DST, PAGES, tag(1, 1)) {
            VIOLATIONS.record(NOT_A_SNAPSHOT, at, n);
        }
    }
    ITERATIONS.fetch_add(n, Ordering::SeqCst);
}

/// Runs the three threads of the overflow test for up to `seconds` past their least
/// iterations.
fn overflow_race(seconds: u64) {
    OVERFLOW_DEADLINE.store(rdtsc() + seconds * tsc_hz(), Ordering::SeqCst);
    map_ranges();
    fill(SRC, PAGES, tag(1, 1));
    let entries = info(me()).region_count;
    VIOLATIONS.reset();
    let threads = [start(overflowing_copier, 0), start(protector, 1), start(plain_copier, 2)];
    for thread in threads {
        join(thread);
    }
    VIOLATIONS.assert_none(&NAMES);
    assert_eq!(vm_protect(me(), SRC, PAGES * PAGE, FALSE, VM_PROT_DEFAULT), KERN_SUCCESS);
    assert!(info(me()).region_count <= entries + 1, "the refused calls left no entries behind");
    assert_eq!(holds(SRC, PAGES, tag(1, 1)), Ok(()), "the source is unchanged");
    unmap_ranges();
}

fn overflowing_copies_racing_protect_change_nothing() {
    overflow_race(0);
    ITERATIONS.store(0, Ordering::SeqCst);
    let before = Resources { free_frames: stable_free_frames(), ..Resources::now() };
    overflow_race(OVERFLOW_CALLS.2);
    before.assert_back("overflowing copies");
    report!("overflowing copies", "{} iterations of 3 threads in all", ITERATIONS.load(Ordering::SeqCst));
}
