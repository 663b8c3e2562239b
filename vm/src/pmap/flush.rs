//! The TLB-invalidation value returned by pmap changes.

use crate::addr::{Frame, Page};
use crate::pmap::SpaceId;
use alloc::vec::Vec;

/// How many page invalidations a [`TlbFlush`] records before it gives up and asks for a full
/// flush of the user address spaces involved.
pub const FLUSH_BATCH: usize = 32;

/// Translations that may be stale after a pmap change, and frames to release once they are
/// invalidated. Apply it with [`Pmap::flush`](super::Pmap::flush).
///
/// Invariant: `pages.len() <= FLUSH_BATCH`; once a page would not fit, `full` is set and
/// `pages` is emptied and no longer recorded.
#[must_use = "the TLB may hold stale translations until this flush is applied with Pmap::flush"]
#[derive(Debug, Default)]
pub struct TlbFlush {
    pages: Vec<(SpaceId, Page)>,
    full: bool,
    release: Vec<Frame>,
}

/// What a [`TlbFlush`] asks to invalidate.
#[derive(Debug, PartialEq, Eq)]
pub enum TlbFlushTargets<'a> {
    /// Nothing.
    Nothing,
    /// These pages of these spaces.
    Pages(&'a [(SpaceId, Page)]),
    /// Every user translation of every space (too many pages to list).
    Everything,
}


impl TlbFlush {
    /// A flush with nothing to do (it allocates nothing until a page or frame is added: a
    /// fault or a call that invalidates nothing pays nothing for it).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `page` of `space` may be cached stale.
    pub fn add_page(&mut self, space: SpaceId, page: Page) {
        if self.full {
            return;
        }
        if self.pages.len() == FLUSH_BATCH {
            self.add_everything();
            return;
        }
        self.pages.push((space, page));
    }

    /// Asks for a full flush of every user translation.
    pub fn add_everything(&mut self) {
        self.full = true;
        self.pages = Vec::new();
    }

    /// Adds a frame to release once the invalidation is done.
    pub fn release_after(&mut self, frame: Frame) {
        self.release.push(frame);
    }

    /// Adds everything `other` asks for.
    pub fn merge(&mut self, mut other: TlbFlush) {
        match other.targets() {
            TlbFlushTargets::Nothing => {}
            TlbFlushTargets::Everything => self.add_everything(),
            TlbFlushTargets::Pages(_) if self.pages.is_empty() && !self.full => core::mem::swap(&mut self.pages, &mut other.pages),
            TlbFlushTargets::Pages(pages) => {
                for &(space, page) in pages {
                    self.add_page(space, page);
                }
            }
        }
        if self.release.is_empty() {
            core::mem::swap(&mut self.release, &mut other.release);
        } else {
            self.release.append(&mut other.release);
        }
    }

    /// Whether applying this flush would do nothing.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty() && !self.full && self.release.is_empty()
    }

    /// What must be invalidated.
    pub fn targets(&self) -> TlbFlushTargets<'_> {
        if self.full {
            TlbFlushTargets::Everything
        } else if self.pages.is_empty() {
            TlbFlushTargets::Nothing
        } else {
            TlbFlushTargets::Pages(&self.pages)
        }
    }

    /// Takes the frames to release; for [`Pmap::flush`](super::Pmap::flush) implementations,
    /// after they have invalidated [`targets`](TlbFlush::targets).
    pub fn into_release(self) -> Vec<Frame> {
        self.release
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_recorded_up_to_the_batch_then_everything() {
        let mut flush = TlbFlush::new();
        assert!(flush.is_empty());
        assert_eq!(flush.targets(), TlbFlushTargets::Nothing);
        for i in 0..FLUSH_BATCH as u64 {
            flush.add_page(SpaceId(1), Page::containing(i << 12));
        }
        assert!(matches!(flush.targets(), TlbFlushTargets::Pages(p) if p.len() == FLUSH_BATCH));
        flush.add_page(SpaceId(1), Page::containing(1 << 30));
        assert_eq!(flush.targets(), TlbFlushTargets::Everything);
    }

    #[test]
    fn merge_keeps_pages_and_frames() {
        let mut a = TlbFlush::new();
        a.add_page(SpaceId(1), Page::containing(0x1000));
        let mut b = TlbFlush::new();
        b.add_page(SpaceId(2), Page::containing(0x2000));
        b.release_after(Frame::containing(0x5000));
        a.merge(b);
        assert_eq!(a.targets(), TlbFlushTargets::Pages(&[
                (SpaceId(1), Page::containing(0x1000)),
                (SpaceId(2), Page::containing(0x2000))
            ]));
        assert_eq!(a.into_release(), [Frame::containing(0x5000)]);
    }
}
