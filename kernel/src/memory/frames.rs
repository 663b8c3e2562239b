//! The physical frame allocator: a bitmap over the usable frames of the boot memory map.
//!
//! The bitmap lives in memory taken from the boot memory map before the allocator exists
//! (`memory::init`), not in the heap: the heap takes its own memory from this allocator.
//!
//! Invariants (checked by [`FrameAllocator::check`]):
//! - a bit is set exactly when its frame is usable and free;
//! - `free` equals the number of set bits;
//! - every set bit lies at or above `hint`'s word (no free frame below the hint).

use core::ops::Range;
use x86_64::structures::paging::{PhysFrame, Size4KiB};
use x86_64::PhysAddr;

const FRAME_SIZE: u64 = 4096;

/// Allocator of 4 KiB physical frames.
pub struct FrameAllocator {
    /// One bit per frame number, set when the frame is usable and free.
    bitmap: &'static mut [u64],
    /// Usable frames, free or not.
    usable: u64,
    /// Set bits in `bitmap`.
    free: u64,
    /// Index of the first word that may hold a set bit.
    hint: usize,
}

impl FrameAllocator {
    /// Words of bitmap for frames below physical address `end`.
    pub fn words_for(end: u64) -> usize {
        (end / FRAME_SIZE).div_ceil(64) as usize
    }

    /// An allocator whose free frames are those inside `usable` (physical byte ranges, each
    /// rounded inwards to whole frames), keeping its bitmap in `bitmap` (which it clears).
    ///
    /// # Panics
    ///
    /// If `bitmap` has fewer than [`words_for`](Self::words_for) words for the highest end.
    pub fn new(bitmap: &'static mut [u64], usable: impl Iterator<Item = Range<u64>>) -> Self {
        bitmap.fill(0);
        let mut allocator = Self { bitmap, usable: 0, free: 0, hint: 0 };
        for range in usable {
            assert!(Self::words_for(range.end) <= allocator.bitmap.len(), "frame bitmap too small");
            for frame in range.start.div_ceil(FRAME_SIZE)..range.end / FRAME_SIZE {
                if !allocator.is_free(frame) {
                    allocator.set(frame, true);
                    allocator.usable += 1;
                }
            }
        }
        allocator
    }

    fn is_free(&self, frame: u64) -> bool {
        let (word, bit) = ((frame / 64) as usize, frame % 64);
        self.bitmap.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn set(&mut self, frame: u64, free: bool) {
        let (word, bit) = ((frame / 64) as usize, frame % 64);
        if free {
            self.bitmap[word] |= 1 << bit;
            self.free += 1;
            self.hint = self.hint.min(word);
        } else {
            self.bitmap[word] &= !(1 << bit);
            self.free -= 1;
        }
    }

    /// Takes one free frame, the lowest-numbered one.
    pub fn allocate(&mut self) -> Option<PhysFrame> {
        let word = (self.hint..self.bitmap.len()).find(|&w| self.bitmap[w] != 0);
        let Some(word) = word else {
            self.hint = self.bitmap.len();
            return None;
        };
        self.hint = word;
        let frame = word as u64 * 64 + u64::from(self.bitmap[word].trailing_zeros());
        self.set(frame, false);
        Some(frame_at(frame))
    }

    /// Marks every free frame of `range` (physical bytes, whole frames) as taken; used at boot
    /// for memory the kernel claims before the allocator exists (the allocators' metadata).
    pub fn reserve(&mut self, range: Range<u64>) {
        for frame in range.start / FRAME_SIZE..range.end.div_ceil(FRAME_SIZE) {
            if self.is_free(frame) {
                self.set(frame, false);
            }
        }
    }

    /// Returns `frame` to the free pool.
    ///
    /// # Panics
    ///
    /// If `frame` is already free or was never usable: both are kernel bugs that would hand one
    /// frame to two owners.
    pub fn deallocate(&mut self, frame: PhysFrame) {
        let number = frame.start_address().as_u64() / FRAME_SIZE;
        assert!(
            (number / 64) < self.bitmap.len() as u64 && !self.is_free(number),
            "frame {:#x} freed twice or never allocated",
            frame.start_address().as_u64()
        );
        self.set(number, true);
    }

    /// Number of free frames.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Number of usable frames, free or allocated.
    pub fn usable_frames(&self) -> u64 {
        self.usable
    }

    /// Verifies the invariants in the module documentation.
    ///
    /// # Panics
    ///
    /// If one does not hold.
    pub fn check(&self) {
        let set: u64 = self.bitmap.iter().map(|w| u64::from(w.count_ones())).sum();
        assert_eq!(set, self.free, "free count disagrees with the bitmap");
        assert!(self.bitmap[..self.hint].iter().all(|&w| w == 0), "free frame below the hint");
        assert!(self.free <= self.usable, "more free frames than usable ones");
    }
}

fn frame_at(number: u64) -> PhysFrame {
    PhysFrame::<Size4KiB>::containing_address(PhysAddr::new(number * FRAME_SIZE))
}
