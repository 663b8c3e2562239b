//! Small blocks: `kalloc::slab`'s caches over frames from the frame allocator, each slab
//! reached through the direct map.

use crate::memory::{allocate_heap_frame, deallocate_heap_frame, phys_to_virt, virt_to_phys};
use crate::sync::Mutex;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use kalloc::slab::{PageSource, Slabs};
use x86_64::structures::paging::PhysFrame;
use x86_64::VirtAddr;

static SLABS: Mutex<Slabs> = Mutex::new(Slabs::new());

/// `Slabs::cached_pages` as of the last change, readable without the lock (every system
/// call's gate asks).
static CACHED: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` on the slab caches under their lock, then publishes their cached count.
fn with_slabs<R>(f: impl FnOnce(&mut Slabs) -> R) -> R {
    let mut slabs = SLABS.lock();
    let result = f(&mut slabs);
    CACHED.store(slabs.cached_pages(), Ordering::Relaxed);
    result
}

/// Slabs are frames of the heap's own, through the direct map.
struct HeapFrames;

impl PageSource for HeapFrames {
    fn take(&self) -> Option<NonNull<u8>> {
        let frame = allocate_heap_frame()?;
        NonNull::new(phys_to_virt(frame.start_address()).as_mut_ptr())
    }

    unsafe fn give(&self, page: NonNull<u8>) {
        let frame = PhysFrame::containing_address(virt_to_phys(VirtAddr::from_ptr(page.as_ptr())));
        deallocate_heap_frame(frame);
    }
}

/// An object of `class`, or `None` if no frame is free for a new slab.
pub(super) fn allocate(class: usize) -> Option<NonNull<u8>> {
    with_slabs(|slabs| slabs.allocate(&HeapFrames, class))
}

/// Frees `object`.
///
/// # Safety
///
/// `object` came from [`allocate`] with this `class` and is no longer used.
pub(super) unsafe fn deallocate(object: NonNull<u8>, class: usize) {
    // SAFETY: forwarded from the caller; every slab comes from `HeapFrames`.
    with_slabs(|slabs| unsafe { slabs.deallocate(&HeapFrames, object, class) });
}

/// Frames held as cached empty slabs.
pub(super) fn cached_pages() -> usize {
    CACHED.load(Ordering::Relaxed)
}

/// Gives every cached empty slab back.
pub(super) fn drain() {
    with_slabs(|slabs| slabs.drain(&HeapFrames));
}

/// Checks the slab caches' invariants.
pub(super) fn check() {
    SLABS.lock().check();
}
