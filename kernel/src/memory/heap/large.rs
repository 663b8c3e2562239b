//! Large blocks: buddy blocks of the kernel heap area, with frames mapped only under the pages
//! a block uses.
//!
//! The area spans `2^order` pages from `boot::KERNEL_HEAP_BASE`, twice the usable frames
//! rounded up to a power of two (between 16 MiB and 256 GiB of address space): every frame of
//! memory could be in large blocks at once and the buddy blocks, which round sizes up to a
//! power of two, would still fit. Its buddy allocator's metadata (two bits a page and
//! summaries) and the page-table counters are carved at boot, so that this allocator never
//! allocates from the heap.
//!
//! Every operation either completes or changes nothing: frames and tables are all taken
//! before a block is handed out, and a failure gives back what was taken.

use super::tables::{self, address, Tables};
use crate::memory::{allocate_heap_frame, deallocate_heap_frame};
use crate::arch::tlb::KernelPages;
use crate::sync::Mutex;
use core::ops::Range;
use core::ptr::NonNull;
use kalloc::buddy::{Buddy, MAX_ORDER};
use x86_64::VirtAddr;

const PAGE: u64 = 4096;
/// The smallest area: `2^12` pages (16 MiB).
const MIN_AREA_ORDER: u32 = 12;

/// The pages a large block uses and the order of the buddy block that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pages: u64,
    order: u32,
}

impl Span {
    /// The span of a block of `size` bytes aligned to `align` (a power of two); `None` if no
    /// area could hold it.
    pub(super) fn new(size: usize, align: usize) -> Option<Self> {
        let pages = (size as u64).div_ceil(PAGE);
        let align_order = (align as u64 / PAGE).max(1).trailing_zeros();
        let order = Buddy::order_for(pages).max(align_order);
        (order <= MAX_ORDER).then_some(Self { pages, order })
    }

    /// Bytes of the pages the block uses.
    pub(super) fn bytes(self) -> usize {
        (self.pages * PAGE) as usize
    }
}

struct Area {
    buddy: Buddy<'static>,
    tables: Tables,
}

static AREA: Mutex<Option<Area>> = Mutex::new(None);

fn area_order(usable_frames: u64) -> u32 {
    Buddy::order_for(usable_frames.saturating_mul(2)).clamp(MIN_AREA_ORDER, MAX_ORDER)
}

/// Words of metadata for the area of a machine with `usable_frames` frames.
pub(super) fn metadata_words(usable_frames: u64) -> usize {
    let order = area_order(usable_frames);
    Buddy::words_needed(order) + tables::counter_words(1 << order)
}

/// Sets up the area over `words` (as many as [`metadata_words`] says).
pub(super) fn init(words: &'static mut [u64], usable_frames: u64) {
    let order = area_order(usable_frames);
    let (buddy, counters) = words.split_at_mut(Buddy::words_needed(order));
    let area = Area { buddy: Buddy::new(buddy, order), tables: Tables::new(counters, 1 << order) };
    log::info!(
        "kernel heap: large blocks in {} GiB at {:#x}, {} KiB of metadata",
        (PAGE << order) >> 30,
        address(0).as_u64(),
        metadata_words(usable_frames) * 8 >> 10
    );
    *AREA.lock() = Some(area);
}

fn with_area<R>(f: impl FnOnce(&mut Area) -> R) -> R {
    f(AREA.lock().as_mut().expect("the heap area is set up at boot"))
}

fn page_of(start: NonNull<u8>) -> u64 {
    (start.as_ptr() as u64 - address(0).as_u64()) / PAGE
}

fn pointer(page: u64) -> NonNull<u8> {
    NonNull::new(address(page).as_mut_ptr()).expect("the area is not at 0")
}

impl Area {
    /// Maps fresh frames under `pages` (unmapped), or nothing.
    fn map_fresh(&mut self, pages: Range<u64>) -> Option<()> {
        self.tables.ensure(pages.clone()).ok()?;
        for page in pages.clone() {
            let Some(frame) = allocate_heap_frame() else {
                self.unmap(pages.start..page);
                self.tables.release_empty(pages);
                return None;
            };
            self.tables.map(page, frame);
        }
        Some(())
    }

    /// Unmaps `pages` (mapped), frees their frames and the tables left empty.
    fn unmap(&mut self, pages: Range<u64>) {
        let mut stale = KernelPages::new(deallocate_heap_frame);
        for page in pages.clone() {
            let frame = self.tables.unmap(page);
            stale.push(address(page), Some(frame));
        }
        stale.invalidate();
        self.tables.release_empty(pages);
    }

    /// Moves the frames under `from` (mapped) to the pages from `to` on (unmapped, their
    /// tables made), as the same bytes.
    fn move_frames(&mut self, from: Range<u64>, to: u64) {
        let mut stale = KernelPages::new(deallocate_heap_frame);
        for (i, page) in from.clone().enumerate() {
            let frame = self.tables.unmap(page);
            self.tables.map(to + i as u64, frame);
            stale.push(address(page), None);
        }
        stale.invalidate();
        self.tables.release_empty(from);
    }
}

/// A block of `span`, mapped; `None` if no block or not enough frames are free.
pub(super) fn allocate(span: Span) -> Option<NonNull<u8>> {
    with_area(|area| {
        let first = area.buddy.allocate(span.order)?;
        if area.map_fresh(first..first + span.pages).is_none() {
            area.buddy.free(first, span.order);
            return None;
        }
        Some(pointer(first))
    })
}

/// Frees the block at `start`.
///
/// # Safety
///
/// `start` came from [`allocate`] (or [`resize`]) with `span` and is no longer used.
pub(super) unsafe fn deallocate(start: NonNull<u8>, span: Span) {
    with_area(|area| {
        let first = page_of(start);
        area.unmap(first..first + span.pages);
        area.buddy.free(first, span.order);
    });
}

/// Resizes the block at `start` from `old` to `new`: in place within its buddy block, or
/// else by moving its frames to a new block (the bytes both hold are kept). Returns the
/// block's new start, or `None` (the block unchanged) if frames or a block are lacking.
///
/// # Safety
///
/// `start` came from [`allocate`] (or [`resize`]) with `old`.
pub(super) unsafe fn resize(start: NonNull<u8>, old: Span, new: Span) -> Option<NonNull<u8>> {
    with_area(|area| {
        let first = page_of(start);
        if old.order == new.order {
            if new.pages > old.pages {
                area.map_fresh(first + old.pages..first + new.pages)?;
            } else {
                area.unmap(first + new.pages..first + old.pages);
            }
            return Some(start);
        }
        let kept = old.pages.min(new.pages);
        let target = area.buddy.allocate(new.order)?;
        if area.map_fresh(target + kept..target + new.pages).is_none() {
            area.buddy.free(target, new.order);
            return None;
        }
        if area.tables.ensure(target..target + kept).is_err() {
            area.unmap(target + kept..target + new.pages);
            area.tables.release_empty(target..target + kept);
            area.buddy.free(target, new.order);
            return None;
        }
        area.move_frames(first..first + kept, target);
        area.unmap(first + kept..first + old.pages);
        area.buddy.free(first, old.order);
        Some(pointer(target))
    })
}

/// The frame under `addr` if it is a mapped page of the heap area (tests look at it).
pub fn mapped_frame(addr: VirtAddr) -> Option<x86_64::structures::paging::PhysFrame> {
    let page = addr.as_u64().checked_sub(address(0).as_u64())? / PAGE;
    with_area(|area| (page < area.buddy.pages()).then(|| area.tables.translate(page)).flatten())
}

/// Pages of the area in free buddy blocks.
pub fn free_pages() -> u64 {
    with_area(|area| area.buddy.free_pages())
}

/// Checks the buddy allocator's invariants (O(area pages)).
pub(super) fn check() {
    with_area(|area| area.buddy.check());
}
