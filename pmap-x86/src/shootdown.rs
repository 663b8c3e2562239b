//! Invalidation on every processor that may cache a translation.
//!
//! A space records the processors where it is loaded (`Space::cpus`, kept by activation) and
//! those whose PCID-tagged translations of it may be stale (`Space::stale`). A flush
//! invalidates on the processor running it, sends one round of shootdowns to the other
//! processors where a space it names is loaded ([`Mmu::shootdown`]: one call, whatever the
//! number of pages and spaces), and marks the space stale everywhere else, so that a
//! processor that loads it later flushes its PCID first. Frames the flush releases go back
//! only after that round has returned, that is after every processor has acknowledged.
//!
//! Everything here runs under the pmap's lock, as activation does, so a space's processor
//! mask cannot change while a flush reads it.

use crate::mmu::{Invalidate, Mmu};
use crate::pmap::X86Pmap;
use vm::pmap::{FrameAllocator, SpaceId, FLUSH_BATCH};
use vm::{Frame, Page};

impl<A: FrameAllocator, M: Mmu> X86Pmap<A, M> {
    /// Invalidates `pages` (at most [`FLUSH_BATCH`]) wherever they may be cached.
    pub(crate) fn invalidate_pages(&mut self, pages: &[(SpaceId, Page)]) {
        let bit = 1u64 << self.mmu.cpu();
        let mut remote = [(Frame::containing(0), 0u64); FLUSH_BATCH];
        let (mut count, mut targets) = (0, 0u64);
        for &(id, page) in pages {
            let Some(Some(space)) = self.spaces.get_mut(id.0 as usize) else { continue };
            space.stale |= !space.cpus;
            if space.cpus & bit != 0 {
                self.mmu.invalidate_page(page.addr());
                self.stats.page_invalidations += 1;
            }
            if space.cpus & !bit != 0 && count < FLUSH_BATCH {
                targets |= space.cpus & !bit;
                remote[count] = (space.root, page.addr());
                count += 1;
            }
        }
        if targets != 0 {
            self.mmu.shootdown(targets, Invalidate::Pages(&remote[..count]));
            self.stats.shootdowns += 1;
        }
    }

    /// Invalidates every user translation wherever it may be cached.
    pub(crate) fn invalidate_everything(&mut self) {
        let bit = 1u64 << self.mmu.cpu();
        let mut loaded = 0u64;
        for space in self.spaces.iter_mut().flatten() {
            space.stale |= !space.cpus;
            loaded |= space.cpus;
        }
        if loaded & bit != 0 {
            self.mmu.invalidate_all();
            self.stats.full_invalidations += 1;
        }
        if loaded & !bit != 0 {
            self.mmu.shootdown(loaded & !bit, Invalidate::Everything);
            self.stats.shootdowns += 1;
        }
    }
}
