//! Helpers shared by the multiprocessor race tests (`test_smp_*`): threads of the test task,
//! steps that the main thread announces and worker threads acknowledge, waits that fail the
//! test instead of hanging it, memory accesses the compiler keeps, and *soft writes*.
//!
//! A soft write is a `u64` the kernel writes at an address of the caller's choosing on the
//! caller's own processor (the out-parameter of `clock_tsc_hz`): it goes through that
//! processor's TLB as a ring-3 store would, but an access the translation refuses fails the
//! call (`KERN_INVALID_ADDRESS`) instead of ending the task. So a thread can keep writing to
//! memory that another thread is removing or write-protecting, and a write that succeeds
//! after the removal is known to have used a stale translation.

#![allow(dead_code)]

use core::sync::atomic::{AtomicU64, Ordering};
use mach::thread::{self, Thread};
use mach::*;

pub const PAGE: u64 = 4096;
/// Words of a page.
pub const WORDS: u64 = PAGE / 8;
/// Seconds a wait may last before the test fails rather than hangs.
pub const WAIT_SECONDS: u64 = 30;

/// Starts `function(argument)` in a new thread of this task.
pub fn start(function: fn(u64), argument: u64) -> Thread {
    thread::spawn(function, argument).expect("a thread starts")
}

/// Waits for `thread` to finish and releases its stack.
pub fn join(thread: Thread) {
    thread.join().expect("the thread's stack is released");
}

/// The time-stamp counter's ticks per second.
pub fn tsc_hz() -> u64 {
    let mut hz = 0;
    assert_eq!(clock_tsc_hz(&mut hz), KERN_SUCCESS);
    hz
}

/// Waits, giving the processor away between checks, until `done()`; fails the test with
/// `what` after [`WAIT_SECONDS`].
pub fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = rdtsc() + WAIT_SECONDS * tsc_hz();
    let mut checks = 0u64;
    while !done() {
        checks += 1;
        if checks % SPINS_PER_YIELD == 0 {
            assert!(rdtsc() < deadline, "waited {WAIT_SECONDS} s for {what}");
            thread_switch();
        } else {
            core::hint::spin_loop();
        }
    }
}

/// Checks a wait makes (spinning) before it gives the processor away once: a waiter on a
/// CPU of its own sees the change at once, one that shares a CPU lets the others run.
const SPINS_PER_YIELD: u64 = 256;

/// How many rounds a test runs: at most `max`; past `min`, only while its time budget lasts
/// (under TCG a round's cost depends on the host's load and on how the kernel's CPUs share
/// its cores: the budget keeps every program within its minute without a test asserting
/// anything about speed).
pub struct Budget {
    min: u64,
    max: u64,
    deadline: u64,
}

impl Budget {
    /// At least `min` and at most `max` rounds, the rounds past `min` within `seconds`.
    pub fn new(min: u64, max: u64, seconds: u64) -> Self {
        Self::until(min, max, rdtsc() + seconds * tsc_hz())
    }

    /// At least `min` and at most `max` rounds, the rounds past `min` until the time-stamp
    /// counter reaches `deadline` (so that several threads can share one budget).
    pub fn until(min: u64, max: u64, deadline: u64) -> Self {
        Self { min, max, deadline }
    }

    /// Whether to run another round after `done` rounds.
    pub fn more(&self, done: u64) -> bool {
        done < self.max && (done < self.min || rdtsc() < self.deadline)
    }
}

/// Spins (without giving the processor away) for about `ticks` time-stamp ticks.
pub fn spin(ticks: u64) {
    let end = rdtsc() + ticks;
    while rdtsc() < end {
        core::hint::spin_loop();
    }
}

/// Writes `value` at `address` (memory the caller knows is mapped writable), as one store
/// the compiler keeps.
pub fn store(address: u64, value: u64) {
    // SAFETY: callers pass aligned addresses of this task's writable memory; a bad one
    // faults and ends the task, which fails the test.
    unsafe { (address as *mut u64).write_volatile(value) }
}

/// Reads the `u64` at `address` (memory the caller knows is mapped readable), as one load
/// the compiler keeps.
pub fn load(address: u64) -> u64 {
    // SAFETY: as for `store`, for readable memory.
    unsafe { (address as *const u64).read_volatile() }
}

/// The value a soft write leaves: the time-stamp counter's frequency.
pub fn soft_value() -> u64 {
    tsc_hz()
}

/// Has the kernel write [`soft_value`] at `address` on this processor; returns whether the
/// write succeeded.
pub fn soft_write(address: u64) -> bool {
    // SAFETY: the kernel checks the pointer and reports a write it cannot make; the only
    // memory written is the `u64` at `address`, which the tests reserve for such writes.
    let result = unsafe { mach::raw::syscall(mach::raw::Sysno::ClockTscHz, [address, 0, 0, 0, 0, 0]) };
    result == KERN_SUCCESS as u64
}

/// A step of a round, announced by the main thread: `round << 8 | step`.
pub struct Steps {
    word: AtomicU64,
}

impl Steps {
    pub const fn new() -> Self {
        Self { word: AtomicU64::new(0) }
    }

    /// Announces `step` of `round`.
    pub fn announce(&self, round: u64, step: u64) -> u64 {
        let word = round << 8 | step;
        self.word.store(word, Ordering::SeqCst);
        word
    }

    /// The step announced last.
    pub fn now(&self) -> u64 {
        self.word.load(Ordering::SeqCst)
    }

    /// Waits for a step other than `seen`, and returns it.
    pub fn next_after(&self, seen: u64) -> u64 {
        let mut now = self.now();
        if now == seen {
            wait_for("the next step", || self.now() != seen);
            now = self.now();
        }
        now
    }
}

/// The step part of a step word.
pub fn step_of(word: u64) -> u64 {
    word & 0xff
}

/// The round part of a step word.
pub fn round_of(word: u64) -> u64 {
    word >> 8
}

/// Acknowledgements of `N` worker threads.
pub struct Acks<const N: usize> {
    words: [AtomicU64; N],
}

impl<const N: usize> Acks<N> {
    pub const fn new() -> Self {
        Self { words: [const { AtomicU64::new(0) }; N] }
    }

    /// Worker `w` has done what step `word` asked.
    pub fn ack(&self, w: u64, word: u64) {
        self.words[w as usize].store(word, Ordering::SeqCst);
    }

    /// Waits until every worker has acknowledged step `word`; fails the test naming the
    /// workers that did not.
    pub fn wait_all(&self, word: u64, what: &str) {
        let deadline = rdtsc() + WAIT_SECONDS * tsc_hz();
        let mut checks = 0u64;
        while !self.words.iter().all(|a| a.load(Ordering::SeqCst) == word) {
            checks += 1;
            if checks % SPINS_PER_YIELD != 0 {
                core::hint::spin_loop();
                continue;
            }
            if rdtsc() > deadline {
                let acked: [u64; N] = core::array::from_fn(|w| self.words[w].load(Ordering::SeqCst));
                panic!("waited {WAIT_SECONDS} s for {what} (step {word:#x}): the workers acknowledged {acked:x?}");
            }
            thread_switch();
        }
    }
}

/// Per-worker counters.
pub struct Counters<const N: usize> {
    words: [AtomicU64; N],
}

impl<const N: usize> Counters<N> {
    pub const fn new() -> Self {
        Self { words: [const { AtomicU64::new(0) }; N] }
    }

    pub fn add(&self, w: u64, n: u64) {
        self.words[w as usize].fetch_add(n, Ordering::SeqCst);
    }

    pub fn get(&self, w: u64) -> u64 {
        self.words[w as usize].load(Ordering::SeqCst)
    }

    pub fn set(&self, w: u64, value: u64) {
        self.words[w as usize].store(value, Ordering::SeqCst);
    }

    pub fn total(&self) -> u64 {
        self.words.iter().map(|a| a.load(Ordering::SeqCst)).sum()
    }

    pub fn min(&self) -> u64 {
        self.words.iter().map(|a| a.load(Ordering::SeqCst)).min().unwrap_or(0)
    }
}

/// The first violation a worker saw (reported by the main thread, which owns the test):
/// what (a code the test defines), where and the round; and how many there were.
pub struct Violations {
    count: AtomicU64,
    what: AtomicU64,
    address: AtomicU64,
    round: AtomicU64,
}

impl Violations {
    pub const fn new() -> Self {
        Self { count: AtomicU64::new(0), what: AtomicU64::new(0), address: AtomicU64::new(0), round: AtomicU64::new(0) }
    }

    /// Records a violation.
    pub fn record(&self, what: u64, address: u64, round: u64) {
        if self.count.fetch_add(1, Ordering::SeqCst) == 0 {
            self.what.store(what, Ordering::SeqCst);
            self.address.store(address, Ordering::SeqCst);
            self.round.store(round, Ordering::SeqCst);
        }
    }

    /// Fails the test if any violation was recorded, naming the first (`names[what]`).
    pub fn assert_none(&self, names: &[&str]) {
        let count = self.count.load(Ordering::SeqCst);
        let what = self.what.load(Ordering::SeqCst) as usize;
        assert!(
            count == 0,
            "{count} violation(s); the first: {} at {:#x} in round {}",
            names.get(what).copied().unwrap_or("?"),
            self.address.load(Ordering::SeqCst),
            self.round.load(Ordering::SeqCst)
        );
    }

    pub fn reset(&self) {
        self.count.store(0, Ordering::SeqCst);
    }
}

/// The fuzzer's seeded generator (SplitMix64), for timings that vary from round to round.
#[path = "fuzz/rng.rs"]
mod rng;
#[allow(unused_imports)]
pub use rng::Rng;

/// The free frames once they have stopped changing (the same for a fifth of a second, or
/// after 3 s): threads that ended a moment ago give their kernel stacks back when a
/// processor's scheduler next comes across them.
pub fn stable_free_frames() -> u64 {
    let hz = tsc_hz();
    let deadline = rdtsc() + 3 * hz;
    let free = || {
        let mut s = VmStatistics::default();
        assert_eq!(vm_statistics(&mut s), KERN_SUCCESS);
        s.free_count
    };
    let (mut last, mut same) = (free(), 0);
    while same < 20 && rdtsc() < deadline {
        spin(hz / 100);
        let now = free();
        same = if now == last { same + 1 } else { 0 };
        last = now;
    }
    last
}

/// Allocates `pages` pages at exactly `address`.
pub fn allocate_at(address: u64, pages: u64) {
    let mut at = address;
    assert_eq!(vm_allocate(mach_task_self(), &mut at, pages * PAGE, VM_FLAGS_FIXED), KERN_SUCCESS, "memory at {address:#x}");
}

/// Removes `[address, address + pages)`.
pub fn deallocate(address: u64, pages: u64) {
    assert_eq!(vm_deallocate(mach_task_self(), address, pages * PAGE), KERN_SUCCESS, "removing {address:#x}");
}

/// Whether any region of this task's map overlaps `[address, address + size)`.
pub fn mapped(address: u64, size: u64) -> bool {
    let (mut at, mut region, mut info) = (address, 0, VmRegionInfo::default());
    vm_region(mach_task_self(), &mut at, &mut region, &mut info) == KERN_SUCCESS && at < address + size
}

/// Prints a test's figures on one line (`smp: TEST: ...`).
#[macro_export]
macro_rules! report {
    ($test:expr, $($arg:tt)*) => { mach::println!("smp: {}: {}", $test, format_args!($($arg)*)) };
}
