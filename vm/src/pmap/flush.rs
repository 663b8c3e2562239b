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
/// Invariant: `len <= FLUSH_BATCH`; once a page would not fit, `full` is set and pages are no
/// longer recorded.
#[must_use = "the TLB may hold stale translations until this flush is applied with Pmap::flush"]
#[derive(Debug)]
pub struct TlbFlush {
    pages: [(SpaceId, Page); FLUSH_BATCH],
    len: usize,
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

impl Default for TlbFlush {
    fn default() -> Self {
        Self {
            pages: [(SpaceId(0), Page::containing(0)); FLUSH_BATCH],
            len: 0,
            full: false,
            release: Vec::new(),
        }
    }
}

impl TlbFlush {
    /// A flush with nothing to do.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `page` of `space` may be cached stale.
    pub fn add_page(&mut self, space: SpaceId, page: Page) {
        if self.full {
            return;
        }
        if self.len == FLUSH_BATCH {
            self.full = true;
            return;
        }
        self.pages[self.len] = (space, page);
        self.len += 1;
    }

    /// Asks for a full flush of every user translation.
    pub fn add_everything(&mut self) {
        self.full = true;
    }

    /// Adds a frame to release once the invalidation is done.
    pub fn release_after(&mut self, frame: Frame) {
        self.release.push(frame);
    }

    /// Adds everything `other` asks for.
    pub fn merge(&mut self, mut other: TlbFlush) {
        match other.targets() {
            TlbFlushTargets::Nothing => {}
            TlbFlushTargets::Everything => self.full = true,
            TlbFlushTargets::Pages(pages) => {
                for &(space, page) in pages {
                    self.add_page(space, page);
                }
            }
        }
        self.release.append(&mut other.release);
        other.len = 0;
        other.full = false;
    }

    /// Whether applying this flush would do nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && !self.full && self.release.is_empty()
    }

    /// What must be invalidated.
    pub fn targets(&self) -> TlbFlushTargets<'_> {
        if self.full {
            TlbFlushTargets::Everything
        } else if self.len == 0 {
            TlbFlushTargets::Nothing
        } else {
            TlbFlushTargets::Pages(&self.pages[..self.len])
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
