//! Threads of the calling task: several threads share the task's map, so that one address
//! space is used from several processors at once.
//!
//! ```ignore
//! fn work(n: u64) { /* ... */ }
//! let thread = mach::thread::spawn(work, 7).expect("a thread");
//! thread.join().expect("its stack is released");
//! ```
//!
//! There is no allocator in user space, so a thread runs a plain `fn(u64)`, not a closure:
//! what it shares with others lives in statics (atomics) or behind the address passed as its
//! argument.
//!
//! Each thread has a stack of its own: one region of this task's map, a no-access guard page
//! at its bottom (an overflow faults there instead of running into other memory), the stack
//! above it, and at its top a small header holding the function, its argument and the
//! completion flag. The thread starts in a trampoline that calls the function, sets the flag
//! and ends the thread ([`thread_exit`]) without touching its stack after the flag is set, so
//! that [`Thread::join`] may release the region as soon as it sees the flag.

use crate::*;
use core::sync::atomic::{AtomicU64, Ordering};

/// Size of a thread's stack unless [`spawn_with_stack`] says otherwise.
pub const DEFAULT_STACK_SIZE: vm_size_t = 64 * 1024;

const PAGE: vm_size_t = 4096;
/// Bytes at the top of the stack region kept for the [`Header`] (a multiple of 16, so that
/// the stack below it starts 16-byte aligned).
const HEADER_SPACE: vm_size_t = 64;

/// What the trampoline needs, at the top of the thread's stack region.
#[repr(C)]
struct Header {
    /// 0 while the thread runs; 1 once its function has returned (the last thing the thread
    /// writes to its stack region).
    done: AtomicU64,
    /// The function the thread runs.
    function: fn(u64),
    /// Its argument.
    argument: u64,
}

const _: () = assert!(core::mem::size_of::<Header>() as u64 <= HEADER_SPACE);

/// A thread started by [`spawn`]. Dropping it without [`join`](Thread::join) detaches the
/// thread: it runs on, and its stack region is never released.
#[must_use = "a thread that is never joined keeps its stack region for the life of the task"]
#[derive(Debug)]
pub struct Thread {
    /// The start of the region: the guard page.
    region: vm_address_t,
    /// The size of the region: guard page, stack and header.
    size: vm_size_t,
}

/// Starts a thread of this task that runs `function(argument)` on a stack of
/// [`DEFAULT_STACK_SIZE`] bytes.
///
/// # Errors
///
/// The failing call's `kern_return_t` (`vm_allocate`, `vm_protect` or
/// `thread_create_running`); nothing is left behind.
pub fn spawn(function: fn(u64), argument: u64) -> Result<Thread, kern_return_t> {
    spawn_with_stack(function, argument, DEFAULT_STACK_SIZE)
}

/// Starts a thread of this task that runs `function(argument)` on a stack of `stack_size`
/// bytes (rounded up to whole pages, at least one).
///
/// # Errors
///
/// As [`spawn`]; `KERN_INVALID_ARGUMENT` if the size overflows.
pub fn spawn_with_stack(function: fn(u64), argument: u64, stack_size: vm_size_t) -> Result<Thread, kern_return_t> {
    let stack = stack_size.max(PAGE).checked_next_multiple_of(PAGE).ok_or(KERN_INVALID_ARGUMENT)?;
    let size = stack.checked_add(PAGE).ok_or(KERN_INVALID_ARGUMENT)?;
    let thread = Thread::allocate(size)?;
    if let Err(kr) = thread.protect_guard().and_then(|()| thread.start(function, argument)) {
        // The start failed: the region is this call's own, and its removal cannot fail.
        let _ = thread.release();
        return Err(kr);
    }
    Ok(thread)
}

impl Thread {
    /// Allocates a stack region of `size` bytes anywhere in this task's map.
    fn allocate(size: vm_size_t) -> Result<Self, kern_return_t> {
        let mut region = 0;
        match vm_allocate(mach_task_self(), &mut region, size, VM_FLAGS_ANYWHERE) {
            KERN_SUCCESS => Ok(Self { region, size }),
            kr => Err(kr),
        }
    }

    /// Makes the region's lowest page the no-access guard page.
    fn protect_guard(&self) -> Result<(), kern_return_t> {
        match vm_protect(mach_task_self(), self.region, PAGE, FALSE, VM_PROT_NONE) {
            KERN_SUCCESS => Ok(()),
            kr => Err(kr),
        }
    }

    /// Where the header lies: the top of the region.
    fn header(&self) -> *mut Header {
        (self.region + self.size - HEADER_SPACE) as *mut Header
    }

    /// Writes the header and starts the thread in the trampoline, its stack just below the
    /// header.
    fn start(&self, function: fn(u64), argument: u64) -> Result<(), kern_return_t> {
        let header = self.header();
        // SAFETY: the header lies in the region this value owns, mapped read-write and used
        // by nothing else until the thread starts.
        unsafe { header.write(Header { done: AtomicU64::new(0), function, argument }) };
        // The entry is entered as if called: the stack pointer 8 below a 16-byte boundary.
        let stack_pointer = header as u64 - 8;
        match thread_create_running(mach_task_self(), trampoline, stack_pointer, header as u64) {
            KERN_SUCCESS => Ok(()),
            kr => Err(kr),
        }
    }

    /// Whether the thread's function has returned.
    pub fn is_finished(&self) -> bool {
        // SAFETY: the header lies in the region this value owns, which stays mapped until
        // `join` or `release` consumes it; the flag is only accessed atomically.
        unsafe { (*self.header()).done.load(Ordering::Acquire) != 0 }
    }

    /// The thread's stack region: its start (the guard page) and its size in bytes.
    pub fn region(&self) -> (vm_address_t, vm_size_t) {
        (self.region, self.size)
    }

    /// Waits until the thread's function has returned (giving the processor away between
    /// checks), then releases its stack region.
    ///
    /// # Errors
    ///
    /// `vm_deallocate`'s error, if the region could not be released (someone removed it).
    pub fn join(self) -> Result<(), kern_return_t> {
        while !self.is_finished() {
            thread_switch();
        }
        self.release()
    }

    /// Releases the stack region.
    fn release(self) -> Result<(), kern_return_t> {
        match vm_deallocate(mach_task_self(), self.region, self.size) {
            KERN_SUCCESS => Ok(()),
            kr => Err(kr),
        }
    }
}

/// Where every thread starts: runs the function its header names, then ends the thread.
extern "C" fn trampoline(header: u64) -> ! {
    let header = header as *const Header;
    // SAFETY: `Thread::start` wrote the header before starting this thread, and the region
    // stays mapped until the flag is set (`join` releases it only after that).
    let (function, argument) = unsafe { ((*header).function, (*header).argument) };
    function(argument);
    // SAFETY: the flag lies in this thread's own header, mapped until the flag is set.
    unsafe { finish(core::ptr::addr_of!((*header).done)) }
}

/// Sets the flag at `done` and ends the calling thread, touching neither the stack nor any
/// other memory in between: once the flag is set, `join` may remove the stack.
///
/// # Safety
///
/// `done` must point at the calling thread's completion flag, mapped read-write.
unsafe fn finish(done: *const AtomicU64) -> ! {
    // SAFETY: one store (a release store on x86: no earlier store passes it) and the
    // `thread_exit` system call, which does not return; neither uses the stack.
    unsafe {
        core::arch::asm!(
            "mov qword ptr [{done}], 1",
            "syscall",
            done = in(reg) done,
            in("rax") machvm_abi::Sysno::ThreadExit as u64,
            options(noreturn, nostack),
        )
    }
}

/// The number of processors running threads (1 if the kernel cannot say).
pub fn processors() -> u64 {
    let mut count = 0;
    if host_processors(&mut count) == KERN_SUCCESS && count > 0 { count } else { 1 }
}

/// Gives the processor to another ready thread, if there is one.
pub fn yield_now() {
    thread_switch();
}
