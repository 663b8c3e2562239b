//! Walking the four levels of an x86_64 page table.
//!
//! A virtual address splits into four 9-bit table indices (P4, P3, P2, P1) and a 12-bit
//! offset. User addresses are those whose P4 index is below 256; the upper half belongs to
//! the kernel and is shared by every space.
//!
//! Every walk here runs with its space's tables held by the caller: under the space's lock
//! (`Space::tables`), or through exclusive access to the pmap. That is what makes the
//! references to table frames below unique while they live.

use crate::entry::TABLE;
use crate::meta::MetaTable;
use crate::window::DirectMap;
use machvm::Frame;
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::PageTableFlags;

/// First address past the user half.
pub const USER_END: u64 = 0x0000_8000_0000_0000;
/// Number of entries in a table.
pub const ENTRIES: usize = 512;
/// Index of the first kernel-half entry of a top-level table.
pub const KERNEL_HALF: usize = 256;

/// Bytes of address space covered by one entry of a table at `level` (4 = P4, 1 = P1).
pub const fn entry_span(level: u8) -> u64 {
    1 << (12 + 9 * (level as u32 - 1))
}

/// The index of `addr` in a table at `level`.
pub const fn index(addr: u64, level: u8) -> usize {
    ((addr >> (12 + 9 * (level as u32 - 1))) & 511) as usize
}

pub(crate) fn entry_frame(entry: &PageTableEntry) -> Frame {
    Frame::containing(entry.addr().as_u64())
}

/// The P1 table and index holding the leaf entry of `addr`, if every level above is present.
pub(crate) fn find_leaf(window: &DirectMap, root: Frame, addr: u64) -> Option<(Frame, usize)> {
    let mut table = root;
    for level in (2..=4).rev() {
        // SAFETY: `table` is a page table of this space (the root, or read from a present
        // entry of its parent); the reference lives only for this statement.
        let entry = unsafe { &window.table(table)[index(addr, level)] };
        if !entry.flags().contains(PageTableFlags::PRESENT) {
            return None;
        }
        table = entry_frame(entry);
    }
    Some((table, index(addr, 1)))
}

/// How many tables are missing on the path to `addr`'s leaf (0 to 3).
pub(crate) fn missing_tables(window: &DirectMap, root: Frame, addr: u64) -> usize {
    let mut table = root;
    for level in (2..=4).rev() {
        // SAFETY: as in `find_leaf`.
        let entry = unsafe { &window.table(table)[index(addr, level)] };
        if !entry.flags().contains(PageTableFlags::PRESENT) {
            return level as usize - 1;
        }
        table = entry_frame(entry);
    }
    0
}

/// Completes the path to `addr`'s leaf with the zeroed frames in `fresh` (exactly
/// [`missing_tables`] of them) and returns the P1 table and index.
pub(crate) fn build_path(
    window: &DirectMap,
    meta: &MetaTable,
    root: Frame,
    addr: u64,
    fresh: &mut impl Iterator<Item = Frame>,
) -> (Frame, usize) {
    let mut table = root;
    for level in (2..=4).rev() {
        // SAFETY: `table` is a page table of this space, held by the caller (module docs); no
        // other reference to it is live.
        let entry = unsafe { &mut window.table(table)[index(addr, level)] };
        if !entry.flags().contains(PageTableFlags::PRESENT) {
            let child = fresh.next().expect("the caller allocated every missing table");
            window.zero(child);
            meta.new_table(child);
            entry.set_addr(x86_64::PhysAddr::new(child.addr()), TABLE);
            meta.adjust_live(table, 1);
        }
        table = entry_frame(entry);
    }
    (table, index(addr, 1))
}

/// How many tables entering every page of `[start, end)` would add under `table` (a table
/// at `level` covering addresses from `base`). A missing subtree is counted by arithmetic,
/// so the cost is that of the tables present, not of the range.
pub(crate) fn missing_below(window: &DirectMap, table: Frame, level: u8, base: u64, (start, end): (u64, u64)) -> u64 {
    if level == 1 {
        return 0;
    }
    let span = entry_span(level);
    let mut needed = 0;
    for i in index(start, level)..=index(end - 1, level) {
        // SAFETY: `table` is a page table of the space being walked, only read here.
        let entry = unsafe { &window.table(table)[i] };
        let addr = base + i as u64 * span;
        let range = (start.max(addr), end.min(addr + span));
        needed += if entry.flags().contains(PageTableFlags::PRESENT) {
            missing_below(window, entry_frame(entry), level - 1, addr, range)
        } else {
            tables_spanned(level - 1, range)
        };
    }
    needed
}

/// The tables a range needs at `level` and every level below it, when none exists: one
/// table at `level` and, below, one per span of the level above it that the range touches.
fn tables_spanned(level: u8, (start, end): (u64, u64)) -> u64 {
    (1..=level).map(|l| (end - 1) / entry_span(l + 1) - start / entry_span(l + 1) + 1).sum()
}

/// Calls `f` with every present leaf of `[start, end)` under `table` (at `level`, covering
/// addresses from `base`), in order, skipping absent subtrees; reads only.
pub(crate) fn read_leaves(window: &DirectMap, table: Frame, level: u8, base: u64, (start, end): (u64, u64), f: &mut impl FnMut(u64, &PageTableEntry)) {
    let span = entry_span(level);
    for i in index(start, level)..=index(end - 1, level) {
        // SAFETY: `table` is a page table of the space being walked, only read here.
        let entry = unsafe { &window.table(table)[i] };
        if !entry.flags().contains(PageTableFlags::PRESENT) {
            continue;
        }
        let addr = base + i as u64 * span;
        if level == 1 {
            f(addr, entry);
        } else {
            read_leaves(window, entry_frame(entry), level - 1, addr, (start.max(addr), end.min(addr + span)), f);
        }
    }
}

/// What a visitor did with a present leaf entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Visit {
    /// The entry is still present.
    Kept,
    /// The visitor cleared the entry.
    Cleared,
}

/// Visits every present leaf entry of `[start, end)` under `table` (a table at `level`
/// covering addresses from `base`), skipping absent subtrees. Tables emptied by the visitor are
/// unlinked and handed to `freed`. Returns the number of entries of `table` cleared.
#[allow(clippy::too_many_arguments)]
pub(crate) fn visit_leaves(
    window: &DirectMap,
    meta: &MetaTable,
    table: Frame,
    level: u8,
    base: u64,
    (start, end): (u64, u64),
    visit: &mut impl FnMut(&MetaTable, &mut PageTableEntry, u64) -> Visit,
    freed: &mut impl FnMut(Frame),
) -> u16 {
    let span = entry_span(level);
    let first = index(start, level);
    let last = index(end - 1, level);
    let mut cleared = 0;
    for i in first..=last {
        // SAFETY: `table` is a page table of the space being walked, held by the caller (module
        // docs); the reference is the only one to this table while it lives (children are
        // other frames).
        let entry = unsafe { &mut window.table(table)[i] };
        if !entry.flags().contains(PageTableFlags::PRESENT) {
            continue;
        }
        let addr = base + i as u64 * span;
        if level == 1 {
            if visit(meta, entry, addr) == Visit::Cleared {
                cleared += 1;
            }
            continue;
        }
        let child = entry_frame(entry);
        let range = (start.max(addr), end.min(addr + span));
        let gone = visit_leaves(window, meta, child, level - 1, addr, range, visit, freed);
        if gone > 0 && meta.adjust_live(child, -i32::from(gone)) == 0 {
            entry.set_unused();
            meta.drop_table(child);
            freed(child);
            cleared += 1;
        }
    }
    cleared
}
