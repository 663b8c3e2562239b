//! The page tables of the kernel heap area (P4 entry 509).
//!
//! The area's top-level entry and its P3 table are made once, at boot ([`Tables::new`]),
//! before any address space exists: every address space copies the kernel's top-level
//! entries when it is created, so all of them share this P3 table and see every change below
//! it. P2 and leaf tables are made when a block first needs them ([`Tables::ensure`]) and
//! freed when they empty ([`Tables::release_empty`]), counted per table in arrays carved at
//! boot.
//!
//! ```text
//!  P4[509] ─▶ P3 (boot) ─▶ P2 tables (on demand) ─▶ leaf tables (on demand) ─▶ block pages
//! ```
//!
//! Leaf entries are global, writable and not executable. An unmapped page is invalidated
//! with `invlpg`, which drops a global translation whatever PCID cached it. A freed table
//! may still sit in some PCID's paging-structure cache, which `invlpg` clears only for the
//! current one, so table frames are freed only after a flush of everything (CR4.PGE toggled),
//! batched.

use crate::boot::KERNEL_HEAP_BASE;
use crate::memory::{allocate_heap_frame, deallocate_heap_frame, phys_to_virt};
use core::ops::Range;
use x86_64::instructions::tlb;
use x86_64::registers::control::{Cr3, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{PageTableFlags as F, PhysFrame};
use x86_64::VirtAddr;

/// Entries in a page table.
const ENTRIES: u64 = 512;
/// Pages one leaf table maps.
const LEAF_SPAN: u64 = ENTRIES;
/// Pages one P2 table maps.
const P2_SPAN: u64 = ENTRIES * ENTRIES;
/// Table frames freed per flush of everything.
const BATCH: usize = 32;

/// No frame was free for a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OutOfFrames;

/// Words of counters for an area of `pages` pages.
pub(super) fn counter_words(pages: u64) -> usize {
    (pages.div_ceil(LEAF_SPAN) + pages.div_ceil(P2_SPAN)) as usize
}

/// The area's tables. Page numbers count from the area's start.
pub(super) struct Tables {
    p3: PhysFrame,
    /// Live entries of each leaf table, by leaf-table number (page / `LEAF_SPAN`).
    leaf_live: &'static mut [u64],
    /// Leaf tables under each P2 table, by P2-table number (page / `P2_SPAN`).
    p2_live: &'static mut [u64],
    leaf_flags: F,
}

impl Tables {
    /// Makes the area's P3 table and installs it in the loaded (boot) top-level table, with
    /// counters for `pages` pages in `words`. Runs once, at boot, before any address space
    /// is created.
    ///
    /// # Panics
    ///
    /// If the area's top-level entry is in use or no frame is free.
    pub(super) fn new(words: &'static mut [u64], pages: u64) -> Self {
        assert!(pages <= ENTRIES * P2_SPAN, "the heap area spans one P3 table");
        words.fill(0);
        let (leaf_live, p2_live) = words.split_at_mut(pages.div_ceil(LEAF_SPAN) as usize);
        let p3 = new_table().expect("a frame for the heap area's P3 table");
        let root = entry_in(Cr3::read().0, (KERNEL_HEAP_BASE >> 39) as usize % ENTRIES as usize);
        // SAFETY: the boot top-level table is reached through the direct map; nothing else
        // writes it at boot, and the bootloader left this entry out of its dynamic range
        // (`boot`); `p3` was just zeroed.
        unsafe {
            assert!((*root).is_unused(), "the heap area's top-level entry is in use");
            (*root).set_frame(p3, F::PRESENT | F::WRITABLE);
        }
        let mut leaf_flags = F::PRESENT | F::WRITABLE | F::GLOBAL;
        if Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE) {
            leaf_flags |= F::NO_EXECUTE;
        }
        Self { p3, leaf_live, p2_live, leaf_flags }
    }

    /// The table an entry points to, if present.
    fn below(entry: *mut PageTableEntry) -> Option<PhysFrame> {
        // SAFETY: `entry` is an entry of one of the area's tables, alive while present.
        unsafe { (*entry).frame().ok() }
    }

    fn p3_entry(&self, page: u64) -> *mut PageTableEntry {
        entry_in(self.p3, (page / P2_SPAN) as usize)
    }

    fn p2_entry(&self, page: u64) -> Option<*mut PageTableEntry> {
        Some(entry_in(Self::below(self.p3_entry(page))?, (page / LEAF_SPAN % ENTRIES) as usize))
    }

    fn leaf_entry(&self, page: u64) -> Option<*mut PageTableEntry> {
        Some(entry_in(Self::below(self.p2_entry(page)?)?, (page % ENTRIES) as usize))
    }

    /// Makes every table that `pages` need; on failure frees those left empty.
    pub(super) fn ensure(&mut self, pages: Range<u64>) -> Result<(), OutOfFrames> {
        if pages.is_empty() {
            return Ok(());
        }
        for leaf in pages.start / LEAF_SPAN..=(pages.end - 1) / LEAF_SPAN {
            if let Err(e) = self.ensure_leaf(leaf * LEAF_SPAN) {
                self.release_empty(pages);
                return Err(e);
            }
        }
        Ok(())
    }

    fn ensure_leaf(&mut self, page: u64) -> Result<(), OutOfFrames> {
        let parent = F::PRESENT | F::WRITABLE;
        let p3e = self.p3_entry(page);
        if Self::below(p3e).is_none() {
            let table = new_table().ok_or(OutOfFrames)?;
            // SAFETY: an entry of the area's P3 table, written only under the area's lock.
            unsafe { (*p3e).set_frame(table, parent) };
        }
        let p2e = self.p2_entry(page).expect("made above");
        if Self::below(p2e).is_none() {
            let table = new_table().ok_or(OutOfFrames)?;
            // SAFETY: an entry of one of the area's P2 tables, written only under its lock.
            unsafe { (*p2e).set_frame(table, parent) };
            self.p2_live[(page / P2_SPAN) as usize] += 1;
        }
        Ok(())
    }

    /// Maps `page` (unmapped, its tables made) to `frame`. Nothing needs invalidating: the
    /// page had no translation to cache.
    pub(super) fn map(&mut self, page: u64, frame: PhysFrame) {
        let entry = self.leaf_entry(page).expect("tables ensured");
        // SAFETY: an entry of one of the area's leaf tables, written only under its lock.
        unsafe {
            debug_assert!((*entry).is_unused(), "heap page {page} mapped twice");
            (*entry).set_frame(frame, self.leaf_flags);
        }
        self.leaf_live[(page / LEAF_SPAN) as usize] += 1;
    }

    /// Unmaps `page` (mapped); returns its frame. Its translation may still be cached on any
    /// processor until the caller invalidates it (`arch::tlb::KernelPages`).
    pub(super) fn unmap(&mut self, page: u64) -> PhysFrame {
        let entry = self.leaf_entry(page).expect("a mapped page has its tables");
        // SAFETY: as in `map`.
        let frame = unsafe {
            let frame = (*entry).frame().expect("a mapped page");
            (*entry).set_unused();
            frame
        };
        self.leaf_live[(page / LEAF_SPAN) as usize] -= 1;
        frame
    }

    /// The frame mapped at `page`, if any.
    pub(super) fn translate(&self, page: u64) -> Option<PhysFrame> {
        // SAFETY: a read of an entry of one of the area's leaf tables.
        self.leaf_entry(page).and_then(|entry| unsafe { (*entry).frame().ok() })
    }

    /// Frees the tables of `pages` that hold no entry any more.
    pub(super) fn release_empty(&mut self, pages: Range<u64>) {
        if pages.is_empty() {
            return;
        }
        let mut batch = Batch::default();
        for leaf in pages.start / LEAF_SPAN..=(pages.end - 1) / LEAF_SPAN {
            let page = leaf * LEAF_SPAN;
            let Some(p2e) = self.p2_entry(page) else { continue };
            if self.leaf_live[leaf as usize] == 0 {
                if let Some(table) = Self::below(p2e) {
                    // SAFETY: an entry of one of the area's P2 tables, under its lock.
                    unsafe { (*p2e).set_unused() };
                    self.p2_live[(page / P2_SPAN) as usize] -= 1;
                    batch.push(table);
                }
            }
        }
        for p2 in pages.start / P2_SPAN..=(pages.end - 1) / P2_SPAN {
            let p3e = self.p3_entry(p2 * P2_SPAN);
            if self.p2_live[p2 as usize] == 0 {
                if let Some(table) = Self::below(p3e) {
                    // SAFETY: an entry of the area's P3 table, under its lock.
                    unsafe { (*p3e).set_unused() };
                    batch.push(table);
                }
            }
        }
        batch.release();
    }
}

/// Table frames unlinked and waiting for a flush of everything before they are freed.
#[derive(Default)]
struct Batch {
    frames: [Option<PhysFrame>; BATCH],
    len: usize,
}

impl Batch {
    fn push(&mut self, frame: PhysFrame) {
        if self.len == BATCH {
            self.release();
        }
        self.frames[self.len] = Some(frame);
        self.len += 1;
    }

    fn release(&mut self) {
        if self.len == 0 {
            return;
        }
        flush_everything();
        for frame in self.frames[..self.len].iter_mut().filter_map(Option::take) {
            deallocate_heap_frame(frame);
        }
        self.len = 0;
    }
}

/// Drops every translation and every cached paging-structure entry, of every PCID, on every
/// processor.
fn flush_everything() {
    if Cr4::read().contains(Cr4Flags::PAGE_GLOBAL) {
        crate::arch::tlb::flush_everything();
    } else {
        // Before global pages are on (early boot) nothing is global, PCIDs are off and no
        // other processor runs.
        tlb::flush_all();
    }
}

/// The virtual address of area page `page`.
pub(super) fn address(page: u64) -> VirtAddr {
    VirtAddr::new(KERNEL_HEAP_BASE + page * 4096)
}

/// A zeroed frame for a page table, from the heap's frames (which come zeroed).
fn new_table() -> Option<PhysFrame> {
    allocate_heap_frame()
}

/// Entry `index` (below 512) of the page table in `table`, through the direct map.
fn entry_in(table: PhysFrame, index: usize) -> *mut PageTableEntry {
    debug_assert!((index as u64) < ENTRIES);
    phys_to_virt(table.start_address()).as_mut_ptr::<PageTableEntry>().wrapping_add(index)
}
