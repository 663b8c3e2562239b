//! What the two benchmark programs (`bench`, `bench_scale`) share: the clock, the task's own
//! handle, and the small helpers every measurement uses.
//!
//! The task's own handle is asked for once and kept, as a Mach program keeps
//! `mach_task_self()` (`mach_task_self_` in Mach's C library): a timed call then makes one
//! system call, as its Linux counterpart does. Only for the task that asked: a child task has
//! a handle table of its own.

// Each program includes this file and uses part of it.
#![allow(dead_code)]

use core::sync::atomic::{AtomicU32, Ordering};
use mach::*;

pub const PAGE: u64 = 4096;
pub const MIB: u64 = 1 << 20;
/// Measurements per figure (the median is printed).
pub const REPS: usize = 5;

static SELF: AtomicU32 = AtomicU32::new(0);

/// The calling task's handle for itself.
pub fn me() -> mach_port_t {
    match SELF.load(Ordering::Relaxed) {
        0 => {
            let task = mach_task_self();
            SELF.store(task, Ordering::Relaxed);
            task
        }
        task => task,
    }
}

/// The time-stamp counter, read from ring 3.
pub struct Clock {
    hz: u64,
}

impl Clock {
    /// The counter's frequency, asked of the kernel and printed (`tsc_hz=...`).
    pub fn new() -> Self {
        let mut hz = 0;
        assert_eq!(clock_tsc_hz(&mut hz), KERN_SUCCESS);
        println!("tsc_hz={hz}");
        Self { hz }
    }

    /// Nanoseconds in `cycles`.
    pub fn ns(&self, cycles: u64) -> u64 {
        (u128::from(cycles) * 1_000_000_000 / u128::from(self.hz.max(1))) as u64
    }

    /// Cycles `f` takes.
    pub fn cycles(&self, f: impl FnOnce()) -> u64 {
        let start = rdtsc();
        f();
        rdtsc() - start
    }

    /// Nanoseconds `f` takes.
    pub fn time(&self, f: impl FnOnce()) -> u64 {
        self.ns(self.cycles(f))
    }
}

pub fn ok(kr: kern_return_t) {
    assert_eq!(kr, KERN_SUCCESS);
}

/// `size` bytes anywhere in the task's map.
pub fn alloc(size: u64) -> u64 {
    let mut a = 0;
    ok(vm_allocate(me(), &mut a, size, VM_FLAGS_ANYWHERE));
    a
}

/// Writes `value` to the first byte of every page of `[a, a + size)`.
pub fn write_pages(a: u64, size: u64, value: u8) {
    for off in (0..size).step_by(PAGE as usize) {
        // SAFETY: `[a, a + size)` is mapped read-write.
        unsafe { ((a + off) as *mut u8).write_volatile(value) };
    }
}

/// Writes every page of `[a, a + size)` once.
pub fn touch(a: u64, size: u64) {
    write_pages(a, size, 1);
}
