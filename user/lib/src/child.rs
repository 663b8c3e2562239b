//! Starting a child task that runs a function of this program.

use crate::*;

/// Size of a child's stack.
pub const CHILD_STACK_SIZE: vm_size_t = 64 * 1024;

/// Creates a task that inherits this task's memory (by each region's inheritance) and starts
/// it at `entry(arg)` on a fresh stack (allocated here, inherited by copy, then removed from
/// this task). Returns the child's handle.
///
/// # Errors
///
/// The first failing call's `kern_return_t`; nothing is left behind.
pub fn spawn(entry: extern "C" fn(u64) -> !, arg: u64) -> Result<mach_port_t, kern_return_t> {
    let me = mach_task_self();
    let mut stack = 0;
    let kr = vm_allocate(me, &mut stack, CHILD_STACK_SIZE, VM_FLAGS_ANYWHERE);
    if kr != KERN_SUCCESS {
        return Err(kr);
    }
    let mut child = 0;
    let mut kr = task_create(me, TRUE, &mut child);
    if kr == KERN_SUCCESS {
        // The entry is entered as if called: the stack pointer is 8 below a 16-byte boundary.
        kr = thread_create_running(child, entry, stack + CHILD_STACK_SIZE - 8, arg);
        if kr != KERN_SUCCESS {
            task_terminate(child);
            mach_port_deallocate(me, child);
        }
    }
    vm_deallocate(me, stack, CHILD_STACK_SIZE);
    if kr == KERN_SUCCESS { Ok(child) } else { Err(kr) }
}

/// Waits for `child` to end, drops its handle and returns its exit status.
///
/// # Errors
///
/// `task_wait`'s error.
pub fn wait(child: mach_port_t) -> Result<i32, kern_return_t> {
    let mut status = 0;
    let kr = task_wait(child, &mut status);
    mach_port_deallocate(mach_task_self(), child);
    if kr == KERN_SUCCESS { Ok(status) } else { Err(kr) }
}
