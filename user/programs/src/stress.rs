//! Helpers shared by the adversarial test programs (`test_shapes`, `test_limits`,
//! `test_isolation`): what a test can observe of the system, taken before and checked after.

#![allow(dead_code)]

use mach::*;

pub const PAGE: u64 = 4096;

/// This task's handle.
pub fn me() -> mach_port_t {
    mach_task_self()
}

/// The system's VM counters.
pub fn vm_stats() -> VmStatistics {
    let mut s = VmStatistics::default();
    assert_eq!(vm_statistics(&mut s), KERN_SUCCESS);
    s
}

/// What `task_info` says of `task`.
pub fn info(task: mach_port_t) -> TaskBasicInfo {
    let mut i = TaskBasicInfo::default();
    assert_eq!(task_info(task, &mut i), KERN_SUCCESS);
    i
}

/// Map entries of this task.
pub fn entries() -> u64 {
    info(me()).region_count
}

/// The name the next handle of this task gets: the lowest free one (made and dropped again
/// with a one-page memory entry).
pub fn next_name() -> mach_port_t {
    let (mut size, mut name) = (PAGE, 0);
    assert_eq!(mach_make_memory_entry(me(), &mut size, 0, VM_PROT_READ | MAP_MEM_NAMED_CREATE, &mut name, 0), KERN_SUCCESS);
    assert_eq!(mach_port_deallocate(me(), name), KERN_SUCCESS);
    name
}

/// Free frames once they are `expected`, or after about two seconds. A thread ended before it
/// ran keeps its kernel stack until the scheduler next comes across it; spinning lets it.
pub fn settled_free_frames(expected: u64) -> u64 {
    let mut hz = 0;
    assert_eq!(clock_tsc_hz(&mut hz), KERN_SUCCESS);
    let deadline = rdtsc() + 2 * hz;
    loop {
        let free = vm_stats().free_count;
        if free == expected || rdtsc() > deadline {
            return free;
        }
        let pause = rdtsc() + hz / 100;
        while rdtsc() < pause {
            core::hint::spin_loop();
        }
    }
}

/// What must come back after a test has released everything it made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resources {
    pub free_frames: u64,
    pub wired: u64,
    pub entries: u64,
    pub next_name: mach_port_t,
}

impl Resources {
    pub fn now() -> Self {
        let stats = vm_stats();
        Self { free_frames: stats.free_count, wired: stats.wire_count, entries: entries(), next_name: next_name() }
    }

    /// Asserts that everything is as it was in `self` (waiting for frames to settle).
    pub fn assert_back(&self, what: &str) {
        assert_eq!(settled_free_frames(self.free_frames), self.free_frames, "{what}: every frame came back");
        let now = Self::now();
        assert_eq!(now, *self, "{what}: frames, wirings, map entries and handle names came back");
    }
}

/// Runs `cycle` three times, checking after each that everything came back, and that each
/// cycle returned the same value (a limit reached at the same count shows that nothing
/// leaked). Returns that value.
pub fn three_cycles<T: PartialEq + core::fmt::Debug>(what: &str, mut cycle: impl FnMut() -> T) -> T {
    let before = Resources::now();
    let first = cycle();
    before.assert_back(what);
    for _ in 1..3 {
        assert_eq!(cycle(), first, "{what}: the same in every cycle");
        before.assert_back(what);
    }
    first
}

/// `pages` new pages anywhere.
pub fn alloc(pages: u64) -> u64 {
    let mut a = 0;
    assert_eq!(vm_allocate(me(), &mut a, pages * PAGE, VM_FLAGS_ANYWHERE), KERN_SUCCESS);
    a
}

/// Removes `[a, a + pages)`.
pub fn free(a: u64, pages: u64) {
    assert_eq!(vm_deallocate(me(), a, pages * PAGE), KERN_SUCCESS);
}

/// Writes `value` at `a` (mapped writable by the caller).
pub fn put(a: u64, value: u64) {
    // SAFETY: callers pass addresses of their own writable memory.
    unsafe { (a as *mut u64).write_unaligned(value) }
}

/// Reads the `u64` at `a` (mapped readable by the caller).
pub fn get(a: u64) -> u64 {
    // SAFETY: callers pass addresses of their own readable memory.
    unsafe { (a as *const u64).read_unaligned() }
}

/// Regions (merged entries) from `start` below `end`.
pub fn regions_in(start: u64, end: u64) -> u64 {
    let (mut at, mut count) = (start, 0);
    loop {
        let (mut a, mut size, mut i) = (at, 0, VmRegionInfo::default());
        if vm_region(me(), &mut a, &mut size, &mut i) != KERN_SUCCESS || a >= end {
            return count;
        }
        count += 1;
        at = a + size;
    }
}

/// Runs `entry(arg)` in a child task that inherits this task's memory, waits for it and
/// returns its exit status.
pub fn run_child(entry: extern "C" fn(u64) -> !, arg: u64) -> i32 {
    let child = mach::child::spawn(entry, arg).expect("the child starts");
    mach::child::wait(child).expect("the child ends")
}

/// Makes the 128 KiB of stack below the caller resident, so that this task takes no fault
/// there while memory has run out.
pub fn pretouch_stack() {
    let sp: u64;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack)) };
    let below = (sp - PAGE) & !(PAGE - 1);
    for page in (0..32).map(|i| below - i * PAGE) {
        // SAFETY: a page of this task's 256 KiB stack well below the stack pointer: unused.
        unsafe { (page as *mut u8).write_volatile(0) };
    }
}

/// Spins until `done()` or about `seconds` have passed; returns whether `done()` held.
pub fn spin_until(seconds: u64, done: impl Fn() -> bool) -> bool {
    let mut hz = 0;
    assert_eq!(clock_tsc_hz(&mut hz), KERN_SUCCESS);
    let deadline = rdtsc() + seconds * hz;
    while !done() {
        if rdtsc() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}
