//! Multiprocessor races of forks with writes, on real parallel threads (booted with 4 CPUs:
//! `boot::ktest::USER_TEST_CPUS`).
//!
//! - Forks racing writes: two writer threads sweep their own 32-page regions without pause,
//!   write number `s` (counting from 0) putting `s + 1` in the first word of page `s % 32`,
//!   and publish how many writes they have made. The main thread forks the task
//!   (`task_create` inheriting memory) again and again. The child's copy of each region must
//!   be the region as it was after some number `c` of writes (which its largest value gives:
//!   every page then holds exactly what write sequence `c` left, so a page copied at another
//!   time than the others shows), with `c` between the count published before the fork and
//!   one past the count published after it returned. The child is read once the writers
//!   have gone a whole sweep further, so that a write that still reached the shared frames
//!   through a stale writable translation would show as a larger `c` or a torn sequence.
//!   Every other round the child also runs a thread that checks its own memory the same way.
//! - Copy-on-write faults on one page from two threads at once: after a fork, two threads
//!   (which wrote the page just before it) write two different words of it at the same
//!   moment; the parent must see both writes and every other word unchanged, the child the
//!   page as it was at the fork.
//!
//! After each test every frame, wiring, map entry and handle name is back.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach::*;

#[path = "../smp.rs"]
mod smp;
#[path = "../stress.rs"]
mod stress;
use smp::*;
use stress::{pretouch_stack, vm_stats, Resources};

mach::entry!(main);

fn main() -> i32 {
    pretouch_stack();
    report!("setup", "{} processors run threads", mach::thread::processors());
    mach::test::run(&mach::tests![
        forks_racing_writes_copy_one_instant,
        copy_on_write_faults_on_one_page_from_two_threads,
    ])
}

/// The writers' regions.
const REGIONS: [u64; 2] = [0x5400_0000_0000, 0x5500_0000_0000];
/// Pages of each writer's region.
const N: u64 = 32;
/// Forks: at least, at most, and the seconds the forks past the least may take
/// (`smp::Budget`).
const FORK_ROUNDS: (u64, u64, u64) = (10, 150, 10);
/// The page of the copy-on-write test.
const COW_PAGE: u64 = 0x5600_0000_0000;
/// Rounds of the copy-on-write test, as [`FORK_ROUNDS`].
const COW_ROUNDS: (u64, u64, u64) = (20, 300, 8);
/// Stack of a child's checking thread.
const CHILD_STACK: u64 = 64 * 1024;

/// Writes each writer has made.
static WRITES: Counters<2> = Counters::new();
static STOP: AtomicU64 = AtomicU64::new(0);

fn me() -> mach_port_t {
    mach_task_self()
}

/// Writer `w`: sweeps its region until told to stop.
fn writer(w: u64) {
    let region = REGIONS[w as usize];
    let mut s = 0;
    while STOP.load(Ordering::Relaxed) == 0 {
        store(region + (s % N) * PAGE, s + 1);
        s += 1;
        WRITES.set(w, s);
    }
}

/// What page `p` holds after `c` writes of the sweep.
fn after_writes(p: u64, c: u64) -> u64 {
    if c <= p { 0 } else { p + N * ((c - 1 - p) / N) + 1 }
}

/// The number of writes the region at `region` shows (its largest value), or the first page
/// that no number of writes explains.
fn state_of(region: u64) -> Result<u64, (u64, u64, u64)> {
    let c = (0..N).map(|p| load(region + p * PAGE)).max().unwrap_or(0);
    match (0..N).find(|&p| load(region + p * PAGE) != after_writes(p, c)) {
        None => Ok(c),
        Some(p) => Err((p, load(region + p * PAGE), c)),
    }
}

/// The child's checking thread: each region must be what some number of writes left.
extern "C" fn child_checks(_: u64) -> ! {
    mach::test::detach();
    let torn = REGIONS.iter().any(|&region| state_of(region).is_err());
    task_exit(i32::from(torn))
}

/// Checks the child's copy of writer `w`'s region (read with `vm_read`) against the counts
/// published before the fork (`before`) and after it (`after`).
fn check_child_region(child: mach_port_t, w: usize, before: u64, after: u64, round: u64) {
    let (mut data, mut count) = (0, 0);
    assert_eq!(vm_read(child, REGIONS[w], N * PAGE, &mut data, &mut count), KERN_SUCCESS);
    match state_of(data) {
        Ok(c) => assert!(
            before <= c && c <= after + 1,
            "round {round}: the child saw writer {w} after {c} writes; {before} were done before the fork, {after} after it"
        ),
        Err((p, value, c)) => panic!("round {round}: the child's copy of writer {w}'s region is torn: page {p} holds {value}, not {} (after {c} writes)", after_writes(p, c)),
    }
    assert_eq!(vm_deallocate(me(), data, count), KERN_SUCCESS);
}

/// Starts the child's checking thread and returns its exit status.
fn run_child_check(child: mach_port_t) -> i32 {
    let mut stack = 0;
    assert_eq!(vm_allocate(child, &mut stack, CHILD_STACK, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    assert_eq!(thread_create_running(child, child_checks, stack + CHILD_STACK - 8, 0), KERN_SUCCESS);
    let mut status = -1;
    assert_eq!(task_wait(child, &mut status), KERN_SUCCESS);
    status
}

fn fork_round(round: u64) {
    let before = [WRITES.get(0), WRITES.get(1)];
    let mut child = 0;
    assert_eq!(task_create(me(), TRUE, &mut child), KERN_SUCCESS);
    let after = [WRITES.get(0), WRITES.get(1)];
    wait_for("a sweep more of both writers", || (0..2).all(|w| WRITES.get(w) > after[w as usize] + N + 1));
    for w in 0..2 {
        check_child_region(child, w, before[w], after[w], round);
    }
    if round % 2 == 1 {
        assert_eq!(run_child_check(child), 0, "round {round}: the child's own view is torn");
    } else {
        assert_eq!(task_terminate(child), KERN_SUCCESS);
    }
    assert_eq!(mach_port_deallocate(me(), child), KERN_SUCCESS);
}

/// Forks numbered from `first`, as many as `budget` allows; returns how many.
fn fork_rounds(first: u64, budget: &Budget) -> u64 {
    for region in REGIONS {
        allocate_at(region, N);
    }
    STOP.store(0, Ordering::SeqCst);
    WRITES.set(0, 0);
    WRITES.set(1, 0);
    let writers = [start(writer, 0), start(writer, 1)];
    wait_for("the writers' first sweep", || WRITES.min() > N);
    let mut rounds = 0;
    while budget.more(rounds) {
        fork_round(first + rounds);
        rounds += 1;
    }
    STOP.store(1, Ordering::SeqCst);
    for thread in writers {
        join(thread);
    }
    for region in REGIONS {
        deallocate(region, N);
    }
    rounds
}

fn forks_racing_writes_copy_one_instant() {
    fork_rounds(1, &Budget::new(2, 2, 0));
    let before = Resources { free_frames: stable_free_frames(), ..Resources::now() };
    let stats = vm_stats();
    let (min, max, seconds) = FORK_ROUNDS;
    let forks = fork_rounds(3, &Budget::new(min, max, seconds));
    let after = vm_stats();
    before.assert_back("forks racing writes");
    let cow = after.cow_faults - stats.cow_faults;
    assert!(cow >= forks, "the writers' first write after each fork copies a page ({cow} copy-on-write faults)");
    report!("fork", "{forks} forks, {cow} copy-on-write faults, {} writes", WRITES.total());
}

// Steps of a copy-on-write round.
const PREPARE: u64 = 1;
const GO: u64 = 2;
const QUIT: u64 = 3;

static STEPS: Steps = Steps::new();
static ACKS: Acks<2> = Acks::new();

/// The words of the page: thread `t` writes the word at byte `64 t`; the one at byte 128 is
/// the main thread's.
fn word(t: u64) -> u64 {
    COW_PAGE + 64 * t
}

/// Values in round `round`: before the fork (`kind` 0), after it (1), the main thread's (2).
fn value(round: u64, t: u64, kind: u64) -> u64 {
    0xc0e0_0000_0000_0000 | round << 16 | t << 8 | kind
}

/// Waits for a step other than `seen`, spinning for about 20 ms before each yield, so that
/// both threads leave the wait at nearly the same moment and keep their translations of the
/// page through the fork (a yield may reload the address space, which would hide a
/// translation the fork failed to shoot down).
fn await_step(seen: u64) -> u64 {
    let deadline = rdtsc() + WAIT_SECONDS * tsc_hz();
    let patience = tsc_hz() / 50;
    loop {
        let until = rdtsc() + patience;
        while rdtsc() < until {
            let now = STEPS.now();
            if now != seen {
                return now;
            }
            core::hint::spin_loop();
        }
        assert!(rdtsc() < deadline, "waited {WAIT_SECONDS} s for the next step");
        thread_switch();
    }
}

fn cow_writer(t: u64) {
    let mut seen = 0;
    loop {
        let step = await_step(seen);
        match step_of(step) {
            PREPARE => store(word(t), value(round_of(step), t, 0)),
            GO => store(word(t), value(round_of(step), t, 1)),
            QUIT => return,
            _ => {}
        }
        ACKS.ack(t, step);
        seen = step;
    }
}

fn cow_round(round: u64) {
    allocate_at(COW_PAGE, 1);
    store(word(2), value(round, 2, 2));
    let prepare = STEPS.announce(round, PREPARE);
    ACKS.wait_all(prepare, "the writes before the fork");
    let mut child = 0;
    assert_eq!(task_create(me(), TRUE, &mut child), KERN_SUCCESS);
    let go = STEPS.announce(round, GO);
    ACKS.wait_all(go, "the writes after the fork");
    for t in 0..2 {
        assert_eq!(load(word(t)), value(round, t, 1), "round {round}: thread {t}'s write after the fork is lost");
    }
    assert_eq!(load(word(2)), value(round, 2, 2), "round {round}: the untouched word changed");
    let (mut data, mut count) = (0, 0);
    assert_eq!(vm_read(child, COW_PAGE, PAGE, &mut data, &mut count), KERN_SUCCESS);
    let child_words = [load(data), load(data + 64), load(data + 128)];
    let expected = [value(round, 0, 0), value(round, 1, 0), value(round, 2, 2)];
    assert_eq!(child_words, expected, "round {round}: the child's page changed after the fork");
    assert_eq!(vm_deallocate(me(), data, count), KERN_SUCCESS);
    assert_eq!(task_terminate(child), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), child), KERN_SUCCESS);
    deallocate(COW_PAGE, 1);
}

/// Rounds numbered from `first`, as many as `budget` allows; returns how many.
fn cow_rounds(first: u64, budget: &Budget) -> u64 {
    let writers = [start(cow_writer, 0), start(cow_writer, 1)];
    let mut rounds = 0;
    while budget.more(rounds) {
        cow_round(first + rounds);
        rounds += 1;
    }
    STEPS.announce(0, QUIT);
    for thread in writers {
        join(thread);
    }
    STEPS.announce(0, 0);
    rounds
}

fn copy_on_write_faults_on_one_page_from_two_threads() {
    cow_rounds(1, &Budget::new(2, 2, 0));
    let before = Resources { free_frames: stable_free_frames(), ..Resources::now() };
    let stats = vm_stats();
    let (min, max, seconds) = COW_ROUNDS;
    let rounds = cow_rounds(3, &Budget::new(min, max, seconds));
    let after = vm_stats();
    before.assert_back("copy-on-write faults");
    let cow = after.cow_faults - stats.cow_faults;
    assert!(cow >= rounds, "each round copies the page ({cow} copy-on-write faults)");
    report!("cow", "{rounds} rounds, {cow} copy-on-write faults");
}
