//! Limits on what user tasks can make the kernel allocate, so that no task can exhaust the
//! kernel heap (an allocation failure there would bring the kernel down). Every size limit is
//! a fraction of usable memory `U` ([`usable_bytes`]).
//!
//! - Every map holds at most [`map_entry_limit`] entries, `U / 1024` (a million on a 2 GiB
//!   machine; the `vm` crate refuses operations that could pass it, with
//!   `KERN_RESOURCE_SHORTAGE`).
//! - At most [`MAX_THREADS`] threads, [`MAX_TASKS`] tasks and [`MAX_HANDLES`] handles per
//!   task exist.
//! - A call that makes the kernel allocate starts only while the heap can still grow by the
//!   reserve, [`heap_reserve`] (`U / 16`), and the caller's family holds no more than its
//!   quota (`crate::ledger`): otherwise `KERN_RESOURCE_SHORTAGE` ([`heap_allows_call`]). A
//!   fault that finds less than half the reserve ends the faulting task
//!   ([`heap_allows_fault`]).
//! - A call whose allocation grows with the size of a map or a copy it names is estimated
//!   before it starts, from the entries (or pieces) it could touch times a per-entry bound
//!   ([`fork_bytes`], [`copy_bytes`]), and starts only if the heap can grow by the reserve
//!   *and* the estimate, and the estimate fits in the family's quota ([`heap_allows`]).
//!
//! # Why the reserve covers every other call
//!
//! The heap can grow into every free frame ([`heap_available`]); the VM side (tasks' pages,
//! page tables, kernel stacks) always leaves it the reserve (`memory`'s frame budget), so
//! filling memory with pages never stops calls at the gate. What one call not estimated
//! allocates is bounded by:
//!
//! - a constant number of entries, objects, handles and tree nodes;
//! - the growth of one map's gap arena (`vm::map::gaps`): when it doubles, the heap grows by
//!   the old arena (the new block takes the old one's frames, `memory::heap`), at most 40
//!   bytes per entry: `40 × U / 1024 < U / 25`;
//! - the page-index nodes of the pages the call makes resident, under 48 bytes per 4 KiB
//!   page: `< U / 85`.
//!
//! Together less than `U / 16`. Faults allocate a constant amount, well under half of it.
//! Estimated calls allocate at most their estimate beyond that: the per-entry bounds are
//! above what an entry or piece can cost, nodes' slack and arena growth included (measured:
//! 167 bytes an entry in a map of a million, `test_scale`).
//!
//! Which call is estimated, and from what:
//!
//! | call | estimate |
//! |---|---|
//! | `task_create` inheriting memory (fork) | the parent map's entries × [`FORK_ENTRY_BYTES`] |
//! | `vm_copyin` | pieces × [`PIECE_BYTES`] |
//! | `vm_read`, `vm_copy`, `vm_write`, `vm_remap` | pieces × ([`PIECE_BYTES`] + [`ENTRY_BYTES`]) |
//! | `vm_copyout`, `vm_copy_overwrite` | pieces × [`ENTRY_BYTES`] |
//!
//! where the pieces of a range are at most the pages it touches and at most its map's
//! entries, and the pieces of a copy at most its pages and at most the entry limit
//! ([`pieces`]).

use crate::memory;

/// Most threads at once.
pub const MAX_THREADS: usize = 256;
/// Most tasks at once (alive, or ended and still named by a handle).
pub const MAX_TASKS: usize = 1024;
/// Most handles in one task's table.
pub const MAX_HANDLES: usize = 4096;

/// Heap bytes one map entry costs at most when a call adds it: its share of the entry
/// B-tree's nodes (a node holds at least 5 of its 11 entries) and of the gap arena (with
/// its growth), rounded to size classes.
pub const ENTRY_BYTES: usize = 384;
/// Heap bytes per entry of the parent's map that a fork allocates at most: the child's
/// entry ([`ENTRY_BYTES`]) and what copying it may take (a new object for memory copied at
/// once; its pages' index nodes are covered by the reserve, as for any call). Measured at a
/// fork's peak (test kernel `heap`, which checks the bound): 166 bytes an entry for bare or
/// touched entries, 323 for shared ones, which each get an object; the rest is room for a
/// parent's gap arena left sparse (its copy takes its free slots too).
pub const FORK_ENTRY_BYTES: usize = 640;
/// Heap bytes one piece of a copy object costs at most (its share of the piece vector,
/// growth included).
pub const PIECE_BYTES: usize = 128;

/// Bytes of usable memory: the base of every limit.
pub fn usable_bytes() -> usize {
    memory::usable_bytes()
}

/// Most entries in one map: a 1024th of memory, at least 1 024.
pub fn map_entry_limit() -> usize {
    (usable_bytes() / 1024).max(1024)
}

/// Heap bytes kept free for the calls in progress: a sixteenth of memory, more than the
/// most one call allocates beyond its estimate (see the module documentation).
pub fn heap_reserve() -> usize {
    usable_bytes() / 16
}

/// Bytes the kernel keeps for itself, its heap and free frames together, while the heap is
/// small: the reserve and a sixty-fourth of memory for the heap itself. Tasks' memory never
/// takes them (`memory`'s frame budget).
pub fn kernel_keep() -> usize {
    heap_reserve() + usable_bytes() / 64
}

/// Bytes the heap can still grow by (every free frame and its cached empty slabs).
pub fn heap_available() -> usize {
    memory::heap::available_bytes()
}

/// Whether a call that allocates may go ahead: the reserve is free, and the caller's family
/// holds no more than its quota (`crate::ledger`).
pub fn heap_allows_call() -> bool {
    heap_allows(0)
}

/// Whether a call estimated to allocate `bytes` beyond what the reserve covers may go ahead:
/// the reserve and `bytes` are free, and the caller's family holds no more than its quota
/// once `bytes` are added.
pub fn heap_allows(bytes: usize) -> bool {
    heap_available() >= heap_reserve().saturating_add(bytes) && crate::ledger::current().has_room_for(bytes)
}

/// Whether a fault may go ahead (it allocates a little: an object, a page index node): half
/// the reserve is free, and the faulting family is within its quota and half the reserve.
pub fn heap_allows_fault() -> bool {
    heap_available() >= heap_reserve() / 2 && crate::ledger::current().within_quota_and(heap_reserve() / 2)
}

/// The estimate of a fork of a map of `entries` entries.
pub fn fork_bytes(entries: usize) -> usize {
    entries.saturating_mul(FORK_ENTRY_BYTES)
}

/// Pieces of a copy of `bytes` bytes of a map with `entries` entries (at most one per page
/// and one per entry).
pub fn pieces(bytes: u64, entries: usize) -> usize {
    usize::try_from(bytes / 4096 + 2).unwrap_or(usize::MAX).min(entries)
}

/// The estimate of a call that makes a copy of `pieces` pieces (`vm_copyin`: `placed` is
/// false), or places one in a map (`vm_copyout`, `vm_copy_overwrite`: `copied` is false),
/// or both.
pub fn copy_bytes(pieces: usize, copied: bool, placed: bool) -> usize {
    let per_piece = if copied { PIECE_BYTES } else { 0 } + if placed { ENTRY_BYTES } else { 0 };
    pieces.saturating_mul(per_piece)
}
