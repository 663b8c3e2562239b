//! Helpers shared by the user-mode test programs.

#![allow(dead_code)]

use mach::mach_port_t;

/// The caller's task handle.
pub fn me() -> mach_port_t {
    mach::mach_task_self()
}

/// Reads the byte at `a`, which the caller has mapped readable (a test's own memory).
pub fn peek(a: u64) -> u8 {
    // SAFETY: the tests pass addresses of memory they mapped readable; a bad one faults and
    // ends the test task, which fails the test.
    unsafe { (a as *const u8).read_volatile() }
}

/// Writes the byte at `a`, which the caller has mapped writable (a test's own memory).
pub fn poke(a: u64, v: u8) {
    // SAFETY: as for `peek`, for writable memory.
    unsafe { (a as *mut u8).write_volatile(v) }
}

/// Frames free in the whole system (`vm_statistics`).
pub fn free_frames() -> u64 {
    let mut s = mach::VmStatistics::default();
    assert_eq!(mach::vm_statistics(&mut s), mach::KERN_SUCCESS);
    s.free_count
}

/// Runs `entry(arg)` in a child task that inherits this task's memory, waits for it and
/// returns its exit status.
pub fn run_child(entry: extern "C" fn(u64) -> !, arg: u64) -> i32 {
    let child = mach::child::spawn(entry, arg).expect("the child starts");
    mach::child::wait(child).expect("the child ends")
}
