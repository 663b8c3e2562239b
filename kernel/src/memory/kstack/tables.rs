//! The page tables of the kernel-stack area.
//!
//! The area's top-level entry and every table below it are made once, at boot ([`build`]),
//! before any address space exists, and are never freed: every address space copies the
//! kernel's top-level entries when it is created, so all of them share these tables, and a
//! stack costs only its own frames. Afterwards only leaf entries change, one at a time
//! ([`map`], [`unmap`]), each written only by the owner of the slot its page belongs to.
//!
//! ```text
//!  P4[510] ─▶ P3 ─[0]─▶ P2 ─[0..n]─▶ P1 tables ─▶ stack frames (guard pages: no entry)
//! ```
//!
//! Stack pages are *global*: a translation cached while some user space (PCID) was loaded
//! would otherwise survive `invlpg` under another PCID; a global one is dropped by `invlpg`
//! whatever the current PCID.

use super::{AREA_SIZE, AREA_START};
use crate::memory::{self, phys_to_virt};
use alloc::vec::Vec;
use spin::Once;
use x86_64::registers::control::Cr3;
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{Page, PageTableFlags as F, PhysFrame, Size4KiB};
use x86_64::VirtAddr;

/// Entries in a page table.
const ENTRIES: u64 = 512;
/// Bytes one leaf table maps (2 MiB).
const LEAF_TABLE_SPAN: u64 = ENTRIES * 4096;
/// Bytes one level-2 table maps (1 GiB).
const P2_TABLE_SPAN: u64 = ENTRIES * LEAF_TABLE_SPAN;

// The area lies inside one level-2 table: one P3 entry, one P2 table.
const _: () = assert!(AREA_START % P2_TABLE_SPAN == 0 && AREA_SIZE <= P2_TABLE_SPAN);

/// The tables made at boot.
struct Tables {
    /// The leaf (P1) tables covering the area, in address order.
    leaves: Vec<PhysFrame>,
    /// Flags of a stack page's entry.
    leaf_flags: F,
}

static TABLES: Once<Tables> = Once::new();

/// Builds the area's tables under the loaded (boot) top-level table; returns how many frames
/// they take. Runs once, at boot, before any address space is created.
///
/// # Panics
///
/// If the area's top-level entry is already in use, or memory runs out.
pub(super) fn build() -> u64 {
    let start = Page::<Size4KiB>::containing_address(VirtAddr::new(AREA_START));
    let root_entry = entry_in(Cr3::read().0, usize::from(start.p4_index()));
    // SAFETY: the boot top-level table is mapped through the direct map; nothing else writes it
    // at boot, and the bootloader left this entry out of its dynamic range (`boot`).
    assert!(unsafe { (*root_entry).is_unused() }, "the kernel-stack area's top-level entry is in use");
    let p3 = new_table();
    let p2 = new_table();
    let leaves: Vec<PhysFrame> = (0..AREA_SIZE.div_ceil(LEAF_TABLE_SPAN)).map(|_| new_table()).collect();
    let parent = F::PRESENT | F::WRITABLE;
    // SAFETY: `p3`, `p2` and the leaves were just allocated and zeroed, and are reached through
    // the direct map; the top-level entry is written last, once everything below it is in
    // place, and nothing else writes it (see above).
    unsafe {
        for (i, &leaf) in leaves.iter().enumerate() {
            (*entry_in(p2, i)).set_frame(leaf, parent);
        }
        (*entry_in(p3, usize::from(start.p3_index()))).set_frame(p2, parent);
        (*root_entry).set_frame(p3, parent);
    }
    let mut leaf_flags = F::PRESENT | F::WRITABLE | F::GLOBAL;
    if Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE) {
        leaf_flags |= F::NO_EXECUTE;
    }
    let frames = 2 + leaves.len() as u64;
    TABLES.call_once(|| Tables { leaves, leaf_flags });
    frames
}

/// A zeroed frame for a page table.
fn new_table() -> PhysFrame {
    let frame = memory::allocate_frame().expect("a frame for the kernel-stack area's tables");
    super::zero_frame(frame);
    frame
}

/// Entry `index` (below 512) of the page table in `table`, through the direct map.
fn entry_in(table: PhysFrame, index: usize) -> *mut PageTableEntry {
    debug_assert!((index as u64) < ENTRIES);
    phys_to_virt(table.start_address()).as_mut_ptr::<PageTableEntry>().wrapping_add(index)
}

fn tables() -> &'static Tables {
    TABLES.get().expect("kstack::init has run")
}

/// The leaf entry of `page`, a page of the area.
fn leaf_entry(page: Page) -> *mut PageTableEntry {
    let offset = page.start_address().as_u64() - AREA_START;
    assert!(offset < AREA_SIZE, "{page:?} is outside the kernel-stack area");
    entry_in(tables().leaves[(offset / LEAF_TABLE_SPAN) as usize], usize::from(page.p1_index()))
}

/// Maps `page` (of the area, unmapped) to `frame`, writable, global and not executable.
/// Nothing needs invalidating: the page had no translation to cache.
pub(super) fn map(page: Page, frame: PhysFrame) {
    let entry = leaf_entry(page);
    // SAFETY: `entry` is `page`'s entry in a leaf table of the area, which lives for good;
    // only the owner of `page`'s slot (the caller) writes it, the CPU only reads it.
    unsafe {
        debug_assert!((*entry).is_unused(), "{page:?} is already mapped");
        (*entry).set_frame(frame, tables().leaf_flags);
    }
}

/// Unmaps `page` (of the area); returns the frame it mapped, if it was mapped. Its
/// translation may still be cached on any processor until the caller invalidates it
/// (`arch::tlb::KernelPages`).
pub(super) fn unmap(page: Page) -> Option<PhysFrame> {
    let entry = leaf_entry(page);
    // SAFETY: as in `map`.
    let frame = unsafe {
        let frame = (*entry).frame().ok();
        (*entry).set_unused();
        frame
    }?;
    Some(frame)
}

/// The frame `page` (of the area) maps, if any.
pub(super) fn translate(page: Page) -> Option<PhysFrame> {
    let entry = leaf_entry(page);
    // SAFETY: a read of an entry of a leaf table of the area, which lives for good.
    unsafe { (*entry).frame().ok() }
}
