//! The task's own handle, asked for once and kept, as a Mach program keeps
//! `mach_task_self()` (`mach_task_self_` in Mach's C library): a timed call of a benchmark
//! then makes one system call, as its Linux counterpart does. Only for the task that asked: a
//! child task has a handle table of its own.

use core::sync::atomic::{AtomicU32, Ordering};
use mach::{mach_port_t, mach_task_self};

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
