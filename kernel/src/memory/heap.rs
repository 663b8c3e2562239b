//! The kernel heap: `linked_list_allocator` over a physically contiguous range reached through
//! the physical-memory mapping, behind an interrupt-safe lock.

use crate::sync::IrqMutex;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
use linked_list_allocator::Heap;

/// The global allocator.
pub struct KernelHeap {
    heap: IrqMutex<Heap>,
    in_use: AtomicUsize,
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap { heap: IrqMutex::new(Heap::empty()), in_use: AtomicUsize::new(0) };

/// Hands `[start, start + size)` to the heap.
///
/// # Safety
///
/// The range must be mapped, writable, unused by anything else for the rest of the kernel's
/// life, and this must be called once.
pub unsafe fn init(start: *mut u8, size: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { HEAP.heap.lock().init(start, size) };
}

/// Bytes of the heap not in use.
pub fn free_bytes() -> usize {
    HEAP.heap.lock().free()
}

/// Heap statistics: `(bytes in use, bytes in the heap)`.
pub fn usage() -> (usize, usize) {
    (HEAP.in_use.load(Ordering::Relaxed), HEAP.heap.lock().size())
}

// SAFETY: allocation and deallocation go through `linked_list_allocator::Heap`, whose blocks
// never overlap, under a lock that also excludes interrupt handlers on this CPU.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.heap.lock().allocate_first_fit(layout) {
            Ok(block) => {
                self.in_use.fetch_add(layout.size(), Ordering::Relaxed);
                block.as_ptr()
            }
            Err(()) => null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this `layout` (the GlobalAlloc contract), so it
        // is non-null and a live block of this heap.
        unsafe { self.heap.lock().deallocate(NonNull::new_unchecked(ptr), layout) };
    }
}
