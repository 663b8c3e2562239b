//! Limits on what user tasks can make the kernel allocate, so that no task can exhaust the
//! kernel heap (an allocation failure there would bring the kernel down).
//!
//! - Every map holds at most [`map_entry_limit`] entries (the `vm` crate refuses operations
//!   that could pass it, with `KERN_RESOURCE_SHORTAGE`).
//! - At most [`MAX_THREADS`] threads, [`MAX_TASKS`] tasks and [`MAX_HANDLES`] handles per
//!   task exist.
//! - Calls that make the kernel allocate are refused with `KERN_RESOURCE_SHORTAGE` while
//!   less than [`heap_reserve`] bytes of heap are free, or while the caller's family holds
//!   more than its quota (`crate::ledger`); a fault that finds less than half of the reserve
//!   ends the faulting task. The reserve is larger than what any one call allocates (the
//!   largest is a fork of a map at the entry limit).

use crate::memory::heap;

/// Most threads at once.
pub const MAX_THREADS: usize = 256;
/// Most tasks at once (alive, or ended and still named by a handle).
pub const MAX_TASKS: usize = 1024;
/// Most handles in one task's table.
pub const MAX_HANDLES: usize = 4096;

/// Bytes in the kernel heap.
pub fn heap_size() -> usize {
    heap::usage().1
}

/// Most entries in one map: a sixteenth of the heap at 256 bytes an entry, between 1 024 and
/// 65 536. An entry costs about 500 bytes with its tree nodes, gap-index node and block
/// headers (measured in a map and its fork), so a fork of a map at the limit allocates about
/// an eighth of the heap: less than [`heap_reserve`].
pub fn map_entry_limit() -> usize {
    (heap_size() / 16 / 256).clamp(1024, 1 << 16)
}

/// Heap bytes kept free for the calls in progress: a fifth of the heap, more than the most
/// one call allocates (see [`map_entry_limit`]).
pub fn heap_reserve() -> usize {
    heap_size() / 5
}

/// Whether a call that allocates may go ahead: the reserve is free, and the caller's family
/// holds no more than its quota (`crate::ledger`).
pub fn heap_allows_call() -> bool {
    heap::free_bytes() >= heap_reserve() && crate::ledger::current().within_quota()
}

/// Whether a fault may go ahead (it allocates a little: an object, a page index node): half
/// the reserve is free, and the faulting family is within its quota and half the reserve.
pub fn heap_allows_fault() -> bool {
    heap::free_bytes() >= heap_reserve() / 2 && crate::ledger::current().within_quota_and(heap_reserve() / 2)
}
