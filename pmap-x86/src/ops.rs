//! The [`Pmap`] contract implemented on x86_64 page tables.

use crate::entry::{self, WIRED};
use crate::mmu::Mmu;
use crate::pmap::X86Pmap;
use crate::walk::{self, entry_frame, Visit, USER_END};
use machvm::pmap::{
    Cache, FrameAllocator, Pmap, PmapCounts, PmapError, SpaceCounts, SpaceId, TlbFlush, TlbFlushTargets, Translation, Wiring,
};
use machvm::{Frame, Page, PageRange, Prot};
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::PageTableFlags as F;
use x86_64::PhysAddr;

impl<A: FrameAllocator, M: Mmu> X86Pmap<A, M> {
    /// Applies `visit` to every present leaf of `space` in `range`, frees emptied tables into
    /// `flush`, and keeps the counters right.
    fn visit_range(
        &mut self,
        space: SpaceId,
        range: PageRange,
        flush: &mut TlbFlush,
        mut visit: impl FnMut(&crate::meta::MetaTable, &mut PageTableEntry, u64) -> Visit,
    ) {
        let end = range.end().addr().min(USER_END);
        let start = range.start().addr();
        if start >= end {
            return;
        }
        let root = self.space(space).root;
        let mut freed = 0i64;
        let cleared = walk::visit_leaves(
            &self.window,
            &self.meta,
            root,
            4,
            0,
            (start, end),
            &mut visit,
            &mut |table| {
                freed += 1;
                flush.release_after(table);
            },
        );
        if cleared > 0 {
            self.meta.adjust_live(root, -i32::from(cleared));
        }
        self.stats.table_frames.add(-freed);
    }

    /// Maps `page` of `space` to `frame` with the leaf flags `new` (for `prot`), replacing
    /// any mapping of `page`, under the space's lock.
    fn enter_leaf(&self, space: SpaceId, page: Page, frame: Frame, prot: Prot, mut new: F) -> Result<TlbFlush, PmapError> {
        assert!(!prot.is_empty(), "entering a mapping with no rights");
        if page.addr() >= USER_END {
            return Err(PmapError::InvalidAddress);
        }
        let s = self.space(space);
        let mut counts = s.tables.lock();
        let (table, index) = self.leaf_for_enter(s.root, page.addr())?;
        // SAFETY: `table` is a P1 table of `space`, whose lock is held; no other reference to
        // it is live.
        let entry = unsafe { &mut self.window.table(table)[index] };
        let mut flush = TlbFlush::new();
        let old = entry.flags();
        let (mut resident, mut wired) = (1i64, i64::from(new.contains(WIRED)));
        if old.contains(F::PRESENT) {
            let old_frame = entry_frame(entry);
            resident -= 1;
            wired -= i64::from(old.contains(WIRED));
            if old_frame == frame {
                new |= old & (F::ACCESSED | F::DIRTY);
            } else {
                self.meta.remove_mapping(old_frame, (space, page));
                self.meta.add_mapping(frame, (space, page));
            }
            if old_frame != frame || new != old {
                flush.add_page(space, page);
            }
        } else {
            self.meta.add_mapping(frame, (space, page));
            self.meta.adjust_live(table, 1);
        }
        entry.set_addr(PhysAddr::new(frame.addr()), new);
        counts.resident = counts.resident.wrapping_add_signed(resident);
        counts.wired = counts.wired.wrapping_add_signed(wired);
        self.stats.mappings.add(resident);
        self.stats.wired.add(wired);
        Ok(flush)
    }

    /// Removes the leaf `entry` (mapping `page` of `space`) and records the change.
    fn clear_leaf(
        meta: &crate::meta::MetaTable,
        entry: &mut PageTableEntry,
        space: SpaceId,
        page: Page,
        flush: &mut TlbFlush,
        removed: &mut (u64, u64),
    ) {
        meta.remove_mapping(entry_frame(entry), (space, page));
        removed.0 += 1;
        if entry.flags().contains(WIRED) {
            removed.1 += 1;
        }
        entry.set_unused();
        flush.add_page(space, page);
    }

    fn forget_mappings(&mut self, space: SpaceId, (resident, wired): (u64, u64)) {
        let s = self.space_mut(space).counts_mut();
        s.resident -= resident;
        s.wired -= wired;
        self.stats.mappings.add(-(resident as i64));
        self.stats.wired.add(-(wired as i64));
    }

    /// Lowers (or removes) the leaf of `page` in `space` to `prot`.
    fn lower_one(&mut self, space: SpaceId, page: Page, prot: Prot, flush: &mut TlbFlush) {
        if let Some(range) = PageRange::single(page) {
            let lowered = self.protect(space, range, prot);
            flush.merge(lowered);
        }
    }

    /// Visits the leaf entry of every mapping of `frame`, each under its space's lock.
    fn for_each_mapping(&self, frame: Frame, mut f: impl FnMut(&mut PageTableEntry, SpaceId, Page)) {
        for (space, page) in self.meta.mappings(frame) {
            let s = self.space(space);
            let _held = s.tables.lock();
            if let Some((table, index)) = walk::find_leaf(&self.window, s.root, page.addr()) {
                // SAFETY: `table` is a P1 table of `space`, whose lock is held; no other
                // reference to it is live.
                f(unsafe { &mut self.window.table(table)[index] }, space, page);
            }
        }
    }

    fn clear_bit(&mut self, frame: Frame, bit: F) -> TlbFlush {
        let mut flush = TlbFlush::new();
        self.for_each_mapping(frame, |entry, space, page| {
            let flags = entry.flags();
            if flags.contains(bit) {
                entry.set_flags(flags - bit);
                flush.add_page(space, page);
            }
        });
        flush
    }
}

impl<A: FrameAllocator, M: Mmu> Pmap for X86Pmap<A, M> {
    fn create(&mut self) -> Result<SpaceId, PmapError> {
        self.create_space()
    }

    fn destroy(&mut self, space: SpaceId) -> TlbFlush {
        let user = PageRange::new(Page::containing(0), Page::containing(USER_END)).expect("ordered");
        let mut flush = self.remove(space, user);
        let root = self.retire_space(space);
        flush.release_after(root);
        flush
    }

    fn enter(
        &self,
        space: SpaceId,
        page: Page,
        frame: Frame,
        prot: Prot,
        wiring: Wiring,
    ) -> Result<TlbFlush, PmapError> {
        let flags = entry::leaf_flags(prot, wiring, self.mmu.has_no_execute());
        self.enter_leaf(space, page, frame, prot, flags)
    }

    fn enter_device(&self, space: SpaceId, page: Page, frame: Frame, prot: Prot, cache: Cache) -> Result<TlbFlush, PmapError> {
        let flags = entry::leaf_flags(prot, Wiring::Pageable, self.mmu.has_no_execute()) | entry::cache_flags(cache);
        self.enter_leaf(space, page, frame, prot, flags)
    }

    fn remove(&mut self, space: SpaceId, range: PageRange) -> TlbFlush {
        let mut flush = TlbFlush::new();
        let mut removed = (0, 0);
        let mut pages = TlbFlush::new();
        self.visit_range(space, range, &mut flush, |meta, entry, addr| {
            Self::clear_leaf(meta, entry, space, Page::containing(addr), &mut pages, &mut removed);
            Visit::Cleared
        });
        flush.merge(pages);
        self.forget_mappings(space, removed);
        flush
    }

    fn protect(&mut self, space: SpaceId, range: PageRange, prot: Prot) -> TlbFlush {
        let no_execute = self.mmu.has_no_execute();
        let mut flush = TlbFlush::new();
        let mut removed = (0, 0);
        let mut pages = TlbFlush::new();
        self.visit_range(space, range, &mut flush, |meta, entry, addr| {
            let page = Page::containing(addr);
            match entry::lowered(entry.flags(), prot, no_execute) {
                None => {
                    Self::clear_leaf(meta, entry, space, page, &mut pages, &mut removed);
                    Visit::Cleared
                }
                Some(new) => {
                    if new != entry.flags() {
                        entry.set_flags(new);
                        pages.add_page(space, page);
                    }
                    Visit::Kept
                }
            }
        });
        flush.merge(pages);
        self.forget_mappings(space, removed);
        flush
    }

    fn raise(&mut self, space: SpaceId, range: PageRange, prot: Prot, allowed: &mut dyn FnMut(Page, Frame) -> bool) {
        assert!(!prot.is_empty(), "raising a mapping to no rights");
        let no_execute = self.mmu.has_no_execute();
        let mut unused = TlbFlush::new();
        self.visit_range(space, range, &mut unused, |_, entry, addr| {
            let flags = entry.flags();
            if allowed(Page::containing(addr), entry_frame(entry)) {
                let kept = flags & (F::ACCESSED | F::DIRTY | entry::CACHE_BITS);
                entry.set_flags(entry::leaf_flags(prot, entry::wiring(flags), no_execute) | kept);
            }
            Visit::Kept
        });
        debug_assert!(unused.is_empty(), "raising frees no table");
    }

    fn extract(&self, space: SpaceId, addr: u64) -> Option<Translation> {
        if addr >= USER_END {
            return None;
        }
        let s = self.space(space);
        let _held = s.tables.lock();
        let (table, index) = walk::find_leaf(&self.window, s.root, addr)?;
        // SAFETY: `table` is a P1 table of `space`, whose lock is held; only read here.
        let entry = unsafe { &self.window.table(table)[index] };
        let flags = entry.flags();
        flags.contains(F::PRESENT).then(|| Translation {
            frame: entry_frame(entry),
            prot: entry::granted(flags, self.mmu.has_no_execute()),
            wiring: entry::wiring(flags),
            cache: entry::cache_of(flags),
        })
    }

    fn page_protect(&mut self, frame: Frame, prot: Prot) -> TlbFlush {
        let mut flush = TlbFlush::new();
        for (space, page) in self.meta.mappings(frame) {
            self.lower_one(space, page, prot, &mut flush);
        }
        flush
    }

    fn mappings_of(&self, frame: Frame) -> alloc::vec::Vec<(SpaceId, Page)> {
        self.meta.mappings(frame)
    }

    fn untrack_frame(&mut self, frame: Frame) {
        self.meta.untrack(frame);
    }

    fn remove_frame_in(&mut self, space: SpaceId, range: PageRange, frame: Frame) -> TlbFlush {
        let mut flush = TlbFlush::new();
        let mut removed = (0, 0);
        let mut pages = TlbFlush::new();
        self.visit_range(space, range, &mut flush, |meta, entry, addr| {
            if entry_frame(entry) != frame {
                return Visit::Kept;
            }
            Self::clear_leaf(meta, entry, space, Page::containing(addr), &mut pages, &mut removed);
            Visit::Cleared
        });
        flush.merge(pages);
        self.forget_mappings(space, removed);
        flush
    }

    fn translations_in(&self, space: SpaceId, range: PageRange) -> alloc::vec::Vec<(Page, Translation)> {
        let mut found = alloc::vec::Vec::new();
        let (start, end) = (range.start().addr(), range.end().addr().min(USER_END));
        if start < end {
            let nx = self.mmu.has_no_execute();
            let s = self.space(space);
            let _held = s.tables.lock();
            walk::read_leaves(&self.window, s.root, 4, 0, (start, end), &mut |addr, entry| {
                let flags = entry.flags();
                let t = Translation {
                    frame: entry_frame(entry),
                    prot: entry::granted(flags, nx),
                    wiring: entry::wiring(flags),
                    cache: entry::cache_of(flags),
                };
                found.push((Page::containing(addr), t));
            });
        }
        found
    }

    fn page_remove_pageable(&mut self, frame: Frame) -> TlbFlush {
        let mut flush = TlbFlush::new();
        for (space, page) in self.meta.mappings(frame) {
            let wired = self.extract(space, page.addr()).is_some_and(|t| t.wiring == Wiring::Wired);
            if !wired {
                self.lower_one(space, page, Prot::NONE, &mut flush);
            }
        }
        flush
    }

    fn referenced(&self, frame: Frame) -> bool {
        let mut any = false;
        self.for_each_mapping(frame, |entry, _, _| any |= entry.flags().contains(F::ACCESSED));
        any
    }

    fn clear_referenced(&mut self, frame: Frame) -> TlbFlush {
        self.clear_bit(frame, F::ACCESSED)
    }

    fn modified(&self, frame: Frame) -> bool {
        let mut any = false;
        self.for_each_mapping(frame, |entry, _, _| any |= entry.flags().contains(F::DIRTY));
        any
    }

    fn clear_modified(&mut self, frame: Frame) -> TlbFlush {
        self.clear_bit(frame, F::DIRTY)
    }

    fn wire(&mut self, space: SpaceId, page: Page) -> bool {
        let Some((table, index)) = walk::find_leaf(&self.window, self.space(space).root, page.addr()) else { return false };
        // SAFETY: `table` is a P1 table of `space`, held through `&mut self`; this is the only
        // reference to it.
        let entry = unsafe { &mut self.window.table(table)[index] };
        let flags = entry.flags();
        if !flags.contains(F::PRESENT) {
            return false;
        }
        if !flags.contains(WIRED) {
            entry.set_flags(flags | WIRED);
            self.space_mut(space).counts_mut().wired += 1;
            self.stats.wired.add(1);
        }
        true
    }

    fn unwire(&mut self, space: SpaceId, range: PageRange) {
        let mut unwired = 0;
        let mut flush = TlbFlush::new();
        self.visit_range(space, range, &mut flush, |_, entry, _| {
            let flags = entry.flags();
            if flags.contains(WIRED) {
                entry.set_flags(flags - WIRED);
                unwired += 1;
            }
            Visit::Kept
        });
        debug_assert!(flush.is_empty(), "unwiring frees no table");
        self.space_mut(space).counts_mut().wired -= unwired;
        self.stats.wired.add(-(unwired as i64));
    }

    fn activate(&self, space: SpaceId) {
        if self.active() != Some(space) {
            self.switch_to_space(space);
        }
    }

    fn flush(&self, flush: TlbFlush) {
        match flush.targets() {
            TlbFlushTargets::Nothing => {}
            TlbFlushTargets::Pages(pages) => self.invalidate_pages(pages),
            TlbFlushTargets::Everything => self.invalidate_everything(),
        }
        let release = flush.into_release();
        if !release.is_empty() {
            self.frames.deallocate_frames(&release);
        }
    }

    fn zero_page(&mut self, frame: Frame) {
        self.window.zero(frame);
    }

    fn copy_page(&mut self, from: Frame, to: Frame) {
        self.window.copy(from, to);
    }

    fn counts(&self) -> PmapCounts {
        let s = &self.stats;
        PmapCounts { table_frames: s.table_frames.get(), mappings: s.mappings.get(), wired: s.wired.get() }
    }

    fn tables_needed(&self, space: SpaceId, range: PageRange) -> u64 {
        let end = range.end().addr().min(USER_END);
        let start = range.start().addr();
        if start >= end {
            return 0;
        }
        let s = self.space(space);
        let _held = s.tables.lock();
        walk::missing_below(&self.window, s.root, 4, 0, (start, end))
    }

    fn space_counts(&self, space: SpaceId) -> SpaceCounts {
        *self.space(space).tables.lock()
    }
}
