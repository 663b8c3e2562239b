//! Invalidation on every processor that may cache a translation.
//!
//! A space records the processors where it is loaded (`Space::cpus`, kept by activation) and
//! those whose PCID-tagged translations of it may be stale (`Space::stale`). A flush
//! invalidates on the processor running it, sends one round of shootdowns to the other
//! processors where a space it names is loaded ([`Mmu::shootdown`]: one call, whatever the
//! number of pages and spaces), and leaves the space stale everywhere else, so that a
//! processor that loads it later flushes its PCID first. Frames the flush releases go back
//! only after that round has returned, that is after every processor has acknowledged.
//!
//! Flushes and activations run side by side (each under no lock but its space's, or none),
//! so the order of two steps on each side is what makes them safe. A flush first marks the
//! space stale on every processor but its own (its own invalidates now if the space is
//! loaded there), then reads the mask of processors to interrupt; an activation first sets
//! its bit in the mask, then reads and clears its stale bit. Whichever comes first, the
//! activating processor either is interrupted or sees the stale bit. A processor that leaves
//! the space before the interrupt arrives keeps the stale bit for its next load.

use crate::mmu::{Invalidate, Mmu};
use crate::pmap::{Space, X86Pmap};
use core::sync::atomic::Ordering;
use machvm::pmap::{FrameAllocator, SpaceId, FLUSH_BATCH};
use machvm::{Frame, Page};

impl<A: FrameAllocator, M: Mmu> X86Pmap<A, M> {
    /// Invalidates `pages` (at most [`FLUSH_BATCH`]) wherever they may be cached.
    pub(crate) fn invalidate_pages(&self, pages: &[(SpaceId, Page)]) {
        let bit = 1u64 << self.mmu.cpu();
        let mut remote = [(Frame::containing(0), 0u64); FLUSH_BATCH];
        let (mut count, mut targets) = (0, 0u64);
        for &(id, page) in pages {
            let Some(Some(space)) = self.spaces.get(id.0 as usize) else { continue };
            let loaded = Self::mark_stale(space, bit);
            if loaded & bit != 0 {
                self.mmu.invalidate_page(page.addr());
                self.stats.page_invalidations.add(1);
            }
            if loaded & !bit != 0 && count < FLUSH_BATCH {
                targets |= loaded & !bit;
                remote[count] = (space.root, page.addr());
                count += 1;
            }
        }
        if targets != 0 {
            self.mmu.shootdown(targets, Invalidate::Pages(&remote[..count]));
            self.stats.shootdowns.add(1);
        }
    }

    /// Invalidates every user translation wherever it may be cached.
    pub(crate) fn invalidate_everything(&self) {
        let bit = 1u64 << self.mmu.cpu();
        let loaded = self.spaces.iter().flatten().fold(0, |loaded, space| loaded | Self::mark_stale(space, bit));
        if loaded & bit != 0 {
            self.mmu.invalidate_all();
            self.stats.full_invalidations.add(1);
        }
        if loaded & !bit != 0 {
            self.mmu.shootdown(loaded & !bit, Invalidate::Everything);
            self.stats.shootdowns.add(1);
        }
    }

    /// Marks `space` stale on every processor but the one running this (`bit`), unless it is
    /// loaded there, and then returns the processors where it is loaded (module docs: in
    /// this order).
    fn mark_stale(space: &Space, bit: u64) -> u64 {
        let here = space.cpus.load(Ordering::SeqCst) & bit;
        space.stale.fetch_or(!here, Ordering::SeqCst);
        space.cpus.load(Ordering::SeqCst)
    }
}
