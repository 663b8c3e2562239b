//! Invariant checks of [`X86Pmap`], for tests and debug builds.

use crate::mmu::Mmu;
use crate::pmap::X86Pmap;
use crate::walk::{entry_frame, KERNEL_HALF, ENTRIES};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use machvm::pmap::{FrameAllocator, SpaceId};
use machvm::{Frame, Page};
use x86_64::structures::paging::PageTableFlags as F;

/// What a walk of every space found.
#[derive(Default)]
struct Census {
    tables: u64,
    leaves: BTreeMap<Frame, Vec<(SpaceId, Page)>>,
    wired: u64,
}

impl<A: FrameAllocator, M: Mmu> X86Pmap<A, M> {
    /// Verifies the invariants listed on [`X86Pmap`].
    ///
    /// # Panics
    ///
    /// If one does not hold.
    pub fn check_invariants(&self) {
        let mut census = Census::default();
        for (id, space) in self.spaces.iter().enumerate() {
            let Some(space) = space else { continue };
            let id = SpaceId(id as u32);
            // SAFETY: both are page tables owned by the pmap, only read here.
            let (root, kernel) = unsafe { (self.window.table(space.root), self.window.table(self.kernel_root)) };
            for i in KERNEL_HALF..ENTRIES {
                assert_eq!(root[i].addr(), kernel[i].addr(), "{id:?}: kernel entry {i} differs");
            }
            let before = (census.leaves.values().map(Vec::len).sum::<usize>(), census.wired);
            self.census(space.root, 4, 0, id, &mut census);
            let after = (census.leaves.values().map(Vec::len).sum::<usize>(), census.wired);
            let counts = *space.tables.lock();
            assert_eq!((after.0 - before.0) as u64, counts.resident, "{id:?}: resident count");
            assert_eq!(after.1 - before.1, counts.wired, "{id:?}: wired count");
        }
        assert_eq!(census.tables, self.stats.table_frames.get(), "table frame count");
        assert_eq!(census.tables as usize, self.meta.table_count(), "tables in the metadata");
        assert_eq!(census.wired, self.stats.wired.get(), "wired count");
        let leaves: u64 = census.leaves.values().map(|v| v.len() as u64).sum();
        assert_eq!(leaves, self.stats.mappings.get(), "mapping count");
        for (frame, mut found) in census.leaves {
            if !self.meta.is_tracked(frame) {
                continue;
            }
            let mut listed = self.meta.mappings(frame);
            found.sort();
            listed.sort();
            assert_eq!(found, listed, "reverse map of {frame:?}");
        }
    }

    /// Counts the tables and leaves under `table` (at `level`, covering addresses from `base`).
    fn census(&self, table: Frame, level: u8, base: u64, space: SpaceId, census: &mut Census) {
        census.tables += 1;
        // SAFETY: `table` is a page table of `space`, only read here.
        let entries = unsafe { self.window.table(table) };
        let user = if level == 4 { KERNEL_HALF } else { ENTRIES };
        let mut present = 0;
        for (i, entry) in entries.iter().enumerate().take(user) {
            if !entry.flags().contains(F::PRESENT) {
                continue;
            }
            present += 1;
            let addr = base + i as u64 * crate::walk::entry_span(level);
            if level == 1 {
                let list = census.leaves.entry(entry_frame(entry)).or_default();
                list.push((space, Page::containing(addr)));
                census.wired += u64::from(entry.flags().contains(crate::entry::WIRED));
            } else {
                self.census(entry_frame(entry), level - 1, addr, space, census);
            }
        }
        match self.meta.table_live(table) {
            Some(live) => assert_eq!(live, present, "live count of {table:?}"),
            None => panic!("{table:?} is reachable but not marked a table"),
        }
    }
}
