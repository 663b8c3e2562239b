//! A global allocator for test binaries that records the largest single allocation made
//! while a closure runs (`largest_allocation`).

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;


thread_local! {
    /// The largest single allocation of this thread while tracking, if tracking.
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The system allocator, recording the largest allocation of threads that track.
struct Tracking;

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().map(|n| n.max(size))));
}

// SAFETY: every call is forwarded unchanged to the system allocator; `note` only updates a
// thread-local `Cell` (const-initialised, no destructor, no allocation).
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made.
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(Some(0)));
    let result = f();
    let largest = LARGEST.with(|l| l.replace(None)).unwrap_or(0);
    (result, largest)
}
