//! The kernel heap: `linked_list_allocator` over a physically contiguous range reached through
//! the physical-memory mapping, behind an interrupt-safe lock.
//!
//! Every block is charged to a ledger (`crate::ledger`): a header before the block holds the
//! ledger's number, so that freeing credits the ledger that was charged, whoever frees.
//!
//! ```text
//!  ┌──────── header (max(8, align) bytes) ─────────┬────────── the caller's block ─────────┐
//!  │ padding …                     ledger (u64)    │ layout.size() bytes, aligned           │
//!  └───────────────────────────────────────────────┴────────────────────────────────────────┘
//! ```

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
    SIZE.store(size, Ordering::Relaxed);
}

/// Bytes in the heap (fixed at `init`), readable without the lock.
static SIZE: AtomicUsize = AtomicUsize::new(0);

/// Bytes of the heap not in use (block headers counted as in use), without taking the lock:
/// every system call asks.
pub fn free_bytes() -> usize {
    SIZE.load(Ordering::Relaxed).saturating_sub(HEAP.in_use.load(Ordering::Relaxed))
}

/// Heap statistics: `(bytes in use, bytes in the heap)`.
pub fn usage() -> (usize, usize) {
    (HEAP.in_use.load(Ordering::Relaxed), SIZE.load(Ordering::Relaxed))
}

/// The smallest header: one word, so that the common 8-byte-aligned blocks keep their
/// alignment and the allocator's holes stay as they were.
const HEADER: usize = 8;

/// The block the heap hands out for `layout`, header included, and the header's size.
fn with_header(layout: Layout) -> Option<(Layout, usize)> {
    let header = layout.align().max(HEADER);
    let size = layout.size().checked_add(header)?;
    Some((Layout::from_size_align(size, header).ok()?, header))
}

// SAFETY: allocation and deallocation go through `linked_list_allocator::Heap`, whose blocks
// never overlap, under a lock that also excludes interrupt handlers on this CPU. The caller's
// block starts `header` bytes into the heap's block, which is aligned to `header` (at least
// the caller's alignment), so it is aligned and as long as asked.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((outer, header)) = with_header(layout) else { return null_mut() };
        let Ok(block) = self.heap.lock().allocate_first_fit(outer) else { return null_mut() };
        let ledger = crate::ledger::current().raw();
        crate::ledger::charge(ledger, outer.size());
        self.in_use.fetch_add(outer.size(), Ordering::Relaxed);
        // SAFETY: the block is `outer.size()` bytes, so `header` bytes in is inside it, and
        // the word before that lies in the header (header >= 8), aligned to 8.
        unsafe {
            let inner = block.as_ptr().add(header);
            inner.cast::<u64>().sub(1).write(u64::from(ledger));
            inner
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let (outer, header) = with_header(layout).expect("the layout was allocated");
        // SAFETY: `ptr` came from `alloc` with this `layout` (the GlobalAlloc contract): it is
        // `header` bytes into a live block of this heap, whose header holds its ledger.
        unsafe {
            let ledger = ptr.cast::<u64>().sub(1).read() as u32;
            crate::ledger::credit(ledger, outer.size());
            self.in_use.fetch_sub(outer.size(), Ordering::Relaxed);
            self.heap.lock().deallocate(NonNull::new_unchecked(ptr.sub(header)), outer);
        }
    }
}
