//! The kernel heap: small blocks from slab caches, large blocks from an area of virtual
//! memory mapped on demand; both take frames from the frame allocator as they grow and give
//! them back as they shrink.
//!
//! - **Small blocks** (up to `kalloc::classes::MAX_SMALL`, 2032 bytes with the header, and
//!   alignment up to 16): a slab cache per size class ([`small`], `kalloc::slab`). A slab is
//!   one frame reached through the direct map; allocation and freeing are O(1); a slab left
//!   empty goes back to the frame allocator unless its class already caches two empty ones.
//!   Map entries' B-tree nodes, objects' page-index nodes, task records come from here.
//! - **Large blocks**: page-granular blocks in the kernel heap area (P4 entry 509,
//!   `boot::KERNEL_HEAP_BASE`, [`large`]). A buddy allocator (`kalloc::buddy`, its metadata
//!   carved at boot) hands out virtual blocks of `2^k` pages; only the pages the block needs
//!   are mapped, to frames taken when it is allocated and given back when it is freed (each
//!   unmapped page invalidated with `invlpg`; the pages are global). Page tables below the
//!   area's top-level entry are made on demand and freed when empty. Growing or shrinking a
//!   large block maps or unmaps pages at its end, or moves its frames to a new block by
//!   rewriting their page-table entries: no bytes are copied, and growth takes only the new
//!   pages' frames. A `Vec` of tens of MiB is one large block.
//!
//! Every block is charged to a ledger (`crate::ledger`): a header before the block holds the
//! ledger's number, so that freeing credits the ledger that was charged, whoever frees. What
//! is charged is the block's footprint: its class's size, or its pages.
//!
//! ```text
//!  ┌──────── header (max(8, align) bytes) ─────────┬────────── the caller's block ─────────┐
//!  │ padding …                     ledger (u64)    │ layout.size() bytes, aligned           │
//!  └───────────────────────────────────────────────┴────────────────────────────────────────┘
//! ```
//!
//! Locks: the slab caches and the large-block area each have their own interrupt-safe lock,
//! taken before the frame allocator's, never together, and nothing under them allocates from
//! the heap: no lock order to break and no recursion.
//!
//! A heap allocation fails only when no frame is free at all; the system-call gates
//! (`crate::limits`) keep enough free that an admitted call never sees it.

mod large;
mod small;
mod tables;

pub use large::{free_pages as large_free_pages, mapped_frame};

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
use kalloc::classes::{class_of, size_of, OBJECT_ALIGN};
use large::Span;

/// The global allocator.
pub struct KernelHeap;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap;

/// Bytes of blocks in use (footprints, headers included).
static IN_USE: AtomicUsize = AtomicUsize::new(0);
/// The most `IN_USE` has been.
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Words of metadata the heap needs for `usable_frames` frames of memory (taken at boot).
pub(super) fn metadata_words(usable_frames: u64) -> usize {
    large::metadata_words(usable_frames)
}

/// Sets up the large-block area with its metadata in `words`. Runs once, at boot, after the
/// frame allocator and before any address space exists.
pub(super) fn init(words: &'static mut [u64], usable_frames: u64) {
    large::init(words, usable_frames);
}

/// Heap statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of blocks in use (footprints: class sizes or pages, headers included).
    pub in_use: usize,
    /// The most bytes that were ever in use at once.
    pub peak: usize,
    /// Frames the heap holds: slabs (cached empty ones included), large blocks' pages and
    /// the area's page tables.
    pub frames: u64,
    /// Of those, frames of cached empty slabs.
    pub cached_frames: u64,
}

/// The heap's statistics now.
pub fn usage() -> Usage {
    Usage {
        in_use: IN_USE.load(Ordering::Relaxed),
        peak: PEAK.load(Ordering::Relaxed),
        frames: super::stats().heap_frames,
        cached_frames: small::cached_pages() as u64,
    }
}

/// Starts a new peak from the bytes in use now (to measure the most one operation holds at
/// once).
pub fn reset_peak() {
    PEAK.store(IN_USE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Bytes of memory the heap can still grow into: every free frame (the reserve included)
/// and its cached empty slabs. Every system call asks (`limits::heap_allows`).
pub fn available_bytes() -> usize {
    ((super::pool_frames() + small::cached_pages() as u64) * 4096) as usize
}

/// Gives every cached empty slab back to the frame allocator.
pub fn drain() {
    small::drain();
}

/// Checks the slab caches' and the large-block area's invariants.
///
/// # Panics
///
/// If one does not hold.
pub fn check() {
    small::check();
    large::check();
}

/// The smallest header: one word, so that the common 8-byte-aligned blocks keep their
/// alignment.
const HEADER: usize = 8;

/// The block the heap hands out for `layout`, header included, and the header's size.
fn with_header(layout: Layout) -> Option<(Layout, usize)> {
    let header = layout.align().max(HEADER);
    let size = layout.size().checked_add(header)?;
    Some((Layout::from_size_align(size, header).ok()?, header))
}

/// Where a block with header (`outer`) comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// A slab object of this class.
    Small(usize),
    /// A large block.
    Large(Span),
}

impl Block {
    fn of(outer: Layout) -> Option<Self> {
        match class_of(outer.size()) {
            Some(class) if outer.align() <= OBJECT_ALIGN => Some(Self::Small(class)),
            _ => Span::new(outer.size(), outer.align()).map(Self::Large),
        }
    }

    /// Bytes charged for the block.
    fn footprint(self) -> usize {
        match self {
            Self::Small(class) => size_of(class),
            Self::Large(span) => span.bytes(),
        }
    }

    fn allocate(self) -> Option<NonNull<u8>> {
        match self {
            Self::Small(class) => small::allocate(class),
            Self::Large(span) => large::allocate(span),
        }
    }

    /// # Safety
    ///
    /// `start` came from [`allocate`](Self::allocate) of this block and is no longer used.
    unsafe fn deallocate(self, start: NonNull<u8>) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match self {
                Self::Small(class) => small::deallocate(start, class),
                Self::Large(span) => large::deallocate(start, span),
            }
        }
    }
}

/// Charges `block`, which starts at `start`, to the current ledger and writes its header;
/// returns the caller's pointer, `header` bytes in.
///
/// # Safety
///
/// `start` is a fresh block of `block`'s footprint, aligned to `header`, `header >= 8`.
unsafe fn open(start: NonNull<u8>, header: usize, block: Block) -> *mut u8 {
    let ledger = crate::ledger::current().raw();
    let bytes = block.footprint();
    crate::ledger::charge(ledger, bytes);
    let now = IN_USE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
    // SAFETY: the block is at least `header` bytes long, so `header` bytes in is inside it or
    // its end, and the word before lies in the header, aligned to 8.
    unsafe {
        let inner = start.as_ptr().add(header);
        inner.cast::<u64>().sub(1).write(u64::from(ledger));
        inner
    }
}

/// Credits the ledger in the header before `ptr` with `block`'s footprint; returns the
/// block's start.
///
/// # Safety
///
/// `ptr` came from [`open`] with this `header` and `block`, and is no longer used.
unsafe fn close(ptr: *mut u8, header: usize, block: Block) -> NonNull<u8> {
    let bytes = block.footprint();
    // SAFETY: per the contract, the word before `ptr` is the header's ledger word and the
    // block starts `header` bytes before `ptr`.
    unsafe {
        let ledger = ptr.cast::<u64>().sub(1).read() as u32;
        crate::ledger::credit(ledger, bytes);
        IN_USE.fetch_sub(bytes, Ordering::Relaxed);
        NonNull::new_unchecked(ptr.sub(header))
    }
}

// SAFETY: blocks come from the slab caches (disjoint objects of whole slabs) or the large
// area (disjoint buddy blocks, mapped writable while allocated), each under its own lock,
// which also excludes interrupt handlers on this CPU. A block is at least the header plus
// the caller's size, aligned to the header (slab objects are 16-byte aligned and small blocks
// have a header of at most 16; large blocks are aligned to their order, at least the
// header), so the caller's block, `header` bytes in, is aligned and as long as asked.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((outer, header)) = with_header(layout) else { return null_mut() };
        let Some(block) = Block::of(outer) else { return null_mut() };
        match block.allocate() {
            // SAFETY: a fresh block of `block`'s footprint, aligned to `header`.
            Some(start) => unsafe { open(start, header, block) },
            None => null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let (outer, header) = with_header(layout).expect("the layout was allocated");
        let block = Block::of(outer).expect("the layout was allocated");
        // SAFETY: `ptr` came from `alloc` with this `layout` (the GlobalAlloc contract), so
        // from `open` with this header and block, and is no longer used.
        unsafe { block.deallocate(close(ptr, header, block)) };
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (outer, header) = with_header(layout).expect("the layout was allocated");
        let old = Block::of(outer).expect("the layout was allocated");
        let new = Layout::from_size_align(new_size.saturating_add(header), outer.align()).ok().and_then(Block::of);
        match (old, new) {
            (Block::Small(a), Some(Block::Small(b))) if a == b => ptr,
            // SAFETY: `ptr` came from `alloc` with `layout` (the GlobalAlloc contract).
            (Block::Large(a), Some(Block::Large(b))) => unsafe { resize_large(ptr, header, a, b) },
            // SAFETY: as above; `new_size` is valid for `layout`'s alignment (the contract).
            _ => unsafe { move_block(self, ptr, layout, new_size) },
        }
    }
}

/// Resizes the large block behind `ptr` from `old` to `new` (moving its frames if the order
/// changes); the block is charged to the current ledger afterwards. Null if that fails
/// (the block is unchanged).
///
/// # Safety
///
/// `ptr` came from `alloc` as a large block of span `old` with this `header`.
unsafe fn resize_large(ptr: *mut u8, header: usize, old: Span, new: Span) -> *mut u8 {
    // SAFETY: per the contract, the block starts `header` bytes before `ptr`; it stays in
    // use (its bytes move with its frames) until `resize` returns.
    unsafe {
        let start = NonNull::new_unchecked(ptr.sub(header));
        let Some(moved) = large::resize(start, old, new) else { return null_mut() };
        close(moved.as_ptr().add(header), header, Block::Large(old));
        open(moved, header, Block::Large(new))
    }
}

/// Moves the block behind `ptr` to a new block of `new_size` bytes (copying the bytes both
/// hold) and frees it; null if no new block is to be had (the old one stays).
///
/// # Safety
///
/// As `GlobalAlloc::realloc`.
unsafe fn move_block(heap: &KernelHeap, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    // SAFETY: `new_size` with `layout`'s alignment is a valid layout (realloc's contract); the
    // new block is fresh, so it does not overlap the old one, which holds `layout.size()`
    // bytes and is freed with its own layout.
    unsafe {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new = heap.alloc(new_layout);
        if !new.is_null() {
            core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            heap.dealloc(ptr, layout);
        }
        new
    }
}
