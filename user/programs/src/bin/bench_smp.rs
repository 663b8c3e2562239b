//! The multiprocessor benchmarks (`cargo run --release -- bench` boots this program on a
//! 2-CPU machine after the suite and the scaling series), timed with the time-stamp counter
//! (which every CPU shares), each run once untimed and then 5 times, the median printed as
//! `NAME ns_per_op=X`, then `done`; `boot/linux/smp.c` does the same work on Linux.
//!
//! - `fault_zero_threads/1`, `fault_zero_threads/2`: first writes to the 16 384 pages of a
//!   fresh 64 MiB region of one task, by one thread, or by two threads each taking half;
//!   wall-clock nanoseconds per page, from the start signal until the last thread is done.
//! - `fault_zero_tasks/2`: the same with two tasks, each writing its own fresh 32 MiB.
//! - `protect_lower/1`: lowering the protection of one touched page (READ|WRITE to READ) in a
//!   task with one thread, per lowering call (each is followed, untimed, by the raise back).
//! - `shootdown/2`: the same while a second thread of the task keeps reading that page, so
//!   that the map is active on the other CPU and every lowering needs one shootdown round.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach::thread::{self, Thread};
use mach::*;

#[path = "../bench_support.rs"]
mod bench_support;

use bench_support::*;

mach::entry!(main);

/// The fault series' region (the tasks' series: half of it in each task).
const REGION: u64 = 64 * MIB;
/// Lowering calls per protection figure.
const PROTECTS: u64 = 5_000;

fn main() -> i32 {
    let clock = Clock::new();
    let processors = thread::processors();
    println!("smp_processors={processors}");
    if processors < 2 {
        println!("# smp: one processor runs threads: the two-thread and two-task figures share it");
    }
    let benches: [(&str, fn(&Clock) -> u64); 5] = [
        ("fault_zero_threads/1", |c| fault_zero_threads(c, 1)),
        ("fault_zero_threads/2", |c| fault_zero_threads(c, 2)),
        ("fault_zero_tasks/2", fault_zero_tasks),
        ("protect_lower/1", |c| protect_lower(c, false)),
        ("shootdown/2", |c| protect_lower(c, true)),
    ];
    for (name, bench) in benches {
        // Once untimed: the frames and tables the measurement uses have been through the
        // kernel once, as in every later run.
        bench(&clock);
        let mut samples = [0; REPS];
        for sample in samples.iter_mut() {
            *sample = bench(&clock);
        }
        samples.sort_unstable();
        println!("{name} ns_per_op={}", samples[REPS / 2]);
    }
    println!("done");
    0
}

/// What the threads of one measurement share: the start signal (the time-stamp counter when
/// it was given, 0 before), when each participant finished, and where the region lies.
static START: AtomicU64 = AtomicU64::new(0);
static READY: AtomicU64 = AtomicU64::new(0);
static ENDS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static BASE: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicU64 = AtomicU64::new(0);

/// Waits (spinning, yielding now and then in case both threads share a CPU) until `done()`.
fn spin_until(done: impl Fn() -> bool) {
    let mut spins = 0u64;
    while !done() {
        spins += 1;
        if spins % 4096 == 0 {
            thread_switch();
        }
        core::hint::spin_loop();
    }
}

/// Writes one byte of every page of `[a, a + size)`, then records the time as participant
/// `who`'s end.
fn fault_range(a: u64, size: u64, who: usize) {
    touch(a, size);
    ENDS[who].store(rdtsc(), Ordering::SeqCst);
}

/// The helper thread of the two-thread fault series: waits for the start, faults the second
/// half.
fn fault_second_half(_: u64) {
    READY.store(1, Ordering::SeqCst);
    spin_until(|| START.load(Ordering::SeqCst) != 0);
    fault_range(BASE.load(Ordering::SeqCst) + REGION / 2, REGION / 2, 1);
}

fn fault_zero_threads(c: &Clock, threads: u64) -> u64 {
    let a = alloc(REGION);
    BASE.store(a, Ordering::SeqCst);
    for word in [&START, &READY, &ENDS[0], &ENDS[1]] {
        word.store(0, Ordering::SeqCst);
    }
    let helper = (threads == 2).then(|| thread::spawn(fault_second_half, 0).expect("a helper thread"));
    if helper.is_some() {
        spin_until(|| READY.load(Ordering::SeqCst) != 0);
    }
    let start = rdtsc();
    START.store(start, Ordering::SeqCst);
    let mine = if threads == 2 { REGION / 2 } else { REGION };
    fault_range(a, mine, 0);
    if let Some(helper) = helper {
        helper.join().expect("the helper's stack is released");
    }
    let end = ENDS.iter().map(|e| e.load(Ordering::SeqCst)).max().unwrap_or(start);
    ok(vm_deallocate(me(), a, REGION));
    c.ns(end - start) / (REGION / PAGE)
}

/// The shared page of the two-task series: the child's ready flag, the start signal and its
/// end time (three words).
fn shared_word(page: u64, i: u64) -> &'static AtomicU64 {
    // SAFETY: `page` is a page mapped read-write and shared with the child for the whole
    // measurement; its words are only ever accessed atomically.
    unsafe { &*((page + 8 * i) as *const AtomicU64) }
}

/// The child task of the two-task series: allocates its own half, says it is ready, waits
/// for the start, faults it and records its end.
extern "C" fn child_faults(page: u64) -> ! {
    let task = mach_task_self();
    let mut a = 0;
    ok(vm_allocate(task, &mut a, REGION / 2, VM_FLAGS_ANYWHERE));
    shared_word(page, 0).store(1, Ordering::SeqCst);
    spin_until(|| shared_word(page, 1).load(Ordering::SeqCst) != 0);
    touch(a, REGION / 2);
    shared_word(page, 2).store(rdtsc(), Ordering::SeqCst);
    task_exit(0)
}

fn fault_zero_tasks(c: &Clock) -> u64 {
    let page = alloc(PAGE);
    ok(vm_inherit(me(), page, PAGE, VM_INHERIT_SHARE));
    let child = mach::child::spawn(child_faults, page).expect("a child task");
    let a = alloc(REGION / 2);
    spin_until(|| shared_word(page, 0).load(Ordering::SeqCst) != 0);
    let start = rdtsc();
    shared_word(page, 1).store(start, Ordering::SeqCst);
    touch(a, REGION / 2);
    let mine = rdtsc();
    spin_until(|| shared_word(page, 2).load(Ordering::SeqCst) != 0);
    let end = mine.max(shared_word(page, 2).load(Ordering::SeqCst));
    assert_eq!(mach::child::wait(child), Ok(0), "the child task ended well");
    ok(vm_deallocate(me(), a, REGION / 2));
    ok(vm_deallocate(me(), page, PAGE));
    c.ns(end - start) / (REGION / PAGE)
}

/// The reader of the shootdown series: reads the page until told to stop, so that the map
/// is active (and the page's translation cached) on its CPU.
fn keep_reading(page: u64) {
    READY.store(1, Ordering::SeqCst);
    while STOP.load(Ordering::Relaxed) == 0 {
        // SAFETY: the page stays mapped readable until this thread has been told to stop.
        unsafe { (page as *const u8).read_volatile() };
        core::hint::spin_loop();
    }
}

/// Lowers one touched page to READ and raises it back, `PROTECTS` times; the lowering calls
/// alone are timed. With `reader`, another thread of the task reads the page meanwhile.
fn protect_lower(c: &Clock, reader: bool) -> u64 {
    let page = alloc(PAGE);
    touch(page, PAGE);
    READY.store(0, Ordering::SeqCst);
    STOP.store(0, Ordering::SeqCst);
    let helper: Option<Thread> = reader.then(|| thread::spawn(keep_reading, page).expect("a reader thread"));
    if helper.is_some() {
        spin_until(|| READY.load(Ordering::SeqCst) != 0);
    }
    let mut lowering = 0;
    for _ in 0..PROTECTS {
        lowering += c.cycles(|| ok(vm_protect(me(), page, PAGE, FALSE, VM_PROT_READ)));
        ok(vm_protect(me(), page, PAGE, FALSE, VM_PROT_DEFAULT));
    }
    STOP.store(1, Ordering::SeqCst);
    if let Some(helper) = helper {
        helper.join().expect("the reader's stack is released");
    }
    ok(vm_deallocate(me(), page, PAGE));
    c.ns(lowering) / PROTECTS
}
